//! Device cookies, OWASP's answer to lockout by someone else: a browser that signed in to an
//! account with its password carries a cookie signed for that account's email. Its wrong
//! passwords for that email are counted for it alone. So guesses from anywhere else, which lock
//! the email's password sign-in everywhere else after [`FAILURES_BEFORE_LOCK`], do not lock the
//! person out at the browser they use, nor do its own mistypes count toward the lock the rest of
//! the world shares. A cookie tells nothing about the account: it carries a random id and a MAC,
//! and is checked against the email typed.
//!
//! [`FAILURES_BEFORE_LOCK`]: super::password::FAILURES_BEFORE_LOCK

use axum_extra::extract::cookie::{Cookie, SameSite};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};

use crate::domain::Email;
use crate::secret_key::SecretKey;

pub const COOKIE: &str = "portal_device";
/// How long a browser is recognised after its last password sign-in.
const LIFETIME_DAYS: i64 = 180;
const PURPOSE: &str = "device_cookie";

/// A new device cookie for `email`, as `Set-Cookie` text: given at every password sign-in.
pub fn issue(key: &SecretKey, email: &Email, secure: bool) -> String {
    let id = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>());
    let mac = key.mac(PURPOSE, &message(email, &id));
    Cookie::build((COOKIE, format!("{id}.{mac}")))
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Strict)
        .max_age(time::Duration::days(LIFETIME_DAYS))
        .build()
        .to_string()
}

/// The device's id, when `value` is a cookie [`issue`] gave for `email` with `key`.
pub fn recognise(key: &SecretKey, email: &Email, value: &str) -> Option<String> {
    let (id, mac) = value.split_once('.')?;
    key.verify_mac(PURPOSE, &message(email, id), mac)
        .then(|| id.to_string())
}

fn message(email: &Email, id: &str) -> String {
    format!("{}\n{id}", email.normalized())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(set_cookie: &str) -> String {
        let cookie = Cookie::parse(set_cookie.to_string()).unwrap();
        assert_eq!(cookie.name(), COOKIE);
        assert_eq!(cookie.http_only(), Some(true));
        assert_eq!(cookie.same_site(), Some(SameSite::Strict));
        cookie.value().to_string()
    }

    #[test]
    fn a_device_is_recognised_for_the_email_it_signed_in_with_only() {
        let key = SecretKey::ephemeral();
        let ada = Email::parse("Ada@Example.com").unwrap();
        let eve = Email::parse("eve@example.com").unwrap();
        let cookie = value(&issue(&key, &ada, true));
        // An id and a MAC, and nothing of the email.
        let parts: Vec<_> = cookie.split('.').collect();
        let lengths: Vec<_> = parts
            .iter()
            .map(|part| URL_SAFE_NO_PAD.decode(part).unwrap().len())
            .collect();
        assert_eq!(lengths, vec![16, 32], "{cookie}");
        let id = recognise(&key, &ada, &cookie).expect("recognised");
        assert!(cookie.starts_with(&format!("{id}.")));
        let same = Email::parse("ada@example.com").unwrap();
        assert_eq!(recognise(&key, &same, &cookie), Some(id.clone()));

        assert_eq!(recognise(&key, &eve, &cookie), None, "another email");
        assert_eq!(
            recognise(&SecretKey::ephemeral(), &ada, &cookie),
            None,
            "another key"
        );
        let (_, mac) = cookie.split_once('.').unwrap();
        let other_id = format!("{}.{mac}", URL_SAFE_NO_PAD.encode([0u8; 16]));
        assert_eq!(recognise(&key, &ada, &other_id), None, "another id");
        for garbage in ["", ".", &id, "x.y"] {
            assert_eq!(recognise(&key, &ada, garbage), None, "{garbage}");
        }
        assert_ne!(
            value(&issue(&key, &ada, true)),
            cookie,
            "a new id each time"
        );
    }
}
