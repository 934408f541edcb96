//! The running portal's shared state: its configuration and its database.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::auth::session::SessionPolicy;
use crate::config::Config;
use crate::secret_key::SecretKey;

/// The stored SAML settings and the trust parsed from them.
pub(crate) type CachedTrust = (
    crate::identity::SamlSettings,
    Arc<crate::identity::SamlTrust>,
);
/// The stored OIDC settings (their fingerprint), the provider discovered for them, and when to
/// ask the provider again. The clock is tokio's, which a test can move on.
pub(crate) type CachedProvider = (
    String,
    Arc<crate::sso::oidc::provider::OidcProvider>,
    tokio::time::Instant,
);

/// What the last discoveries of the OIDC provider found.
#[derive(Default)]
pub(crate) struct ProviderCache {
    pub(crate) found: Option<CachedProvider>,
    /// The last discovery that failed while nothing was found for the same settings (as JSON):
    /// what went wrong, and when.
    pub(crate) failed: Option<(String, String, tokio::time::Instant)>,
}

#[derive(Clone)]
pub struct Portal {
    pub db: DatabaseConnection,
    pub config: Arc<Config>,
    /// The SAML trust parsed from the stored settings, kept until the settings change.
    pub(crate) saml_trust: Arc<std::sync::Mutex<Option<CachedTrust>>>,
    /// The OIDC provider discovered for the stored settings, kept until the settings change.
    pub(crate) oidc_provider: Arc<tokio::sync::Mutex<ProviderCache>>,
    /// The one HTTP client for the identity provider: pooled, with a timeout, no redirects.
    pub http: reqwest::Client,
    /// How often one client address may try a password; `None` when the limits are off.
    pub(crate) password_attempts: Option<crate::sso::rate_limit::SignInRateLimit>,
    /// What the OIDC client secret is sealed with in the database.
    pub secret_key: Arc<SecretKey>,
    /// The identity configuration as this server last read it: what a SAML sign-in starts
    /// from, and confirms before it stands (`Portal::identity_config_last_seen`).
    pub(crate) identity_seen: Arc<std::sync::RwLock<Option<Arc<crate::identity::IdentityConfig>>>>,
}

impl Portal {
    pub fn new(db: DatabaseConnection, config: Config, secret_key: SecretKey) -> Portal {
        let http = reqwest::Client::builder()
            .timeout(config.idp_timeout)
            .connect_timeout(config.idp_timeout)
            // The token endpoint must answer itself (RFC 6749 section 5); a redirect is refused
            // rather than followed, so a token request never travels somewhere else.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Portal/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client's settings are valid");
        Portal {
            db,
            password_attempts: crate::sso::rate_limit::SignInRateLimit::for_passwords(&config),
            config: Arc::new(config),
            saml_trust: Arc::default(),
            oidc_provider: Arc::default(),
            http,
            secret_key: Arc::new(secret_key),
            identity_seen: Arc::default(),
        }
    }

    pub fn session_policy(&self) -> SessionPolicy {
        SessionPolicy {
            idle: self.config.session_idle,
            lifetime: self.config.session_lifetime,
            secure: self.config.cookies_secure(),
        }
    }
}

/// The id that ties a request's log lines, audit events and error page together.
#[derive(Clone, Debug)]
pub struct CorrelationId(pub String);

impl CorrelationId {
    pub fn new() -> CorrelationId {
        CorrelationId(hex::encode(rand::random::<[u8; 8]>()))
    }
}

impl Default for CorrelationId {
    fn default() -> Self {
        Self::new()
    }
}
