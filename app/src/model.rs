//! What the pages and the server exchange: plain data, no behaviour beyond wording.

use std::fmt;

use leptos::server_fn::{
    codec::PostcardEncoding,
    error::{FromServerFnError, ServerFnErrorErr},
};
use serde::{Deserialize, Serialize};

/// The signed-in person, as the pages see them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Me {
    pub id: i32,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub roles: Vec<String>,
    pub is_admin: bool,
    /// Admins and Viewers read Users, Agent Pools, Roles and the Audit Log.
    pub can_read_people: bool,
    /// The synchronizer token every form of this session must send back.
    pub csrf_token: Secret,
}

impl Me {
    pub fn display_name(&self) -> String {
        let name = format!("{} {}", self.first_name, self.last_name);
        if name.trim().is_empty() {
            self.email.clone()
        } else {
            name.trim().to_string()
        }
    }
}

/// What the frame around every signed-in page needs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShellInfo {
    pub me: Me,
    pub release: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoginPageInfo {
    /// Double-submit token for the sign-in form (there is no session yet).
    pub csrf_token: Secret,
    pub release: String,
    /// Where "Sign in with Okta" starts, when single sign-on is configured.
    pub sso_start: Option<String>,
    /// Single sign-on is the login method: the password form folds away (break-glass).
    pub sso_is_login_method: bool,
}

/// The SAML settings in force, as the page shows them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SamlView {
    pub idp_entity_id: String,
    pub idp_sso_url: String,
    pub certificates: Vec<CertificateView>,
    pub allow_idp_initiated: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CertificateView {
    pub subject: String,
    pub expires: String,
}

/// What the admin types into Okta for this portal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpView {
    pub entity_id: String,
    pub acs_url: String,
    pub name_id_format: String,
}

/// The OIDC settings in force, as the page shows them; the secret only as "set".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OidcView {
    pub discovery_url: String,
    pub client_id: String,
    pub client_secret_set: bool,
    /// Why the server cannot read the stored secret (sealed with another secret key).
    pub client_secret_problem: Option<String>,
    /// `client_secret_basic` or `client_secret_post`.
    pub token_auth_method: String,
}

/// A secret in a form (a password, a client secret, the form's CSRF token), as a server function
/// receives it, and the CSRF token a page is given to send back. Leptos derives `Debug` for each
/// server function's arguments, and the answers derive it too; this one prints no secret.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn expose(self) -> String {
        self.0
    }

    /// The text, for a form's hidden field.
    pub fn reveal(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(text: String) -> Secret {
        Secret(text)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// The OIDC form of the Single sign-on card; an empty secret keeps the stored one. Its `Debug`
/// leaves the secret out.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OidcForm {
    pub discovery_url: String,
    pub client_id: String,
    pub client_secret: String,
    pub token_auth_method: String,
}

impl std::fmt::Debug for OidcForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcForm")
            .field("discovery_url", &self.discovery_url)
            .field("client_id", &self.client_id)
            .field("token_auth_method", &self.token_auth_method)
            .finish_non_exhaustive()
    }
}

/// What the admin enters in Okta's OIDC app integration for this portal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RpView {
    pub redirect_uri: String,
    pub scopes: String,
}

/// The SAML form of the Single sign-on card: metadata (pasted or by URL) or the fields by hand.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SamlForm {
    pub metadata_xml: String,
    pub metadata_url: String,
    pub idp_entity_id: String,
    pub idp_sso_url: String,
    pub certificate: String,
    pub allow_idp_initiated: bool,
}

/// The Identity Configuration page's view of the stored configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IdentitySettings {
    pub release: String,
    /// "SSO JIT" on release 1.54 and later, "SAML JIT" before.
    pub jit_label: String,
    pub oidc_available: bool,
    pub plan: String,
    pub login_method: String,
    /// A one-line description of the identity provider in force, if any.
    pub sso_summary: Option<String>,
    /// `saml` or `oidc`, when an identity provider is configured.
    pub protocol: Option<String>,
    pub saml: Option<SamlView>,
    pub sp: SpView,
    pub oidc: Option<OidcView>,
    pub rp: RpView,
    pub provisioning_method: String,
    pub jit_enabled: bool,
    /// Why the toggle cannot be turned on now, in words for the admin.
    pub jit_unavailable_reason: Option<String>,
    pub updated_by: Option<String>,
    pub updated_at: Option<String>,
    /// The last SSO sign-in that named the person, for the Okta setup checklist.
    pub last_sso_sign_in: Option<SsoSignInView>,
    /// Portal's public URL, when people reach it over plain http beyond this machine's loopback.
    pub plain_http_public_url: Option<String>,
    pub csrf_token: Secret,
}

/// Which of the attributes Portal reads the last SSO sign-in carried (never their values).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SsoSignInView {
    pub at: String,
    /// `saml` or `oidc`.
    pub protocol: String,
    pub succeeded: bool,
    pub first_name: bool,
    pub last_name: bool,
    pub email: bool,
}

impl SsoSignInView {
    /// The attributes Portal reads that did not arrive, by the names Okta's app uses.
    pub fn missing(&self) -> Vec<&'static str> {
        let (first, last) = if self.protocol == "oidc" {
            ("given_name", "family_name")
        } else {
            ("firstName", "lastName")
        };
        [
            (self.first_name, first),
            (self.last_name, last),
            (self.email, "email"),
        ]
        .into_iter()
        .filter_map(|(present, name)| (!present).then_some(name))
        .collect()
    }
}

/// One row of the Users page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserRow {
    pub id: i32,
    pub name: String,
    pub email: String,
    /// `manual` or `sso_jit`.
    pub source: String,
    pub jit_provisioned: bool,
    pub active: bool,
    pub roles: Vec<String>,
    pub pools: Vec<String>,
    pub last_sign_in: Option<String>,
}

/// The Users page: one page of people and what the viewer may do.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UsersView {
    pub rows: Vec<UserRow>,
    pub total: u64,
    pub page: u64,
    pub per_page: u64,
    pub can_write: bool,
    /// Whether SSO JIT is the provisioning method (then people are not added by hand).
    pub jit_on: bool,
    /// Why SSO JIT, though on, creates no accounts here (a plan without it), in words for the
    /// admin.
    pub jit_idle_reason: Option<String>,
    pub jit_label: String,
    pub pools: Vec<PoolOption>,
    pub csrf_token: Secret,
}

/// Which people the Users page lists.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UsersQuery {
    pub q: String,
    pub source: String,
    pub status: String,
    pub page: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PoolOption {
    pub id: i32,
    pub name: String,
}

/// A person added by hand on the Users page.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NewPersonForm {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub roles: Vec<String>,
    pub pool: Option<i32>,
}

/// A person's page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PersonView {
    pub person: UserRow,
    /// (role, where it comes from: "direct" or "pool <name>").
    pub role_sources: Vec<(String, String)>,
    pub direct_roles: Vec<String>,
    pub memberships: Vec<PoolOption>,
    pub other_pools: Vec<PoolOption>,
    pub can_write: bool,
    pub is_self: bool,
    pub csrf_token: Secret,
    /// Who signs in to this account at the identity provider, in words; none until their
    /// first SSO sign-in, or after an admin unlinks it.
    pub sso_identity: Option<String>,
}

/// One change made on a person's page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum PersonEdit {
    Roles(Vec<String>),
    AddPool(i32),
    RemovePool(i32),
    Active(bool),
    UnlinkSsoIdentity,
    /// A new address, and whether the Okta identity is unlinked in the same change.
    Email {
        email: String,
        unlink_sso_identity: bool,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PoolRow {
    pub id: i32,
    pub name: String,
    pub is_default: bool,
    pub roles: Vec<String>,
    pub members: Vec<(i32, String)>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PoolsView {
    pub pools: Vec<PoolRow>,
    pub can_write: bool,
    pub csrf_token: Secret,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PoolDetail {
    pub pool: PoolRow,
    pub can_write: bool,
    pub csrf_token: Secret,
}

/// A pool just made, with its agent key, shown this once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CreatedPool {
    pub pool: PoolRow,
    pub agent_key: String,
}

/// One change made on a pool's page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum PoolEdit {
    Rename(String),
    Roles(Vec<String>),
    MakeDefault,
    AddMember(String),
    RemoveMember(i32),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoleRow {
    pub role: String,
    pub may: Vec<String>,
}

/// Which audit events to list.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AuditQuery {
    pub outcome: String,
    pub action: String,
    pub person: String,
    pub correlation_id: String,
    /// From this day on (`YYYY-MM-DD`, UTC), inclusive.
    pub since: String,
    /// Up to this day (`YYYY-MM-DD`, UTC), inclusive.
    pub until: String,
    pub page: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditRow {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub correlation_id: String,
    pub details: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditView {
    pub rows: Vec<AuditRow>,
    pub total: u64,
    pub page: u64,
    pub per_page: u64,
}

/// Every way a page's request can fail, each with a sentence a person can act on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum AppError {
    SignInRequired,
    SessionExpired,
    Forbidden,
    BadCredentials,
    AccountDisabled,
    CsrfRejected,
    Invalid {
        field: String,
        message: String,
    },
    Unavailable,
    Internal {
        correlation_id: String,
    },
    Transport(String),
    /// The browser could not read Portal's answer: Portal was updated since the page was
    /// opened (its answers are postcard, which names no fields), or something in between
    /// answered for it.
    Unreadable,
    /// Too many wrong passwords for one account in a row: its password sign-in is locked.
    SignInLocked {
        minutes: i64,
    },
    /// Too many password sign-ins from one address.
    TooManyAttempts {
        seconds: u64,
    },
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppError::SignInRequired => write!(f, "Sign in to continue."),
            AppError::SessionExpired => write!(f, "Your session has expired. Sign in again."),
            AppError::Forbidden => write!(
                f,
                "You need the Admin role for this. Ask an administrator of this Portal for access."
            ),
            AppError::BadCredentials => write!(f, "That email and password do not match an account."),
            AppError::AccountDisabled => {
                write!(f, "This account is deactivated. Ask an administrator to reactivate it.")
            }
            AppError::CsrfRejected => write!(
                f,
                "This form has expired or lost its security token. Reload the page and try again."
            ),
            AppError::Invalid { message, .. } => write!(f, "{message}"),
            AppError::Unavailable => {
                write!(f, "Portal cannot reach its database right now. Try again in a moment.")
            }
            AppError::Internal { correlation_id } => write!(
                f,
                "Something went wrong on our side. Give this reference to your administrator: {correlation_id}"
            ),
            AppError::Transport(message) => {
                write!(f, "Portal could not be reached ({message}). Check your connection and retry.")
            }
            AppError::Unreadable => write!(
                f,
                "This page could not read Portal's answer: Portal may have been updated since the page was opened. Reload the page and try again."
            ),
            AppError::SignInLocked { minutes } => write!(
                f,
                "Too many wrong passwords for this account: its password sign-in is locked. Try again in {minutes} minute{}.",
                if *minutes == 1 { "" } else { "s" }
            ),
            AppError::TooManyAttempts { seconds } => write!(
                f,
                "Too many sign-in attempts from your network. Try again in {seconds} second{}.",
                if *seconds == 1 { "" } else { "s" }
            ),
        }
    }
}

impl std::error::Error for AppError {}

impl FromServerFnError for AppError {
    type Encoder = PostcardEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Deserialization(_) => AppError::Unreadable,
            other => AppError::Transport(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_the_page_cannot_read_asks_for_a_reload() {
        // What the browser's decoder reports for another release's answer, or for a body that
        // is not postcard at all (a proxy's error page, a timeout's empty body).
        let garbled = ServerFnErrorErr::Deserialization("unexpected end of input".into());
        let error = AppError::from_server_fn_error(garbled);
        assert_eq!(error, AppError::Unreadable);
        assert!(error.to_string().contains("Reload the page"), "{error}");
        let offline = ServerFnErrorErr::Request("connection refused".into());
        assert_eq!(
            AppError::from_server_fn_error(offline),
            AppError::Transport(
                "error reaching server to call server function: connection refused".into()
            )
        );
    }

    #[test]
    fn answers_print_no_csrf_token() {
        let me = Me {
            id: 7,
            email: "ada@example.test".to_string(),
            first_name: "Ada".to_string(),
            last_name: "Lovelace".to_string(),
            roles: vec!["user".to_string()],
            is_admin: false,
            can_read_people: false,
            csrf_token: Secret::from("session-csrf-token".to_string()),
        };
        let shell = ShellInfo {
            me,
            release: "1.54".to_string(),
        };
        let printed = format!("{shell:?}");
        assert!(printed.contains("ada@example.test"), "{printed}");
        assert!(!printed.contains("session-csrf-token"), "{printed}");

        let login = LoginPageInfo {
            csrf_token: Secret::from("login-csrf-token".to_string()),
            release: "1.54".to_string(),
            sso_start: None,
            sso_is_login_method: false,
        };
        let printed = format!("{login:?}");
        assert!(printed.contains("1.54"), "{printed}");
        assert!(!printed.contains("login-csrf-token"), "{printed}");
        // The page still sends the token back as it was given.
        assert_eq!(login.csrf_token.reveal(), "login-csrf-token");
    }
}
