//! Local passwords, hashed with Argon2id (the `argon2` crate's defaults, OWASP's minimum).
//! Hashing is CPU work and memory (19 MiB each): it runs on the blocking pool, as many at once
//! as there are cores, the rest waiting their turn. After [`FAILURES_BEFORE_LOCK`] wrong
//! passwords in a row for one email, no password is taken for it for [`LOCK_FOR`]; a browser
//! that signed in to it before keeps a count of its own ([`Counted`], `auth::device`).

use std::sync::OnceLock;

use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Argon2,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait};
use tokio::sync::Semaphore;

use crate::db::entities::password_failure;
use crate::db::entities::user::HashedPassword;
use crate::domain::Email;

pub const MIN_LENGTH: usize = 12;
/// Failed password sign-ins in a row for one email that lock its password sign-in.
pub const FAILURES_BEFORE_LOCK: i32 = 10;
/// How long the lock lasts. Signing in with Okta is not locked.
pub const LOCK_FOR: TimeDelta = TimeDelta::minutes(15);

/// Whose wrong passwords an attempt counts toward: the email typed, as everyone shares it, or a
/// browser that signed in with it before (`auth::device`), alone.
#[derive(Clone, Debug, PartialEq)]
pub struct Counted(String);

impl Counted {
    pub fn email(email: &Email) -> Counted {
        Counted(email.normalized())
    }

    /// The row of a device that signed in with `email`: `device <email> <id>`, which no
    /// email's own row can be, an email having no space.
    pub fn device(email: &Email, id: &str) -> Counted {
        Counted(format!("device {} {id}", email.normalized()))
    }
}

/// Whole minutes (at least one) until password sign-in for `counted` opens again, if it is
/// locked.
pub async fn locked_minutes(
    db: &impl ConnectionTrait,
    counted: &Counted,
    now: DateTime<Utc>,
) -> Result<Option<i64>, DbErr> {
    Ok(password_failure::Entity::find_by_id(counted.0.clone())
        .one(db)
        .await?
        .and_then(|row| row.locked_until)
        .filter(|until| *until > now)
        .map(|until| ((until - now).num_seconds() + 59) / 60)
        .map(|minutes| Ord::max(minutes, 1)))
}

/// Counts a failed password sign-in for `counted`, in one statement; the one that makes
/// [`FAILURES_BEFORE_LOCK`] in a row locks password sign-in for it until `now` + [`LOCK_FOR`]
/// and starts the count again.
pub async fn record_failure(
    db: &impl ConnectionTrait,
    counted: &Counted,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    use password_failure::{Column, Entity};
    let failures = || Expr::col((Entity, Column::Failures));
    let locks = || failures().add(1).gte(FAILURES_BEFORE_LOCK);
    Entity::insert(password_failure::ActiveModel {
        email_normalized: Set(counted.0.clone()),
        failures: Set(1),
        locked_until: Set(None),
        last_failure_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(Column::EmailNormalized)
            .value(
                Column::Failures,
                Expr::case(locks(), 0).finally(failures().add(1)),
            )
            .value(
                Column::LockedUntil,
                Expr::case(locks(), Expr::value(now + LOCK_FOR))
                    .finally(Expr::col((Entity, Column::LockedUntil))),
            )
            .value(Column::LastFailureAt, Expr::value(now))
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Forgets the failures counted for `counted`: a sign-in that worked.
pub async fn clear_failures(db: &impl ConnectionTrait, counted: &Counted) -> Result<(), DbErr> {
    password_failure::Entity::delete_by_id(counted.0.clone())
        .exec(db)
        .await?;
    Ok(())
}

/// Forgets every failure counted for `email`, its devices' too: an operator's reset.
pub async fn clear_all_failures(db: &impl ConnectionTrait, email: &Email) -> Result<(), DbErr> {
    use sea_orm::{sea_query::LikeExpr, ColumnTrait, QueryFilter};
    let escaped = crate::people::like_escape(&email.normalized());
    // A device's id is always 22 characters (16 bytes, base64url): one `_` matches each, so
    // that no other email's devices match too.
    let devices = format!("device {escaped} {}", "_".repeat(22));
    let column = password_failure::Column::EmailNormalized;
    password_failure::Entity::delete_many()
        .filter(
            column
                .eq(email.normalized())
                .or(column.like(LikeExpr::new(devices).escape('\\'))),
        )
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

/// Runs `work` on the blocking pool once a permit is free. The permit goes with the work, so
/// that a request given up on (its client gone) still holds it until its Argon2 is done.
async fn argon2<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> anyhow::Result<T> {
    let permit = permits().acquire().await?;
    Ok(tokio::task::spawn_blocking(move || {
        let _permit = permit;
        work()
    })
    .await?)
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
