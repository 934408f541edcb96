//! OpenID Connect relying party (release 1.54 and later): the authorization code flow with
//! PKCE. A first Okta login over OIDC arrives at [`callback`], which checks the state, exchanges
//! the code, verifies the ID token ([`provider`]) and hands the person to the JIT provisioner,
//! the same one SAML uses.

pub mod provider;
pub mod provider_key;

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use axum::{
    extract::{Query, RawQuery, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
    routing::get,
    Extension, Router,
};
use chrono::{TimeDelta, Utc};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreErrorResponseType, CoreIdTokenClaims, CoreTokenResponse,
};
use openidconnect::{
    AccessToken, AuthorizationCode, CsrfToken, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, TokenResponse,
};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, EntityTrait};
use serde::Deserialize;

use crate::auth::{self, session};
use crate::db::entities::oidc_login;
use crate::domain::{Email, SsoProtocol};
use crate::identity::{IdentityConfig, OidcSettings, Revision};
use crate::provisioning::{ExternalIdentity, Refusal};
use crate::sso::{AdmitFailure, Arrival, SsoFailure};
use crate::state::{CorrelationId, Portal};

use crate::sso::{describe, is_timeout};
use provider::{OidcProvider, TokenRejection};

/// How long discovered metadata and keys are used before they are fetched again.
pub const PROVIDER_MAX_AGE: Duration = Duration::from_secs(3600);
/// After a failed refresh, how long until the next try.
const PROVIDER_RETRY: Duration = Duration::from_secs(60);
/// How long what the provider published last (its endpoints and keys) stands while it cannot
/// be reached: past it, nobody signs in over OIDC until it answers again.
pub const PROVIDER_STALE_LIMIT: Duration = Duration::from_secs(24 * 3600);
/// With nothing discovered yet, how long a failed discovery stands as every sign-in's answer,
/// so that a provider that is away is not asked again, one sign-in after another, each waiting
/// out the timeout.
const DISCOVERY_FAILURE_HOLD: Duration = Duration::from_secs(5);
/// How long a started sign-in may wait for its callback.
const LOGIN_LIFETIME: TimeDelta = TimeDelta::minutes(10);
/// The cookie that binds a started sign-in to the browser that started it. Under https it
/// carries the `__Host-` prefix, so that no other host (a sibling subdomain) can plant one.
pub fn browser_cookie(secure: bool) -> &'static str {
    if secure {
        "__Host-portal_oidc"
    } else {
        "portal_oidc_browser"
    }
}
/// The scopes Portal asks for, as the admin enters them in Okta.
pub const SCOPES: [&str; 3] = ["openid", "email", "profile"];

pub fn router() -> Router<Portal> {
    Router::new()
        .route("/sso/oidc/login", get(login))
        .route("/sso/oidc/callback", get(callback))
}

impl Portal {
    /// The Sign-in redirect URI the admin pastes into Okta.
    pub fn oidc_redirect_uri(&self) -> String {
        let base = self.config.public_url.as_str().trim_end_matches('/');
        format!("{base}/sso/oidc/callback")
    }

    /// The provider for `settings`: the one discovered when they were saved, or discovered now
    /// (after a restart, on another replica, or when the last discovery is older than
    /// [`PROVIDER_MAX_AGE`], so that keys the provider withdrew stop verifying). One discovery
    /// runs at a time; a failed one is the answer for [`DISCOVERY_FAILURE_HOLD`]. While the
    /// provider cannot be reached, what it said last stands for [`PROVIDER_STALE_LIMIT`].
    pub async fn oidc_provider(
        &self,
        settings: &OidcSettings,
    ) -> Result<Arc<OidcProvider>, NoProvider> {
        let client_secret = settings
            .client_secret
            .known()
            .ok_or(NoProvider::SecretUnreadable)?;
        let key = settings.fingerprint();
        let mut cache = self.oidc_provider.lock().await;
        let now = Instant::now();
        let cached = cache
            .found
            .as_ref()
            .filter(|(cached_key, _, _)| *cached_key == key)
            .map(|(_, provider, check_after)| (provider.clone(), now < *check_after));
        match cached {
            Some((provider, true)) => return Ok(provider),
            Some((provider, false)) => {
                let discovered = provider::discover(&settings.discovery_url, &self.http).await;
                // A failure is held from when it was known, not from when the asking began.
                let ended = Instant::now();
                match discovered {
                    Ok(metadata) => {
                        let fresh =
                            self.build_oidc_provider(settings, client_secret, metadata, now);
                        let fresh = Arc::new(fresh.map_err(NoProvider::Discovery)?);
                        cache.found = Some((key, fresh.clone(), now + PROVIDER_MAX_AGE));
                        return Ok(fresh);
                    }
                    Err(error) if now - provider.discovered_at < PROVIDER_STALE_LIMIT => {
                        // Okta briefly away: keep signing people in with what it said last.
                        tracing::warn!(%error, "could not refresh the OpenID provider's metadata and keys");
                        if let Some(entry) = cache.found.as_mut() {
                            entry.2 = ended + PROVIDER_RETRY;
                        }
                        return Ok(provider);
                    }
                    Err(error) => {
                        // Away too long: a key it withdrew meanwhile must not verify for ever.
                        let error = format!(
                            "{error}; what it published last is more than {} hours old and no \
                             longer trusted",
                            PROVIDER_STALE_LIMIT.as_secs() / 3600
                        );
                        tracing::warn!(%error, "could not refresh the OpenID provider's metadata and keys");
                        cache.found = None;
                        cache.failed = Some((key, error.clone(), ended));
                        return Err(NoProvider::Discovery(error));
                    }
                }
            }
            None => {}
        }
        if let Some((_, error, _)) = cache
            .failed
            .as_ref()
            .filter(|(failed_key, _, at)| *failed_key == key && now - *at < DISCOVERY_FAILURE_HOLD)
        {
            return Err(NoProvider::Discovery(error.clone()));
        }
        let discovered = provider::discover(&settings.discovery_url, &self.http)
            .await
            .and_then(|metadata| self.build_oidc_provider(settings, client_secret, metadata, now));
        match discovered {
            Ok(provider) => {
                let provider = Arc::new(provider);
                cache.found = Some((key, provider.clone(), now + PROVIDER_MAX_AGE));
                cache.failed = None;
                Ok(provider)
            }
            Err(error) => {
                cache.failed = Some((key, error.clone(), Instant::now()));
                Err(NoProvider::Discovery(error))
            }
        }
    }

    /// Keeps the provider just discovered for `settings`, so that the next sign-in need not ask.
    pub(crate) fn install_oidc_provider(
        &self,
        settings: &OidcSettings,
        metadata: provider::ProviderMetadata,
    ) {
        let Some(client_secret) = settings.client_secret.known() else {
            return;
        };
        let key = settings.fingerprint();
        let now = Instant::now();
        if let Ok(provider) = self.build_oidc_provider(settings, client_secret, metadata, now) {
            if let Ok(mut cache) = self.oidc_provider.try_lock() {
                cache.found = Some((key, Arc::new(provider), now + PROVIDER_MAX_AGE));
                cache.failed = None;
            }
        }
    }

    fn build_oidc_provider(
        &self,
        settings: &OidcSettings,
        client_secret: &str,
        metadata: provider::ProviderMetadata,
        discovered_at: Instant,
    ) -> Result<OidcProvider, String> {
        let redirect = RedirectUrl::new(self.oidc_redirect_uri())
            .map_err(|e| format!("the redirect URI is not a URL: {e}"))?;
        Ok(OidcProvider::new(
            metadata,
            settings,
            client_secret,
            redirect,
            discovered_at,
        ))
    }
}

/// Why [`Portal::oidc_provider`] has no provider to give.
#[derive(Debug)]
pub enum NoProvider {
    /// The stored client secret was sealed with another secret key: no discovery mends that.
    SecretUnreadable,
    /// The provider could not be discovered (or its answer used), and why.
    Discovery(String),
}

impl From<NoProvider> for CallbackError {
    fn from(missing: NoProvider) -> Self {
        match missing {
            NoProvider::SecretUnreadable => CallbackError::SecretUnreadable,
            NoProvider::Discovery(detail) => CallbackError::ProviderDown(detail),
        }
    }
}

#[derive(Deserialize)]
struct LoginQuery {
    return_to: Option<String>,
}

/// Starts a sign-in: stores state, nonce and PKCE verifier, single-use and bound to this
/// browser, and sends the browser to the provider's authorization endpoint. Started on the
/// configuration this server last saw, as long as that is the one in force when the state is
/// stored; on the one read then when not.
async fn login(
    State(portal): State<Portal>,
    Extension(correlation): Extension<CorrelationId>,
    headers: HeaderMap,
    Query(query): Query<LoginQuery>,
) -> Result<Response, SsoFailure> {
    let unavailable = |detail: String| CallbackError::Unavailable(detail).page(&correlation.0);
    let seen = portal
        .identity_config_last_seen()
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    if offered(&portal, &seen).is_some() {
        let held = Some(seen.revision);
        if let Some(started) =
            start_at(&portal, &seen, held, &headers, &query, &correlation).await?
        {
            return Ok(started);
        }
    }
    let in_force = portal
        .identity_config_now()
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    start_at(&portal, &in_force, None, &headers, &query, &correlation)
        .await?
        .ok_or_else(|| unavailable("the sign-in's state was not stored".into()))
}

/// [`login`] on `config`: the redirect to the provider, or the page of a provider that cannot be
/// had. Started on a copy of the configuration (`held`, the revision the state must be stored
/// under), `None` instead when that revision is no longer in force: nothing is stored, and the
/// caller reads the configuration. The state is stored before Okta is asked anything, so a copy
/// that another replica's save replaced never sends anyone to a replaced provider or client.
async fn start_at(
    portal: &Portal,
    config: &IdentityConfig,
    held: Option<Revision>,
    headers: &HeaderMap,
    query: &LoginQuery,
    correlation: &CorrelationId,
) -> Result<Option<Response>, SsoFailure> {
    let page = |error: CallbackError| error.page(&correlation.0);
    let settings = offered(portal, config).ok_or_else(|| page(CallbackError::NotConfigured))?;

    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (state, nonce) = (CsrfToken::new_random(), Nonce::new_random());
    let secure = portal.config.cookies_secure();
    let browser = crate::sso::browser_binding(headers, browser_cookie(secure));
    let state_hash = auth::digest(state.secret());
    let started = oidc_login::ActiveModel {
        state_hash: Set(state_hash.clone()),
        browser_hash: Set(auth::digest(&browser)),
        nonce: Set(nonce.secret().clone()),
        pkce_verifier: Set(verifier.secret().clone()),
        return_to: Set(app::api::safe_return_path(query.return_to.as_deref())),
        expires_at: Set(Utc::now() + LOGIN_LIFETIME),
        client_key: Set(settings.client_key()),
    };
    let unavailable = |e: sea_orm::DbErr| page(CallbackError::Unavailable(e.to_string()));
    match held {
        Some(revision) => {
            let insert = crate::db::batch::insert_where(started, revision.still_in_force())
                .map_err(unavailable)?;
            let stored = portal.db.execute(&insert).await.map_err(unavailable)?;
            if stored.rows_affected() == 0 {
                return Ok(None);
            }
        }
        None => {
            started.insert(&portal.db).await.map_err(unavailable)?;
        }
    }

    let provider = match portal.oidc_provider(settings).await {
        Ok(provider) => provider,
        // Okta unreachable or answering nonsense, or a secret this server cannot read: nobody
        // can sign in until it is mended, so the admin finds it in the audit log, as a failed
        // callback would be. The state stored for nothing goes; if it cannot, it expires.
        Err(missing) => {
            let _ = oidc_login::Entity::delete_by_id(state_hash)
                .exec(&portal.db)
                .await;
            return Ok(Some(
                refuse(portal, &correlation.0, missing.into(), None).await,
            ));
        }
    };
    let mut request = provider.client.authorize_url(
        CoreAuthenticationFlow::AuthorizationCode,
        move || state,
        move || nonce,
    );
    for scope in &SCOPES[1..] {
        request = request.add_scope(Scope::new(scope.to_string()));
    }
    let (url, _, _) = request.set_pkce_challenge(challenge).url();

    let mut response = Redirect::to(url.as_str()).into_response();
    crate::sso::set_binding_cookie(
        &mut response,
        (browser_cookie(secure), browser),
        secure,
        // Lax: the provider's redirect back is a top-level navigation, which carries it.
        axum_extra::extract::cookie::SameSite::Lax,
        LOGIN_LIFETIME,
    );
    Ok(Some(response))
}

/// The callback's parameters. Each may appear once; a second copy of one makes the whole
/// callback malformed rather than letting one copy be checked and the other used. No `Debug`:
/// the code and state are secrets.
#[derive(Default)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    /// RFC 9207: the issuer of this authorization response.
    iss: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

impl CallbackQuery {
    fn parse(raw: &str) -> Result<CallbackQuery, CallbackError> {
        let mut query = CallbackQuery::default();
        for (key, value) in url::form_urlencoded::parse(raw.as_bytes()) {
            let slot = match key.as_ref() {
                "code" => &mut query.code,
                "state" => &mut query.state,
                "iss" => &mut query.iss,
                "error" => &mut query.error,
                "error_description" => &mut query.error_description,
                _ => continue,
            };
            if slot.replace(value.into_owned()).is_some() {
                return Err(CallbackError::Malformed(format!(
                    "the parameter {key} appears twice"
                )));
            }
        }
        Ok(query)
    }

    /// What the provider said went wrong, cut to a readable length. Without a state no sign-in
    /// of this browser's stands behind it, and anyone can send the link: what it says is not
    /// repeated on Portal's page, where it would read as Portal's words; not the description,
    /// and of the error only a code the standards register.
    fn provider_error(&self) -> Option<CallbackError> {
        let clean = |text: &str, limit: usize| {
            text.chars()
                .filter(|c| !c.is_control())
                .take(limit)
                .collect::<String>()
        };
        let vouched = self.state.is_some();
        self.error
            .as_ref()
            .map(|error| CallbackError::ProviderRefused {
                error: if vouched || REGISTERED_ERRORS.contains(&error.as_str()) {
                    clean(error, 64)
                } else {
                    "an error code no standard registers".into()
                },
                description: self
                    .error_description
                    .as_deref()
                    .filter(|_| vouched)
                    .map(|d| clean(d, 200)),
            })
    }
}

/// The error codes an authorization response may carry: RFC 6749 section 4.1.2.1 and OpenID
/// Connect Core section 3.1.2.6.
const REGISTERED_ERRORS: [&str; 16] = [
    "invalid_request",
    "unauthorized_client",
    "access_denied",
    "unsupported_response_type",
    "invalid_scope",
    "server_error",
    "temporarily_unavailable",
    "interaction_required",
    "login_required",
    "account_selection_required",
    "consent_required",
    "invalid_request_uri",
    "invalid_request_object",
    "request_not_supported",
    "request_uri_not_supported",
    "registration_not_supported",
];

/// What the callback makes of its query before it looks anything up: the fuzzing entry for the
/// OIDC callback query. Answers the page the person would see, if the query alone fails.
pub fn read_callback_query(raw: &str) -> Option<SsoFailure> {
    let error = match CallbackQuery::parse(raw) {
        Err(malformed) => malformed,
        Ok(query) => query.provider_error()?,
    };
    Some(error.page(""))
}

/// Why a callback failed, before it becomes a page and an audit event.
#[derive(Debug)]
enum CallbackError {
    Malformed(String),
    StateMissing,
    UnknownState,
    OtherBrowser,
    ProviderRefused {
        error: String,
        description: Option<String>,
    },
    IssuerMismatch(String),
    IssuerMissing,
    CodeMissing,
    CodeRefused(String),
    ClientRefused(String),
    ProviderDown(String),
    ProviderSlow,
    BadTokenResponse(String),
    Rejected(TokenRejection),
    UserInfoSubject(String),
    Refused(Refusal),
    NotConfigured,
    /// The stored client secret was sealed with another secret key. Which keys is for the
    /// admin's card and the server's log, not for this public page.
    SecretUnreadable,
    /// An admin's save replaced the identity configuration after this callback's code was
    /// exchanged: with other OIDC settings (`other_client`), under which the code cannot be
    /// used, or again each time the sign-in was decided again.
    SettingsChanged {
        other_client: bool,
    },
    /// Started with another provider or client than the one configured now.
    ClientReplaced,
    Unavailable(String),
}

impl From<AdmitFailure> for CallbackError {
    fn from(failure: AdmitFailure) -> Self {
        match failure {
            AdmitFailure::Refused(refusal) => CallbackError::Refused(refusal),
            AdmitFailure::Overtaken => CallbackError::SettingsChanged {
                other_client: false,
            },
            AdmitFailure::Unavailable(detail) => CallbackError::Unavailable(detail),
        }
    }
}

impl CallbackError {
    fn code(&self) -> &'static str {
        match self {
            CallbackError::Malformed(_) => "malformed_callback",
            CallbackError::StateMissing => "state_missing",
            CallbackError::UnknownState => "unknown_state",
            CallbackError::OtherBrowser => "state_other_browser",
            CallbackError::ProviderRefused { .. } => "provider_refused",
            CallbackError::IssuerMismatch(_) => "wrong_issuer",
            CallbackError::IssuerMissing => "issuer_missing",
            CallbackError::CodeMissing => "code_missing",
            CallbackError::CodeRefused(_) => "code_refused",
            CallbackError::ClientRefused(_) => "client_refused",
            CallbackError::ProviderDown(_) => "provider_unreachable",
            CallbackError::ProviderSlow => "provider_timeout",
            CallbackError::BadTokenResponse(_) => "invalid_token_response",
            CallbackError::Rejected(rejection) => rejection.code(),
            CallbackError::UserInfoSubject(_) => "userinfo_subject",
            CallbackError::Refused(refusal) => refusal.code(),
            CallbackError::NotConfigured => "not_configured",
            CallbackError::SecretUnreadable => "client_secret_unreadable",
            CallbackError::SettingsChanged { .. } | CallbackError::ClientReplaced => {
                "settings_changed"
            }
            CallbackError::Unavailable(_) => "unavailable",
        }
    }

    fn page(&self, correlation_id: &str) -> SsoFailure {
        let again = "Start the sign-in again.";
        let (status, headline, detail): (StatusCode, String, String) = match self {
            CallbackError::Malformed(reason) => (
                StatusCode::BAD_REQUEST,
                format!("This sign-in link is damaged. {again}"),
                format!("The callback is malformed: {reason}."),
            ),
            CallbackError::StateMissing => (
                StatusCode::BAD_REQUEST,
                format!("This sign-in link is incomplete. {again}"),
                "The callback carried no state parameter.".into(),
            ),
            CallbackError::UnknownState => (
                StatusCode::BAD_REQUEST,
                format!("This sign-in link has expired or was already used. {again}"),
                "The state names no outstanding sign-in of this portal (expired, used, or never made).".into(),
            ),
            CallbackError::OtherBrowser => (
                StatusCode::BAD_REQUEST,
                format!("This sign-in was started in another browser or tab that Portal cannot see. {again}"),
                "The state belongs to a sign-in started by another browser (its binding cookie is missing or different).".into(),
            ),
            CallbackError::ProviderRefused { error, description } => (
                if error == "access_denied" { StatusCode::FORBIDDEN } else { StatusCode::BAD_REQUEST },
                if error == "access_denied" {
                    "Okta did not sign you in to Portal. If you should have access, ask an administrator to assign you the Portal app in Okta.".into()
                } else {
                    format!("Okta could not sign you in. {again}")
                },
                format!("The provider answered {error}{}", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default()),
            ),
            CallbackError::IssuerMismatch(iss) => (
                StatusCode::BAD_REQUEST,
                "Portal could not accept the answer from Okta. Ask an administrator to check the single sign-on settings.".into(),
                format!("The authorization response names the issuer '{iss}', not the configured one (RFC 9207)."),
            ),
            CallbackError::IssuerMissing => (
                StatusCode::BAD_REQUEST,
                "Portal could not accept the answer from Okta. Ask an administrator to check the single sign-on settings.".into(),
                "The authorization response names no issuer (iss), which the provider's discovery document says it always does (RFC 9207).".into(),
            ),
            CallbackError::CodeMissing => (
                StatusCode::BAD_REQUEST,
                format!("This sign-in link is incomplete. {again}"),
                "The callback carried no authorization code.".into(),
            ),
            CallbackError::CodeRefused(reason) => (
                StatusCode::BAD_REQUEST,
                format!("Okta did not accept this sign-in any more (it was used or has expired). {again}"),
                format!("The token endpoint refused the authorization code: {reason}"),
            ),
            CallbackError::ClientRefused(reason) => (
                StatusCode::BAD_GATEWAY,
                "Okta did not accept Portal's credentials. Ask an administrator to check the client ID and secret under Settings > Identity and Access Management.".into(),
                format!("The token endpoint refused the client: {reason}"),
            ),
            CallbackError::ProviderDown(_) => (
                StatusCode::BAD_GATEWAY,
                "Portal cannot reach Okta right now. Try again in a moment.".into(),
                "The identity provider could not be reached. The audit log and the server's log say why, under the reference below.".into(),
            ),
            CallbackError::ProviderSlow => (
                StatusCode::GATEWAY_TIMEOUT,
                "Okta did not answer in time. Try again in a moment.".into(),
                "The identity provider did not answer within the configured timeout (PORTAL_IDP_TIMEOUT_SECONDS).".into(),
            ),
            CallbackError::BadTokenResponse(reason) => (
                StatusCode::BAD_REQUEST,
                "Portal could not accept the answer from Okta. Ask an administrator to check the single sign-on settings.".into(),
                format!("The token response is not acceptable: {reason}"),
            ),
            CallbackError::Rejected(rejection) => (
                StatusCode::BAD_REQUEST,
                "Portal could not accept the answer from Okta. Ask an administrator to check the single sign-on settings.".into(),
                rejection.to_string(),
            ),
            CallbackError::UserInfoSubject(reason) => (
                StatusCode::BAD_REQUEST,
                "Portal could not accept the answer from Okta. Ask an administrator to check the single sign-on settings.".into(),
                format!("UserInfo describes another person than the ID token: {reason}"),
            ),
            CallbackError::Refused(refusal) => (StatusCode::FORBIDDEN, refusal.headline(), refusal.to_string()),
            CallbackError::NotConfigured => (
                StatusCode::NOT_FOUND,
                "Single sign-on with OpenID Connect is not configured.".into(),
                "Ask an administrator to configure it under Settings > Identity and Access Management.".into(),
            ),
            // Not 503: that page tells the person to try again in a moment, and waiting does
            // not mend this.
            CallbackError::SecretUnreadable => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Single sign-on cannot work until an administrator enters the OpenID Connect client secret again under Settings > Identity and Access Management.".into(),
                "This server cannot read the stored client secret with its secret key (PORTAL_SECRET_KEY_FILE).".into(),
            ),
            CallbackError::SettingsChanged { other_client } => (
                StatusCode::CONFLICT,
                crate::sso::OVERTAKEN_HEADLINE.into(),
                match other_client {
                    true => "An administrator saved other OpenID Connect settings after this sign-in's code was exchanged under the earlier ones; nothing was written.",
                    false => crate::sso::OVERTAKEN_AGAIN,
                }
                .into(),
            ),
            CallbackError::ClientReplaced => (
                StatusCode::CONFLICT,
                crate::sso::OVERTAKEN_HEADLINE.into(),
                "An administrator replaced the OpenID Connect provider or client after this sign-in started; its code was sent nowhere and nothing was written.".into(),
            ),
            CallbackError::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Portal cannot finish the sign-in right now. Try again in a moment.".into(),
                "The database did not answer.".into(),
            ),
        };
        let failure = SsoFailure::new(status, headline, detail, correlation_id);
        match self {
            CallbackError::ProviderDown(cause) | CallbackError::Unavailable(cause) => {
                failure.caused_by(cause.as_str())
            }
            _ => failure,
        }
    }
}

/// Where the provider sends the browser back: where a first Okta login over OIDC is handled.
async fn callback(
    State(portal): State<Portal>,
    Extension(correlation): Extension<CorrelationId>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let _timer = crate::metrics::CallbackTimer::start("oidc");
    let outcome = match CallbackQuery::parse(raw.as_deref().unwrap_or_default()) {
        Ok(query) => finish(&portal, &query, &headers, &correlation.0).await,
        Err(malformed) => Err((malformed, None)),
    };
    match outcome {
        Ok((cookie, return_to)) => {
            crate::sso::end_previous_session(&portal, &headers, &correlation.0).await;
            crate::sso::signed_in("oidc", &cookie, &return_to)
        }
        Err((error, arrival)) => refuse(&portal, &correlation.0, error, arrival).await,
    }
}

/// The answer to an OIDC sign-in that stopped, at its start or at the callback: audited and
/// counted with its reason; logged as well when Okta or the database was the cause
/// ([`SsoFailure::cause`]).
async fn refuse(
    portal: &Portal,
    correlation_id: &str,
    error: CallbackError,
    arrival: Option<Arrival>,
) -> Response {
    let page = error.page(correlation_id);
    crate::sso::refused(portal, "oidc", error.code(), page, arrival).await
}

/// The OIDC settings of `config`, if this release offers OIDC.
fn offered<'a>(portal: &Portal, config: &'a IdentityConfig) -> Option<&'a OidcSettings> {
    config
        .oidc()
        .filter(|_| portal.config.release.offers_oidc())
}

/// Checks the callback and admits the person; on failure also says who it was about, if known.
async fn finish(
    portal: &Portal,
    query: &CallbackQuery,
    headers: &HeaderMap,
    correlation_id: &str,
) -> Result<(String, String), (CallbackError, Option<Arrival>)> {
    let bare = |error| (error, None);
    let unavailable =
        |e: crate::error::PortalError| bare(CallbackError::Unavailable(e.to_string()));
    // The configuration this server last saw. Taking the sign-in's state below also answers
    // which revision is in force, so the configuration is read again only after a save.
    let mut config = portal
        .identity_config_last_seen()
        .await
        .map_err(unavailable)?;
    if offered(portal, &config).is_none() {
        // Perhaps configured since, on another replica.
        config = portal.identity_config_now().await.map_err(unavailable)?;
        offered(portal, &config).ok_or(bare(CallbackError::NotConfigured))?;
    }

    if let (Some(refused), None) = (query.provider_error(), &query.state) {
        return Err(bare(refused));
    }
    // The state first: whatever else the callback says, its sign-in is used up now.
    let state = query
        .state
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or(bare(CallbackError::StateMissing))?;
    let (started, in_force) = take_login(portal, state).await.map_err(bare)?;
    if in_force != config.revision {
        config = portal.identity_config_now().await.map_err(unavailable)?;
    }
    let settings = offered(portal, &config).ok_or(bare(CallbackError::NotConfigured))?;
    let browser = session::read_cookie(headers, browser_cookie(portal.config.cookies_secure()));
    if !crate::sso::binding_matches(browser.as_deref(), &started.browser_hash) {
        return Err(bare(CallbackError::OtherBrowser));
    }
    // The code was issued to the provider and client the sign-in started with: after a save
    // that replaced either, it goes to neither.
    if !started.client_key.is_empty() && started.client_key != settings.client_key() {
        return Err(bare(CallbackError::ClientReplaced));
    }

    let provider = portal
        .oidc_provider(settings)
        .await
        .map_err(|missing| bare(missing.into()))?;
    // RFC 9207: the response, an error too, names its issuer; required when the provider says
    // it always does.
    match &query.iss {
        Some(iss) if iss != provider.issuer.as_str() => {
            return Err(bare(CallbackError::IssuerMismatch(iss.clone())))
        }
        None if provider.names_itself_in_responses => {
            return Err(bare(CallbackError::IssuerMissing))
        }
        _ => {}
    }
    if let Some(refused) = query.provider_error() {
        return Err(bare(refused));
    }
    let code = query
        .code
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or(bare(CallbackError::CodeMissing))?;

    let tokens = exchange(portal, &provider, code, &started.pkce_verifier)
        .await
        .map_err(bare)?;
    let id_token = tokens
        .id_token()
        .ok_or(bare(CallbackError::BadTokenResponse(
            "it carries no ID token (is the openid scope granted?)".into(),
        )))?;
    let claims = provider
        .verify_id_token(id_token, &started.nonce, &portal.http, Utc::now())
        .await
        .map_err(|r| bare(CallbackError::Rejected(r)))?;
    let who = identity_of(portal, &provider, &claims, tokens.access_token())
        .await
        .map_err(bare)?;

    // Decided on the configuration in force when the state was taken; when an admin's save
    // replaced it since, decided again on the new one, as long as its OIDC settings are those
    // the code was exchanged under.
    let arrival = || Some(Arrival::from(&who));
    let mut decided_on = config.clone();
    let mut attempt = 0;
    loop {
        attempt += 1;
        match portal
            .admit_with_retries(&who, &decided_on, "oidc", correlation_id)
            .await
        {
            Ok(cookie) => return Ok((cookie, started.return_to)),
            Err(AdmitFailure::Overtaken) if attempt < 3 => {
                let in_force = portal
                    .identity_config_now()
                    .await
                    .map_err(|e| (CallbackError::Unavailable(e.to_string()), arrival()))?;
                if in_force.oidc() != Some(settings) {
                    let changed = CallbackError::SettingsChanged { other_client: true };
                    return Err((changed, arrival()));
                }
                decided_on = in_force;
            }
            Err(failure) => return Err((failure.into(), arrival())),
        }
    }
}

/// Consumes the sign-in that `state` names: it is deleted by its hash and handed back in one
/// statement (`DELETE … RETURNING`), so only one callback can win it, and must not have expired.
/// The same statement answers which revision of the identity configuration is in force.
async fn take_login(
    portal: &Portal,
    state: &str,
) -> Result<(oidc_login::Model, Revision), CallbackError> {
    use sea_orm::sea_query::{Expr, ExprTrait, Query};
    use sea_orm::{FromQueryResult, Iterable};
    let unavailable = |e: sea_orm::DbErr| CallbackError::Unavailable(e.to_string());
    let columns: Vec<Expr> = oidc_login::Column::iter().map(Expr::col).collect();
    let revision_at = columns.len();
    let take = Query::delete()
        .from_table(oidc_login::Entity)
        .and_where(Expr::col(oidc_login::Column::StateHash).eq(auth::digest(state)))
        .returning(Query::returning().exprs(columns.into_iter().chain([Revision::stored()])))
        .to_owned();
    let row = portal
        .db
        .query_one(&take)
        .await
        .map_err(unavailable)?
        .ok_or(CallbackError::UnknownState)?;
    let started = oidc_login::Model::from_query_result(&row, "").map_err(unavailable)?;
    let in_force = Revision(
        row.try_get_by_index::<i64>(revision_at)
            .map_err(unavailable)?,
    );
    if started.expires_at <= Utc::now() {
        return Err(CallbackError::UnknownState);
    }
    Ok((started, in_force))
}

/// Exchanges the code at the token endpoint, with the PKCE verifier and the client's secret.
async fn exchange(
    portal: &Portal,
    provider: &OidcProvider,
    code: &str,
    verifier: &str,
) -> Result<CoreTokenResponse, CallbackError> {
    let request = provider
        .client
        .exchange_code(AuthorizationCode::new(code.to_string()))
        .map_err(|e| CallbackError::ProviderDown(e.to_string()))?
        .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_string()));
    request
        .request_async(&provider::Bounded(&portal.http))
        .await
        .map_err(|e| match e {
            RequestTokenError::ServerResponse(answer) => match answer.error() {
                CoreErrorResponseType::InvalidGrant => {
                    CallbackError::CodeRefused(answer.to_string())
                }
                CoreErrorResponseType::InvalidClient
                | CoreErrorResponseType::UnauthorizedClient => {
                    CallbackError::ClientRefused(answer.to_string())
                }
                _ => CallbackError::ProviderDown(format!("the token endpoint answered {answer}")),
            },
            RequestTokenError::Request(inner) if is_timeout(&inner) => CallbackError::ProviderSlow,
            RequestTokenError::Request(inner) => CallbackError::ProviderDown(describe(&inner)),
            // Not JSON at all: an error page of a proxy or a provider that is down.
            RequestTokenError::Parse(_, body)
                if serde_json::from_slice::<serde_json::Value>(&body).is_err() =>
            {
                CallbackError::ProviderDown("the token endpoint did not answer with JSON".into())
            }
            RequestTokenError::Parse(inner, _) => {
                // Only the field and, for a missing one, its name: a parse error may quote a value,
                // and values here are tokens.
                let message = inner.inner().to_string();
                let what = message
                    .find("missing field `")
                    .and_then(|at| {
                        let rest = &message[at..];
                        let end = rest["missing field `".len()..].find('`')?
                            + "missing field `".len()
                            + 1;
                        Some(rest[..end].to_string())
                    })
                    .unwrap_or_else(|| "malformed".to_string());
                CallbackError::BadTokenResponse(format!("{}: {what}", inner.path()))
            }
            RequestTokenError::Other(message) => CallbackError::ProviderDown(message),
        })
}

/// Maps the verified claims to the person. Okta and other providers may keep profile claims
/// out of the ID token; then UserInfo supplies them, and must describe the same `sub`.
async fn identity_of(
    portal: &Portal,
    provider: &OidcProvider,
    claims: &CoreIdTokenClaims,
    access_token: &AccessToken,
) -> Result<ExternalIdentity, CallbackError> {
    let text = |claim: Option<&openidconnect::LocalizedClaim<openidconnect::EndUserGivenName>>| {
        claim.and_then(|c| c.get(None)).map(|n| n.to_string())
    };
    let mut email = claims.email().map(|e| e.to_string());
    let mut email_verified = claims.email_verified();
    let mut first = text(claims.given_name());
    let mut last = claims
        .family_name()
        .and_then(|c| c.get(None))
        .map(|n| n.to_string());
    let incomplete = email.is_none() || first.is_none() || last.is_none();
    if incomplete && provider.client.user_info_url().is_some() {
        let request = provider
            .client
            .user_info(access_token.clone(), Some(claims.subject().clone()))
            .map_err(|e| CallbackError::ProviderDown(e.to_string()))?;
        let info: openidconnect::core::CoreUserInfoClaims = request
            .request_async(&provider::Bounded(&portal.http))
            .await
            .map_err(|e| match e {
                openidconnect::UserInfoError::ClaimsVerification(inner) => {
                    CallbackError::UserInfoSubject(inner.to_string())
                }
                openidconnect::UserInfoError::Request(inner) if is_timeout(&inner) => {
                    CallbackError::ProviderSlow
                }
                other => CallbackError::ProviderDown(describe(&other)),
            })?;
        if info.subject() != claims.subject() {
            return Err(CallbackError::UserInfoSubject(format!(
                "UserInfo's sub is '{}'",
                info.subject().as_str()
            )));
        }
        if email.is_none() {
            email = info.email().map(|e| e.to_string());
            email_verified = info.email_verified();
        }
        first = first.or_else(|| {
            info.given_name()
                .and_then(|c| c.get(None))
                .map(|n| n.to_string())
        });
        last = last.or_else(|| {
            info.family_name()
                .and_then(|c| c.get(None))
                .map(|n| n.to_string())
        });
    }
    let parsed = email.as_deref().and_then(|e| Email::parse(e).ok());
    Ok(ExternalIdentity {
        protocol: SsoProtocol::Oidc,
        provider: format!("oidc:{}", provider.issuer.as_str()),
        subject: claims.subject().to_string(),
        subject_is_an_address: false,
        unusable_email: crate::provisioning::unusable_email(parsed.as_ref(), email.as_deref()),
        email: parsed,
        // Linking an existing account by email needs the provider's word that the address is
        // this person's, and an absent claim is not that word; its word that the address is
        // not confirmed also stops a new account being made for it.
        email_verified,
        // An ID token's `exp` is the token's, not the session's; Okta's session lasts as
        // Portal's own does.
        session_ends_by: None,
        first_name: first.unwrap_or_default(),
        last_name: last.unwrap_or_default(),
    })
}
