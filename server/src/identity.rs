//! The identity configuration: how people sign in, the one identity provider, and the
//! provisioning method. Every change goes through [`Portal::change_identity`], which checks the
//! whole document first and writes nothing when any part of it is refused.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::audit::{self, AuditEvent, Outcome};
use crate::auth::caller::Caller;
use crate::config::{Plan, Release};
use crate::db::entities::identity_config;
use crate::domain::{LoginMethod, ProvisioningMethod, SsoProtocol};
use crate::error::PortalError;
use crate::provisioning::Jit;
use crate::secret_key::{SecretKey, Unreadable};
use crate::state::Portal;

const ROW: i32 = 1;
/// What the OIDC client secret is sealed for, so that its sealed value opens nowhere else.
const CLIENT_SECRET_PURPOSE: &str = "identity_config.oidc.client_secret";

/// The identity configuration as `GET` and `PUT /api/v1/identity` carry it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityDocument {
    pub login_method: LoginMethod,
    #[serde(default)]
    pub sso: SsoDocument,
    pub provisioning: ProvisioningDocument,
    /// Read-only; accepted and ignored on `PUT` so that a fetched document can be sent back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(read_only)]
    pub updated_by: Option<String>,
    /// As `GET` gives it. Sent back on `PUT`, the document replaces only the configuration it
    /// was read from: one changed since is refused with 409. Left out, the document replaces
    /// whatever is in force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

/// A change to the identity configuration: `edit` makes the new document from the configuration
/// in force, and is applied again to the one the saving transaction reads.
pub struct IdentityChange<'a> {
    /// When the configuration the change was made from was saved, if the change must apply to
    /// that configuration only (a whole document sent back).
    pub read_at: Option<chrono::DateTime<Utc>>,
    pub edit: &'a (dyn Fn(&IdentityConfig) -> IdentityDocument + Sync),
}

impl<'a> IdentityChange<'a> {
    /// A change to a part of whatever configuration is in force when it is saved.
    pub fn of(edit: &'a (dyn Fn(&IdentityConfig) -> IdentityDocument + Sync)) -> Self {
        IdentityChange {
            read_at: None,
            edit,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SsoDocument {
    pub protocol: Option<SsoProtocol>,
    #[serde(default)]
    pub saml: Option<SamlSettings>,
    #[serde(default)]
    pub oidc: Option<OidcDocument>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProvisioningDocument {
    pub method: ProvisioningMethod,
}

/// SAML settings, stored as given once checked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SamlSettings {
    pub idp_entity_id: Option<String>,
    pub idp_sso_url: Option<String>,
    #[serde(default)]
    pub idp_certificates: Vec<String>,
    #[serde(default)]
    pub metadata_xml: Option<String>,
    #[serde(default)]
    pub metadata_url: Option<String>,
    #[serde(default = "yes")]
    pub allow_idp_initiated: bool,
}

/// OIDC settings as the API carries them: the secret is write-only. Its `Debug` leaves the
/// secret out.
#[derive(Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OidcDocument {
    pub discovery_url: String,
    pub client_id: String,
    /// Write-only: never returned. Omit it on `PUT` to keep the stored one.
    #[serde(default, skip_serializing_if = "always")]
    #[schema(write_only)]
    pub client_secret: Option<String>,
    /// Read-only: whether a secret is stored.
    #[serde(default)]
    #[schema(read_only)]
    pub client_secret_set: bool,
    /// Read-only: why this server cannot read the stored secret (it was sealed with another
    /// secret key); enter the secret again. Absent when it can.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(read_only)]
    pub client_secret_unreadable: Option<String>,
    #[serde(default)]
    pub token_auth_method: TokenAuthMethod,
}

impl OidcDocument {
    /// Whether saving this leaves `stored` as it is: the same provider, client and method, and
    /// no new secret.
    fn leaves_unchanged(&self, stored: &OidcSettings) -> bool {
        self.discovery_url.trim() == stored.discovery_url
            && self.client_id.trim() == stored.client_id
            && self.token_auth_method == stored.token_auth_method
            && self.client_secret.as_deref().is_none_or(str::is_empty)
    }
}

impl std::fmt::Debug for OidcDocument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcDocument")
            .field("discovery_url", &self.discovery_url)
            .field("client_id", &self.client_id)
            .field("client_secret_set", &self.client_secret_set)
            .field("token_auth_method", &self.token_auth_method)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenAuthMethod {
    #[default]
    ClientSecretBasic,
    ClientSecretPost,
}

/// OIDC settings in force, the secret opened. Its `Debug` leaves the secret out.
#[derive(Clone, PartialEq)]
pub struct OidcSettings {
    pub discovery_url: String,
    pub client_id: String,
    pub client_secret: OidcClientSecret,
    pub token_auth_method: TokenAuthMethod,
}

impl OidcSettings {
    /// Names the provider and the client an authorization code is issued for (the digest of the
    /// discovery URL and the client id): a sign-in's code goes only to the provider and client
    /// it was started with. A new secret for the same client keeps it.
    pub fn client_key(&self) -> String {
        crate::auth::digest(&format!("{}\n{}", self.discovery_url, self.client_id))
    }

    /// Tells these settings from any others, the secret included, without holding it.
    pub fn fingerprint(&self) -> String {
        let secret = match &self.client_secret {
            OidcClientSecret::Known(secret) => crate::auth::digest(secret),
            OidcClientSecret::Unreadable { sealed, .. } => sealed.clone(),
        };
        format!(
            "{}\n{}\n{:?}\n{secret}",
            self.discovery_url, self.client_id, self.token_auth_method
        )
    }

    fn from_stored(stored: StoredOidc, key: &SecretKey) -> Option<OidcSettings> {
        let clear = Some(stored.client_secret_clear).filter(|clear| !clear.is_empty());
        let client_secret = match (stored.client_secret_sealed, clear) {
            (Some(sealed), clear) => match (key.open(CLIENT_SECRET_PURPOSE, &sealed), clear) {
                (Ok(secret), _) => OidcClientSecret::Known(secret),
                // Both, by a hand's edit: the one that can be read.
                (Err(_), Some(clear)) => OidcClientSecret::Known(clear),
                (Err(why), None) => OidcClientSecret::Unreadable { sealed, why },
            },
            (None, Some(clear)) => OidcClientSecret::Known(clear),
            (None, None) => return None,
        };
        Some(OidcSettings {
            discovery_url: stored.discovery_url,
            client_id: stored.client_id,
            client_secret,
            token_auth_method: stored.token_auth_method,
        })
    }

    /// As the database keeps them: the secret sealed with `key`.
    fn to_stored(&self, key: &SecretKey) -> StoredOidc {
        StoredOidc {
            discovery_url: self.discovery_url.clone(),
            client_id: self.client_id.clone(),
            client_secret_sealed: Some(match &self.client_secret {
                OidcClientSecret::Known(secret) => key.seal(CLIENT_SECRET_PURPOSE, secret),
                OidcClientSecret::Unreadable { sealed, .. } => sealed.clone(),
            }),
            client_secret_clear: String::new(),
            token_auth_method: self.token_auth_method,
        }
    }
}

/// The OIDC client secret as this server holds it.
#[derive(Clone, PartialEq)]
pub enum OidcClientSecret {
    /// Opened with this server's key, or just entered: in memory only.
    Known(String),
    /// Sealed with a key this server does not have. Kept as stored, so that the server with
    /// the right key still reads it, until an admin enters the secret again.
    Unreadable { sealed: String, why: Unreadable },
}

impl OidcClientSecret {
    pub fn known(&self) -> Option<&str> {
        match self {
            OidcClientSecret::Known(secret) => Some(secret),
            OidcClientSecret::Unreadable { .. } => None,
        }
    }

    /// Why the stored secret cannot be used here, in words for the admin; `None` when it can.
    pub fn problem(&self) -> Option<String> {
        match self {
            OidcClientSecret::Known(_) => None,
            OidcClientSecret::Unreadable { why, .. } => Some(format!(
                "Portal cannot read the stored client secret: {why}. Give this server the secret \
                 key file the other servers of this database use, or enter the client secret \
                 again (it is then sealed with this server's key)."
            )),
        }
    }
}

/// OIDC settings as the database keeps them, in the `oidc` column.
#[derive(Serialize, Deserialize)]
struct StoredOidc {
    discovery_url: String,
    client_id: String,
    /// The secret sealed with the server's [`SecretKey`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_secret_sealed: Option<String>,
    /// The secret in clear, as releases before sealing stored it; sealed at start-up
    /// ([`client_secret_at_start`]). Written empty, so that such a release still reads the row
    /// (as one without a secret, which signs nobody in over OIDC) rather than fails on it.
    #[serde(default, rename = "client_secret")]
    client_secret_clear: String,
    token_auth_method: TokenAuthMethod,
}

impl std::fmt::Debug for OidcSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcSettings")
            .field("discovery_url", &self.discovery_url)
            .field("client_id", &self.client_id)
            .field("token_auth_method", &self.token_auth_method)
            .finish_non_exhaustive()
    }
}

fn yes() -> bool {
    true
}

/// Keeps a write-only field out of every answer; `skip_serializing` would do the same but also
/// hide the field from the OpenAPI document.
fn always<T>(_: &T) -> bool {
    true
}

/// Which save of the identity configuration a sign-in was decided on. Every save draws a new
/// one, on any replica, and so does the database for any other change of what the configuration
/// says (migrations `m20261205_000003` and `_000004`); a sign-in writes its session only while
/// the revision it was decided on is still the one stored, and is decided again under the new
/// one when not.
///
/// A revision is drawn at random rather than counted, and never compared for order: a save after
/// a database is restored from a backup gives another configuration the number that a replica's
/// copy of a later one still holds only by chance (one in 2^62).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Revision(pub i64);

impl Revision {
    /// The revision a save gives the configuration that replaces this one: from 1 to 2^62, and
    /// never this one.
    pub fn replaced(self) -> Revision {
        loop {
            let drawn = Revision(1 + (rand::random::<u64>() >> 2) as i64);
            if drawn != self {
                return drawn;
            }
        }
    }

    /// A condition that holds while this revision is the one stored: `EXISTS (SELECT 1 FROM
    /// identity_config WHERE id = 1 AND revision = ?)`.
    pub fn still_in_force(self) -> sea_orm::sea_query::Expr {
        use sea_orm::sea_query::{Expr, ExprTrait, Query};
        Expr::exists(
            Query::select()
                .expr(Expr::val(1))
                .from(identity_config::Entity)
                .and_where(Expr::col(identity_config::Column::Id).eq(ROW))
                .and_where(Expr::col(identity_config::Column::Revision).eq(self.0))
                .to_owned(),
        )
    }

    /// The revision stored now, as a scalar subquery (`(SELECT revision FROM identity_config
    /// WHERE id = 1)`): a statement that returns it beside its own answer saves the read of it.
    pub fn stored() -> sea_orm::sea_query::Expr {
        use sea_orm::sea_query::{Expr, ExprTrait, Query};
        Expr::SubQuery(
            None,
            Box::new(
                Query::select()
                    .column(identity_config::Column::Revision)
                    .from(identity_config::Entity)
                    .and_where(Expr::col(identity_config::Column::Id).eq(ROW))
                    .to_owned()
                    .into(),
            ),
        )
    }

    /// The revision stored now, as `db` (a transaction, say) sees it.
    pub async fn in_force(db: &impl ConnectionTrait) -> Result<Revision, sea_orm::DbErr> {
        use sea_orm::QuerySelect;
        identity_config::Entity::find_by_id(ROW)
            .select_only()
            .column(identity_config::Column::Revision)
            .into_tuple::<i64>()
            .one(db)
            .await?
            .map(Revision)
            .ok_or_else(|| sea_orm::DbErr::RecordNotFound("the identity configuration".into()))
    }
}

/// The stored row, decoded.
#[derive(Clone, Debug)]
pub struct IdentityConfig {
    pub login_method: LoginMethod,
    pub protocol: Option<SsoProtocol>,
    pub saml: Option<SamlSettings>,
    oidc: Option<OidcSettings>,
    pub provisioning: ProvisioningMethod,
    pub updated_by: Option<String>,
    pub updated_at: Option<chrono::DateTime<Utc>>,
    /// Which save this is (see [`Revision`]).
    pub revision: Revision,
}

impl IdentityConfig {
    fn from_row(
        row: identity_config::Model,
        key: &SecretKey,
    ) -> Result<IdentityConfig, PortalError> {
        let corrupt = |what: &str| {
            PortalError::Internal(anyhow::anyhow!(
                "the stored identity configuration has a bad {what}"
            ))
        };
        Ok(IdentityConfig {
            login_method: LoginMethod::from_stored(&row.login_method)
                .ok_or_else(|| corrupt("login method"))?,
            protocol: match row.sso_protocol.as_deref() {
                None => None,
                Some(text) => {
                    Some(SsoProtocol::from_stored(text).ok_or_else(|| corrupt("protocol"))?)
                }
            },
            saml: row
                .saml
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .map_err(|_| corrupt("SAML document"))?,
            oidc: row
                .oidc
                .as_deref()
                .map(|text| {
                    serde_json::from_str(text)
                        .ok()
                        .and_then(|stored| OidcSettings::from_stored(stored, key))
                        .ok_or_else(|| corrupt("OIDC document"))
                })
                .transpose()?,
            provisioning: ProvisioningMethod::from_stored(&row.provisioning_method)
                .ok_or_else(|| corrupt("provisioning method"))?,
            updated_by: row.updated_by_email,
            updated_at: row.updated_at,
            revision: Revision(row.revision),
        })
    }

    /// The SAML settings, when SAML is the protocol in force.
    pub fn saml(&self) -> Option<&SamlSettings> {
        self.saml
            .as_ref()
            .filter(|_| self.protocol == Some(SsoProtocol::Saml))
    }

    /// The OIDC settings, when OpenID Connect is the protocol in force.
    pub fn oidc(&self) -> Option<&OidcSettings> {
        self.oidc
            .as_ref()
            .filter(|_| self.protocol == Some(SsoProtocol::Oidc))
    }

    /// Whether OIDC is the protocol stored but `release` signs in with SAML only: settings kept
    /// from 1.54 or later, which sign nobody in here.
    pub fn oidc_stranded(&self, release: Release) -> bool {
        self.protocol == Some(SsoProtocol::Oidc) && !release.offers_oidc()
    }

    /// Whether a person unknown to Portal gets an account when they sign in: SSO JIT is the
    /// stored method and the plan includes it. After a move to a plan without it, the stored
    /// choice stays as the admin left it (the page says why it is not in force), but nobody
    /// new is let in.
    pub fn jit_in_force(&self, plan: Plan) -> bool {
        self.provisioning == ProvisioningMethod::SsoJit && plan.includes_sso_jit()
    }

    /// SSO JIT as a sign-in on `release` finds it, for [`JitProvisioner`](crate::provisioning::JitProvisioner).
    pub fn jit(&self, plan: Plan, release: Release) -> Jit {
        let stored_on = self.provisioning == ProvisioningMethod::SsoJit;
        Jit {
            in_force: self.jit_in_force(plan),
            left_on: stored_on && !plan.includes_sso_jit(),
            toggle: release.jit_label(),
        }
    }

    /// Whether an identity provider is configured (and so SSO JIT may be turned on).
    pub fn sso_configured(&self) -> bool {
        match self.protocol {
            Some(SsoProtocol::Saml) => self.saml.is_some(),
            Some(SsoProtocol::Oidc) => self.oidc.is_some(),
            None => false,
        }
    }

    pub fn document(&self) -> IdentityDocument {
        IdentityDocument {
            login_method: self.login_method,
            sso: SsoDocument {
                protocol: self.protocol,
                saml: self.saml.clone(),
                oidc: self.oidc.as_ref().map(|stored| OidcDocument {
                    discovery_url: stored.discovery_url.clone(),
                    client_id: stored.client_id.clone(),
                    client_secret: None,
                    client_secret_set: stored
                        .client_secret
                        .known()
                        .is_none_or(|secret| !secret.is_empty()),
                    client_secret_unreadable: stored.client_secret.problem(),
                    token_auth_method: stored.token_auth_method,
                }),
            },
            provisioning: ProvisioningDocument {
                method: self.provisioning,
            },
            updated_by: self.updated_by.clone(),
            updated_at: self.updated_at.map(|at| at.to_rfc3339()),
        }
    }

    /// One line for the page: which identity provider is in force.
    pub fn summary(&self) -> Option<String> {
        match (self.protocol, &self.saml, &self.oidc) {
            (Some(SsoProtocol::Saml), Some(saml), _) => Some(format!(
                "SAML 2.0 with the identity provider {}",
                saml.idp_entity_id.as_deref().unwrap_or("(from metadata)")
            )),
            (Some(SsoProtocol::Oidc), _, Some(oidc)) => Some(format!(
                "OpenID Connect with the issuer {} (client {})",
                crate::sso::oidc::provider::issuer_of(&oidc.discovery_url)
                    .map(|issuer| issuer.as_str().to_string())
                    .unwrap_or_else(|_| oidc.discovery_url.clone()),
                oidc.client_id
            )),
            _ => None,
        }
    }
}

/// Why SSO JIT cannot be turned on now, if anything stands in the way.
pub fn jit_obstacle(config: &IdentityConfig, plan: Plan, release: Release) -> Option<String> {
    if !plan.includes_sso_jit() {
        let left_on = if config.provisioning == ProvisioningMethod::SsoJit {
            " It creates no accounts here: turn it off to add people by hand."
        } else {
            ""
        };
        return Some(format!(
            "{} is part of the Enterprise plan; this portal runs on the {} plan.{left_on}",
            release.jit_label(),
            plan.as_str()
        ));
    }
    if config.oidc_stranded(release) {
        let left_on = if config.provisioning == ProvisioningMethod::SsoJit {
            " Left on, it creates no accounts until then."
        } else {
            ""
        };
        return Some(format!(
            "Release {release} signs in with SAML 2.0 only: configure SAML before turning {} on.{left_on}",
            release.jit_label()
        ));
    }
    if !config.sso_configured() {
        return Some(format!(
            "Set up single sign-on first: {} creates accounts when people sign in with the identity provider.",
            release.jit_label()
        ));
    }
    None
}

/// The checked form of a document, ready to store.
struct Accepted {
    login_method: LoginMethod,
    protocol: Option<SsoProtocol>,
    saml: Option<SamlSettings>,
    oidc: Option<OidcSettings>,
    provisioning: ProvisioningMethod,
}

/// Checks `doc` as a whole against the release, the plan and what is stored now.
fn check(
    doc: IdentityDocument,
    current: &IdentityConfig,
    release: Release,
    plan: Plan,
) -> Result<Accepted, PortalError> {
    let (saml, oidc) = match doc.sso.protocol {
        None => (None, None),
        Some(SsoProtocol::Saml) => {
            let saml = doc.sso.saml.ok_or_else(|| {
                PortalError::invalid("sso.saml", "required when sso.protocol is saml")
            })?;
            // The settings in force, sent back unchanged (turning JIT off, say), were checked
            // when they were saved: a certificate that has expired since must not stand in the
            // way of changing something else.
            if current.saml() == Some(&saml) {
                (Some(saml), None)
            } else {
                (Some(check_saml(saml, Utc::now())?), None)
            }
        }
        Some(SsoProtocol::Oidc) => {
            let oidc = doc.sso.oidc.ok_or_else(|| {
                PortalError::invalid("sso.oidc", "required when sso.protocol is oidc")
            })?;
            if release.offers_oidc() {
                (None, Some(check_oidc(oidc, current.oidc.as_ref())?))
            } else {
                // Settings kept from 1.54 or later stay stored, unchanged, while something else
                // is saved (JIT off, say); new ones cannot be made on this release.
                let kept = current
                    .oidc()
                    .filter(|stored| oidc.leaves_unchanged(stored));
                match kept {
                    Some(stored) => (None, Some(stored.clone())),
                    None => return Err(PortalError::invalid(
                        "sso.protocol",
                        format!("OpenID Connect needs release 1.54 or later; this portal presents release {release}. Use saml."),
                    )),
                }
            }
        }
    };
    // OIDC settings kept on a release without OIDC sign nobody in: what is stored may stay, but
    // nothing new may rely on them.
    let stranded = doc.sso.protocol == Some(SsoProtocol::Oidc) && !release.offers_oidc();
    let sso_configured = doc.sso.protocol.is_some() && !stranded;
    let saml_first = |what: &str| {
        format!("Release {release} signs in with SAML 2.0 only: configure SAML before {what}.")
    };
    let sso_login_left_as_is = stranded && current.login_method == LoginMethod::Sso;
    if doc.login_method == LoginMethod::Sso && !sso_configured && !sso_login_left_as_is {
        let message = if stranded {
            saml_first("making single sign-on the login method")
        } else {
            "Single sign-on cannot be the login method until an identity provider is configured in sso.".to_string()
        };
        return Err(PortalError::invalid("login_method", message));
    }
    match doc.provisioning.method {
        ProvisioningMethod::Manual => {}
        ProvisioningMethod::SsoJit => {
            let label = release.jit_label();
            let left_on = current.provisioning == ProvisioningMethod::SsoJit;
            // Only turning it on needs the plan: left on after a move to a plan without it, it
            // creates nobody (`jit_in_force`) and must not stand in the way of other changes.
            if !plan.includes_sso_jit() && !left_on {
                return Err(PortalError::invalid(
                    "provisioning.method",
                    format!(
                        "{label} is part of the Enterprise plan; this portal runs on the {} plan.",
                        plan.as_str()
                    ),
                ));
            }
            // Left on over OIDC settings this release does not sign in with, it stays stored
            // and creates nobody.
            let may_be_on = sso_configured || (stranded && left_on);
            if !may_be_on {
                let message = if stranded {
                    saml_first(&format!("turning {label} on"))
                } else {
                    format!("Set up single sign-on first: {label} creates accounts when people sign in with the identity provider.")
                };
                return Err(PortalError::invalid("provisioning.method", message));
            }
        }
        ProvisioningMethod::Scim => {
            return Err(PortalError::invalid(
                "provisioning.method",
                "SCIM provisioning is not available in this release; choose manual or sso_jit.",
            ))
        }
    }
    Ok(Accepted {
        login_method: doc.login_method,
        protocol: doc.sso.protocol,
        saml,
        oidc,
        provisioning: doc.provisioning.method,
    })
}

/// Checks SAML settings given by hand, or read from IdP metadata (pasted, or fetched from
/// `metadata_url` before this runs), and returns them in their stored form.
fn check_saml(saml: SamlSettings, now: chrono::DateTime<Utc>) -> Result<SamlSettings, PortalError> {
    // What the metadata said is refused under the field the admin filled in: its URL, or the
    // pasted XML.
    let mut from = None;
    let saml = match saml
        .metadata_xml
        .as_deref()
        .map(str::trim)
        .filter(|x| !x.is_empty())
    {
        Some(xml) => {
            from = Some(metadata_field(&saml));
            from_metadata(xml, &saml)?
        }
        None => saml,
    };
    let invalid = |field: &str, message: String| match from {
        Some(metadata) => PortalError::invalid(metadata, format!("in the metadata, {message}")),
        None => PortalError::invalid(field, message),
    };
    let entity_id = saml
        .idp_entity_id
        .as_deref()
        .map(str::trim)
        .unwrap_or_default();
    if entity_id.is_empty() {
        return Err(invalid(
            "sso.saml.idp_entity_id",
            "the IdP entity id (Issuer) is required".into(),
        ));
    }
    let sso_url = saml
        .idp_sso_url
        .as_deref()
        .map(str::trim)
        .unwrap_or_default();
    check_web_url("sso.saml.idp_sso_url", sso_url).map_err(|error| match error {
        PortalError::Invalid { field, message } => invalid(&field, message),
        other => other,
    })?;
    if saml.idp_certificates.is_empty() || saml.idp_certificates.len() > 2 {
        return Err(invalid(
            "sso.saml.idp_certificates",
            "give one signing certificate, or two during a rollover, in PEM form".into(),
        ));
    }
    for (index, text) in saml.idp_certificates.iter().enumerate() {
        let field = format!("sso.saml.idp_certificates[{index}]");
        let info = certificate_info(text).map_err(|message| invalid(&field, message))?;
        if info.expires_at <= now {
            return Err(invalid(
                &field,
                format!(
                    "the certificate {} expired on {}; download the current one from Okta",
                    info.subject,
                    info.expires_at.format("%Y-%m-%d")
                ),
            ));
        }
    }
    Ok(SamlSettings {
        idp_entity_id: Some(entity_id.to_string()),
        idp_sso_url: Some(sso_url.to_string()),
        idp_certificates: saml
            .idp_certificates
            .iter()
            .map(|c| c.trim().to_string())
            .collect(),
        // Metadata is read once, on save; what is stored (and served by GET) is what it said.
        metadata_xml: None,
        metadata_url: None,
        allow_idp_initiated: saml.allow_idp_initiated,
    })
}

/// The field that took the metadata: its URL, or the pasted XML.
fn metadata_field(given: &SamlSettings) -> &'static str {
    if given.metadata_url.is_some() {
        "sso.saml.metadata_url"
    } else {
        "sso.saml.metadata_xml"
    }
}

/// Reads the entity id, the HTTP-Redirect SSO URL and the signing certificates from IdP
/// metadata, as Okta's "Identity Provider metadata" link serves it.
fn from_metadata(xml: &str, given: &SamlSettings) -> Result<SamlSettings, PortalError> {
    let field = metadata_field(given);
    let upper = xml.to_ascii_uppercase();
    if upper.contains("<!DOCTYPE") || upper.contains("<!ENTITY") {
        return Err(PortalError::invalid(
            field,
            "metadata with a DOCTYPE or entity declaration is not accepted",
        ));
    }
    let descriptor: samael::metadata::EntityDescriptor = xml.parse().map_err(|e| {
        PortalError::invalid(
            field,
            format!("the IdP metadata does not parse as SAML metadata: {e}"),
        )
    })?;
    let idp = descriptor
        .idp_sso_descriptors
        .as_ref()
        .and_then(|d| d.first())
        .ok_or_else(|| {
            PortalError::invalid(
                field,
                "the metadata describes no identity provider (IDPSSODescriptor)",
            )
        })?;
    let sso_url = idp
        .single_sign_on_services
        .iter()
        .find(|s| s.binding == samael::metadata::HTTP_REDIRECT_BINDING)
        .or_else(|| idp.single_sign_on_services.first())
        .map(|s| s.location.clone())
        .ok_or_else(|| PortalError::invalid(field, "the metadata names no single sign-on URL"))?;
    let signing = idp
        .key_descriptors
        .iter()
        .filter(|k| k.key_use.as_deref() != Some("encryption"));
    let certificates: Vec<String> = signing
        .filter_map(|k| k.key_info.x509_data.as_ref())
        .flat_map(|d| d.certificates.iter())
        .map(|b64| {
            let compact: String = b64.chars().filter(|c| !c.is_whitespace()).collect();
            let lines: Vec<String> = compact
                .as_bytes()
                .chunks(64)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect();
            format!(
                "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----",
                lines.join("\n")
            )
        })
        .collect();
    if certificates.is_empty() {
        return Err(PortalError::invalid(
            field,
            "the metadata carries no signing certificate",
        ));
    }
    Ok(SamlSettings {
        idp_entity_id: descriptor.entity_id.clone(),
        idp_sso_url: Some(sso_url),
        idp_certificates: certificates.into_iter().take(2).collect(),
        metadata_xml: None,
        metadata_url: given.metadata_url.clone(),
        allow_idp_initiated: given.allow_idp_initiated,
    })
}

/// The SAML and the OIDC settings of one identity configuration.
type SsoSettings<'a> = (Option<&'a SamlSettings>, Option<&'a OidcSettings>);
/// A setting by its name in the audit log, and how to read it from the settings `S`.
type Setting<S> = (&'static str, fn(&S) -> serde_json::Value);

/// What a save changed of the single sign-on settings, for the audit log: each value that
/// changed as `[before, after]`, the IdP certificates by their SHA-256 fingerprints, and of the
/// client secret only that it changed. Who may sign in as whom rests on these, so a change to
/// any of them is on record, not only the protocol it belongs to.
fn sso_changes(
    (saml_before, oidc_before): SsoSettings,
    (saml_after, oidc_after): SsoSettings,
) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::{json, Value};
    let mut changes = serde_json::Map::new();
    let mut note = |name: &str, was: Value, now: Value| {
        if was != now {
            changes.insert(name.to_string(), json!([was, now]));
        }
    };
    let saml_fields: [Setting<SamlSettings>; 5] = [
        ("saml.idp_entity_id", |s| json!(s.idp_entity_id)),
        ("saml.idp_sso_url", |s| json!(s.idp_sso_url)),
        ("saml.metadata_url", |s| json!(s.metadata_url)),
        ("saml.allow_idp_initiated", |s| json!(s.allow_idp_initiated)),
        ("saml.idp_certificates", |s| {
            let fingerprint =
                |pem: &String| certificate_fingerprint(pem).unwrap_or_else(|| "unreadable".into());
            json!(s
                .idp_certificates
                .iter()
                .map(fingerprint)
                .collect::<Vec<_>>())
        }),
    ];
    for (name, read) in saml_fields {
        note(
            name,
            saml_before.map_or(Value::Null, read),
            saml_after.map_or(Value::Null, read),
        );
    }
    let oidc_fields: [Setting<OidcSettings>; 3] = [
        ("oidc.discovery_url", |o| json!(o.discovery_url)),
        ("oidc.client_id", |o| json!(o.client_id)),
        ("oidc.token_auth_method", |o| json!(o.token_auth_method)),
    ];
    for (name, read) in oidc_fields {
        note(
            name,
            oidc_before.map_or(Value::Null, read),
            oidc_after.map_or(Value::Null, read),
        );
    }
    if oidc_before.map(|o| &o.client_secret) != oidc_after.map(|o| &o.client_secret) {
        changes.insert("oidc.client_secret".into(), json!("changed"));
    }
    changes
}

/// The SHA-256 fingerprint of a PEM certificate, as Okta shows it: hex pairs joined by colons.
fn certificate_fingerprint(pem_text: &str) -> Option<String> {
    let cert = openssl::x509::X509::from_pem(pem_text.trim().as_bytes()).ok()?;
    let digest = cert.digest(openssl::hash::MessageDigest::sha256()).ok()?;
    Some(
        digest
            .iter()
            .map(|byte| format!("{byte:02X}"))
            .collect::<Vec<_>>()
            .join(":"),
    )
}

/// What the page shows of an IdP certificate.
#[derive(Clone, Debug, PartialEq)]
pub struct CertificateInfo {
    pub subject: String,
    pub expires_at: chrono::DateTime<Utc>,
}

pub fn certificate_info(pem_text: &str) -> Result<CertificateInfo, String> {
    let cert = openssl::x509::X509::from_pem(pem_text.trim().as_bytes())
        .map_err(|_| "is not a PEM certificate (-----BEGIN CERTIFICATE-----)".to_string())?;
    let subject = cert
        .subject_name()
        .entries()
        .map(|entry| {
            let key = entry.object().nid().short_name().unwrap_or("?");
            let value = String::from_utf8_lossy(entry.data().as_slice()).into_owned();
            format!("{key}={value}")
        })
        .collect::<Vec<_>>()
        .join(", ");
    let epoch = openssl::asn1::Asn1Time::from_unix(0).map_err(|e| e.to_string())?;
    let diff = epoch.diff(cert.not_after()).map_err(|e| e.to_string())?;
    let seconds = i64::from(diff.days) * 86_400 + i64::from(diff.secs);
    let expires_at = chrono::DateTime::from_timestamp(seconds, 0)
        .ok_or("the certificate's expiry is out of range")?;
    Ok(CertificateInfo {
        subject,
        expires_at,
    })
}

/// Fills in the SAML metadata that `doc` names by URL only, fetched now.
async fn fetch_missing_metadata(
    http: &reqwest::Client,
    doc: &mut IdentityDocument,
) -> Result<(), PortalError> {
    let Some(saml) = doc
        .sso
        .saml
        .as_mut()
        .filter(|_| doc.sso.protocol == Some(SsoProtocol::Saml))
    else {
        return Ok(());
    };
    let pasted = saml
        .metadata_xml
        .as_deref()
        .is_some_and(|x| !x.trim().is_empty());
    match saml.metadata_url.clone().filter(|u| !u.trim().is_empty()) {
        Some(url) if !pasted => saml.metadata_xml = Some(fetch_metadata(http, url.trim()).await?),
        Some(_) => {}
        None => saml.metadata_url = None,
    }
    Ok(())
}

/// Fetches IdP metadata once, on save, with a timeout and a size cap.
async fn fetch_metadata(client: &reqwest::Client, url: &str) -> Result<String, PortalError> {
    let field = "sso.saml.metadata_url";
    check_web_url(field, url)?;
    // The metadata carries the certificates every response is checked with: over plain http
    // anyone on the way could put theirs in.
    let parsed = Url::parse(url).map_err(|e| PortalError::invalid(field, e.to_string()))?;
    crate::sso::check_transport(&parsed).map_err(|message| PortalError::invalid(field, message))?;
    let mut response = client.get(url).send().await.map_err(|e| {
        let why = crate::sso::describe(&e);
        PortalError::invalid(field, format!("the metadata could not be fetched: {why}"))
    })?;
    if !response.status().is_success() {
        return Err(PortalError::invalid(
            field,
            format!("fetching the metadata answered {}", response.status()),
        ));
    }
    let body = crate::sso::read_bounded(&mut response)
        .await
        .map_err(|e| PortalError::invalid(field, format!("the metadata could not be read: {e}")))?
        .ok_or_else(|| PortalError::invalid(field, "the metadata is larger than 1 MiB"))?;
    Ok(String::from_utf8_lossy(&body).into_owned())
}

fn check_oidc(
    oidc: OidcDocument,
    stored: Option<&OidcSettings>,
) -> Result<OidcSettings, PortalError> {
    check_web_url("sso.oidc.discovery_url", oidc.discovery_url.trim())?;
    crate::sso::oidc::provider::issuer_of(&oidc.discovery_url)
        .map_err(|message| PortalError::invalid("sso.oidc.discovery_url", message))?;
    let client_id = oidc.client_id.trim();
    if client_id.is_empty() {
        return Err(PortalError::invalid(
            "sso.oidc.client_id",
            "the client id from Okta is required",
        ));
    }
    // A stored secret is kept only for the same provider: it is never sent to a new one.
    let client_secret = match oidc.client_secret.filter(|s| !s.is_empty()) {
        Some(secret) => OidcClientSecret::Known(secret),
        None => match stored {
            Some(stored) if stored.discovery_url == oidc.discovery_url.trim() => {
                stored.client_secret.clone()
            }
            Some(_) => {
                return Err(PortalError::invalid(
                    "sso.oidc.client_secret",
                    "the discovery URL changed: enter the client secret again",
                ))
            }
            None => {
                return Err(PortalError::invalid(
                    "sso.oidc.client_secret",
                    "the client secret from Okta is required",
                ))
            }
        },
    };
    Ok(OidcSettings {
        discovery_url: oidc.discovery_url.trim().to_string(),
        client_id: client_id.to_string(),
        client_secret,
        token_auth_method: oidc.token_auth_method,
    })
}

fn check_web_url(field: &str, text: &str) -> Result<(), PortalError> {
    match Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "https" | "http") && url.host().is_some() => Ok(()),
        _ => Err(PortalError::invalid(
            field,
            format!("'{text}' is not an http(s) URL"),
        )),
    }
}

/// The SAML settings in force, parsed once per change: what a response is checked against.
pub struct SamlTrust {
    pub idp_entity_id: String,
    pub idp_sso_url: String,
    pub certificates: Vec<samael::crypto::CertificateDer>,
    pub allow_idp_initiated: bool,
}

impl SamlTrust {
    fn parse(saml: &SamlSettings) -> Result<SamlTrust, PortalError> {
        let certificates = saml
            .idp_certificates
            .iter()
            .map(|pem| {
                openssl::x509::X509::from_pem(pem.as_bytes())
                    .and_then(|cert| cert.to_der())
                    .map(samael::crypto::CertificateDer::from)
                    .map_err(|e| {
                        PortalError::Internal(anyhow::anyhow!(
                            "a stored IdP certificate does not parse: {e}"
                        ))
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SamlTrust {
            idp_entity_id: saml.idp_entity_id.clone().unwrap_or_default(),
            idp_sso_url: saml.idp_sso_url.clone().unwrap_or_default(),
            certificates,
            allow_idp_initiated: saml.allow_idp_initiated,
        })
    }
}

impl Portal {
    /// The SAML trust for `config`, or `None` when SAML is not the protocol in force.
    pub fn saml_trust(
        &self,
        config: &IdentityConfig,
    ) -> Result<Option<std::sync::Arc<SamlTrust>>, PortalError> {
        let (Some(SsoProtocol::Saml), Some(saml)) = (config.protocol, &config.saml) else {
            return Ok(None);
        };
        let mut cache = self
            .saml_trust
            .lock()
            .expect("the SAML trust cache is never poisoned");
        if let Some((parsed_from, trust)) = cache.as_ref() {
            if parsed_from == saml {
                return Ok(Some(trust.clone()));
            }
        }
        let trust = std::sync::Arc::new(SamlTrust::parse(saml)?);
        *cache = Some((saml.clone(), trust.clone()));
        Ok(Some(trust))
    }

    /// The identity configuration stored now, also kept as the last seen.
    pub async fn identity_config(&self) -> Result<IdentityConfig, PortalError> {
        Ok(IdentityConfig::clone(&*self.identity_config_now().await?))
    }

    /// [`Portal::identity_config`], shared with the copy kept as the last seen.
    pub async fn identity_config_now(&self) -> Result<std::sync::Arc<IdentityConfig>, PortalError> {
        let config = std::sync::Arc::new(load(&self.db, &self.secret_key).await?);
        self.saw_identity(config.clone());
        Ok(config)
    }

    /// The identity configuration as this server last saw it, read if it has seen none: a
    /// revision that may have been replaced since, on another replica too. For a sign-in that
    /// stands only on that revision: it writes its session under
    /// [`Revision::still_in_force`], and checks the revision before it stands by a refusal.
    pub async fn identity_config_last_seen(
        &self,
    ) -> Result<std::sync::Arc<IdentityConfig>, PortalError> {
        let seen = self
            .identity_seen
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        match seen {
            Some(config) => Ok(config),
            None => self.identity_config_now().await,
        }
    }

    /// Keeps `config` as the last seen. A read that overtook a later one may leave an earlier
    /// revision kept, which costs the next SAML sign-in one more decision, and no more: a
    /// revision is not compared for order, so a database restored to an earlier one is taken
    /// as it is (see [`Revision`]).
    fn saw_identity(&self, config: std::sync::Arc<IdentityConfig>) {
        *self
            .identity_seen
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(config);
    }

    /// Replaces the whole identity configuration, or changes nothing and says why. A document
    /// that carries `updated_at` (as `GET` gave it) replaces only the configuration it was read
    /// from: one changed since is refused, rather than silently undone.
    pub async fn replace_identity(
        &self,
        caller: &Caller,
        doc: IdentityDocument,
        correlation_id: &str,
    ) -> Result<IdentityConfig, PortalError> {
        let read_at = doc
            .updated_at
            .as_deref()
            .map(|text| {
                chrono::DateTime::parse_from_rfc3339(text)
                    .map(|at| at.with_timezone(&Utc))
                    .map_err(|_| {
                        PortalError::invalid(
                            "updated_at",
                            "not a time as GET /api/v1/identity gives it; send that back, or leave it out",
                        )
                    })
            })
            .transpose();
        let outcome = match read_at {
            Ok(read_at) => {
                let change = IdentityChange {
                    read_at,
                    edit: &|_| doc.clone(),
                };
                self.try_change_identity(caller, change, correlation_id)
                    .await
            }
            Err(refused) => Err(refused),
        };
        self.audit_refusal(caller, outcome, correlation_id).await
    }

    /// Applies `change` to the identity configuration as its transaction reads it, so that a
    /// change made meanwhile by another admin to another part stays; or changes nothing and says
    /// why. A refusal is recorded in the audit log with the field it names.
    #[tracing::instrument(skip_all, fields(actor = caller.user.id))]
    pub async fn change_identity(
        &self,
        caller: &Caller,
        change: IdentityChange<'_>,
        correlation_id: &str,
    ) -> Result<IdentityConfig, PortalError> {
        let outcome = self
            .try_change_identity(caller, change, correlation_id)
            .await;
        self.audit_refusal(caller, outcome, correlation_id).await
    }

    /// Records in the audit log a change refused for a field, with the field it names.
    async fn audit_refusal(
        &self,
        caller: &Caller,
        outcome: Result<IdentityConfig, PortalError>,
        correlation_id: &str,
    ) -> Result<IdentityConfig, PortalError> {
        if let Err(PortalError::Invalid { field, message }) = &outcome {
            audit::record(
                &self.db,
                AuditEvent {
                    actor_id: Some(caller.user.id),
                    actor: &caller.label(),
                    action: "identity_config.update",
                    target: "identity configuration",
                    outcome: Outcome::Failure,
                    details: serde_json::json!({ "field": field, "reason": message }),
                    correlation_id,
                },
            )
            .await?;
        }
        outcome
    }

    async fn try_change_identity(
        &self,
        caller: &Caller,
        change: IdentityChange<'_>,
        correlation_id: &str,
    ) -> Result<IdentityConfig, PortalError> {
        // The providers are asked before anything is written, and outside the transaction: the
        // SAML metadata fetched, new OIDC settings discovered.
        let release = self.config.release;
        let plan = self.config.plan;
        let in_force = load(&self.db, &self.secret_key).await?;
        let asked = (change.edit)(&in_force);
        let mut first = asked.clone();
        fetch_missing_metadata(&self.http, &mut first).await?;
        let first_look = check(first.clone(), &in_force, release, plan)?;
        // Only new OIDC settings are checked with the provider: turning JIT off, say, must not
        // depend on Okta answering.
        let changed_oidc = first_look
            .oidc
            .as_ref()
            .filter(|oidc| in_force.oidc() != Some(*oidc));
        let discovered = match changed_oidc {
            Some(oidc) => Some(
                crate::sso::oidc::provider::discover(&oidc.discovery_url, &self.http)
                    .await
                    .map_err(|message| PortalError::invalid("sso.oidc.discovery_url", message))?,
            ),
            None => None,
        };

        let txn = crate::db::begin_write(&self.db).await?;
        // On PostgreSQL, a second save waits here for the first to commit, then reads what it
        // wrote (SQLite's writers queue at BEGIN already).
        identity_config::Entity::update_many()
            .col_expr(
                identity_config::Column::Id,
                sea_orm::sea_query::Expr::col(identity_config::Column::Id),
            )
            .filter(identity_config::Column::Id.eq(ROW))
            .exec(&txn)
            .await?;
        let current = load(&txn, &self.secret_key).await?;
        if let Some(read_at) = change.read_at.filter(|at| Some(*at) != current.updated_at) {
            return Err(PortalError::Conflict(format!(
                "the identity configuration was changed{}{} since this document was read ({read_at}): GET it again and make your change to that",
                current.updated_by.as_deref().map(|who| format!(" by {who}")).unwrap_or_default(),
                current.updated_at.map(|at| format!(" at {at}")).unwrap_or_default(),
            )));
        }
        let mut doc = (change.edit)(&current);
        if doc.sso.saml == asked.sso.saml {
            doc.sso.saml = first.sso.saml;
        }
        let accepted = check(doc, &current, release, plan)?;
        // What this save asked the providers about must be what it stores.
        let unasked_oidc = accepted.oidc != current.oidc && accepted.oidc != first_look.oidc;
        let unfetched_saml = accepted.saml != current.saml && accepted.saml != first_look.saml;
        if unasked_oidc || unfetched_saml {
            return Err(PortalError::Conflict(
                "another administrator changed the single sign-on settings while these were being saved: reload the page and save again".into(),
            ));
        }
        let before = (current.login_method, current.protocol, current.provisioning);
        let sso_changes = sso_changes(
            (current.saml.as_ref(), current.oidc.as_ref()),
            (accepted.saml.as_ref(), accepted.oidc.as_ref()),
        );
        identity_config::ActiveModel {
            id: Set(ROW),
            login_method: Set(accepted.login_method.as_str().to_string()),
            sso_protocol: Set(accepted.protocol.map(|p| p.as_str().to_string())),
            saml: Set(accepted
                .saml
                .as_ref()
                .map(|s| serde_json::to_string(s).expect("settings serialise"))),
            oidc: Set(accepted.oidc.as_ref().map(|s| {
                serde_json::to_string(&s.to_stored(&self.secret_key)).expect("settings serialise")
            })),
            provisioning_method: Set(accepted.provisioning.as_str().to_string()),
            updated_by: Set(Some(caller.user.id)),
            updated_by_email: Set(Some(caller.user.email.clone())),
            updated_at: Set(Some(Utc::now())),
            revision: Set(current.revision.replaced().0),
        }
        .update(&txn)
        .await?;
        audit::record_change(
            &txn,
            caller,
            "identity_config.update",
            "identity configuration",
            serde_json::json!({
                "login_method": [before.0.as_str(), accepted.login_method.as_str()],
                "sso_protocol": [before.1.map(|p| p.as_str()), accepted.protocol.map(|p| p.as_str())],
                "provisioning_method": [before.2.as_str(), accepted.provisioning.as_str()],
                "sso_settings_changed": sso_changes,
            }),
            correlation_id,
        )
        .await?;
        let stored = load(&txn, &self.secret_key).await?;
        txn.commit().await?;
        if let (Some(metadata), Some(settings)) = (discovered, stored.oidc()) {
            if first_look.oidc.as_ref() == Some(settings) {
                self.install_oidc_provider(settings, metadata);
            }
        }
        self.saw_identity(std::sync::Arc::new(stored.clone()));
        Ok(stored)
    }

    /// The Provisioning toggle: SSO JIT on or off, everything else as stored.
    pub async fn set_sso_jit(
        &self,
        caller: &Caller,
        enabled: bool,
        correlation_id: &str,
    ) -> Result<IdentityConfig, PortalError> {
        let edit = |current: &IdentityConfig| {
            let mut doc = current.document();
            doc.provisioning.method = if enabled {
                ProvisioningMethod::SsoJit
            } else {
                ProvisioningMethod::Manual
            };
            doc
        };
        self.change_identity(caller, IdentityChange::of(&edit), correlation_id)
            .await
    }
}

/// What `PUT /api/v1/identity` decides about `body` before it asks any provider or writes,
/// against a portal with nothing configured yet: the fuzzing entry for the identity document.
pub fn check_offline(body: &[u8], release: Release, plan: Plan) -> Result<(), PortalError> {
    let doc: IdentityDocument = crate::api::parse_json(body)?;
    let nothing_yet = IdentityConfig {
        login_method: LoginMethod::Password,
        protocol: None,
        saml: None,
        oidc: None,
        provisioning: ProvisioningMethod::Manual,
        updated_by: None,
        updated_at: None,
        revision: Revision(0),
    };
    check(doc, &nothing_yet, release, plan).map(|_| ())
}

async fn load(db: &impl ConnectionTrait, key: &SecretKey) -> Result<IdentityConfig, PortalError> {
    let row = identity_config::Entity::find_by_id(ROW)
        .one(db)
        .await?
        .ok_or_else(|| {
            PortalError::Internal(anyhow::anyhow!("the identity configuration row is missing"))
        })?;
    IdentityConfig::from_row(row, key)
}

/// The stored OIDC client secret as a server finds it at start-up.
#[derive(Debug, PartialEq)]
pub enum ClientSecretAtStart {
    /// None stored, or one this server reads.
    Fine,
    /// Stored in clear by an earlier release, and sealed now.
    SealedNow,
    /// Sealed with a key this server does not have.
    Unreadable(Unreadable),
}

/// Seals an OIDC client secret that an earlier release stored in clear, and says whether this
/// server can read the one stored. Sealing changes nothing else in the row, `updated_at`
/// included: it is not an admin's change. (The database counts it as a new revision all the
/// same, which costs a sign-in decided on the one before one more decision.)
pub async fn client_secret_at_start(
    db: &impl ConnectionTrait,
    key: &SecretKey,
) -> Result<ClientSecretAtStart, sea_orm::DbErr> {
    let stored = identity_config::Entity::find_by_id(ROW)
        .one(db)
        .await?
        .and_then(|row| row.oidc)
        .and_then(|text| serde_json::from_str::<StoredOidc>(&text).ok());
    let Some(stored) = stored else {
        return Ok(ClientSecretAtStart::Fine);
    };
    let in_clear = !stored.client_secret_clear.is_empty();
    let Some(settings) = OidcSettings::from_stored(stored, key) else {
        return Ok(ClientSecretAtStart::Fine);
    };
    if let OidcClientSecret::Unreadable { why, .. } = settings.client_secret {
        return Ok(ClientSecretAtStart::Unreadable(why));
    }
    if !in_clear {
        return Ok(ClientSecretAtStart::Fine);
    }
    let sealed = serde_json::to_string(&settings.to_stored(key)).expect("settings serialise");
    identity_config::Entity::update_many()
        .col_expr(
            identity_config::Column::Oidc,
            sea_orm::sea_query::Expr::value(sealed),
        )
        .filter(identity_config::Column::Id.eq(ROW))
        .exec(db)
        .await?;
    Ok(ClientSecretAtStart::SealedNow)
}
