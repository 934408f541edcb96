//! `/api/v1`: the JSON API for automation, by bearer token or session cookie, plus the
//! health probes. Errors are JSON with a code, a message a person can act on, the field at
//! fault where there is one, and the correlation id.

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, Method, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Extension, Json, Router,
};
use serde::Serialize;
use serde_json::json;

mod access;

use crate::domain::Role;
use crate::error::PortalError;
use crate::identity::IdentityDocument;
use crate::people;
use crate::state::{CorrelationId, Portal};

pub fn router() -> Router<Portal> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/v1/me", get(me))
        .route("/api/v1/identity", get(get_identity).put(put_identity))
        .merge(access::router())
}

async fn healthz() -> &'static str {
    "ok"
}

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

#[derive(Serialize)]
struct MeResponse {
    id: i32,
    email: String,
    first_name: String,
    last_name: String,
    roles: Vec<String>,
    pools: Vec<String>,
    jit_provisioned: bool,
}

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
            PortalError::Invalid { field, message } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                message.clone(),
                Some(field.clone()),
            ),
            PortalError::NotFound(_) => {
                (StatusCode::NOT_FOUND, "not_found", error.to_string(), None)
            }
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
        let mut body =
            json!({ "error": code, "message": message, "correlation_id": correlation_id });
        if let Some(field) = field {
            body["field"] = json!(field);
        }
        (status, Json(body)).into_response()
    }
}
