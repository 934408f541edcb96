//! The key Portal seals the secrets it must keep in the database with (the OpenID Connect client
//! secret), so that a copy of the database alone (a dump, a backup, a replica) does not give
//! them away. The key lives in a file of its own (`PORTAL_SECRET_KEY_FILE`), made on first start
//! and kept out of the database's backups; every server of one database needs the same file.
//!
//! Sealing is AES-256-GCM (ring) with a random nonce, bound to what the secret is for, so a
//! sealed value moved to another column does not open there. The same key, through a key of its
//! own derived from it, signs what Portal hands out and must recognise (HMAC-SHA256): the device
//! cookies of password sign-in (`auth::device`).

use std::{
    fmt,
    io::{ErrorKind, Write},
    path::{Path, PathBuf},
};

use base64::{
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
    Engine,
};
use ring::{
    aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN},
    hmac,
    rand::{SecureRandom, SystemRandom},
};
use sha2::{Digest, Sha256};

const KEY_LEN: usize = 32;
/// The first part of every sealed value: the format, then the key's id.
const FORMAT: &str = "v1";

pub struct SecretKey {
    key: LessSafeKey,
    /// For MACs: derived from the key, so that one key is not used for two algorithms.
    mac_key: hmac::Key,
    /// Names the key without giving it away, in sealed values and error messages.
    id: String,
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Why a sealed value did not open.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Unreadable {
    #[error("it was sealed with the secret key {sealed_with}, and this server's key (PORTAL_SECRET_KEY_FILE) is {ours}")]
    OtherKey { sealed_with: String, ours: String },
    #[error("it is damaged or was not sealed by Portal")]
    Damaged,
}

/// Why the key file could not be used: each says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot create {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} does not hold a secret key: Portal writes 32 random bytes in base64 there; restore the file this database's secrets were sealed with, or remove it to make a new one (the OIDC client secret must then be entered again)")]
    NotAKey { path: PathBuf },
}

impl SecretKey {
    fn from_bytes(bytes: &[u8; KEY_LEN]) -> SecretKey {
        let key = UnboundKey::new(&AES_256_GCM, bytes).expect("32 bytes make an AES-256 key");
        let derived = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, bytes),
            b"portal: the key for MACs",
        );
        SecretKey {
            key: LessSafeKey::new(key),
            mac_key: hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref()),
            id: hex::encode(&Sha256::digest(bytes)[..4]),
        }
    }

    /// A key of its own for this process, kept nowhere: for tests.
    pub fn ephemeral() -> SecretKey {
        SecretKey::from_bytes(&random_key())
    }

    /// Reads the key in `path`, or makes one there (readable by its owner only) when there is
    /// no file; and whether it made it. Two servers starting at once on one folder end up with
    /// the same key.
    pub fn load_or_create(path: &Path) -> Result<(SecretKey, bool), KeyFileError> {
        let read = |path: &Path| {
            std::fs::read_to_string(path).map_err(|source| KeyFileError::Read {
                path: path.into(),
                source,
            })
        };
        let created = match read(path) {
            Ok(text) => return Ok((Self::parse(path, &text)?, false)),
            Err(KeyFileError::Read { source, .. }) if source.kind() == ErrorKind::NotFound => {
                // `false`: another server made it first, and its key is the one to use.
                Self::create(path)?
            }
            Err(error) => return Err(error),
        };
        Ok((Self::parse(path, &read(path)?)?, created))
    }

    fn parse(path: &Path, text: &str) -> Result<SecretKey, KeyFileError> {
        let bytes: [u8; KEY_LEN] = STANDARD
            .decode(text.trim())
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| KeyFileError::NotAKey { path: path.into() })?;
        warn_if_others_can_read(path);
        Ok(SecretKey::from_bytes(&bytes))
    }

    /// Writes a new key beside `path` and links it into place, so that nobody reads a file
    /// half written; `false` when `path` appeared meanwhile.
    fn create(path: &Path) -> Result<bool, KeyFileError> {
        let failed = |source| KeyFileError::Create {
            path: path.into(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(failed)?;
        }
        let draft = path.with_extension(format!("new-{:016x}", rand::random::<u64>()));
        let written = (|| {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&draft)?;
            writeln!(file, "{}", STANDARD.encode(random_key()))?;
            file.sync_all()?;
            match std::fs::hard_link(&draft, path) {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
                Err(e) => Err(e),
            }
        })();
        let _ = std::fs::remove_file(&draft);
        written.map_err(failed)
    }

    /// The key's id: the first four bytes of its SHA-256, in hex.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `secret` sealed for `purpose`: `v1.<key id>.<nonce and ciphertext, base64url>`.
    pub fn seal(&self, purpose: &str, secret: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .expect("the system's random source works");
        let mut sealed = secret.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(purpose.as_bytes()),
                &mut sealed,
            )
            .expect("a short secret seals");
        let mut body = nonce.to_vec();
        body.extend_from_slice(&sealed);
        format!("{FORMAT}.{}.{}", self.id, URL_SAFE_NO_PAD.encode(body))
    }

    /// What [`seal`](Self::seal) sealed for `purpose`.
    pub fn open(&self, purpose: &str, sealed: &str) -> Result<String, Unreadable> {
        let mut parts = sealed.splitn(3, '.');
        let (Some(FORMAT), Some(key_id), Some(body)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(Unreadable::Damaged);
        };
        if key_id != self.id {
            return Err(Unreadable::OtherKey {
                sealed_with: key_id.to_string(),
                ours: self.id.clone(),
            });
        }
        let body = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| Unreadable::Damaged)?;
        if body.len() < NONCE_LEN {
            return Err(Unreadable::Damaged);
        }
        let (nonce, sealed) = body.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().expect("split at the nonce's length");
        let mut sealed = sealed.to_vec();
        let opened = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(purpose.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| Unreadable::Damaged)?;
        String::from_utf8(opened.to_vec()).map_err(|_| Unreadable::Damaged)
    }
}

impl SecretKey {
    /// A MAC of `message` for `purpose`, base64url: what only a holder of this key can make.
    pub fn mac(&self, purpose: &str, message: &str) -> String {
        let tag = hmac::sign(&self.mac_key, format!("{purpose}\n{message}").as_bytes());
        URL_SAFE_NO_PAD.encode(tag.as_ref())
    }

    /// Whether `mac` is [`mac`](Self::mac) of `message` for `purpose` (in constant time).
    pub fn verify_mac(&self, purpose: &str, message: &str, mac: &str) -> bool {
        URL_SAFE_NO_PAD.decode(mac).is_ok_and(|tag| {
            hmac::verify(
                &self.mac_key,
                format!("{purpose}\n{message}").as_bytes(),
                &tag,
            )
            .is_ok()
        })
    }
}

fn random_key() -> [u8; KEY_LEN] {
    let mut key = [0u8; KEY_LEN];
    SystemRandom::new()
        .fill(&mut key)
        .expect("the system's random source works");
    key
}

fn warn_if_others_can_read(path: &Path) {
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                "the secret key file can be read by other users; chmod 600 it"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PURPOSE: &str = "oidc.client_secret";

    #[test]
    fn a_sealed_secret_opens_with_its_key_and_purpose_only() {
        let key = SecretKey::ephemeral();
        let sealed = key.seal(PURPOSE, "s3cret-from-okta");
        assert!(!sealed.contains("s3cret"), "{sealed}");
        assert!(sealed.starts_with(&format!("v1.{}.", key.id())));
        assert_eq!(key.open(PURPOSE, &sealed).unwrap(), "s3cret-from-okta");
        // Sealed twice, the same secret reads differently: a new nonce each time.
        assert_ne!(key.seal(PURPOSE, "s3cret-from-okta"), sealed);

        assert_eq!(
            key.open("another.purpose", &sealed),
            Err(Unreadable::Damaged)
        );
        let other = SecretKey::ephemeral();
        assert_eq!(
            other.open(PURPOSE, &sealed),
            Err(Unreadable::OtherKey {
                sealed_with: key.id().to_string(),
                ours: other.id().to_string()
            })
        );
    }

    #[test]
    fn a_mac_verifies_for_its_message_purpose_and_key_only() {
        let key = SecretKey::ephemeral();
        let mac = key.mac("device_cookie", "ada@example.com\nabc");
        assert!(key.verify_mac("device_cookie", "ada@example.com\nabc", &mac));
        assert!(!key.verify_mac("device_cookie", "eve@example.com\nabc", &mac));
        assert!(!key.verify_mac("another", "ada@example.com\nabc", &mac));
        assert!(!SecretKey::ephemeral().verify_mac("device_cookie", "ada@example.com\nabc", &mac));
        assert!(!key.verify_mac("device_cookie", "ada@example.com\nabc", ""));
        assert!(!key.verify_mac("device_cookie", "ada@example.com\nabc", "not base64!"));
    }

    #[test]
    fn a_changed_sealed_value_does_not_open() {
        let key = SecretKey::ephemeral();
        let sealed = key.seal(PURPOSE, "s3cret-from-okta");
        let (head, body) = sealed.rsplit_once('.').unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(body).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let flipped = format!("{head}.{}", URL_SAFE_NO_PAD.encode(&bytes));
        assert_eq!(key.open(PURPOSE, &flipped), Err(Unreadable::Damaged));
        for garbage in [
            "",
            "s3cret-from-okta",
            "v1",
            "v2.x.y",
            &format!("v1.{}.", key.id()),
        ] {
            assert!(key.open(PURPOSE, garbage).is_err(), "{garbage}");
        }
    }

    #[test]
    fn the_key_file_is_made_once_for_its_owner_and_read_after() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/secret.key");
        let (first, created) = SecretKey::load_or_create(&path).unwrap();
        assert!(created);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (again, created) = SecretKey::load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(again.id(), first.id());
        let sealed = first.seal(PURPOSE, "kept");
        assert_eq!(again.open(PURPOSE, &sealed).unwrap(), "kept");
        // Nothing but the key is left in the folder.
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, vec!["secret.key"]);
    }

    #[test]
    fn servers_starting_at_once_make_one_key_between_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        let start = std::sync::Arc::new(std::sync::Barrier::new(8));
        let servers: Vec<_> = (0..8)
            .map(|_| {
                let (path, start) = (path.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    let (key, made) = SecretKey::load_or_create(&path).unwrap();
                    (key.id().to_string(), made)
                })
            })
            .collect();
        let found: Vec<_> = servers.into_iter().map(|s| s.join().unwrap()).collect();
        assert_eq!(
            found.iter().filter(|(_, made)| *made).count(),
            1,
            "{found:?}"
        );
        assert!(found.iter().all(|(id, _)| *id == found[0].0), "{found:?}");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no draft is left"
        );
    }

    #[test]
    fn a_file_that_holds_no_key_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        for text in ["", "not base64!", &STANDARD.encode([7u8; 16])] {
            std::fs::write(&path, text).unwrap();
            let error = SecretKey::load_or_create(&path).unwrap_err();
            assert!(matches!(error, KeyFileError::NotAKey { .. }), "{error}");
            assert!(error.to_string().contains("does not hold a secret key"));
            assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        }
    }
}
