//! Who is asking: local passwords and the device cookies that keep their lock to others,
//! browser sessions, API tokens and CSRF tokens.

pub mod caller;
pub mod device;
pub mod password;
pub mod session;
pub mod token;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// 256 random bits, URL-safe: session ids, CSRF tokens, API tokens.
/// A cookie's name: under https `prefixed` itself (`__Host-…`), which a browser takes only from
/// this host, Secure, for the whole site and naming no domain, so that no other host of the site
/// (a sibling subdomain) can plant one; over plain http, where nothing is Secure, without the
/// prefix.
pub fn cookie_name(secure: bool, prefixed: &'static str) -> &'static str {
    match secure {
        true => prefixed,
        false => prefixed.strip_prefix("__Host-").unwrap_or(prefixed),
    }
}

pub fn random_secret() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// What is stored in place of a high-entropy secret.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Compares two tokens in constant time; an empty token never matches.
pub fn tokens_match(given: &str, expected: &str) -> bool {
    !given.is_empty()
        && !expected.is_empty()
        && bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_256_bits_and_distinct() {
        let (a, b) = (random_secret(), random_secret());
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 32);
        assert_ne!(a, b);
        assert_ne!(digest(&a), a);
    }

    #[test]
    fn empty_tokens_never_match() {
        assert!(!tokens_match("", ""));
        assert!(tokens_match("abc", "abc"));
        assert!(!tokens_match("abc", "abd"));
    }
}
