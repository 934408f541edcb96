//! `/api/v1` for people and access: users, agent pools, roles and the audit log. Admins and
//! Viewers read; only Admins write. The check is here, on the server, for every route.

use axum::{
    body::Bytes,
    extract::{Path, Query, State},
    http::{header, HeaderMap, HeaderValue, Method, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Extension, Json, Router,
};
use serde::{Deserialize, Serialize};

use super::{parse_json, ApiError};
use crate::audit::{self, AuditFilter};
use crate::auth::caller::Caller;
use crate::domain::Role;
use crate::error::PortalError;
use crate::people::{
    self,
    admin::{NewPerson, PersonChange},
    PeopleQuery,
};
use crate::pools::{self, NewPool, PoolChange};
use crate::state::{CorrelationId, Portal};

pub fn router() -> Router<Portal> {
    Router::new()
        .route("/api/v1/users", get(list_users).post(add_user))
        .route(
            "/api/v1/users/{id}",
            get(get_user).patch(change_user).delete(remove_user),
        )
        .route("/api/v1/pools", get(list_pools).post(create_pool))
        .route(
            "/api/v1/pools/{id}",
            get(get_pool).patch(change_pool).delete(delete_pool),
        )
        .route("/api/v1/pools/{id}/members", post(add_member))
        .route(
            "/api/v1/pools/{id}/members/{user_id}",
            axum::routing::delete(remove_member),
        )
        .route("/api/v1/pools/{id}/agent-key", post(rotate_agent_key))
        .route("/api/v1/roles", get(roles))
        .route("/api/v1/audit", get(audit_events))
        .route("/api/v1/audit.csv", get(audit_csv))
}

/// Who may read: Admins and Viewers.
async fn reader(
    portal: &Portal,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Caller, PortalError> {
    let caller = portal.api_caller(method, headers).await?;
    if caller.may_read_people() {
        Ok(caller)
    } else {
        Err(PortalError::Forbidden)
    }
}

type Answer<T> = Result<T, ApiError>;

async fn list_users(
    State(portal): State<Portal>,
    Extension(correlation): Extension<CorrelationId>,
    method: Method,
    headers: HeaderMap,
    query: Result<Query<PeopleQuery>, axum::extract::rejection::QueryRejection>,
) -> Answer<Response> {
    let fail = |e: PortalError| ApiError(e, correlation.clone());
    reader(&portal, &method, &headers).await.map_err(fail)?;
    let Query(query) = query.map_err(|e| fail(PortalError::invalid("query", e.body_text())))?;
    let (listings, total) = people::search(&portal.db, &query).await.map_err(fail)?;
    let mut response = Json(listings).into_response();
    response
        .headers_mut()
        .insert("x-total-count", HeaderValue::from(total));
    Ok(response)
}

#[derive(Serialize)]
struct PersonDetail {
    #[serde(flatten)]
    listing: people::Listing,
    role_sources: Vec<people::RoleSource>,
}

async fn person_detail(portal: &Portal, id: i32) -> Result<PersonDetail, PortalError> {
    let account = crate::db::entities::user::Entity::find_by_id(id)
        .one(&portal.db)
        .await?
        .ok_or_else(|| PortalError::NotFound(format!("user {id}")))?;
    Ok(PersonDetail {
        role_sources: people::role_sources(&portal.db, id).await?,
        listing: people::listing(&portal.db, account).await?,
    })
}

use sea_orm::EntityTrait;

async fn get_user(
    State(portal): State<Portal>,
    Extension(correlation): Extension<CorrelationId>,
    Path(id): Path<i32>,
    method: Method,
    headers: HeaderMap,
) -> Answer<Json<PersonDetail>> {
    let fail = |e: PortalError| ApiError(e, correlation.clone());
    reader(&portal, &method, &headers).await.map_err(fail)?;
    Ok(Json(person_detail(&portal, id).await.map_err(fail)?))
}

async fn add_user(
    State(portal): State<Portal>,
    Extension(correlation): Extension<CorrelationId>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Answer<(StatusCode, Json<PersonDetail>)> {
    let fail = |e: PortalError| ApiError(e, correlation.clone());
    let caller = portal.api_admin(&method, &headers).await.map_err(fail)?;
    let new = parse_json::<NewPerson>(&body).map_err(fail)?;
    let account = portal
        .add_person(&caller, new, &correlation.0)
        .await
        .map_err(fail)?;
    Ok((
        StatusCode::CREATED,
        Json(person_detail(&portal, account.id).await.map_err(fail)?),
    ))
}

async fn change_user(
    State(portal): State<Portal>,
    Extension(correlation): Extension<CorrelationId>,
    Path(id): Path<i32>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Answer<Json<PersonDetail>> {
    let fail = |e: PortalError| ApiError(e, correlation.clone());
    let caller = portal.api_admin(&method, &headers).await.map_err(fail)?;
    let change = parse_json::<PersonChange>(&body).map_err(fail)?;
    portal
        .change_person(&caller, id, change, &correlation.0)
        .await
        .map_err(fail)?;
    Ok(Json(person_detail(&portal, id).await.map_err(fail)?))
}

/// Removes a person and ends their sessions at once. Removing them in Okta does nothing here;
/// this is how an admin removes them from Portal.
async fn remove_user(
    State(portal): State<Portal>,
    Extension(correlation): Extension<CorrelationId>,
    Path(id): Path<i32>,
    method: Method,
    headers: HeaderMap,
) -> Answer<StatusCode> {
    let fail = |e: PortalError| ApiError(e, correlation.clone());
    let caller = portal.api_admin(&method, &headers).await.map_err(fail)?;
    portal
        .remove_person(&caller, id, &correlation.0)
        .await
        .map_err(fail)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_pools(
    State(portal): State<Portal>,
    Extension(correlation): Extension<CorrelationId>,
    method: Method,
    headers: HeaderMap,
) -> Answer<Json<Vec<pools::PoolView>>> {
    let fail = |e: PortalError| ApiError(e, correlation.clone());
    reader(&portal, &method, &headers).await.map_err(fail)?;
    Ok(Json(pools::list(&portal.db).await.map_err(fail)?))
}

async fn get_pool(
    State(portal): State<Portal>,
    Extension(correlation): Extension<CorrelationId>,
    Path(id): Path<i32>,
    method: Method,
    headers: HeaderMap,
) -> Answer<Json<pools::PoolView>> {
    let fail = |e: PortalError| ApiError(e, correlation.clone());
    reader(&portal, &method, &headers).await.map_err(fail)?;
    Ok(Json(pools::get(&portal.db, id).await.map_err(fail)?))
}

async fn create_pool(
    State(portal): State<Portal>,
    Extension(correlation): Extension<CorrelationId>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Answer<(StatusCode, Json<pools::PoolWithKey>)> {
    let fail = |e: PortalError| ApiError(e, correlation.clone());
    let caller = portal.api_admin(&method, &headers).await.map_err(fail)?;
    let new = parse_json::<NewPool>(&body).map_err(fail)?;
    let made = portal
        .create_pool(&caller, new, &correlation.0)
        .await
        .map_err(fail)?;
    Ok((StatusCode::CREATED, Json(made)))
}

async fn change_pool(
    State(portal): State<Portal>,
    Extension(correlation): Extension<CorrelationId>,
    Path(id): Path<i32>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Answer<Json<pools::PoolView>> {
    let fail = |e: PortalError| ApiError(e, correlation.clone());
    let caller = portal.api_admin(&method, &headers).await.map_err(fail)?;
    let change = parse_json::<PoolChange>(&body).map_err(fail)?;
    Ok(Json(
        portal
            .change_pool(&caller, id, change, &correlation.0)
            .await
            .map_err(fail)?,
    ))
}

#[derive(Deserialize)]
struct DeleteQuery {
    #[serde(default)]
    confirm: bool,
}

async fn delete_pool(
    State(portal): State<Portal>,
    Extension(correlation): Extension<CorrelationId>,
    Path(id): Path<i32>,
    Query(query): Query<DeleteQuery>,
    method: Method,
    headers: HeaderMap,
) -> Answer<StatusCode> {
    let fail = |e: PortalError| ApiError(e, correlation.clone());
    let caller = portal.api_admin(&method, &headers).await.map_err(fail)?;
    portal
        .delete_pool(&caller, id, query.confirm, &correlation.0)
        .await
        .map_err(fail)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewMember {
    user_id: i32,
}

async fn add_member(
    State(portal): State<Portal>,
    Extension(correlation): Extension<CorrelationId>,
    Path(id): Path<i32>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Answer<Json<pools::PoolView>> {
    let fail = |e: PortalError| ApiError(e, correlation.clone());
    let caller = portal.api_admin(&method, &headers).await.map_err(fail)?;
    let member = parse_json::<NewMember>(&body).map_err(fail)?;
    Ok(Json(
        portal
            .add_pool_member(&caller, id, member.user_id, &correlation.0)
            .await
            .map_err(fail)?,
    ))
}

async fn remove_member(
    State(portal): State<Portal>,
    Extension(correlation): Extension<CorrelationId>,
    Path((id, user_id)): Path<(i32, i32)>,
    method: Method,
    headers: HeaderMap,
) -> Answer<Json<pools::PoolView>> {
    let fail = |e: PortalError| ApiError(e, correlation.clone());
    let caller = portal.api_admin(&method, &headers).await.map_err(fail)?;
    Ok(Json(
        portal
            .remove_pool_member(&caller, id, user_id, &correlation.0)
            .await
            .map_err(fail)?,
    ))
}

#[derive(Serialize)]
struct AgentKey {
    agent_key: String,
}

async fn rotate_agent_key(
    State(portal): State<Portal>,
    Extension(correlation): Extension<CorrelationId>,
    Path(id): Path<i32>,
    method: Method,
    headers: HeaderMap,
) -> Answer<Json<AgentKey>> {
    let fail = |e: PortalError| ApiError(e, correlation.clone());
    let caller = portal.api_admin(&method, &headers).await.map_err(fail)?;
    let agent_key = portal
        .rotate_agent_key(&caller, id, &correlation.0)
        .await
        .map_err(fail)?;
    Ok(Json(AgentKey { agent_key }))
}

/// What each role may do: the read-only matrix the Roles tab shows.
#[derive(Serialize)]
struct RoleMatrix {
    role: &'static str,
    may: Vec<&'static str>,
}

async fn roles(
    State(portal): State<Portal>,
    Extension(correlation): Extension<CorrelationId>,
    method: Method,
    headers: HeaderMap,
) -> Answer<Json<Vec<RoleMatrix>>> {
    reader(&portal, &method, &headers)
        .await
        .map_err(|e| ApiError(e, correlation.clone()))?;
    Ok(Json(
        [Role::Admin, Role::Viewer, Role::User]
            .into_iter()
            .map(|role| RoleMatrix {
                role: role.key(),
                may: role.capabilities().to_vec(),
            })
            .collect(),
    ))
}

async fn audit_events(
    State(portal): State<Portal>,
    Extension(correlation): Extension<CorrelationId>,
    method: Method,
    headers: HeaderMap,
    query: Result<Query<AuditFilter>, axum::extract::rejection::QueryRejection>,
) -> Answer<Json<audit::AuditPage>> {
    let fail = |e: PortalError| ApiError(e, correlation.clone());
    reader(&portal, &method, &headers).await.map_err(fail)?;
    let Query(filter) = query.map_err(|e| fail(PortalError::invalid("query", e.body_text())))?;
    Ok(Json(
        audit::search(&portal.db, &filter).await.map_err(fail)?,
    ))
}

/// The most events one CSV export carries; narrow the filters for more.
const MAX_EXPORT: usize = 100_000;

async fn audit_csv(
    State(portal): State<Portal>,
    Extension(correlation): Extension<CorrelationId>,
    method: Method,
    headers: HeaderMap,
    query: Result<Query<AuditFilter>, axum::extract::rejection::QueryRejection>,
) -> Answer<Response> {
    let fail = |e: PortalError| ApiError(e, correlation.clone());
    reader(&portal, &method, &headers).await.map_err(fail)?;
    let Query(mut filter) =
        query.map_err(|e| fail(PortalError::invalid("query", e.body_text())))?;
    // Everything the filters match, a page at a time, up to a bound that keeps one export sane.
    filter.per_page = Some(audit::MAX_PER_PAGE);
    let mut events = Vec::new();
    for page in 1.. {
        filter.page = Some(page);
        let batch = audit::search(&portal.db, &filter).await.map_err(fail)?;
        let done = batch.events.len() < audit::MAX_PER_PAGE as usize;
        events.extend(batch.events);
        if done || events.len() >= MAX_EXPORT {
            break;
        }
    }
    events.truncate(MAX_EXPORT);
    let page = audit::AuditPage {
        total: events.len() as u64,
        page: 1,
        per_page: MAX_EXPORT as u64,
        events,
    };
    let csv = audit::to_csv(&page.events).map_err(fail)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"portal-audit.csv\"",
            ),
        ],
        csv,
    )
        .into_response())
}
