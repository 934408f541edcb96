//! Device cookies, OWASP's answer to lockout by someone else: a browser that signed in to an
//! account with its password carries a cookie signed for that account. Its wrong passwords for
//! that account's email are counted for it alone. So guesses from anywhere else, which lock the
//! email's password sign-in everywhere else after [`FAILURES_BEFORE_LOCK`], do not lock the
//! person out at the browser they use, nor do its own mistypes count toward the lock the rest of
//! the world shares.
//!
//! A cookie carries a random id, when it was given, and a MAC (the secret key's) over those, the
//! email and the account's password hash. It tells nothing about the account; it is recognised
//! for [`LIFETIME_DAYS`] after it was given, and no longer once the password changes
//! (`portal admin reset`).
//!
//! [`FAILURES_BEFORE_LOCK`]: super::password::FAILURES_BEFORE_LOCK

use axum_extra::extract::cookie::{Cookie, SameSite};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, TimeDelta, Utc};

use crate::db::entities::user::HashedPassword;
use crate::domain::Email;
use crate::secret_key::SecretKey;

/// How long a browser is recognised after the password sign-in that gave it its cookie.
pub const LIFETIME_DAYS: i64 = 180;
const PURPOSE: &str = "device_cookie";

/// The cookie's name ([`super::cookie_name`]): over https no other host can plant one to hide
/// the real one.
pub fn cookie_name(secure: bool) -> &'static str {
    super::cookie_name(secure, "__Host-portal_device")
}

/// A new device cookie for the account with `email` and `password`, as `Set-Cookie` text:
/// given at every password sign-in that works.
pub fn issue(
    key: &SecretKey,
    email: &Email,
    password: &HashedPassword,
    now: DateTime<Utc>,
    secure: bool,
) -> String {
    let id = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>());
    let given = now.timestamp();
    let mac = key.mac(PURPOSE, &message(email, password, &id, given));
    Cookie::build((cookie_name(secure), format!("{id}.{given}.{mac}")))
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Strict)
        .max_age(time::Duration::days(LIFETIME_DAYS))
        .build()
        .to_string()
}

/// The device's id, when `value` is a cookie [`issue`] gave with `key` for this email and
/// password less than [`LIFETIME_DAYS`] before `now`.
pub fn recognise(
    key: &SecretKey,
    email: &Email,
    password: &HashedPassword,
    value: &str,
    now: DateTime<Utc>,
) -> Option<String> {
    let mut parts = value.splitn(3, '.');
    let (id, given, mac) = (parts.next()?, parts.next()?, parts.next()?);
    let given_at = DateTime::from_timestamp(given.parse().ok()?, 0)?;
    let age = now - given_at;
    let fresh = age >= -TimeDelta::minutes(5) && age < TimeDelta::days(LIFETIME_DAYS);
    (fresh
        && key.verify_mac(
            PURPOSE,
            &message(email, password, id, given_at.timestamp()),
            mac,
        ))
    .then(|| id.to_string())
}

/// What the MAC covers. The password hash is there so that a new password (an operator's
/// reset) leaves every cookie given before it unrecognised.
fn message(email: &Email, password: &HashedPassword, id: &str, given: i64) -> String {
    format!(
        "{}\n{}\n{id}\n{given}",
        email.normalized(),
        crate::auth::digest(&password.0)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(set_cookie: &str, secure: bool) -> String {
        let cookie = Cookie::parse(set_cookie.to_string()).unwrap();
        assert_eq!(cookie.name(), cookie_name(secure));
        assert_eq!(cookie.http_only(), Some(true));
        assert_eq!(cookie.secure().unwrap_or(false), secure);
        assert_eq!(cookie.same_site(), Some(SameSite::Strict));
        assert_eq!(cookie.path(), Some("/"));
        cookie.value().to_string()
    }

    #[test]
    fn a_device_is_recognised_for_its_email_and_password_for_180_days_only() {
        let key = SecretKey::ephemeral();
        let ada = Email::parse("Ada@Example.com").unwrap();
        let eve = Email::parse("eve@example.com").unwrap();
        let password = HashedPassword("$argon2id$v=19$the-hash".to_string());
        let now = Utc::now();
        let cookie = value(&issue(&key, &ada, &password, now, true), true);
        // An id, a time and a MAC, and nothing of the email.
        let parts: Vec<_> = cookie.split('.').collect();
        assert_eq!(parts.len(), 3, "{cookie}");
        assert_eq!(URL_SAFE_NO_PAD.decode(parts[0]).unwrap().len(), 16);
        assert_eq!(parts[1], now.timestamp().to_string());
        assert_eq!(URL_SAFE_NO_PAD.decode(parts[2]).unwrap().len(), 32);

        let id = recognise(&key, &ada, &password, &cookie, now).expect("recognised");
        assert_eq!(id, parts[0]);
        let same = Email::parse("ada@example.com").unwrap();
        let later = now + TimeDelta::days(LIFETIME_DAYS - 1);
        assert_eq!(recognise(&key, &same, &password, &cookie, later), Some(id));

        let too_late = now + TimeDelta::days(LIFETIME_DAYS);
        assert_eq!(
            recognise(&key, &ada, &password, &cookie, too_late),
            None,
            "expired"
        );
        let reset = HashedPassword("$argon2id$v=19$another-hash".to_string());
        assert_eq!(
            recognise(&key, &ada, &reset, &cookie, now),
            None,
            "a new password"
        );
        assert_eq!(
            recognise(&key, &eve, &password, &cookie, now),
            None,
            "another email"
        );
        let other_key = SecretKey::ephemeral();
        assert_eq!(
            recognise(&other_key, &ada, &password, &cookie, now),
            None,
            "another key"
        );
        let moved = format!("{}.{}.{}", parts[0], now.timestamp() + 1, parts[2]);
        assert_eq!(
            recognise(&key, &ada, &password, &moved, now),
            None,
            "another time"
        );
        let other_id = format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode([0u8; 16]),
            parts[1],
            parts[2]
        );
        assert_eq!(
            recognise(&key, &ada, &password, &other_id, now),
            None,
            "another id"
        );
        for garbage in [
            "",
            "..",
            parts[0],
            "x.y.z",
            &format!("{}.{}", parts[0], parts[2]),
        ] {
            assert_eq!(
                recognise(&key, &ada, &password, garbage, now),
                None,
                "{garbage}"
            );
        }
        let again = value(&issue(&key, &ada, &password, now, false), false);
        assert_ne!(again, cookie, "a new id each time");
    }
}
