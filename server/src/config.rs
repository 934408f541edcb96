//! Typed, layered configuration: defaults < an optional TOML file (`--config` or
//! `PORTAL_CONFIG`) < `PORTAL_*` environment variables. Every value is checked at start-up and a
//! bad one stops Portal with a message that names its key.

use std::{fmt, net::SocketAddr, path::PathBuf, str::FromStr, time::Duration};

use figment::{
    providers::{Env, Format, Serialized, Toml},
    Figment,
};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use url::Url;

/// The portal's configuration once every value has been checked.
#[derive(Clone, Debug)]
pub struct Config {
    pub addr: SocketAddr,
    pub public_url: Url,
    pub database_url: String,
    pub release: Release,
    pub plan: Plan,
    pub admin_email: Option<String>,
    pub admin_password: Option<SecretString>,
    pub session_idle: Duration,
    pub session_lifetime: Duration,
    pub site_root: PathBuf,
    pub log_format: LogFormat,
    /// How long Portal waits for the identity provider (OIDC discovery, token, JWKS, UserInfo;
    /// SAML metadata) before giving up.
    pub idp_timeout: Duration,
    /// Sign-in requests (`/sso/*`) each client address may make per second, after a burst of
    /// `sso_rate_burst`; 0 turns the limit off.
    pub sso_rate_per_second: u32,
    pub sso_rate_burst: u32,
    /// Whether the client address is the last one in `X-Forwarded-For` (set by a load balancer
    /// in front of Portal) instead of the connection's peer.
    pub trust_forwarded_for: bool,
    /// The most time a request may take, body included, before Portal answers 408.
    pub request_timeout: Duration,
    /// The file of the key the OIDC client secret is sealed with in the database: made on first
    /// start. By default `secret.key` beside the SQLite file, or `data/secret.key`.
    pub secret_key_file: PathBuf,
}

/// The settings as read, before checking. No `Debug`: it holds the admin password in clear.
#[derive(Deserialize, Serialize)]
struct Raw {
    addr: String,
    public_url: Option<String>,
    database_url: String,
    #[serde(deserialize_with = "text_or_number")]
    release: String,
    plan: String,
    admin_email: Option<String>,
    admin_password: Option<String>,
    session_idle_minutes: u64,
    session_lifetime_hours: u64,
    site_root: String,
    log_format: String,
    idp_timeout_seconds: u64,
    sso_rate_per_second: u32,
    sso_rate_burst: u32,
    trust_forwarded_for: bool,
    request_timeout_seconds: u64,
    secret_key_file: Option<String>,
}

impl Default for Raw {
    fn default() -> Self {
        Raw {
            addr: "127.0.0.1:3000".into(),
            public_url: None,
            database_url: "sqlite://data/portal.db".into(),
            release: "1.54".into(),
            plan: "enterprise".into(),
            admin_email: None,
            admin_password: None,
            session_idle_minutes: 120,
            session_lifetime_hours: 12,
            site_root: "target/site".into(),
            log_format: "text".into(),
            idp_timeout_seconds: 10,
            sso_rate_per_second: 10,
            sso_rate_burst: 100,
            trust_forwarded_for: false,
            request_timeout_seconds: 30,
            secret_key_file: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(String);

impl ConfigError {
    fn key(key: &str, message: impl fmt::Display) -> Self {
        ConfigError(format!("{} ({key}): {message}", env_name(key)))
    }
}

fn env_name(key: &str) -> String {
    format!("PORTAL_{}", key.to_uppercase())
}

impl Config {
    /// Reads the defaults, then `file` (or `PORTAL_CONFIG`) if given, then the environment.
    pub fn load(file: Option<PathBuf>) -> Result<Config, ConfigError> {
        let file = file.or_else(|| std::env::var_os("PORTAL_CONFIG").map(PathBuf::from));
        let mut figment = Figment::from(Serialized::defaults(Raw::default()));
        if let Some(path) = &file {
            if !path.is_file() {
                return Err(ConfigError(format!(
                    "the configuration file {} does not exist",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file(path));
        }
        figment = figment.merge(Env::prefixed("PORTAL_").ignore(&[
            "config",
            "demo",
            "test_postgres_url",
        ]));
        // The environment parser reads `1.50` as the number 1.5; a release is text, so take it
        // exactly as written.
        if let Ok(release) = std::env::var("PORTAL_RELEASE") {
            figment = figment.merge(Serialized::default("release", release));
        }
        Self::from_figment(figment)
    }

    fn from_figment(figment: Figment) -> Result<Config, ConfigError> {
        let raw: Raw = figment.extract().map_err(|e| {
            let key = e.path.join(".");
            if key.is_empty() {
                ConfigError(e.to_string())
            } else {
                ConfigError::key(&key, e.kind)
            }
        })?;
        let addr: SocketAddr = raw.addr.parse().map_err(|_| {
            ConfigError::key(
                "addr",
                format!("'{}' is not an address like 127.0.0.1:3000", raw.addr),
            )
        })?;
        let public_url = match &raw.public_url {
            Some(text) => {
                let url = Url::parse(text).map_err(|e| {
                    ConfigError::key("public_url", format!("'{text}' is not a URL: {e}"))
                })?;
                if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
                    return Err(ConfigError::key(
                        "public_url",
                        "must be an http:// or https:// URL with a host",
                    ));
                }
                url
            }
            None => Url::parse(&format!("http://{addr}/")).expect("an address makes a URL"),
        };
        if !(raw.database_url.starts_with("sqlite:")
            || raw.database_url.starts_with("postgres://")
            || raw.database_url.starts_with("postgresql://"))
        {
            return Err(ConfigError::key(
                "database_url",
                "must start with sqlite:// or postgres://",
            ));
        }
        let release = raw
            .release
            .parse()
            .map_err(|e| ConfigError::key("release", e))?;
        let plan = raw.plan.parse().map_err(|e| ConfigError::key("plan", e))?;
        if raw.session_idle_minutes == 0 || raw.session_lifetime_hours == 0 {
            return Err(ConfigError::key(
                "session_idle_minutes",
                "session lengths must be above zero",
            ));
        }
        if raw.idp_timeout_seconds == 0 || raw.idp_timeout_seconds > 120 {
            return Err(ConfigError::key(
                "idp_timeout_seconds",
                "must be between 1 and 120 seconds",
            ));
        }
        if raw.sso_rate_per_second > 0 && raw.sso_rate_burst == 0 {
            return Err(ConfigError::key(
                "sso_rate_burst",
                "must be at least 1 while sso_rate_per_second is on",
            ));
        }
        if raw.request_timeout_seconds == 0 || raw.request_timeout_seconds > 600 {
            return Err(ConfigError::key(
                "request_timeout_seconds",
                "must be between 1 and 600 seconds",
            ));
        }
        let secret_key_file = match raw.secret_key_file.as_deref().map(str::trim) {
            Some("") => {
                return Err(ConfigError::key(
                    "secret_key_file",
                    "must name a file (or be left out for the default)",
                ))
            }
            Some(path) => PathBuf::from(path),
            None => crate::db::sqlite_file(&raw.database_url)
                .and_then(|db| db.parent().map(|folder| folder.join("secret.key")))
                .unwrap_or_else(|| PathBuf::from("data/secret.key")),
        };
        let log_format = match raw.log_format.as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => {
                return Err(ConfigError::key(
                    "log_format",
                    format!("'{other}' is neither text nor json"),
                ))
            }
        };
        if let Some(email) = &raw.admin_email {
            crate::domain::Email::parse(email).map_err(|e| ConfigError::key("admin_email", e))?;
        }
        if let Some(password) = &raw.admin_password {
            crate::auth::password::check_strength(password)
                .map_err(|e| ConfigError::key("admin_password", e))?;
        }
        Ok(Config {
            addr,
            public_url,
            database_url: raw.database_url,
            release,
            plan,
            admin_email: raw.admin_email,
            admin_password: raw.admin_password.map(SecretString::from),
            session_idle: Duration::from_secs(raw.session_idle_minutes * 60),
            session_lifetime: Duration::from_secs(raw.session_lifetime_hours * 3600),
            site_root: PathBuf::from(raw.site_root),
            log_format,
            idp_timeout: Duration::from_secs(raw.idp_timeout_seconds),
            sso_rate_per_second: raw.sso_rate_per_second,
            sso_rate_burst: raw.sso_rate_burst,
            trust_forwarded_for: raw.trust_forwarded_for,
            request_timeout: Duration::from_secs(raw.request_timeout_seconds),
            secret_key_file,
        })
    }

    /// A configuration for tests and tools: defaults plus the given overrides, no environment.
    pub fn with_overrides(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Raw::default()));
        for (key, value) in pairs {
            // Numbers and booleans are given as text here, as the environment gives them.
            figment = if let Ok(number) = value.parse::<u64>() {
                figment.merge(Serialized::default(key, number))
            } else if let Ok(flag) = value.parse::<bool>() {
                figment.merge(Serialized::default(key, flag))
            } else {
                figment.merge(Serialized::default(key, *value))
            };
        }
        Self::from_figment(figment)
    }

    pub fn cookies_secure(&self) -> bool {
        self.public_url.scheme() == "https"
    }

    /// Whether people reach Portal over plain http on a host other than this machine's
    /// loopback: allowed, for a first look on a trusted network, with a warning at start and on
    /// the Identity Configuration page.
    pub fn public_url_in_clear(&self) -> bool {
        self.public_url.scheme() == "http" && !crate::sso::is_loopback(&self.public_url)
    }
}

/// Accepts `release = "1.53"` and, as TOML and the environment parser produce it, `1.53`.
fn text_or_number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum TextOrNumber {
        Text(String),
        Number(f64),
    }
    Ok(match TextOrNumber::deserialize(deserializer)? {
        TextOrNumber::Text(text) => text,
        TextOrNumber::Number(number) => number.to_string(),
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The release the portal presents. From 1.54 on, OIDC is offered and the provisioning toggle
/// reads "SSO JIT"; before, SAML is the only SSO protocol and the toggle reads "SAML JIT".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Release {
    pub major: u32,
    pub minor: u32,
}

// Ordering compares (major, minor) numerically: 1.9 < 1.53 < 1.54 < 2.0.

impl Release {
    pub const SSO_JIT: Release = Release {
        major: 1,
        minor: 54,
    };

    pub fn offers_oidc(self) -> bool {
        self >= Self::SSO_JIT
    }

    pub fn jit_label(self) -> &'static str {
        if self >= Self::SSO_JIT {
            "SSO JIT"
        } else {
            "SAML JIT"
        }
    }
}

impl FromStr for Release {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || format!("'{text}' is not a release like 1.54");
        let (major, minor) = text.trim().split_once('.').ok_or_else(bad)?;
        Ok(Release {
            major: major.parse().map_err(|_| bad())?,
            minor: minor.parse().map_err(|_| bad())?,
        })
    }
}

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The licence plan; SSO JIT is an Enterprise-plan feature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    Free,
    Team,
    Enterprise,
}

impl Plan {
    pub fn includes_sso_jit(self) -> bool {
        self == Plan::Enterprise
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Free => "free",
            Plan::Team => "team",
            Plan::Enterprise => "enterprise",
        }
    }
}

impl FromStr for Plan {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "free" => Ok(Plan::Free),
            "team" => Ok(Plan::Team),
            "enterprise" => Ok(Plan::Enterprise),
            _ => Err(format!(
                "'{text}' is not a plan; use enterprise, team or free"
            )),
        }
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment's Jail closures return figment's own error type
mod tests {
    use super::*;

    #[test]
    fn defaults_serve_on_loopback_with_sqlite_and_release_1_54() {
        let config = Config::with_overrides(&[]).unwrap();
        assert_eq!(config.addr.to_string(), "127.0.0.1:3000");
        assert_eq!(config.public_url.as_str(), "http://127.0.0.1:3000/");
        assert!(config.database_url.starts_with("sqlite://"));
        assert_eq!(config.release.jit_label(), "SSO JIT");
        assert!(config.plan.includes_sso_jit());
    }

    #[test]
    fn the_secret_key_lives_beside_the_sqlite_file_unless_named() {
        let key = |pairs: &[(&str, &str)]| Config::with_overrides(pairs).map(|c| c.secret_key_file);
        assert_eq!(key(&[]).unwrap(), PathBuf::from("data/secret.key"));
        assert_eq!(
            key(&[(
                "database_url",
                "sqlite:///var/lib/portal/portal.db?mode=rwc"
            )])
            .unwrap(),
            PathBuf::from("/var/lib/portal/secret.key")
        );
        for elsewhere in [
            "postgres://postgres@127.0.0.1:5432/portal",
            "sqlite::memory:",
        ] {
            assert_eq!(
                key(&[("database_url", elsewhere)]).unwrap(),
                PathBuf::from("data/secret.key")
            );
        }
        assert_eq!(
            key(&[("secret_key_file", "/etc/portal/secret.key")]).unwrap(),
            PathBuf::from("/etc/portal/secret.key")
        );
        let error = key(&[("secret_key_file", " ")]).unwrap_err().to_string();
        assert!(error.contains("PORTAL_SECRET_KEY_FILE"), "{error}");
    }

    #[test]
    fn a_bad_value_names_its_key() {
        let error = Config::with_overrides(&[("addr", "nowhere")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("PORTAL_ADDR"), "{error}");
        let error = Config::with_overrides(&[("release", "one")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("PORTAL_RELEASE"), "{error}");
        let error = Config::with_overrides(&[("plan", "gold")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("PORTAL_PLAN"), "{error}");
        let error = Config::with_overrides(&[("database_url", "mysql://x")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("PORTAL_DATABASE_URL"), "{error}");
    }

    #[test]
    fn a_release_from_the_environment_is_read_as_written() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("PORTAL_RELEASE", "1.50");
            jail.set_env("PORTAL_ADDR", "127.0.0.1:4000");
            let config = Config::load(None).unwrap();
            assert_eq!(config.release.to_string(), "1.50");
            assert_eq!(config.addr.port(), 4000);
            jail.set_env("PORTAL_RELEASE", "1.53");
            assert_eq!(Config::load(None).unwrap().release.jit_label(), "SAML JIT");
            Ok(())
        });
    }

    #[test]
    fn a_toml_file_sits_between_defaults_and_environment() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "portal.toml",
                "release = 1.53\nplan = \"team\"\naddr = \"127.0.0.1:4100\"",
            )?;
            jail.set_env("PORTAL_ADDR", "127.0.0.1:4200");
            let config = Config::load(Some("portal.toml".into())).unwrap();
            assert_eq!(config.release.to_string(), "1.53");
            assert_eq!(config.plan, Plan::Team);
            assert_eq!(
                config.addr.port(),
                4200,
                "the environment wins over the file"
            );
            Ok(())
        });
    }

    #[test]
    fn release_1_53_is_saml_only_and_says_saml_jit() {
        let release: Release = "1.53".parse().unwrap();
        assert_eq!(release.jit_label(), "SAML JIT");
        assert!(!release.offers_oidc());
        let release: Release = "2.0".parse().unwrap();
        assert!(release.offers_oidc());
    }
}
