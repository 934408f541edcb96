//! The OpenID provider as Portal knows it: its discovered metadata, the client registered with
//! it, and its signing keys, which are fetched again (at a bounded rate) when a token names a
//! key Portal has not seen. [`OidcProvider::verify_id_token`] is every ID token check in one place.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClient, CoreClientAuthMethod, CoreGrantType,
    CoreIdToken, CoreIdTokenClaims, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm, CoreJwsSigningAlgorithm, CoreResponseMode, CoreResponseType,
    CoreSubjectIdentifierType,
};
use openidconnect::{
    AdditionalProviderMetadata, AuthType, ClaimsVerificationError, ClientId, ClientSecret,
    DiscoveryError, EndpointMaybeSet, EndpointNotSet, EndpointSet, IdTokenVerifier, IssuerUrl,
    JsonWebKey, JsonWebKeySet, JsonWebKeySetUrl, Nonce, RedirectUrl, SignatureVerificationError,
};
use serde::{Deserialize, Serialize};

use super::provider_key::ProviderKey;
use crate::identity::{OidcSettings, TokenAuthMethod};
use crate::sso::{check_transport, describe};

/// The provider's signing keys, as ID tokens are checked with them.
pub type ProviderKeys = JsonWebKeySet<ProviderKey>;

/// The path every discovery URL ends with (OpenID Connect Discovery 1.0, section 4).
pub const DISCOVERY_SUFFIX: &str = "/.well-known/openid-configuration";
/// Clock skew allowed on `exp` and `iat`.
pub const MAX_SKEW: TimeDelta = TimeDelta::minutes(3);
/// The soonest the JWKS is fetched again for a token signed by an unknown key.
pub const JWKS_REFRESH_INTERVAL: Duration = Duration::from_secs(10);
/// The algorithms an ID token may be signed with; `none` and HMAC never verify.
pub const ALLOWED_ALGS: [CoreJwsSigningAlgorithm; 2] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
];

/// What Portal reads of a discovery document beyond what OpenID Connect Discovery names.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct IssuerParameterMetadata {
    /// RFC 9207: the provider names itself (`iss`) in every authorization response.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
}

impl AdditionalProviderMetadata for IssuerParameterMetadata {}

/// A discovery document, as [`discover`] reads it.
pub type ProviderMetadata = openidconnect::ProviderMetadata<
    IssuerParameterMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

pub type OidcClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

pub struct OidcProvider {
    pub issuer: IssuerUrl,
    /// Whether the provider said, in its discovery document, that every authorization response
    /// names it (RFC 9207); then a response without `iss` is refused.
    pub names_itself_in_responses: bool,
    /// When the discovery document these came from was fetched.
    pub discovered_at: tokio::time::Instant,
    pub client: OidcClient,
    client_id: ClientId,
    jwks_uri: JsonWebKeySetUrl,
    keys: RwLock<Arc<ProviderKeys>>,
    /// When the keys were last fetched; held across a fetch so that one request fetches.
    refreshed: tokio::sync::Mutex<Instant>,
}

/// The issuer a discovery URL belongs to, or why the URL cannot be one.
pub fn issuer_of(discovery_url: &str) -> Result<IssuerUrl, String> {
    let issuer = discovery_url
        .trim()
        .strip_suffix(DISCOVERY_SUFFIX)
        .ok_or_else(|| format!("a discovery URL ends with {DISCOVERY_SUFFIX}, as Okta shows it: https://example.okta.com/oauth2/default{DISCOVERY_SUFFIX}"))?;
    let issuer = IssuerUrl::new(issuer.to_string())
        .map_err(|e| format!("'{issuer}' is not an issuer URL: {e}"))?;
    // An issuer has no query or fragment (OpenID Connect Core 1.0, section 1.2; RFC 8414,
    // section 2), which would otherwise swallow the path Portal adds for the discovery document.
    let url = issuer.url();
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "'{}' is not an issuer URL: it has a query (?) or a fragment (#); copy the discovery URL as Okta shows it: https://example.okta.com/oauth2/default{DISCOVERY_SUFFIX}",
            issuer.as_str()
        ));
    }
    check_transport(url)?;
    Ok(issuer)
}

/// Portal's one client for the OpenID provider, reading at most
/// [`crate::sso::MAX_PROVIDER_ANSWER`] bytes of each answer (openidconnect's own client for
/// reqwest reads the whole body, however long). Every request to the provider goes through it.
pub struct Bounded<'a>(pub &'a reqwest::Client);

impl<'c> openidconnect::AsyncHttpClient<'c> for Bounded<'_> {
    type Error = openidconnect::HttpClientError<reqwest::Error>;
    type Future = std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<openidconnect::HttpResponse, Self::Error>>
                + Send
                + 'c,
        >,
    >;

    fn call(&'c self, request: openidconnect::HttpRequest) -> Self::Future {
        Box::pin(send_bounded(self.0, request))
    }
}

async fn send_bounded(
    http: &reqwest::Client,
    request: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, openidconnect::HttpClientError<reqwest::Error>> {
    use openidconnect::HttpClientError;
    let mut response = http
        .execute(request.try_into().map_err(Box::new)?)
        .await
        .map_err(Box::new)?;
    let mut answer = axum::http::Response::builder()
        .status(response.status())
        .version(response.version());
    for (name, value) in response.headers() {
        answer = answer.header(name, value);
    }
    let body = crate::sso::read_bounded(&mut response)
        .await
        .map_err(Box::new)?
        .ok_or_else(|| {
            HttpClientError::Other(format!(
                "its answer is longer than the {} KiB Portal reads",
                crate::sso::MAX_PROVIDER_ANSWER / 1024
            ))
        })?;
    answer.body(body).map_err(HttpClientError::Http)
}

/// Fetches the discovery document and the JWKS it names, and checks that the document's issuer
/// is the one its URL belongs to and that the JWKS holds a key an ID token can be checked with.
pub async fn discover(
    discovery_url: &str,
    http: &reqwest::Client,
) -> Result<ProviderMetadata, String> {
    let issuer = issuer_of(discovery_url)?;
    let metadata = ProviderMetadata::discover_async(issuer, &Bounded(http))
        .await
        .map_err(|e| match e {
            DiscoveryError::Validation(message) => {
                format!("the discovery document does not belong to this URL: {message}")
            }
            DiscoveryError::Response(status, _, message) if status.as_u16() != 200 => {
                format!("the provider answered {status} ({message})")
            }
            DiscoveryError::Parse(e) => {
                format!("the provider's answer is not an OpenID configuration or JWKS: {e}")
            }
            other => format!("the provider could not be reached: {}", describe(&other)),
        })?;
    let token_endpoint = metadata
        .token_endpoint()
        .ok_or("the discovery document names no token_endpoint")?;
    // The person's browser carries the state and nonce to the authorization endpoint.
    check_transport(metadata.authorization_endpoint().url())?;
    check_transport(token_endpoint.url())?;
    check_transport(metadata.jwks_uri().url())?;
    if let Some(userinfo) = metadata.userinfo_endpoint() {
        check_transport(userinfo.url())?;
    }
    if !metadata.jwks().keys().iter().any(|key| {
        ALLOWED_ALGS
            .iter()
            .any(|alg| key.key_type() == &alg_key_type(alg))
    }) {
        return Err("the provider's JWKS holds no RSA or P-256 signing key".into());
    }
    Ok(metadata)
}

fn alg_key_type(alg: &CoreJwsSigningAlgorithm) -> openidconnect::core::CoreJsonWebKeyType {
    use openidconnect::JwsSigningAlgorithm;
    alg.key_type().expect("RS256 and ES256 have a key type")
}

/// Why an ID token was not accepted, in words for the administrator.
#[derive(Debug, thiserror::Error)]
pub enum TokenRejection {
    #[error("the ID token's signature does not verify: {0}")]
    Signature(String),
    #[error("the ID token was issued by someone else: {0}")]
    Issuer(String),
    #[error("the ID token is not meant for Portal: {0}")]
    Audience(String),
    #[error("the ID token is expired or not yet valid: {0}")]
    Time(String),
    #[error("the ID token is not to be accepted yet: {0}; check the clocks")]
    NotYet(String),
    #[error("the ID token's nonce is not the one this sign-in sent: {0}")]
    Nonce(String),
    #[error("the ID token is unusable: {0}")]
    Other(String),
}

impl TokenRejection {
    pub fn code(&self) -> &'static str {
        match self {
            TokenRejection::Signature(_) => "bad_signature",
            TokenRejection::Issuer(_) => "wrong_issuer",
            TokenRejection::Audience(_) => "wrong_audience",
            TokenRejection::Time(_) => "expired",
            TokenRejection::NotYet(_) => "not_yet_valid",
            TokenRejection::Nonce(_) => "bad_nonce",
            TokenRejection::Other(_) => "invalid_id_token",
        }
    }
}

impl OidcProvider {
    /// The client for `settings`, with their secret opened (`client_secret`).
    pub fn new(
        metadata: ProviderMetadata,
        settings: &OidcSettings,
        client_secret: &str,
        redirect_uri: RedirectUrl,
        discovered_at: tokio::time::Instant,
    ) -> OidcProvider {
        let issuer = metadata.issuer().clone();
        let names_itself_in_responses = metadata
            .additional_metadata()
            .authorization_response_iss_parameter_supported;
        let jwks_uri = metadata.jwks_uri().clone();
        let keys = Arc::new(ProviderKeys::new(
            metadata
                .jwks()
                .keys()
                .iter()
                .cloned()
                .map(ProviderKey::from)
                .collect(),
        ));
        let client_id = ClientId::new(settings.client_id.clone());
        let client = CoreClient::from_provider_metadata(
            metadata,
            client_id.clone(),
            Some(ClientSecret::new(client_secret.to_string())),
        )
        .set_redirect_uri(redirect_uri)
        .set_auth_type(match settings.token_auth_method {
            TokenAuthMethod::ClientSecretBasic => AuthType::BasicAuth,
            TokenAuthMethod::ClientSecretPost => AuthType::RequestBody,
        });
        OidcProvider {
            issuer,
            names_itself_in_responses,
            discovered_at,
            client,
            client_id,
            jwks_uri,
            keys: RwLock::new(keys),
            // The first unknown key id may fetch at once; the interval bounds the next ones.
            refreshed: tokio::sync::Mutex::new(
                Instant::now()
                    .checked_sub(JWKS_REFRESH_INTERVAL)
                    .unwrap_or_else(Instant::now),
            ),
        }
    }

    fn verifier(
        &self,
        keys: ProviderKeys,
        now: DateTime<Utc>,
    ) -> IdTokenVerifier<'static, ProviderKey> {
        // A public-client verifier holds no secret, so an HMAC-signed token can never verify.
        IdTokenVerifier::new_public_client(self.client_id.clone(), self.issuer.clone(), keys)
            .set_allowed_algs(ALLOWED_ALGS)
            // Extra audiences are judged below, by `azp`.
            .set_other_audience_verifier_fn(|_| true)
            .set_time_fn(move || now - MAX_SKEW)
            .set_issue_time_verifier_fn(move |issued: DateTime<Utc>| {
                if issued > now + MAX_SKEW {
                    Err(format!("issued in the future ({issued})"))
                } else {
                    Ok(())
                }
            })
    }

    /// Checks `token` against the provider's keys, our client id, the issuer, the time and the
    /// nonce this sign-in stored. A key id Portal does not know fetches the JWKS once more.
    pub async fn verify_id_token(
        &self,
        token: &CoreIdToken,
        nonce: &str,
        http: &reqwest::Client,
        now: DateTime<Utc>,
    ) -> Result<CoreIdTokenClaims, TokenRejection> {
        let keys = self.current_keys();
        match self.check(token, nonce, (*keys).clone(), now) {
            Err(TokenRejection::Signature(reason)) if reason == NO_MATCHING_KEY => {
                match self.refresh_keys(&keys, http).await {
                    Some(fresh) => self.check(token, nonce, (*fresh).clone(), now),
                    None => Err(TokenRejection::Signature(reason)),
                }
            }
            outcome => outcome,
        }
    }

    fn current_keys(&self) -> Arc<ProviderKeys> {
        self.keys
            .read()
            .expect("the key set lock is never poisoned")
            .clone()
    }

    /// Fetches the JWKS again unless it was fetched within [`JWKS_REFRESH_INTERVAL`] or another
    /// request already replaced `seen`; returns the keys to try, if they changed.
    async fn refresh_keys(
        &self,
        seen: &Arc<ProviderKeys>,
        http: &reqwest::Client,
    ) -> Option<Arc<ProviderKeys>> {
        let mut refreshed = self.refreshed.lock().await;
        let current = self.current_keys();
        if !Arc::ptr_eq(&current, seen) {
            return Some(current);
        }
        if refreshed.elapsed() < JWKS_REFRESH_INTERVAL {
            return None;
        }
        *refreshed = Instant::now();
        match ProviderKeys::fetch_async(&self.jwks_uri, &Bounded(http)).await {
            Ok(fresh) => {
                let fresh = Arc::new(fresh);
                *self
                    .keys
                    .write()
                    .expect("the key set lock is never poisoned") = fresh.clone();
                tracing::info!(
                    keys = fresh.keys().len(),
                    "fetched the identity provider's signing keys again"
                );
                Some(fresh)
            }
            Err(error) => {
                tracing::warn!(error = %describe(&error), "could not fetch the identity provider's signing keys");
                None
            }
        }
    }

    fn check(
        &self,
        token: &CoreIdToken,
        nonce: &str,
        keys: ProviderKeys,
        now: DateTime<Utc>,
    ) -> Result<CoreIdTokenClaims, TokenRejection> {
        let verifier = self.verifier(keys, now);
        let expected = Nonce::new(nonce.to_string());
        let claims = token
            .claims(&verifier, &expected)
            .map_err(|e| match e {
                ClaimsVerificationError::SignatureVerification(
                    SignatureVerificationError::NoMatchingKey,
                ) => TokenRejection::Signature(NO_MATCHING_KEY.into()),
                ClaimsVerificationError::SignatureVerification(inner) => {
                    TokenRejection::Signature(inner.to_string())
                }
                ClaimsVerificationError::InvalidIssuer(m) => TokenRejection::Issuer(m),
                ClaimsVerificationError::InvalidAudience(m) => TokenRejection::Audience(m),
                ClaimsVerificationError::Expired(m) => TokenRejection::Time(m),
                ClaimsVerificationError::InvalidNonce(m) => TokenRejection::Nonce(m),
                other => TokenRejection::Other(other.to_string()),
            })?
            .clone();
        // OpenID Connect Core 3.1.3.7, steps 4 and 5: with several audiences the authorized
        // party must be named, and when named it must be us.
        match claims.authorized_party() {
            Some(party) if party.as_str() != self.client_id.as_str() => {
                return Err(TokenRejection::Audience(format!(
                    "the authorized party (azp) is `{}`, not this client",
                    party.as_str()
                )))
            }
            None if claims.audiences().len() > 1 => {
                return Err(TokenRejection::Audience(
                    "several audiences and no authorized party (azp)".into(),
                ))
            }
            _ => {}
        }
        // RFC 7519 4.1.5: a token that names a time before which it is not to be accepted is
        // held to it. openidconnect reads no `nbf`, so it is read from the payload whose
        // signature was just verified. Okta sends none.
        if let Some(not_before) = not_before(token)? {
            if now + MAX_SKEW < not_before {
                return Err(TokenRejection::NotYet(format!("its nbf is {not_before}")));
            }
        }
        Ok(claims)
    }
}

/// The ID token's `nbf`, if it names one.
fn not_before(token: &CoreIdToken) -> Result<Option<DateTime<Utc>>, TokenRejection> {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    #[derive(Deserialize)]
    struct NotBefore {
        nbf: Option<f64>,
    }
    let unreadable = || TokenRejection::Other("its `nbf` is not a time".into());
    let compact = token.to_string();
    let payload = compact.split('.').nth(1).ok_or_else(unreadable)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).map_err(|_| unreadable())?;
    let claims: NotBefore = serde_json::from_slice(&bytes).map_err(|_| unreadable())?;
    match claims.nbf {
        None => Ok(None),
        Some(seconds) if seconds.is_finite() => DateTime::from_timestamp(seconds.floor() as i64, 0)
            .map(Some)
            .ok_or_else(unreadable),
        Some(_) => Err(unreadable()),
    }
}

const NO_MATCHING_KEY: &str =
    "no key in the provider's JWKS matches the token's key id and algorithm";

impl std::fmt::Debug for OidcProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcProvider")
            .field("issuer", &self.issuer.as_str())
            .field("client_id", &self.client_id.as_str())
            .finish_non_exhaustive()
    }
}
