//! The audit log: one row per outcome that an admin may need to explain later.

use chrono::Utc;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait};

use crate::auth::caller::Caller;
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
    audit_event::Entity::insert(entry(event))
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// The row that records `event`, not yet stored.
pub fn entry(event: AuditEvent<'_>) -> audit_event::ActiveModel {
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
}

/// Records a change that an admin (or a token acting for one) made and that succeeded.
pub async fn record_change(
    db: &impl ConnectionTrait,
    caller: &Caller,
    action: &str,
    target: &str,
    details: serde_json::Value,
    correlation_id: &str,
) -> Result<(), DbErr> {
    record(
        db,
        AuditEvent {
            actor_id: Some(caller.user.id),
            actor: &caller.label(),
            action,
            target,
            outcome: Outcome::Success,
            details,
            correlation_id,
        },
    )
    .await
}

/// Which events to show; every part is optional.
#[derive(Clone, Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditFilter {
    /// `success` or `failure`.
    pub outcome: Option<String>,
    /// An action, or a family of them ending in `.` or `*` (`sign_in.`).
    pub action: Option<String>,
    /// Part of the actor's or the target's email.
    pub person: Option<String>,
    pub correlation_id: Option<String>,
    /// From this instant (RFC 3339) or the start of this day (`YYYY-MM-DD`, UTC).
    #[serde(default, deserialize_with = "from_instant_or_day")]
    #[param(value_type = Option<String>, example = "2026-01-31")]
    pub since: Option<chrono::DateTime<Utc>>,
    /// Before this instant, or up to the end of this day.
    #[serde(default, deserialize_with = "until_instant_or_day")]
    #[param(value_type = Option<String>)]
    pub until: Option<chrono::DateTime<Utc>>,
    pub page: Option<u64>,
    pub per_page: Option<u64>,
}

/// One page of events, newest first, and how many match in all.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    pub events: Vec<AuditEntry>,
    pub total: u64,
    pub page: u64,
    pub per_page: u64,
}

#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: i32,
    pub at: chrono::DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub details: serde_json::Value,
    pub correlation_id: String,
}

impl From<audit_event::Model> for AuditEntry {
    fn from(e: audit_event::Model) -> Self {
        AuditEntry {
            id: e.id,
            at: e.at,
            details: serde_json::from_str(&e.details)
                .unwrap_or(serde_json::Value::String(e.details)),
            actor: e.actor,
            action: e.action,
            target: e.target,
            outcome: e.outcome,
            correlation_id: e.correlation_id,
        }
    }
}

pub const MAX_PER_PAGE: u64 = 500;

pub async fn search(
    db: &impl ConnectionTrait,
    filter: &AuditFilter,
) -> Result<AuditPage, crate::error::PortalError> {
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
    let per_page = filter.per_page.unwrap_or(50).clamp(1, MAX_PER_PAGE);
    let page = filter.page.unwrap_or(1).clamp(1, 1_000_000);
    let mut query = audit_event::Entity::find();
    if let Some(outcome) = filter.outcome.as_deref().filter(|o| !o.is_empty()) {
        if !matches!(outcome, "success" | "failure") {
            return Err(crate::error::PortalError::invalid(
                "outcome",
                "choose success or failure",
            ));
        }
        query = query.filter(audit_event::Column::Outcome.eq(outcome));
    }
    use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
    let like = |pattern: String| LikeExpr::new(pattern).escape('\\');
    let escape = crate::people::like_escape;
    let given = |value: &Option<String>| {
        value
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    if let Some(action) = given(&filter.action) {
        let family = action
            .strip_suffix('*')
            .or_else(|| action.ends_with('.').then_some(action.as_str()));
        query = match family {
            Some(family) => query.filter(
                Expr::col(audit_event::Column::Action).like(like(format!("{}%", escape(family)))),
            ),
            None => query.filter(audit_event::Column::Action.eq(action.as_str())),
        };
    }
    if let Some(person) = given(&filter.person) {
        let pattern = format!("%{}%", escape(&person.to_lowercase()));
        let lower = |column: audit_event::Column| Expr::expr(Func::lower(Expr::col(column)));
        query = query.filter(
            sea_orm::Condition::any()
                .add(lower(audit_event::Column::Actor).like(like(pattern.clone())))
                .add(lower(audit_event::Column::Target).like(like(pattern))),
        );
    }
    if let Some(id) = filter
        .correlation_id
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        query = query.filter(audit_event::Column::CorrelationId.eq(id));
    }
    if let Some(since) = filter.since {
        query = query.filter(audit_event::Column::At.gte(since));
    }
    if let Some(until) = filter.until {
        query = query.filter(audit_event::Column::At.lt(until));
    }
    let paginator = query
        .order_by_desc(audit_event::Column::At)
        .order_by_desc(audit_event::Column::Id)
        .paginate(db, per_page);
    let total = paginator.num_items().await?;
    let events = paginator.fetch_page(page - 1).await?;
    Ok(AuditPage {
        events: events.into_iter().map(AuditEntry::from).collect(),
        total,
        page,
        per_page,
    })
}

/// The events as CSV, for a spreadsheet or an auditor.
pub fn to_csv(events: &[AuditEntry]) -> Result<String, crate::error::PortalError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer
        .write_record([
            "at",
            "actor",
            "action",
            "target",
            "outcome",
            "correlation_id",
            "details",
        ])
        .map_err(|e| crate::error::PortalError::Internal(e.into()))?;
    for e in events {
        writer
            .write_record([
                e.at.to_rfc3339(),
                cell(&e.actor),
                cell(&e.action),
                cell(&e.target),
                cell(&e.outcome),
                cell(&e.correlation_id),
                cell(&e.details.to_string()),
            ])
            .map_err(|e| crate::error::PortalError::Internal(e.into()))?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| crate::error::PortalError::Internal(anyhow::anyhow!(e.to_string())))?;
    Ok(String::from_utf8(bytes).expect("CSV of UTF-8 text is UTF-8"))
}

/// A cell a spreadsheet will not run as a formula: text that starts like one gets a leading `'`.
fn cell(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    }
}

fn instant_or_day<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
    days_after: u64,
) -> Result<Option<chrono::DateTime<Utc>>, D::Error> {
    use serde::Deserialize;
    let text = Option::<String>::deserialize(deserializer)?.unwrap_or_default();
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if let Ok(day) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let start = (day + chrono::Days::new(days_after))
            .and_hms_opt(0, 0, 0)
            .expect("midnight");
        return Ok(Some(start.and_utc()));
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|at| Some(at.with_timezone(&Utc)))
        .map_err(|_| {
            serde::de::Error::custom(format!(
                "'{text}' is neither a day (YYYY-MM-DD) nor an RFC 3339 time"
            ))
        })
}

fn from_instant_or_day<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<chrono::DateTime<Utc>>, D::Error> {
    instant_or_day(d, 0)
}

fn until_instant_or_day<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<chrono::DateTime<Utc>>, D::Error> {
    instant_or_day(d, 1)
}
