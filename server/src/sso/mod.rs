//! Single sign-on with the one identity provider: the SAML and OIDC adapters, and what they
//! share once a person's identity is established (admission, session, audit, error page).

pub mod oidc;
pub mod rate_limit;
pub mod saml;

use axum::{
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{Html, IntoResponse, Response},
};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait, QueryTrait, SqlErr};

use crate::audit::{self, AuditEvent, Outcome};
use crate::auth::session;
use crate::db::batch::{self, Batch};
use crate::db::entities::audit_event;
use crate::domain::SsoProtocol;
use crate::identity::{IdentityConfig, Revision};
use crate::provisioning::{Admission, AdmitError, ExternalIdentity, JitProvisioner, Refusal};
use crate::state::Portal;

/// A failed SSO sign-in as the person sees it: one sentence they can act on, a longer one
/// for the administrator, and the correlation id that matches the audit event.
pub struct SsoFailure {
    pub status: StatusCode,
    pub headline: String,
    pub detail: String,
    pub correlation_id: String,
    /// What went wrong inside, for the server's log (and the audit log, where the failure is
    /// audited) but never the page: a transport or database error names hosts, addresses and
    /// ports of the network Portal sits in, which anyone who can reach the sign-in page would
    /// otherwise read.
    pub cause: Option<String>,
}

/// What a sign-in overtaken by an admin's save (`AdmitError::Overtaken`) says when it cannot be
/// decided again, for SAML and OIDC alike.
pub const OVERTAKEN_HEADLINE: &str =
    "Portal's single sign-on settings were changed while you were signing in. Start the sign-in again.";
/// Its detail, when the configuration was saved again each time it was decided again.
pub const OVERTAKEN_AGAIN: &str =
    "The identity configuration was saved again each time this sign-in was decided; nothing was written.";

/// The most of a refusal's detail that Portal repeats, on the page and in the audit log: parts
/// of it (an algorithm's name, a destination, an issuer) are read from what the identity
/// provider sent before or beside what is signed, and could be as long as the request.
const DETAIL_LIMIT: usize = 500;

impl SsoFailure {
    /// A failure whose `detail` is all there is to say.
    pub fn new(
        status: StatusCode,
        headline: impl Into<String>,
        detail: impl Into<String>,
        correlation_id: &str,
    ) -> SsoFailure {
        SsoFailure {
            status,
            headline: headline.into(),
            detail: detail.into(),
            correlation_id: correlation_id.to_string(),
            cause: None,
        }
    }

    /// The same failure, with what went wrong inside: see [`SsoFailure::cause`].
    pub fn caused_by(self, cause: impl Into<String>) -> SsoFailure {
        SsoFailure {
            cause: Some(cause.into()),
            ..self
        }
    }

    /// The same failure, its detail and cause cut to [`DETAIL_LIMIT`] characters.
    fn bounded(mut self) -> SsoFailure {
        bound(&mut self.detail);
        if let Some(cause) = &mut self.cause {
            bound(cause);
        }
        self
    }

    /// The page's heading: a refusal, or a wait the person can sit out.
    fn heading(&self) -> &'static str {
        match self.status {
            StatusCode::TOO_MANY_REQUESTS => "Too many sign-in attempts",
            StatusCode::SERVICE_UNAVAILABLE => "Sign-in is unavailable for a moment",
            _ => "Sign-in failed",
        }
    }
}

/// Cuts `text` to [`DETAIL_LIMIT`] characters.
fn bound(text: &mut String) {
    if let Some((cut, _)) = text.char_indices().nth(DETAIL_LIMIT) {
        text.truncate(cut);
        text.push('…');
    }
}

impl IntoResponse for SsoFailure {
    /// The page; its cause, if any, goes to the server's log under the correlation id.
    fn into_response(self) -> Response {
        let this = self.bounded();
        if let Some(cause) = &this.cause {
            tracing::warn!(correlation_id = %this.correlation_id, %cause, detail = %this.detail, "single sign-on could not go on");
        }
        let page = format!(
            r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{heading} · Portal</title><link rel="stylesheet" href="/pkg/portal.css"></head>
<body class="min-h-screen bg-slate-50 text-slate-900 antialiased"><main class="mx-auto max-w-xl px-6 py-16">
<h1 class="text-2xl font-semibold" data-testid="sso-heading">{heading}</h1>
<p class="mt-4 text-lg" data-testid="sso-error">{headline}</p>
<p class="mt-2 text-sm text-slate-600" data-testid="sso-error-detail">{detail}</p>
<p class="mt-6"><a class="text-indigo-700 underline" href="/login">Back to sign-in</a></p>
<p class="mt-8 text-xs text-slate-500">Reference for your administrator: <code data-testid="correlation-id">{id}</code></p>
</main></body></html>"#,
            heading = this.heading(),
            headline = escape(&this.headline),
            detail = escape(&this.detail),
            id = escape(&this.correlation_id),
        );
        let mut response = (this.status, Html(page)).into_response();
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl Refusal {
    /// The sentence for the person at the identity provider's door.
    pub fn headline(&self) -> String {
        match self {
            // The toggle is named as the administrator sees it; left on where the plan does not
            // include it, turning it on again would change nothing.
            Refusal::NoAccount { jit, .. } if jit.left_on => "Your Okta account is not set up in Portal. Ask an administrator to add you.".into(),
            Refusal::NoAccount { jit, .. } => format!("Your Okta account is not set up in Portal. Ask an administrator to add you, or to turn on {}.", jit.toggle),
            Refusal::Inactive(_) => "Your Portal account is deactivated. Ask an administrator to reactivate it.".into(),
            Refusal::IdentityConflict(_) => "Your email belongs to a Portal account that is linked to another Okta identity. Ask an administrator to unlink that identity on your account in Portal, then sign in again.".into(),
            Refusal::EmailNotVerified(_) => "Okta did not confirm your email address, so Portal cannot link it to your existing account. Ask an administrator.".into(),
            Refusal::NewEmailNotVerified(_) => "Okta has not confirmed your email address, so Portal cannot create your account under it. Confirm the address in Okta (or ask your Okta administrator to), then sign in again.".into(),
            Refusal::LocalPassword(_) => "Your email belongs to a Portal account that signs in with its own password, which Portal keeps apart from Okta. Sign in with that password on Portal's sign-in page.".into(),
            Refusal::NotAnEmail(_) => "Okta sent something that is not an email address as your email. Ask an administrator to check which of your Okta profile's fields the Portal app sends as the email.".into(),
            Refusal::NoEmail(SsoProtocol::Saml) => "Okta did not send your email address. Ask an administrator to check the Portal app's attribute statements in Okta.".into(),
            // An OIDC app in Okta has no attribute statements: the address comes with the scope.
            Refusal::NoEmail(SsoProtocol::Oidc) => "Okta did not send your email address. Ask an administrator to check that the Portal app in Okta grants the email scope.".into(),
        }
    }
}

/// The value of the cookie `name` that binds the sign-ins a browser starts to that browser: the
/// one it already holds, so that two tabs both finish, or a new one.
pub fn browser_binding(headers: &axum::http::HeaderMap, name: &str) -> String {
    session::read_cookie(headers, name)
        .filter(|value| value.len() == 43)
        .unwrap_or_else(crate::auth::random_secret)
}

/// Whether the binding cookie a request came with is the one whose digest a started sign-in
/// stored; a missing cookie never is.
pub fn binding_matches(cookie: Option<&str>, stored_hash: &str) -> bool {
    cookie.is_some_and(|value| {
        !value.is_empty() && crate::auth::tokens_match(&crate::auth::digest(value), stored_hash)
    })
}

/// Adds the binding cookie `name` to `response`: HttpOnly, for the whole site, for `lifetime`.
pub fn set_binding_cookie(
    response: &mut Response,
    (name, value): (&'static str, String),
    secure: bool,
    same_site: axum_extra::extract::cookie::SameSite,
    lifetime: chrono::TimeDelta,
) {
    let cookie = axum_extra::extract::cookie::Cookie::build((name, value))
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(same_site)
        .max_age(time::Duration::minutes(lifetime.num_minutes()))
        .build()
        .to_string();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// Whether a failed write was another request winning a race (same person, same moment) or
/// a busy SQLite file: both succeed when tried again.
pub fn is_retryable(error: &DbErr) -> bool {
    if matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) {
        return true;
    }
    crate::db::is_busy(error) || error.to_string().contains("could not serialize")
}

impl Portal {
    /// Admits `who` and starts their session inside `txn`, under the identity configuration
    /// `decided_on`; the caller commits.
    ///
    /// What it decides stands only while `decided_on` is the configuration stored: the session
    /// is written only under that revision, and a refusal reads the revision first. When an
    /// admin's save (on any replica) has replaced it, it writes nothing and answers
    /// [`AdmitError::Overtaken`], for the caller to decide again under the new one.
    pub async fn admit_and_start_session(
        &self,
        txn: &DatabaseTransaction,
        who: &ExternalIdentity,
        decided_on: &IdentityConfig,
        protocol: &str,
        correlation_id: &str,
    ) -> Result<(Admission, String), AdmitError> {
        let jit = decided_on.jit(self.config.plan, self.config.release);
        let mut writes = Batch::new(txn.get_database_backend());
        let provisioner = JitProvisioner { jit };
        let admission = match provisioner.admit(txn, who, &mut writes).await {
            Err(AdmitError::Refused(_)) if overtaken(txn, decided_on.revision).await? => {
                return Err(AdmitError::Overtaken)
            }
            decided => decided?,
        };
        let account = admission.account();
        let (cookie, session) =
            session::opening(self.session_policy(), account.id, who.session_ends_by);
        writes.push(
            batch::insert_where(session, decided_on.revision.still_in_force())?,
            "the session, under the identity configuration in force",
        );
        let mut details = serde_json::json!({
            "protocol": protocol,
            "provider": who.provider,
            "attributes_received": who.attributes_received(),
        });
        if let Some(from) = admission.moved_from() {
            details["previous_provider"] = from.into();
        }
        let event = audit::entry(AuditEvent {
            actor_id: Some(account.id),
            actor: &account.email,
            action: admission.action(),
            target: &account.email,
            outcome: Outcome::Success,
            details,
            correlation_id,
        });
        writes.push(
            audit_event::Entity::insert(event).into_query(),
            "the audit event",
        );
        match writes.run(txn).await {
            Err(e)
                if batch::is_wrote_nothing(&e) && overtaken(txn, decided_on.revision).await? =>
            {
                Err(AdmitError::Overtaken)
            }
            Err(e) => Err(e.into()),
            Ok(()) => Ok((admission, cookie)),
        }
    }
}

/// Whether an admin's save has replaced the identity configuration `decided_on` since, as `txn`
/// sees it.
async fn overtaken(txn: &DatabaseTransaction, decided_on: Revision) -> Result<bool, DbErr> {
    Ok(Revision::in_force(txn).await? != decided_on)
}

/// Ends the session the browser held before this sign-in (someone else's, on a shared
/// computer), as a password sign-in does: the new session's cookie replaces its cookie, and a
/// copy of the old cookie kept elsewhere no longer works. The new session is stored already, so
/// a failure here is logged and the sign-in stands.
pub async fn end_previous_session(portal: &Portal, headers: &HeaderMap, correlation_id: &str) {
    let name = session::cookie_name(portal.config.cookies_secure());
    if let Some(previous) = session::read_cookie(headers, name) {
        if let Err(error) = session::end(&portal.db, &previous).await {
            tracing::warn!(correlation_id, %error, "could not end the session this browser held before it signed in");
        }
    }
}

/// The answer to a finished sign-in: back to where the person was going, with their session.
pub fn signed_in(protocol: &'static str, cookie: &str, return_to: &str) -> Response {
    crate::metrics::signed_in(protocol);
    let mut response = axum::response::Redirect::to(return_to).into_response();
    *response.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// Who a refused sign-in was about, when the identity provider got as far as saying so.
pub struct Arrival {
    /// The email, else the provider's subject.
    pub subject: String,
    pub attributes_received: Vec<&'static str>,
}

impl From<&ExternalIdentity> for Arrival {
    fn from(who: &ExternalIdentity) -> Self {
        Arrival {
            subject: who
                .email
                .as_ref()
                .map(|e| e.to_string())
                .unwrap_or_else(|| who.subject.clone()),
            attributes_received: who.attributes_received(),
        }
    }
}

/// The answer to a refused sign-in: an audit event with the reason (about the person, and
/// which attributes arrived, when the identity provider said who it was), then the page.
pub async fn refused(
    portal: &Portal,
    protocol: &'static str,
    reason: &'static str,
    page: SsoFailure,
    arrival: Option<Arrival>,
) -> Response {
    crate::metrics::refused(protocol, reason);
    let page = page.bounded();
    let subject = arrival
        .as_ref()
        .map_or("(unknown)", |a| a.subject.as_str())
        .to_string();
    let mut details = serde_json::json!({ "reason": reason, "detail": page.detail });
    if let Some(cause) = &page.cause {
        details["cause"] = cause.as_str().into();
    }
    if let Some(arrival) = &arrival {
        details["attributes_received"] = serde_json::json!(arrival.attributes_received);
    }
    let recorded = audit::record(
        &portal.db,
        AuditEvent {
            actor_id: None,
            actor: &subject,
            action: &format!("sign_in.{protocol}"),
            target: &subject,
            outcome: Outcome::Failure,
            details,
            correlation_id: &page.correlation_id,
        },
    )
    .await;
    if let Err(e) = recorded {
        tracing::warn!(correlation_id = %page.correlation_id, error = %e, protocol, "could not record a refused sign-in");
    }
    page.into_response()
}

/// Why [`Portal::admit_with_retries`] let nobody in.
#[derive(Debug)]
pub enum AdmitFailure {
    Refused(Refusal),
    /// See [`AdmitError::Overtaken`].
    Overtaken,
    Unavailable(String),
}

impl Portal {
    /// Admits `who` and starts their session in one transaction of its own; when another
    /// sign-in of the same person wins a race for the same rows, tries again and finds the
    /// winner's account. Returns the session cookie.
    pub async fn admit_with_retries(
        &self,
        who: &ExternalIdentity,
        decided_on: &IdentityConfig,
        protocol: &'static str,
        correlation_id: &str,
    ) -> Result<String, AdmitFailure> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = async {
                let txn = crate::db::begin_write(&self.db).await?;
                let (admission, cookie) = self
                    .admit_and_start_session(&txn, who, decided_on, protocol, correlation_id)
                    .await?;
                txn.commit().await?;
                if matches!(admission, Admission::Created(_)) {
                    crate::metrics::jit_created(protocol);
                }
                Ok::<_, AdmitError>(cookie)
            }
            .await;
            match outcome {
                Ok(cookie) => return Ok(cookie),
                Err(AdmitError::Refused(refusal)) => return Err(AdmitFailure::Refused(refusal)),
                Err(AdmitError::Overtaken) => return Err(AdmitFailure::Overtaken),
                Err(AdmitError::Database(e)) if is_retryable(&e) && attempt < 4 => continue,
                Err(AdmitError::Database(e)) => {
                    return Err(AdmitFailure::Unavailable(e.to_string()))
                }
            }
        }
    }
}

/// The last SSO sign-in that got as far as naming the person, successful or refused, and
/// which of the attributes Portal reads it carried: what the Okta setup checklist shows.
#[derive(Clone, Debug, PartialEq)]
pub struct LastArrival {
    pub at: chrono::DateTime<chrono::Utc>,
    /// `saml` or `oidc`.
    pub protocol: String,
    pub succeeded: bool,
    pub attributes_received: Vec<String>,
}

impl Portal {
    /// Reads it from the audit log, where every such sign-in records the attributes' names.
    #[tracing::instrument(skip(self))]
    pub async fn last_sso_arrival(&self) -> Result<Option<LastArrival>, DbErr> {
        use crate::db::entities::audit_event;
        use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr};
        use sea_orm::{EntityTrait, QueryFilter, QueryOrder};
        let latest = audit_event::Entity::find()
            .filter(
                Expr::col(audit_event::Column::Details)
                    .like(LikeExpr::new(r#"%"attributes\_received"%"#).escape('\\')),
            )
            .order_by_desc(audit_event::Column::At)
            .order_by_desc(audit_event::Column::Id)
            .one(&self.db)
            .await?;
        Ok(latest.map(|event| {
            let details: serde_json::Value =
                serde_json::from_str(&event.details).unwrap_or_default();
            let protocol = details["protocol"]
                .as_str()
                .or_else(|| event.action.strip_prefix("sign_in."))
                .unwrap_or_default()
                .to_string();
            LastArrival {
                at: event.at,
                protocol,
                succeeded: event.outcome == Outcome::Success.as_str(),
                attributes_received: details["attributes_received"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|name| name.as_str().map(str::to_string))
                    .collect(),
            }
        }))
    }
}

/// Secrets, tokens and keys travel over https only; plain http is allowed on loopback, where
/// nothing crosses a network.
pub fn check_transport(url: &url::Url) -> Result<(), String> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        _ => Err(format!(
            "'{url}' must use https (plain http is accepted on this machine's loopback only)"
        )),
    }
}

/// Whether `url` names this machine's loopback, where nothing crosses a network.
pub fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// The most Portal reads of any answer from the identity provider: SAML metadata, and the
/// OpenID provider's discovery document, key set, token and UserInfo answers. Each is a few
/// kilobytes; a longer one is refused rather than held.
pub const MAX_PROVIDER_ANSWER: usize = 1 << 20;

/// The body of `response`, or `None` once it is longer than [`MAX_PROVIDER_ANSWER`], read no
/// further than that (a length announced in advance is not taken on trust either way).
pub async fn read_bounded(
    response: &mut reqwest::Response,
) -> Result<Option<Vec<u8>>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_PROVIDER_ANSWER {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

/// An error and its sources in one line, so that "request failed" says why.
pub fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Whether `error` (or one of its sources) is the HTTP client giving up after its timeout.
pub fn is_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        let reqwest_error = e
            .downcast_ref::<reqwest::Error>()
            .or_else(|| e.downcast_ref::<Box<reqwest::Error>>().map(|b| &**b));
        if reqwest_error.is_some_and(|r| r.is_timeout()) {
            return true;
        }
        current = e.source();
    }
    false
}
