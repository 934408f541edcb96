//! `/api/v1` for people and access: users, agent pools, roles and the audit log. Admins and
//! Viewers read; only Admins write. The check is here, on the server, for every route.

use axum::{
    body::Bytes,
    extract::{Query, State},
    http::{header, HeaderMap, HeaderValue, Method, StatusCode},
    response::{IntoResponse, Response},
    Extension, Json,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{parse_json, ApiError, ApiPath, ApiQuery, ErrorBody};
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

pub fn router() -> OpenApiRouter<Portal> {
    OpenApiRouter::new()
        .routes(routes!(list_users, add_user))
        .routes(routes!(get_user, change_user, remove_user))
        .routes(routes!(list_pools, create_pool))
        .routes(routes!(get_pool, change_pool, delete_pool))
        .routes(routes!(add_member))
        .routes(routes!(remove_member))
        .routes(routes!(rotate_agent_key))
        .routes(routes!(roles))
        .routes(routes!(audit_events))
        .routes(routes!(audit_csv))
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

/// People, one page in the order their accounts were made (Admins and Viewers).
#[utoipa::path(get, path = "/api/v1/users", tag = "people",
    params(PeopleQuery),
    responses(
        (status = 200, body = Vec<people::Listing>,
            headers(("x-total-count" = u64, description = "How many people match in all"))),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Neither Admin nor Viewer", body = ErrorBody),
        (status = 422, description = "A query parameter does not fit", body = ErrorBody),
    ))]
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

/// A person, with where each of their roles comes from.
#[derive(Serialize, ToSchema)]
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

/// A person (Admins and Viewers).
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "people",
    params(("id" = i32, Path, description = "The person's id")),
    responses(
        (status = 200, body = PersonDetail),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
async fn get_user(
    State(portal): State<Portal>,
    Extension(correlation): Extension<CorrelationId>,
    ApiPath(id): ApiPath<i32>,
    method: Method,
    headers: HeaderMap,
) -> Answer<Json<PersonDetail>> {
    let fail = |e: PortalError| ApiError(e, correlation.clone());
    reader(&portal, &method, &headers).await.map_err(fail)?;
    Ok(Json(person_detail(&portal, id).await.map_err(fail)?))
}

/// Adds a person by hand (Admins; while provisioning is Manual).
#[utoipa::path(post, path = "/api/v1/users", tag = "people",
    request_body = NewPerson,
    responses(
        (status = 201, body = PersonDetail),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, description = "A field does not fit, the email is taken, or SSO JIT is on", body = ErrorBody),
    ))]
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

/// Changes a person's direct roles, pools, status, email or Okta identity link (Admins); what
/// is absent stays.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "people",
    params(("id" = i32, Path, description = "The person's id")),
    request_body = PersonChange,
    responses(
        (status = 200, body = PersonDetail),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "A field does not fit, or the change would leave no active Admin", body = ErrorBody),
    ))]
async fn change_user(
    State(portal): State<Portal>,
    Extension(correlation): Extension<CorrelationId>,
    ApiPath(id): ApiPath<i32>,
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
#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "people",
    params(("id" = i32, Path, description = "The person's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "The last active Admin, or the caller themselves", body = ErrorBody),
    ))]
async fn remove_user(
    State(portal): State<Portal>,
    Extension(correlation): Extension<CorrelationId>,
    ApiPath(id): ApiPath<i32>,
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

/// Every agent pool (Admins and Viewers).
#[utoipa::path(get, path = "/api/v1/pools", tag = "pools",
    responses(
        (status = 200, body = Vec<pools::PoolView>),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    ))]
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

/// An agent pool (Admins and Viewers).
#[utoipa::path(get, path = "/api/v1/pools/{id}", tag = "pools",
    params(("id" = i32, Path, description = "The pool's id")),
    responses(
        (status = 200, body = pools::PoolView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
async fn get_pool(
    State(portal): State<Portal>,
    Extension(correlation): Extension<CorrelationId>,
    ApiPath(id): ApiPath<i32>,
    method: Method,
    headers: HeaderMap,
) -> Answer<Json<pools::PoolView>> {
    let fail = |e: PortalError| ApiError(e, correlation.clone());
    reader(&portal, &method, &headers).await.map_err(fail)?;
    Ok(Json(pools::get(&portal.db, id).await.map_err(fail)?))
}

/// Creates an agent pool (Admins); the answer carries its agent key, this once.
#[utoipa::path(post, path = "/api/v1/pools", tag = "pools",
    request_body = NewPool,
    responses(
        (status = 201, body = pools::PoolWithKey),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
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

/// Renames a pool, sets the roles it grants, or makes it the default (Admins).
#[utoipa::path(patch, path = "/api/v1/pools/{id}", tag = "pools",
    params(("id" = i32, Path, description = "The pool's id")),
    request_body = PoolChange,
    responses(
        (status = 200, body = pools::PoolView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
async fn change_pool(
    State(portal): State<Portal>,
    Extension(correlation): Extension<CorrelationId>,
    ApiPath(id): ApiPath<i32>,
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

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct DeleteQuery {
    /// Needed when the pool has members, who lose what it grants.
    #[serde(default)]
    confirm: bool,
}

/// Deletes a pool (Admins); not the default one.
#[utoipa::path(delete, path = "/api/v1/pools/{id}", tag = "pools",
    params(("id" = i32, Path, description = "The pool's id"), DeleteQuery),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "The default pool, or members without `confirm=true`", body = ErrorBody),
    ))]
async fn delete_pool(
    State(portal): State<Portal>,
    Extension(correlation): Extension<CorrelationId>,
    ApiPath(id): ApiPath<i32>,
    ApiQuery(query): ApiQuery<DeleteQuery>,
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewMember {
    user_id: i32,
}

/// Adds a person to a pool (Admins).
#[utoipa::path(post, path = "/api/v1/pools/{id}/members", tag = "pools",
    params(("id" = i32, Path, description = "The pool's id")),
    request_body = NewMember,
    responses(
        (status = 200, body = pools::PoolView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
async fn add_member(
    State(portal): State<Portal>,
    Extension(correlation): Extension<CorrelationId>,
    ApiPath(id): ApiPath<i32>,
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

/// Takes a person out of a pool (Admins).
#[utoipa::path(delete, path = "/api/v1/pools/{id}/members/{user_id}", tag = "pools",
    params(
        ("id" = i32, Path, description = "The pool's id"),
        ("user_id" = i32, Path, description = "The person's id"),
    ),
    responses(
        (status = 200, body = pools::PoolView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "It would leave no active Admin", body = ErrorBody),
    ))]
async fn remove_member(
    State(portal): State<Portal>,
    Extension(correlation): Extension<CorrelationId>,
    ApiPath((id, user_id)): ApiPath<(i32, i32)>,
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

#[derive(Serialize, ToSchema)]
struct AgentKey {
    /// Shown this once; only its hash is stored.
    agent_key: String,
}

/// Replaces a pool's agent key (Admins); the old one stops working.
#[utoipa::path(post, path = "/api/v1/pools/{id}/agent-key", tag = "pools",
    params(("id" = i32, Path, description = "The pool's id")),
    responses(
        (status = 200, body = AgentKey),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
async fn rotate_agent_key(
    State(portal): State<Portal>,
    Extension(correlation): Extension<CorrelationId>,
    ApiPath(id): ApiPath<i32>,
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
#[derive(Serialize, ToSchema)]
struct RoleMatrix {
    #[schema(value_type = String, example = "admin")]
    role: &'static str,
    #[schema(value_type = Vec<String>)]
    may: Vec<&'static str>,
}

/// The predefined roles and what each may do (Admins and Viewers).
#[utoipa::path(get, path = "/api/v1/roles", tag = "audit",
    responses(
        (status = 200, body = Vec<RoleMatrix>),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    ))]
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

/// Audit events, newest first, one page (Admins and Viewers).
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit",
    params(AuditFilter),
    responses(
        (status = 200, body = audit::AuditPage),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, description = "A query parameter does not fit", body = ErrorBody),
    ))]
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

/// Every event the filters match (up to 100,000) as CSV; `page` and `per_page` are ignored.
#[utoipa::path(get, path = "/api/v1/audit.csv", tag = "audit",
    params(AuditFilter),
    responses(
        (status = 200, description = "An attachment, `portal-audit.csv`", body = String, content_type = "text/csv"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
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
