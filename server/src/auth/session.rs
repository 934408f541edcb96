//! Browser sessions: a random 256-bit id in an HttpOnly cookie, stored only as its SHA-256,
//! ending after an idle period or an absolute lifetime, whichever comes first.

use std::time::Duration;

use axum::http::HeaderMap;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter,
};

use crate::db::entities::{session, user};

/// The session cookie's name ([`super::cookie_name`]): over https no other host of the site can
/// set one (another person's session, for someone to work in unawares).
pub fn cookie_name(secure: bool) -> &'static str {
    super::cookie_name(secure, "__Host-portal_session")
}
/// How stale `last_seen_at` may be before a request refreshes it; saves a write per request.
const TOUCH_EVERY: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

#[derive(Clone, Copy, Debug)]
pub struct SessionPolicy {
    pub idle: Duration,
    pub lifetime: Duration,
    pub secure: bool,
}

pub enum Lookup {
    Valid {
        session: session::Model,
        user: Box<user::Model>,
    },
    /// The cookie named a session that has ended by time; the row is gone now.
    Expired,
    /// No cookie, or one that names no session.
    Missing,
}

/// Starts a session for `user_id`; returns the cookie to set and the stored row.
pub async fn start(
    db: &impl ConnectionTrait,
    policy: SessionPolicy,
    user_id: i32,
) -> Result<(String, session::Model), DbErr> {
    let (cookie, row) = opening(policy, user_id, None);
    Ok((cookie, row.insert(db).await?))
}

/// A new session for `user_id`, not yet stored: the cookie to set and the row to insert. It
/// ends after the policy's lifetime, or at `ends_by` if that comes first (what the identity
/// provider allows).
pub fn opening(
    policy: SessionPolicy,
    user_id: i32,
    ends_by: Option<DateTime<Utc>>,
) -> (String, session::ActiveModel) {
    let secret = super::random_secret();
    let now = Utc::now();
    let lifetime_end = now + policy.lifetime;
    let expires_at = ends_by.map_or(lifetime_end, |by| by.min(lifetime_end));
    let row = session::ActiveModel {
        id_hash: Set(super::digest(&secret)),
        user_id: Set(user_id),
        csrf_token: Set(session::CsrfToken(super::random_secret())),
        created_at: Set(now),
        last_seen_at: Set(now),
        expires_at: Set(expires_at),
    };
    (cookie(&secret, policy), row)
}

pub async fn resolve(
    db: &impl ConnectionTrait,
    policy: SessionPolicy,
    secret: Option<&str>,
) -> Result<Lookup, DbErr> {
    let Some(secret) = secret.filter(|s| !s.is_empty()) else {
        return Ok(Lookup::Missing);
    };
    let id_hash = super::digest(secret);
    let found = session::Entity::find_by_id(id_hash.clone())
        .find_also_related(user::Entity)
        .one(db)
        .await?;
    let Some((found, Some(owner))) = found else {
        return Ok(Lookup::Missing);
    };
    let now = Utc::now();
    if now >= found.expires_at
        || (now - found.last_seen_at).to_std().unwrap_or_default() >= policy.idle
        || !owner.active
    {
        session::Entity::delete_by_id(id_hash).exec(db).await?;
        return Ok(Lookup::Expired);
    }
    let found = if now - found.last_seen_at >= TOUCH_EVERY {
        let mut active: session::ActiveModel = found.into();
        active.last_seen_at = Set(now);
        active.update(db).await?
    } else {
        found
    };
    Ok(Lookup::Valid {
        session: found,
        user: Box::new(owner),
    })
}

pub async fn end(db: &impl ConnectionTrait, secret: &str) -> Result<(), DbErr> {
    session::Entity::delete_by_id(super::digest(secret))
        .exec(db)
        .await?;
    Ok(())
}

/// Ends every session of a person at once (removal, deactivation).
pub async fn end_all_for(db: &impl ConnectionTrait, user_id: i32) -> Result<(), DbErr> {
    session::Entity::delete_many()
        .filter(session::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(())
}

pub fn cookie(secret: &str, policy: SessionPolicy) -> String {
    Cookie::build((cookie_name(policy.secure), secret.to_string()))
        .path("/")
        .http_only(true)
        .secure(policy.secure)
        .same_site(SameSite::Lax)
        .max_age(cookie_duration(policy.lifetime))
        .build()
        .to_string()
}

pub fn clear_cookie(policy: SessionPolicy) -> String {
    expired_cookie(cookie_name(policy.secure), policy.secure)
}

pub fn expired_cookie(name: &'static str, secure: bool) -> String {
    Cookie::build((name, ""))
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Lax)
        .max_age(time::Duration::ZERO)
        .build()
        .to_string()
}

pub fn read_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    CookieJar::from_headers(headers)
        .get(name)
        .map(|c| c.value().to_string())
}

fn cookie_duration(duration: Duration) -> time::Duration {
    time::Duration::seconds(duration.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_prints_no_csrf_token() {
        let now = Utc::now();
        let row = session::Model {
            id_hash: super::super::digest("cookie-secret"),
            user_id: 7,
            csrf_token: session::CsrfToken("session-csrf-token".to_string()),
            created_at: now,
            last_seen_at: now,
            expires_at: now,
        };
        let printed = format!("{row:?}");
        assert!(printed.contains("user_id: 7"), "{printed}");
        assert!(printed.contains("CsrfToken(..)"), "{printed}");
        assert!(!printed.contains("session-csrf-token"), "{printed}");
    }
}
