//! Deletes what has expired: sessions, outstanding SAML requests, the SAML replay cache, OIDC
//! login state, and the password failures of emails quiet for [`FAILURES_KEPT`]. Every check
//! already ignores expired rows; this keeps the tables small.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

use crate::db::entities::{
    oidc_login, password_failure, saml_assertion_seen, saml_request, session,
};

pub const EVERY: Duration = Duration::from_secs(600);
/// How long the failed password sign-ins counted for an email are kept after the last of them
/// (far beyond the lock they may have set).
pub const FAILURES_KEPT: chrono::TimeDelta = chrono::TimeDelta::days(1);

/// Removes every row whose expiry is before `now` (the replay cache's, before `now` less the
/// clock skew); returns how many went.
pub async fn sweep(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<u64, DbErr> {
    let mut removed = 0;
    removed += session::Entity::delete_many()
        .filter(session::Column::ExpiresAt.lt(now))
        .exec(db)
        .await?
        .rows_affected;
    removed += saml_request::Entity::delete_many()
        .filter(saml_request::Column::ExpiresAt.lt(now))
        .exec(db)
        .await?
        .rows_affected;
    // Kept the clock skew longer: a replica whose clock is behind this one's may still be taking
    // an assertion the row remembers.
    removed += saml_assertion_seen::Entity::delete_many()
        .filter(saml_assertion_seen::Column::ExpiresAt.lt(now - crate::sso::saml::MAX_SKEW))
        .exec(db)
        .await?
        .rows_affected;
    removed += oidc_login::Entity::delete_many()
        .filter(oidc_login::Column::ExpiresAt.lt(now))
        .exec(db)
        .await?
        .rows_affected;
    removed += password_failure::Entity::delete_many()
        .filter(password_failure::Column::LastFailureAt.lt(now - FAILURES_KEPT))
        .exec(db)
        .await?
        .rows_affected;
    Ok(removed)
}

/// Sweeps every [`EVERY`] for as long as the portal runs.
pub fn spawn(db: sea_orm::DatabaseConnection) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        // After a pause (a suspended machine), one sweep, not one for each sweep missed.
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match sweep(&db, Utc::now()).await {
                Ok(0) => {}
                Ok(removed) => {
                    tracing::debug!(removed, "removed expired sessions and sign-in state")
                }
                Err(error) => {
                    tracing::warn!(%error, "could not remove expired sessions and sign-in state")
                }
            }
        }
    });
}
