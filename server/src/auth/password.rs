//! Local passwords, hashed with Argon2id (the `argon2` crate's defaults, OWASP's minimum).
//! Hashing is CPU work and memory (19 MiB each): it runs on the blocking pool, as many at once
//! as there are cores, the rest waiting their turn. An account whose password was mistyped
//! [`FAILURES_BEFORE_LOCK`] times in a row takes no password for [`LOCK_FOR`].

use std::sync::OnceLock;

use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Argon2,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use tokio::sync::Semaphore;

use crate::db::entities::user::{self, HashedPassword};

pub const MIN_LENGTH: usize = 12;
/// Failed password sign-ins in a row that lock an account's password sign-in.
pub const FAILURES_BEFORE_LOCK: i32 = 10;
/// How long the lock lasts. Signing in with Okta is not locked.
pub const LOCK_FOR: TimeDelta = TimeDelta::minutes(15);

/// Whole minutes (at least one) until `account`'s password sign-in opens again, if it is locked.
pub fn locked_minutes(account: &user::Model, now: DateTime<Utc>) -> Option<i64> {
    account
        .sign_in_locked_until
        .filter(|until| *until > now)
        .map(|until| ((until - now).num_seconds() + 59) / 60)
}

/// Counts a failed password sign-in of `user_id`, in one statement; the one that makes
/// [`FAILURES_BEFORE_LOCK`] in a row locks the account's password sign-in until `now` +
/// [`LOCK_FOR`] and starts the count again.
pub async fn record_failure(
    db: &impl ConnectionTrait,
    user_id: i32,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let failures = || Expr::col(user::Column::FailedSignIns);
    let locks = || failures().add(1).gte(FAILURES_BEFORE_LOCK);
    user::Entity::update_many()
        .col_expr(
            user::Column::FailedSignIns,
            Expr::case(locks(), 0).finally(failures().add(1)).into(),
        )
        .col_expr(
            user::Column::SignInLockedUntil,
            Expr::case(locks(), Expr::value(now + LOCK_FOR))
                .finally(Expr::col(user::Column::SignInLockedUntil))
                .into(),
        )
        .filter(user::Column::Id.eq(user_id))
        .exec(db)
        .await?;
    Ok(())
}

/// One permit per core: the Argon2 computations that may run at once.
fn permits() -> &'static Semaphore {
    static PERMITS: OnceLock<Semaphore> = OnceLock::new();
    PERMITS
        .get_or_init(|| Semaphore::new(std::thread::available_parallelism().map_or(1, |n| n.get())))
}

/// Runs `work` on the blocking pool once a permit is free.
async fn argon2<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> anyhow::Result<T> {
    let _permit = permits().acquire().await?;
    Ok(tokio::task::spawn_blocking(work).await?)
}

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
    argon2(move || {
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
    argon2(move || {
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
