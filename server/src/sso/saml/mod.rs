//! SAML 2.0 service provider: SP metadata, SP-initiated sign-in (HTTP-Redirect) and the
//! assertion consumer service (HTTP-POST). A first Okta login arrives at [`acs`], which
//! verifies the response ([`verify`]) and hands the person to the JIT provisioner.

pub mod verify;

use std::sync::Arc;

use axum::{
    extract::{rejection::FormRejection, DefaultBodyLimit, Query, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
    Extension, Form, Router,
};
use axum_extra::extract::cookie::SameSite;
use chrono::{TimeDelta, Utc};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use serde::Deserialize;

use crate::auth::{self, session};
use crate::db::entities::{saml_assertion_seen, saml_request};
use crate::domain::{Email, SsoProtocol};
use crate::identity::SamlTrust;
use crate::provisioning::{AdmitError, ExternalIdentity, Refusal};
use crate::sso::{is_retryable, Arrival, SsoFailure};
use crate::state::{CorrelationId, Portal};

use verify::{Expectations, Rejection, VerifiedAssertion, EMAIL_NAME_ID};

/// Clock skew allowed on every SAML time check.
pub const MAX_SKEW: TimeDelta = TimeDelta::minutes(3);
/// How long an SP-initiated request may wait for its answer.
const REQUEST_LIFETIME: TimeDelta = TimeDelta::minutes(10);
/// Under https, the cookie that binds an SP-initiated sign-in to the browser that started it,
/// so that an answer Okta gave someone else cannot be posted from another browser to sign it
/// in as them. Okta's post back is cross-site, which only a `SameSite=None` cookie travels
/// with, and browsers keep those only when `Secure`: over plain http nothing is bound.
pub const BROWSER_COOKIE: &str = "__Host-portal_saml";

pub fn router() -> Router<Portal> {
    Router::new()
        .route("/sso/saml/metadata", get(metadata))
        .route("/sso/saml/login", get(login))
        .route(
            "/sso/saml/acs",
            post(acs).layer(DefaultBodyLimit::max(verify::MAX_ENCODED_LEN + 16 * 1024)),
        )
}

/// The values an admin types into Okta, all derived from `PORTAL_PUBLIC_URL`.
pub struct SpValues {
    pub entity_id: String,
    pub acs_url: String,
}

impl Portal {
    pub fn saml_sp(&self) -> SpValues {
        let base = self.config.public_url.as_str().trim_end_matches('/');
        SpValues {
            entity_id: format!("{base}/sso/saml/metadata"),
            acs_url: format!("{base}/sso/saml/acs"),
        }
    }
}

#[derive(Deserialize)]
struct MetadataQuery {
    /// Any value asks for the XML as a file to save (`?download=1`).
    download: Option<String>,
}

/// The SP metadata; as an attachment named `portal-sp-metadata.xml` with `?download=1`, for the
/// Identity Configuration page's "Download SP metadata".
async fn metadata(State(portal): State<Portal>, Query(query): Query<MetadataQuery>) -> Response {
    let sp = portal.saml_sp();
    let xml = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{entity}">
  <md:SPSSODescriptor AuthnRequestsSigned="false" WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:NameIDFormat>{EMAIL_NAME_ID}</md:NameIDFormat>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{acs}" index="0" isDefault="true"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>
"#,
        entity = xml_escape(&sp.entity_id),
        acs = xml_escape(&sp.acs_url),
    );
    let mut response = (
        [(header::CONTENT_TYPE, "application/samlmetadata+xml")],
        xml,
    )
        .into_response();
    if query.download.is_some() {
        response.headers_mut().insert(
            header::CONTENT_DISPOSITION,
            axum::http::HeaderValue::from_static(
                r#"attachment; filename="portal-sp-metadata.xml""#,
            ),
        );
    }
    response
}

#[derive(Deserialize)]
struct LoginQuery {
    return_to: Option<String>,
}

/// Starts an SP-initiated sign-in: stores the request id, single-use, and sends the browser to
/// the identity provider with an AuthnRequest.
async fn login(
    State(portal): State<Portal>,
    Extension(correlation): Extension<CorrelationId>,
    headers: HeaderMap,
    Query(query): Query<LoginQuery>,
) -> Result<Response, SsoFailure> {
    let fail = |status, headline: &str, detail: &str| {
        SsoFailure::new(status, headline, detail, &correlation.0)
    };
    let unavailable = |cause: String| {
        fail(
            StatusCode::SERVICE_UNAVAILABLE,
            "Portal cannot start the sign-in right now. Try again in a moment.",
            "The database did not answer.",
        )
        .caused_by(cause)
    };
    let unprepared = |cause: String| {
        fail(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Portal could not prepare the sign-in request.",
            "The SAML request could not be written.",
        )
        .caused_by(cause)
    };
    let config = portal
        .identity_config()
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    let trust = portal
        .saml_trust(&config)
        .map_err(|e| {
            fail(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Single sign-on cannot start: Portal cannot use its stored SAML settings.",
                "Ask an administrator to save the identity provider's certificate again under Settings > Identity and Access Management.",
            )
            .caused_by(e.to_string())
        })?
        .ok_or_else(|| fail(StatusCode::NOT_FOUND, "Single sign-on with SAML is not configured.", "Ask an administrator to configure it under Settings > Identity and Access Management."))?;
    let sp = portal.saml_sp();
    let request_id = format!("_{}", hex::encode(rand::random::<[u8; 20]>()));
    let return_to = app::api::safe_return_path(query.return_to.as_deref());
    let browser = portal
        .config
        .cookies_secure()
        .then(|| crate::sso::browser_binding(&headers, BROWSER_COOKIE));
    saml_request::ActiveModel {
        id: Set(request_id.clone()),
        relay_state: Set(return_to.clone()),
        expires_at: Set(Utc::now() + REQUEST_LIFETIME),
        browser_hash: Set(browser.as_deref().map(auth::digest).unwrap_or_default()),
    }
    .insert(&portal.db)
    .await
    .map_err(|e| unavailable(e.to_string()))?;
    let provider = samael::service_provider::ServiceProvider {
        entity_id: Some(sp.entity_id.clone()),
        acs_url: Some(sp.acs_url.clone()),
        ..Default::default()
    };
    let mut request = provider
        .make_authentication_request(&trust.idp_sso_url)
        .map_err(|e| unprepared(e.to_string()))?;
    request.id = request_id;
    request.force_authn = None;
    let url = request
        .redirect(&return_to)
        .map_err(|e| unprepared(e.to_string()))?
        .ok_or_else(|| unprepared("no destination".into()))?;
    let mut response = Redirect::to(url.as_str()).into_response();
    if let Some(browser) = browser {
        crate::sso::set_binding_cookie(
            &mut response,
            (BROWSER_COOKIE, browser),
            true,
            SameSite::None,
            REQUEST_LIFETIME,
        );
    }
    Ok(response)
}

#[derive(Deserialize)]
struct AcsForm {
    #[serde(rename = "SAMLResponse")]
    saml_response: String,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
    /// Not a form field: the binding cookie the post came with ([`BROWSER_COOKIE`]).
    #[serde(skip)]
    browser: Option<String>,
}

/// Why an ACS request failed, before it becomes a page and an audit event.
enum AcsError {
    Rejected(Rejection),
    UnknownRequest,
    /// The request was made for another browser: its binding cookie is missing or different.
    OtherBrowser,
    Unsolicited,
    Replayed,
    Refused(Refusal),
    NotConfigured,
    Unavailable(String),
    /// Another sign-in won a race for the same rows (or SQLite was busy): worth another try.
    Contended(String),
    /// See [`AdmitError::Overtaken`]; what is left when the configuration changed again each
    /// time the sign-in was decided again.
    Overtaken,
}

impl AcsError {
    fn code(&self) -> &'static str {
        match self {
            AcsError::Rejected(r) => r.code(),
            AcsError::UnknownRequest => "unknown_request",
            AcsError::OtherBrowser => "request_other_browser",
            AcsError::Unsolicited => "unsolicited",
            AcsError::Replayed => "replayed",
            AcsError::Refused(r) => r.code(),
            AcsError::NotConfigured => "not_configured",
            AcsError::Unavailable(_) | AcsError::Contended(_) => "unavailable",
            AcsError::Overtaken => "settings_changed",
        }
    }

    /// Whether the failure was decided from the identity configuration (its certificates,
    /// entity id, whether IdP-initiated sign-in is allowed, the protocol), and so stands only
    /// on the configuration in force. A refusal of the person was confirmed in its transaction
    /// already (`Portal::admit_and_start_session`).
    fn rests_on_configuration(&self) -> bool {
        matches!(
            self,
            AcsError::Rejected(_) | AcsError::Unsolicited | AcsError::NotConfigured
        )
    }

    fn page(&self, correlation_id: &str) -> SsoFailure {
        let (status, headline, detail) = match self {
            AcsError::Rejected(rejection) => (
                match rejection {
                    Rejection::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
                    _ => StatusCode::BAD_REQUEST,
                },
                "Portal could not accept the answer from Okta. Ask an administrator to check the single sign-on settings.".to_string(),
                rejection.to_string(),
            ),
            AcsError::UnknownRequest => (
                StatusCode::BAD_REQUEST,
                "This sign-in link has expired or was already used. Start the sign-in again.".into(),
                "InResponseTo names no outstanding request of this portal (expired, used, or never made).".into(),
            ),
            AcsError::OtherBrowser => (
                StatusCode::BAD_REQUEST,
                "This sign-in was started in another browser or tab that Portal cannot see. Start the sign-in again.".into(),
                "InResponseTo names a request made for another browser (its binding cookie is missing or different).".into(),
            ),
            AcsError::Unsolicited => (
                StatusCode::FORBIDDEN,
                "Sign-in from the Okta dashboard is turned off for Portal. Use \"Sign in with Okta\" on Portal's sign-in page.".into(),
                "An unsolicited (IdP-initiated) response arrived while IdP-initiated sign-in is not allowed.".into(),
            ),
            AcsError::Replayed => (
                StatusCode::BAD_REQUEST,
                "This sign-in was already used. Start the sign-in again.".into(),
                "The assertion id was seen before: a replayed response is never accepted twice.".into(),
            ),
            AcsError::Refused(refusal) => (StatusCode::FORBIDDEN, refusal.headline(), refusal.to_string()),
            AcsError::NotConfigured => (
                StatusCode::NOT_FOUND,
                "Single sign-on with SAML is not configured.".into(),
                "Ask an administrator to configure it under Settings > Identity and Access Management.".into(),
            ),
            AcsError::Unavailable(_) | AcsError::Contended(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Portal cannot finish the sign-in right now. Try again in a moment.".into(),
                "The database did not answer.".into(),
            ),
            AcsError::Overtaken => (
                StatusCode::CONFLICT,
                crate::sso::OVERTAKEN_HEADLINE.into(),
                crate::sso::OVERTAKEN_AGAIN.into(),
            ),
        };
        let failure = SsoFailure::new(status, headline, detail, correlation_id);
        match self {
            AcsError::Unavailable(cause) | AcsError::Contended(cause) => {
                failure.caused_by(cause.as_str())
            }
            _ => failure,
        }
    }
}

/// The assertion consumer service: where a first Okta login is handled.
async fn acs(
    State(portal): State<Portal>,
    Extension(correlation): Extension<CorrelationId>,
    headers: HeaderMap,
    form: Result<Form<AcsForm>, FormRejection>,
) -> Response {
    let _timer = crate::metrics::CallbackTimer::start("saml");
    // A body beyond the limit, or without the field, is refused like any other response: with
    // the page, its correlation id and an audit event.
    let outcome = match form {
        Ok(Form(mut form)) => {
            form.browser = session::read_cookie(&headers, BROWSER_COOKIE);
            consume(&portal, &form, &correlation.0).await
        }
        Err(unread) if unread.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            Err((AcsError::Rejected(Rejection::TooLarge), None))
        }
        Err(unread) => Err((
            AcsError::Rejected(Rejection::NotAFormPost(unread.body_text())),
            None,
        )),
    };
    match outcome {
        Ok((cookie, return_to)) => {
            // Okta's cross-site post carries no Lax cookie, so this ends a session only where
            // the browser sent one: Okta and Portal on one site.
            crate::sso::end_previous_session(&portal, &headers, &correlation.0).await;
            crate::sso::signed_in("saml", &cookie, &return_to)
        }
        Err((error, arrival)) => {
            crate::sso::refused(
                &portal,
                "saml",
                error.code(),
                error.page(&correlation.0),
                arrival,
            )
            .await
        }
    }
}

/// Verifies the response and admits the person; on failure also says who it was about, if known.
///
/// Decided on the identity configuration as this server last saw it, which an admin's save (on
/// any replica) may have replaced since. What is decided stands only on the configuration in
/// force: a sign-in writes its session, and a refusal of the person commits, only under the
/// revision it was decided on; a failure decided from the configuration stands once a read of
/// the configuration finds that revision still in force. Otherwise the sign-in, which wrote
/// nothing, is decided again on the configuration read now.
async fn consume(
    portal: &Portal,
    form: &AcsForm,
    correlation_id: &str,
) -> Result<(String, String), (AcsError, Option<Arrival>)> {
    let unavailable = |e: crate::error::PortalError| (AcsError::Unavailable(e.to_string()), None);
    let mut decided_on = portal
        .identity_config_last_seen()
        .await
        .map_err(unavailable)?;
    let mut read_now = false;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let failure = match decide(portal, &decided_on, form, correlation_id).await {
            Ok(done) => return Ok(done),
            Err(failure) => failure,
        };
        let again = match failure.0 {
            AcsError::Overtaken => attempt < 3,
            ref other => !read_now && other.rests_on_configuration(),
        };
        if !again {
            return Err(failure);
        }
        let in_force = portal.identity_config_now().await.map_err(unavailable)?;
        if in_force.revision == decided_on.revision {
            return Err(failure);
        }
        decided_on = in_force;
        read_now = true;
    }
}

/// [`consume`] on one revision of the identity configuration.
async fn decide(
    portal: &Portal,
    config: &crate::identity::IdentityConfig,
    form: &AcsForm,
    correlation_id: &str,
) -> Result<(String, String), (AcsError, Option<Arrival>)> {
    let trust = match (config.protocol, portal.saml_trust(config)) {
        (Some(SsoProtocol::Saml), Ok(Some(trust))) => trust,
        (_, Err(e)) => return Err((AcsError::Unavailable(e.to_string()), None)),
        _ => return Err((AcsError::NotConfigured, None)),
    };
    let xml = verify::decode(&form.saml_response).map_err(|r| (AcsError::Rejected(r), None))?;
    let sp = portal.saml_sp();
    let verified = verify_assertion(xml, trust.clone(), sp)
        .await
        .map_err(|r| (AcsError::Rejected(r), None))?;
    let who = identity_of(&verified, &trust);

    // Two first logins of one person at once: the loser of the race sees the winner's account.
    let mut attempt = 0;
    loop {
        attempt += 1;
        match admit_once(
            portal,
            &verified,
            &trust,
            &who,
            config,
            form,
            correlation_id,
        )
        .await
        {
            Err(AcsError::Contended(_)) if attempt < 4 => continue,
            Err(error) => return Err((error, Some(Arrival::from(&who)))),
            Ok(done) => return Ok(done),
        }
    }
}

async fn admit_once(
    portal: &Portal,
    verified: &VerifiedAssertion,
    trust: &SamlTrust,
    who: &ExternalIdentity,
    decided_on: &crate::identity::IdentityConfig,
    form: &AcsForm,
    correlation_id: &str,
) -> Result<(String, String), AcsError> {
    let db_error = |e: sea_orm::DbErr| {
        if is_retryable(&e) {
            AcsError::Contended(e.to_string())
        } else {
            AcsError::Unavailable(e.to_string())
        }
    };
    let txn = crate::db::begin_write(&portal.db).await.map_err(db_error)?;
    let now = Utc::now();
    // Checked when it was verified; tried again after a busy database, perhaps seconds later, it
    // must still be one the replay cache below remembers.
    if now >= verified.replayable_until {
        return Err(AcsError::Rejected(Rejection::Expired(
            verified.replayable_until.to_rfc3339(),
        )));
    }
    let return_to = match &verified.in_response_to {
        Some(request_id) => {
            let outstanding = saml_request::Entity::find_by_id(request_id.clone())
                .filter(saml_request::Column::ExpiresAt.gt(now))
                .one(&txn)
                .await
                .map_err(db_error)?
                .ok_or(AcsError::UnknownRequest)?;
            let consumed = saml_request::Entity::delete_by_id(request_id.clone())
                .exec(&txn)
                .await
                .map_err(db_error)?;
            if consumed.rows_affected != 1 {
                return Err(AcsError::UnknownRequest);
            }
            let bound = !outstanding.browser_hash.is_empty();
            if bound
                && !crate::sso::binding_matches(form.browser.as_deref(), &outstanding.browser_hash)
            {
                return Err(AcsError::OtherBrowser);
            }
            outstanding.relay_state
        }
        None if trust.allow_idp_initiated => {
            app::api::safe_return_path(form.relay_state.as_deref())
        }
        None => return Err(AcsError::Unsolicited),
    };
    let seen = saml_assertion_seen::ActiveModel {
        assertion_id: Set(verified.assertion_id.clone()),
        expires_at: Set(verified.replayable_until),
    }
    .insert(&txn)
    .await;
    if let Err(error) = seen {
        let replay = matches!(
            error.sql_err(),
            Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
        );
        return Err(if replay {
            AcsError::Replayed
        } else {
            db_error(error)
        });
    }
    let (admission, cookie) = match portal
        .admit_and_start_session(&txn, who, decided_on, "saml", correlation_id)
        .await
    {
        Ok(done) => done,
        Err(AdmitError::Refused(refusal)) => {
            // The provisioner wrote nothing. The assertion is still spent, and the request it
            // answered: neither can be posted again once an administrator turns SSO JIT on or
            // adds the person, for a new sign-in at Okta brings a new assertion.
            txn.commit().await.map_err(db_error)?;
            return Err(AcsError::Refused(refusal));
        }
        Err(AdmitError::Overtaken) => return Err(AcsError::Overtaken),
        Err(AdmitError::Database(e)) => return Err(db_error(e)),
    };
    txn.commit().await.map_err(db_error)?;
    if matches!(admission, crate::provisioning::Admission::Created(_)) {
        crate::metrics::jit_created("saml");
    }
    Ok((cookie, return_to))
}

/// Runs [`verify::verify`] (xmlsec: CPU-bound, under a millisecond) where it costs least. With
/// several async workers it runs on the blocking pool, so that the workers keep serving other
/// requests meanwhile. With one worker (a server given one CPU) there is nothing to run
/// meanwhile, and the hop to another thread and back would only add two context switches.
async fn verify_assertion(
    xml: String,
    trust: Arc<SamlTrust>,
    sp: SpValues,
) -> Result<VerifiedAssertion, Rejection> {
    let check = move || {
        verify::verify(
            &xml,
            &Expectations {
                idp_entity_id: &trust.idp_entity_id,
                certificates: &trust.certificates,
                sp_entity_id: &sp.entity_id,
                acs_url: &sp.acs_url,
                now: Utc::now(),
                max_skew: MAX_SKEW,
            },
        )
    };
    if tokio::runtime::Handle::current().metrics().num_workers() == 1 {
        return check();
    }
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        check()
    })
    .await
    .unwrap_or(Err(Rejection::BadSignature))
}

/// Maps the assertion to the person: NameID is the immutable subject; the email is the NameID
/// when its format is emailAddress and it is an address, else the `email` attribute (Okta's
/// attribute statements).
fn identity_of(verified: &VerifiedAssertion, trust: &SamlTrust) -> ExternalIdentity {
    let from_name_id = (verified.name_id_format.as_deref() == Some(EMAIL_NAME_ID))
        .then_some(verified.name_id.as_str());
    let sent: Vec<&str> = [from_name_id, verified.attribute("email")]
        .into_iter()
        .flatten()
        .collect();
    let email = sent.iter().find_map(|text| Email::parse(text).ok());
    ExternalIdentity {
        protocol: SsoProtocol::Saml,
        provider: format!("saml:{}", trust.idp_entity_id),
        subject: verified.name_id.clone(),
        subject_is_an_address: from_name_id.is_some_and(|name_id| Email::parse(name_id).is_ok()),
        unusable_email: crate::provisioning::unusable_email(email.as_ref(), sent.first().copied()),
        email,
        // The identity provider is the authority for the addresses it asserts over SAML.
        email_verified: Some(true),
        session_ends_by: verified
            .session_not_on_or_after
            .map(|until| until + MAX_SKEW),
        first_name: verified
            .attribute("firstName")
            .unwrap_or_default()
            .to_string(),
        last_name: verified
            .attribute("lastName")
            .unwrap_or_default()
            .to_string(),
    }
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
