//! Local passwords, hashed with Argon2id (the `argon2` crate's defaults, OWASP's minimum).
//! Hashing is CPU work and runs on the blocking pool.

use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Argon2,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};

use crate::db::entities::user::HashedPassword;

pub const MIN_LENGTH: usize = 12;

pub fn check_strength(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_LENGTH {
        return Err(format!("a password needs at least {MIN_LENGTH} characters"));
    }
    Ok(())
}

/// A strong password for a first admin when none was configured.
pub fn generate() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 18]>())
}

pub async fn hash(password: String) -> anyhow::Result<HashedPassword> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| HashedPassword(hash.to_string()))
            .map_err(|e| anyhow::anyhow!("password hashing failed: {e}"))
    })
    .await?
}

/// Checks `password` against `stored`; with no stored hash, still spends the time of one
/// verification so that unknown emails cannot be told apart by timing.
pub async fn verify(password: String, stored: Option<HashedPassword>) -> bool {
    tokio::task::spawn_blocking(move || {
        let check = |hash: &str| {
            PasswordHash::new(hash)
                .map(|parsed| {
                    Argon2::default()
                        .verify_password(password.as_bytes(), &parsed)
                        .is_ok()
                })
                .unwrap_or(false)
        };
        match stored {
            Some(HashedPassword(hash)) => check(&hash),
            None => {
                check(decoy_hash());
                false
            }
        }
    })
    .await
    .unwrap_or(false)
}

fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(b"decoy password", &salt)
            .expect("hashing a constant")
            .to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let stored = hash("correct horse battery".into()).await.unwrap();
        assert!(stored.0.starts_with("$argon2id$"));
        assert_eq!(format!("{stored:?}"), "HashedPassword(..)");
        assert!(verify("correct horse battery".into(), Some(stored.clone())).await);
        assert!(!verify("wrong horse battery".into(), Some(stored)).await);
        assert!(!verify("anything at all".into(), None).await);
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(check_strength("short").is_err());
        assert!(check_strength("twelve chars").is_ok());
    }
}
