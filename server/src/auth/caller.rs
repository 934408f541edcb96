//! Resolves the person behind a request, by session cookie or bearer token, with the roles
//! that decide what they may do.

use axum::http::{header::AUTHORIZATION, request::Parts, HeaderMap, Method};

use crate::db::entities::user;
use crate::domain::Role;
use crate::error::PortalError;
use crate::people;
use crate::state::Portal;

use super::session::{self, Lookup};

#[derive(Clone)]
pub struct Caller {
    pub user: user::Model,
    /// Effective role keys: direct roles plus those granted by the person's agent pools.
    pub roles: Vec<String>,
    pub via: Via,
}

#[derive(Clone)]
pub enum Via {
    Session { secret: String, csrf_token: String },
    Token,
}

impl Caller {
    pub fn has(&self, role: Role) -> bool {
        self.roles.iter().any(|r| r == role.key())
    }

    /// Admins and Viewers may read the people of this portal (the Users list).
    pub fn may_read_people(&self) -> bool {
        self.has(Role::Admin) || self.has(Role::Viewer)
    }

    pub fn require(self, role: Role) -> Result<Caller, PortalError> {
        if self.has(role) {
            Ok(self)
        } else {
            Err(PortalError::Forbidden)
        }
    }

    /// A form or cookie-authenticated write must carry this session's CSRF token.
    pub fn check_csrf(&self, given: &str) -> Result<(), PortalError> {
        match &self.via {
            Via::Session { csrf_token, .. } if super::tokens_match(given, csrf_token) => Ok(()),
            Via::Session { .. } => Err(PortalError::CsrfRejected),
            Via::Token => Ok(()),
        }
    }

    pub fn label(&self) -> String {
        self.user.email.clone()
    }
}

impl Portal {
    /// [`Portal::caller`] for a page request, resolved once per request: a page asks for its
    /// caller more than once (the shell, then each of the page's own reads), and each would
    /// otherwise read the session, the person and their roles again. Kept in the request's
    /// [`RequestReads`](app::api::RequestReads).
    pub async fn request_caller(&self, request: &Parts) -> Result<Caller, PortalError> {
        match request.extensions.get::<app::api::RequestReads>() {
            Some(reads) => {
                reads
                    .once(String::new(), self.caller(&request.headers))
                    .await
            }
            None => self.caller(&request.headers).await,
        }
    }

    /// The caller of an API request or page: a bearer token wins over a session cookie.
    #[tracing::instrument(skip_all)]
    pub async fn caller(&self, headers: &HeaderMap) -> Result<Caller, PortalError> {
        if let Some(token) = bearer(headers) {
            let user = super::token::resolve(&self.db, token)
                .await?
                .ok_or(PortalError::InvalidToken)?;
            if !user.active {
                return Err(PortalError::AccountDisabled);
            }
            let roles = people::effective_roles(&self.db, user.id).await?;
            return Ok(Caller {
                user,
                roles,
                via: Via::Token,
            });
        }
        let secret =
            session::read_cookie(headers, session::cookie_name(self.config.cookies_secure()));
        match session::resolve(&self.db, self.session_policy(), secret.as_deref()).await? {
            Lookup::Valid { user, .. } if !user.active => Err(PortalError::AccountDisabled),
            Lookup::Valid { session, user } => {
                let roles = people::effective_roles(&self.db, user.id).await?;
                let secret = secret.unwrap_or_default();
                Ok(Caller {
                    user: *user,
                    roles,
                    via: Via::Session {
                        secret,
                        csrf_token: session.csrf_token.0,
                    },
                })
            }
            Lookup::Expired => Err(PortalError::SessionExpired),
            Lookup::Missing => Err(PortalError::SignInRequired),
        }
    }

    /// Like [`Portal::caller`], and for unsafe methods over a session, the CSRF header
    /// `X-CSRF-Token` must match.
    pub async fn api_caller(
        &self,
        method: &Method,
        headers: &HeaderMap,
    ) -> Result<Caller, PortalError> {
        let caller = self.caller(headers).await?;
        if !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
            let given = headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            caller.check_csrf(given)?;
        }
        Ok(caller)
    }
}

impl Portal {
    /// An API caller who must hold the Admin role.
    pub async fn api_admin(
        &self,
        method: &Method,
        headers: &HeaderMap,
    ) -> Result<Caller, PortalError> {
        self.api_caller(method, headers).await?.require(Role::Admin)
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}
