//! `/api/v1`: the JSON API for automation, by bearer token or session cookie, plus the
//! health probes, `/metrics` and the OpenAPI document. Errors are JSON with a code, a message a
//! person can act on, the field at fault where there is one, and the correlation id.
//!
//! Every route is declared through [`utoipa_axum`]'s `routes!`, which both routes it and
//! documents it from its `#[utoipa::path]`: `/api/v1/openapi.json` is generated from this code.

use std::sync::OnceLock;

use axum::{
    body::Bytes,
    extract::State,
    http::{header, HeaderMap, Method, StatusCode},
    response::{IntoResponse, Response},
    Extension, Json, Router,
};
use serde::Serialize;
use serde_json::json;
use utoipa::{
    openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
    Modify, OpenApi, ToSchema,
};
use utoipa_axum::{router::OpenApiRouter, routes};

mod access;

use crate::domain::Role;
use crate::error::PortalError;
use crate::identity::IdentityDocument;
use crate::people;
use crate::state::{CorrelationId, Portal};

pub fn router() -> Router<Portal> {
    documented().split_for_parts().0
}

/// The OpenAPI document of every route [`router`] serves.
pub fn openapi() -> utoipa::openapi::OpenApi {
    documented().split_for_parts().1
}

fn documented() -> OpenApiRouter<Portal> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(openapi_json))
        .routes(routes!(me))
        .routes(routes!(get_identity, put_identity))
        .merge(access::router())
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Portal API",
        description = "Automation for Portal: identity configuration, people, agent pools, roles \
            and the audit log. Send an API token (`portal token create`) as a bearer token, or a \
            session cookie with the session's `X-CSRF-Token` header on writes."
    ),
    modifiers(&Credentials),
    security(("bearer" = []), ("session" = [])),
    tags(
        (name = "identity", description = "Who is asking, and the identity configuration"),
        (name = "people", description = "People and their access"),
        (name = "pools", description = "Agent pools"),
        (name = "audit", description = "Roles and the audit log"),
        (name = "operations", description = "Probes, metrics and this document; no credentials"),
    )
)]
struct ApiDoc;

/// The two ways to call the API: an API token, or a browser session (whose writes also need
/// the session's CSRF token in `X-CSRF-Token`).
struct Credentials;

impl Modify for Credentials {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API token from `portal token create`."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::auth::session::cookie_name(false),
                "A signed-in browser's session (`__Host-portal_session` under an https public URL); writes also send its X-CSRF-Token header.",
            ))),
        );
    }
}

/// The body of every API error.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// `unauthenticated`, `session_expired`, `invalid_token`, `forbidden`, `csrf_rejected`,
    /// `invalid`, `not_found`, `unavailable` or `internal`.
    #[schema(example = "invalid")]
    error: &'static str,
    /// What to do about it, in a sentence.
    message: String,
    /// The field at fault, for `invalid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
    /// Matches the server's log lines and audit events.
    correlation_id: String,
}

/// Answers while the process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", security(()),
    responses((status = 200, description = "The process is up", body = String, content_type = "text/plain")))]
async fn healthz() -> &'static str {
    "ok"
}

/// Answers 200 while the database is reachable.
#[utoipa::path(get, path = "/readyz", tag = "operations", security(()),
    responses(
        (status = 200, description = "Ready", body = Object, example = json!({ "status": "ready" })),
        (status = 503, description = "The database is unreachable", body = Object,
            example = json!({ "status": "database unreachable" })),
    ))]
async fn readyz(State(portal): State<Portal>) -> Response {
    match portal.db.ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({ "status": "ready" }))).into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "database unreachable" })),
        )
            .into_response(),
    }
}

/// Prometheus metrics: sign-ins, refusals by reason, JIT creations, SSO callback latency and
/// the database pool.
#[utoipa::path(get, path = "/metrics", tag = "operations", security(()),
    responses((status = 200, description = "The Prometheus text exposition format", body = String,
        content_type = "text/plain; version=0.0.4")))]
async fn metrics(State(portal): State<Portal>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::metrics::render(&portal.db),
    )
        .into_response()
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "operations", security(()),
    responses((status = 200, description = "The OpenAPI document of this API", body = Object)))]
async fn openapi_json() -> Response {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    let document =
        DOCUMENT.get_or_init(|| openapi().to_pretty_json().expect("the document serialises"));
    (
        [(header::CONTENT_TYPE, "application/json")],
        document.as_str(),
    )
        .into_response()
}

/// Who is calling: the account behind the token or session.
#[derive(Serialize, ToSchema)]
struct MeResponse {
    id: i32,
    email: String,
    first_name: String,
    last_name: String,
    /// Effective roles, direct and from pools.
    roles: Vec<String>,
    /// Names of the agent pools the caller belongs to.
    pools: Vec<String>,
    jit_provisioned: bool,
}

/// The caller's own account.
#[utoipa::path(get, path = "/api/v1/me", tag = "identity",
    responses(
        (status = 200, body = MeResponse),
        (status = 401, description = "No valid token or session", body = ErrorBody),
    ))]
async fn me(
    State(portal): State<Portal>,
    Extension(correlation): Extension<CorrelationId>,
    method: Method,
    headers: HeaderMap,
) -> Result<Json<MeResponse>, ApiError> {
    let caller = portal
        .api_caller(&method, &headers)
        .await
        .map_err(|e| ApiError(e, correlation.clone()))?;
    let pools = people::pool_names(&portal.db, caller.user.id)
        .await
        .map_err(|e| ApiError(e.into(), correlation))?;
    Ok(Json(MeResponse {
        id: caller.user.id,
        email: caller.user.email,
        first_name: caller.user.first_name,
        last_name: caller.user.last_name,
        roles: caller.roles,
        pools,
        jit_provisioned: caller.user.jit_provisioned,
    }))
}

/// The identity configuration in force (Admins and Viewers). The OIDC client secret is never
/// returned: `client_secret_set` says whether one is stored.
#[utoipa::path(get, path = "/api/v1/identity", tag = "identity",
    responses(
        (status = 200, body = IdentityDocument),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Neither Admin nor Viewer", body = ErrorBody),
    ))]
async fn get_identity(
    State(portal): State<Portal>,
    Extension(correlation): Extension<CorrelationId>,
    method: Method,
    headers: HeaderMap,
) -> Result<Json<IdentityDocument>, ApiError> {
    let fail = |e: PortalError| ApiError(e, correlation.clone());
    let caller = portal.api_caller(&method, &headers).await.map_err(fail)?;
    if !(caller.has(Role::Admin) || caller.has(Role::Viewer)) {
        return Err(fail(PortalError::Forbidden));
    }
    Ok(Json(
        portal.identity_config().await.map_err(fail)?.document(),
    ))
}

/// Replaces the whole identity configuration (Admins): all of it is stored, or nothing and a
/// 422 naming the field at fault.
#[utoipa::path(put, path = "/api/v1/identity", tag = "identity",
    request_body = IdentityDocument,
    responses(
        (status = 200, description = "The configuration now in force", body = IdentityDocument),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not an Admin, or a cookie write without its CSRF token", body = ErrorBody),
        (status = 409, description = "The document carries `updated_at` and the configuration changed since; nothing changed", body = ErrorBody),
        (status = 422, description = "A field does not fit; nothing changed", body = ErrorBody),
    ))]
async fn put_identity(
    State(portal): State<Portal>,
    Extension(correlation): Extension<CorrelationId>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<IdentityDocument>, ApiError> {
    let fail = |e: PortalError| ApiError(e, correlation.clone());
    let caller = portal.api_admin(&method, &headers).await.map_err(fail)?;
    let doc = parse_json::<IdentityDocument>(&body).map_err(fail)?;
    let stored = portal
        .replace_identity(&caller, doc, &correlation.0)
        .await
        .map_err(fail)?;
    Ok(Json(stored.document()))
}

/// Parses a JSON body, naming the field at fault when it does not fit.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, PortalError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let field = if path == "." { String::new() } else { path };
        let inner = error.into_inner();
        let message = if inner.is_syntax() || inner.is_eof() {
            format!("the body is not valid JSON: {inner}")
        } else {
            inner.to_string()
        };
        PortalError::Invalid { field, message }
    })
}

/// A service error on its way out as JSON.
pub struct ApiError(pub PortalError, pub CorrelationId);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let ApiError(error, CorrelationId(correlation_id)) = self;
        let (status, code, message, field) = match &error {
            PortalError::SignInRequired => (
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "Sign in, or send an API token as 'Authorization: Bearer ...'.".to_string(),
                None,
            ),
            PortalError::SessionExpired => (
                StatusCode::UNAUTHORIZED,
                "session_expired",
                "Your session has expired. Sign in again.".to_string(),
                None,
            ),
            PortalError::InvalidToken => (
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "The API token is unknown or revoked. Create one with 'portal token create'."
                    .to_string(),
                None,
            ),
            PortalError::Forbidden => (
                StatusCode::FORBIDDEN,
                "forbidden",
                "Your roles do not allow this.".to_string(),
                None,
            ),
            PortalError::CsrfRejected => (
                StatusCode::FORBIDDEN,
                "csrf_rejected",
                "A write with a session cookie must send the session's X-CSRF-Token header."
                    .to_string(),
                None,
            ),
            PortalError::BadCredentials | PortalError::AccountDisabled => (
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                error.to_string(),
                None,
            ),
            PortalError::SignInLocked { .. } | PortalError::TooManyAttempts { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                error.to_string(),
                None,
            ),
            PortalError::Invalid { field, message } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                message.clone(),
                Some(field.clone()),
            ),
            PortalError::NotFound(_) => {
                (StatusCode::NOT_FOUND, "not_found", error.to_string(), None)
            }
            PortalError::Conflict(_) => (StatusCode::CONFLICT, "conflict", error.to_string(), None),
            error if error.is_unavailable() => {
                tracing::warn!(correlation_id, %error, "database unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "The database is unreachable; retry shortly.".to_string(),
                    None,
                )
            }
            error => {
                tracing::error!(correlation_id, %error, "API request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Something went wrong; quote the correlation id to your administrator."
                        .to_string(),
                    None,
                )
            }
        };
        let body = ErrorBody {
            error: code,
            message,
            field,
            correlation_id,
        };
        (status, Json(body)).into_response()
    }
}

/// `Path`, refused as this API refuses any bad field (JSON 422 naming `path`), not with axum's
/// plain-text 400.
pub struct ApiPath<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for ApiPath<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(ApiPath(value)),
            Err(rejection) => Err(ApiError(
                PortalError::invalid("path", rejection.body_text()),
                correlation_of(parts),
            )),
        }
    }
}

/// `Query`, refused like [`ApiPath`] but naming `query`.
pub struct ApiQuery<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(ApiQuery(value)),
            Err(rejection) => Err(ApiError(
                PortalError::invalid("query", rejection.body_text()),
                correlation_of(parts),
            )),
        }
    }
}

fn correlation_of(parts: &axum::http::request::Parts) -> CorrelationId {
    parts
        .extensions
        .get::<CorrelationId>()
        .cloned()
        .unwrap_or_else(CorrelationId::new)
}
