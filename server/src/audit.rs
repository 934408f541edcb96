//! The audit log: one row per outcome that an admin may need to explain later.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DbErr};

use crate::db::entities::audit_event;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }
}

pub struct AuditEvent<'a> {
    pub actor_id: Option<i32>,
    pub actor: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub outcome: Outcome,
    pub details: serde_json::Value,
    pub correlation_id: &'a str,
}

pub async fn record(db: &impl ConnectionTrait, event: AuditEvent<'_>) -> Result<(), DbErr> {
    audit_event::ActiveModel {
        at: Set(Utc::now()),
        actor_id: Set(event.actor_id),
        actor: Set(event.actor.to_string()),
        action: Set(event.action.to_string()),
        target: Set(event.target.to_string()),
        outcome: Set(event.outcome.as_str().to_string()),
        details: Set(event.details.to_string()),
        correlation_id: Set(event.correlation_id.to_string()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}
