//! The running portal's shared state: its configuration and its database.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::auth::session::SessionPolicy;
use crate::config::Config;

/// The stored SAML settings (as JSON) and the trust parsed from them.
pub(crate) type CachedTrust = (String, Arc<crate::identity::SamlTrust>);

#[derive(Clone)]
pub struct Portal {
    pub db: DatabaseConnection,
    pub config: Arc<Config>,
    /// The SAML trust parsed from the stored settings, kept until the settings change.
    pub(crate) saml_trust: Arc<std::sync::Mutex<Option<CachedTrust>>>,
}

impl Portal {
    pub fn new(db: DatabaseConnection, config: Config) -> Portal {
        Portal {
            db,
            config: Arc::new(config),
            saml_trust: Arc::default(),
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
