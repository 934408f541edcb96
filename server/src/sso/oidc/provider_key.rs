//! The provider's signing keys as Portal checks ID tokens with them: each JWK as openidconnect
//! reads it, with its public key taken out once, when the key set is fetched, and signatures
//! checked by ring.
//!
//! openidconnect's own keys check ES256 and RS256 in portable Rust (p256, rsa) and rebuild the
//! public key from the JWK for every token: about a quarter of an OIDC callback's CPU went to
//! one P-256 signature (README, "Numbers"). Which key a token may use (its `kid`, `use`, `alg`
//! and key type) is still decided by openidconnect's verifier, which asks the methods below;
//! this type changes how a signature is computed, not which one is required. Every other
//! algorithm, and a key that ring's checks do not cover, goes to openidconnect as before.

use std::sync::Arc;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};
use openidconnect::core::{CoreJsonWebKey, CoreJsonWebKeyUse, CoreJwsSigningAlgorithm};
use openidconnect::{
    JsonWebKey, JsonWebKeyAlgorithm, JsonWebKeyId, JsonWebKeyUse, JwsSigningAlgorithm,
    SignatureVerificationError,
};
use ring::signature::{
    RsaPublicKeyComponents, UnparsedPublicKey, ECDSA_P256_SHA256_FIXED, RSA_PKCS1_2048_8192_SHA256,
};
use serde::{de::Error as _, Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// One JWK of the provider's key set.
#[derive(Clone, Debug)]
pub struct ProviderKey {
    jwk: CoreJsonWebKey,
    public: Option<Arc<PublicKey>>,
}

/// A public key ready for ring, in the form its verification takes.
#[derive(Debug)]
enum PublicKey {
    /// An uncompressed P-256 point: 0x04, then x and y (32 bytes each).
    P256(Vec<u8>),
    /// An RSA key of 2048 to 8192 bits with the exponent 65537: its modulus, big-endian, without
    /// leading zeros.
    Rsa(Vec<u8>),
}

const RSA_EXPONENT: [u8; 3] = [1, 0, 1];

impl PublicKey {
    /// The key in `jwk` (as JSON), when it is one that ring checks here.
    fn of(jwk: &Value) -> Option<PublicKey> {
        let bytes = |name: &str| B64.decode(jwk.get(name)?.as_str()?).ok();
        match jwk.get("kty")?.as_str()? {
            "EC" if jwk.get("crv")?.as_str()? == "P-256" => {
                let (x, y) = (bytes("x")?, bytes("y")?);
                if x.len() != 32 || y.len() != 32 {
                    return None;
                }
                Some(PublicKey::P256([&[4][..], &x, &y].concat()))
            }
            "RSA" => {
                let unpadded = |bytes: Vec<u8>| -> Vec<u8> {
                    bytes.into_iter().skip_while(|b| *b == 0).collect()
                };
                let (n, e) = (unpadded(bytes("n")?), unpadded(bytes("e")?));
                let bits = n.len() * 8 - n.first()?.leading_zeros() as usize;
                ((2048..=8192).contains(&bits) && e == RSA_EXPONENT).then_some(PublicKey::Rsa(n))
            }
            _ => None,
        }
    }

    /// Checks `signature` over `message`; `None` when this key is not of `alg`'s kind.
    fn verify(
        &self,
        alg: &CoreJwsSigningAlgorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Option<Result<(), SignatureVerificationError>> {
        let checked = match (alg, self) {
            (CoreJwsSigningAlgorithm::EcdsaP256Sha256, PublicKey::P256(point)) => {
                UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).verify(message, signature)
            }
            (CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256, PublicKey::Rsa(n)) => {
                RsaPublicKeyComponents {
                    n: n.as_slice(),
                    e: &RSA_EXPONENT[..],
                }
                .verify(&RSA_PKCS1_2048_8192_SHA256, message, signature)
            }
            _ => return None,
        };
        Some(checked.map_err(|_| SignatureVerificationError::CryptoError("bad signature".into())))
    }
}

impl ProviderKey {
    fn new(jwk: CoreJsonWebKey, json: &Value) -> ProviderKey {
        ProviderKey {
            jwk,
            public: PublicKey::of(json).map(Arc::new),
        }
    }

    /// Whether the key may sign with `alg`: its `use` allows signatures, its type is `alg`'s and
    /// its own `alg`, if it names one, is `alg`. openidconnect's verifier chose the key by the same
    /// rules; they are asked again here before a signature is trusted.
    fn may_sign_with(&self, alg: &CoreJwsSigningAlgorithm) -> bool {
        self.key_use().is_none_or(|u| u.allows_signature())
            && alg.key_type().as_ref() == Some(self.key_type())
            && match self.signing_alg() {
                JsonWebKeyAlgorithm::Unspecified => true,
                JsonWebKeyAlgorithm::Algorithm(own) => own == alg,
                JsonWebKeyAlgorithm::Unsupported => false,
            }
    }
}

impl From<CoreJsonWebKey> for ProviderKey {
    fn from(jwk: CoreJsonWebKey) -> ProviderKey {
        let json = serde_json::to_value(&jwk).unwrap_or_default();
        ProviderKey::new(jwk, &json)
    }
}

impl<'de> Deserialize<'de> for ProviderKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<ProviderKey, D::Error> {
        let json = Value::deserialize(deserializer)?;
        let jwk = CoreJsonWebKey::deserialize(&json).map_err(D::Error::custom)?;
        Ok(ProviderKey::new(jwk, &json))
    }
}

impl Serialize for ProviderKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.jwk.serialize(serializer)
    }
}

impl JsonWebKey for ProviderKey {
    type KeyUse = CoreJsonWebKeyUse;
    type SigningAlgorithm = CoreJwsSigningAlgorithm;

    fn key_id(&self) -> Option<&JsonWebKeyId> {
        self.jwk.key_id()
    }

    fn key_type(&self) -> &<CoreJwsSigningAlgorithm as JwsSigningAlgorithm>::KeyType {
        self.jwk.key_type()
    }

    fn key_use(&self) -> Option<&CoreJsonWebKeyUse> {
        self.jwk.key_use()
    }

    fn signing_alg(&self) -> JsonWebKeyAlgorithm<&CoreJwsSigningAlgorithm> {
        self.jwk.signing_alg()
    }

    fn new_symmetric(key: Vec<u8>) -> ProviderKey {
        ProviderKey {
            jwk: CoreJsonWebKey::new_symmetric(key),
            public: None,
        }
    }

    fn verify_signature(
        &self,
        alg: &CoreJwsSigningAlgorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), SignatureVerificationError> {
        let fast = self
            .public
            .as_deref()
            .filter(|_| self.may_sign_with(alg))
            .and_then(|public| public.verify(alg, message, signature));
        fast.unwrap_or_else(|| self.jwk.verify_signature(alg, message, signature))
    }

    fn hash_bytes(&self, bytes: &[u8], alg: &CoreJwsSigningAlgorithm) -> Result<Vec<u8>, String> {
        self.jwk.hash_bytes(bytes, alg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::bn::{BigNum, BigNumContext};
    use openssl::ec::{EcGroup, EcKey};
    use openssl::ecdsa::EcdsaSig;
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::{PKey, Private};
    use openssl::rsa::Rsa;
    use openssl::sign::Signer;
    use serde_json::json;

    const ES256: CoreJwsSigningAlgorithm = CoreJwsSigningAlgorithm::EcdsaP256Sha256;
    const RS256: CoreJwsSigningAlgorithm = CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256;
    const MESSAGE: &[u8] = b"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiIwMHUxIn0";

    /// A key made and used by OpenSSL, as a provider would, with its public JWK.
    struct Signing {
        key: PKey<Private>,
        jwk: Value,
    }

    impl Signing {
        fn ec() -> Signing {
            let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
            let ec = EcKey::generate(&group).unwrap();
            let (mut x, mut y) = (BigNum::new().unwrap(), BigNum::new().unwrap());
            ec.public_key()
                .affine_coordinates(&group, &mut x, &mut y, &mut BigNumContext::new().unwrap())
                .unwrap();
            let jwk = json!({ "kty": "EC", "use": "sig", "crv": "P-256", "kid": "ec",
                "x": B64.encode(x.to_vec_padded(32).unwrap()),
                "y": B64.encode(y.to_vec_padded(32).unwrap()) });
            Signing {
                key: PKey::from_ec_key(ec).unwrap(),
                jwk,
            }
        }

        fn rsa(bits: u32) -> Signing {
            let rsa = Rsa::generate(bits).unwrap();
            let jwk = json!({ "kty": "RSA", "use": "sig", "kid": "rsa",
                "n": B64.encode(rsa.n().to_vec()), "e": B64.encode(rsa.e().to_vec()) });
            Signing {
                key: PKey::from_rsa(rsa).unwrap(),
                jwk,
            }
        }

        /// The JWS signature over `message`: r || s for ES256, as JWS has it.
        fn sign(&self, message: &[u8]) -> Vec<u8> {
            let mut signer = Signer::new(MessageDigest::sha256(), &self.key).unwrap();
            let signature = signer.sign_oneshot_to_vec(message).unwrap();
            match EcdsaSig::from_der(&signature) {
                Ok(sig) if self.key.ec_key().is_ok() => [
                    sig.r().to_vec_padded(32).unwrap(),
                    sig.s().to_vec_padded(32).unwrap(),
                ]
                .concat(),
                _ => signature,
            }
        }

        fn provider_key(&self, edit: impl Fn(&mut Value)) -> ProviderKey {
            let mut jwk = self.jwk.clone();
            edit(&mut jwk);
            serde_json::from_value(jwk).unwrap()
        }
    }

    fn flipped(mut bytes: Vec<u8>) -> Vec<u8> {
        bytes[7] ^= 1;
        bytes
    }

    #[test]
    fn es256_and_rs256_keys_are_checked_by_ring_and_a_changed_signature_or_message_fails() {
        for (signing, alg) in [(Signing::ec(), ES256), (Signing::rsa(2048), RS256)] {
            let key = signing.provider_key(|_| {});
            assert!(key.public.is_some(), "{alg:?} is checked by ring");
            let signature = signing.sign(MESSAGE);
            assert!(key.verify_signature(&alg, MESSAGE, &signature).is_ok());
            assert!(key
                .verify_signature(&alg, MESSAGE, &flipped(signature.clone()))
                .is_err());
            assert!(key
                .verify_signature(&alg, b"eyJhbGciOiJub25lIn0.eyJzdWIiOiIwMHUyIn0", &signature)
                .is_err());
            assert!(key.verify_signature(&alg, MESSAGE, &[]).is_err());
        }
    }

    #[test]
    fn a_key_is_refused_for_an_algorithm_its_type_use_or_own_alg_rules_out() {
        let ec = Signing::ec();
        let signature = ec.sign(MESSAGE);
        let refused = |key: ProviderKey, alg: CoreJwsSigningAlgorithm| {
            assert!(
                key.verify_signature(&alg, MESSAGE, &signature).is_err(),
                "{alg:?} with {key:?}"
            );
        };
        refused(ec.provider_key(|_| {}), RS256);
        refused(ec.provider_key(|jwk| jwk["use"] = json!("enc")), ES256);
        refused(ec.provider_key(|jwk| jwk["alg"] = json!("ES384")), ES256);
        refused(ec.provider_key(|jwk| jwk["crv"] = json!("P-384")), ES256);
        // The same key where its own rules allow it.
        assert!(ec
            .provider_key(|jwk| jwk["alg"] = json!("ES256"))
            .verify_signature(&ES256, MESSAGE, &signature)
            .is_ok());
    }

    #[test]
    fn an_rsa_key_ring_does_not_take_is_checked_by_openidconnect() {
        let small = Signing::rsa(1024);
        let key = small.provider_key(|_| {});
        assert!(key.public.is_none());
        let signature = small.sign(MESSAGE);
        assert!(key.verify_signature(&RS256, MESSAGE, &signature).is_ok());
        assert!(key
            .verify_signature(&RS256, MESSAGE, &flipped(signature))
            .is_err());
    }

    #[test]
    fn a_key_reads_and_writes_as_the_jwk_it_came_from() {
        let ec = Signing::ec();
        let key = ec.provider_key(|_| {});
        let written = serde_json::to_value(&key).unwrap();
        for field in ["kty", "use", "crv", "kid", "x", "y"] {
            assert_eq!(written[field], ec.jwk[field], "{field}");
        }
        let core: CoreJsonWebKey = serde_json::from_value(ec.jwk.clone()).unwrap();
        assert!(ProviderKey::from(core).public.is_some());
    }
}
