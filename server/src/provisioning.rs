//! What happens when a person arrives from the identity provider: the one place that decides
//! whether they sign in to an existing account, are linked to one by email, get a new
//! just-in-time account (SSO JIT), or are refused. SAML and OIDC both call
//! [`JitProvisioner::admit`]; only their protocol adapters differ.

use chrono::Utc;
use sea_orm::{
    sea_query::{Expr, InsertStatement, Query},
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryTrait,
    TryIntoModel,
};

use crate::db::batch::Batch;
use crate::db::entities::{agent_pool, pool_member, role, user, user_role};
use crate::domain::{AccountSource, Email, Role, SsoProtocol};

/// A person as the identity provider vouches for them.
#[derive(Clone, Debug)]
pub struct ExternalIdentity {
    pub protocol: SsoProtocol,
    /// Which identity provider: `saml:<entity id>` or `oidc:<issuer>`.
    pub provider: String,
    /// The provider's immutable id for the person (SAML NameID, OIDC `sub`).
    pub subject: String,
    /// Whether the subject is an email address (SAML's emailAddress NameID), which matches
    /// whatever the case of its ASCII letters, as addresses do here: an Okta admin who changes
    /// only the case of someone's address does not lock them out of their account.
    pub subject_is_an_address: bool,
    pub email: Option<Email>,
    /// What the provider sent as the email when none of it is an address (cut to 254
    /// characters), so that the refusal says so rather than that nothing came.
    pub unusable_email: Option<String>,
    /// What the provider says of the email: `Some(true)`, that it is this person's (linking an
    /// existing account by it, or taking it as a new address, needs that); `Some(false)`, that it
    /// is not confirmed (no account is made under it); `None`, nothing (OIDC without the claim).
    pub email_verified: Option<bool>,
    pub first_name: String,
    pub last_name: String,
    /// The latest the provider lets the session of this sign-in last (SAML's
    /// SessionNotOnOrAfter, with the clock skew allowed), when it says: the session Portal
    /// starts ends then, if not before.
    pub session_ends_by: Option<chrono::DateTime<chrono::Utc>>,
}

/// What to report as the email sent when `parsed` is none: `sent`, cut to 254 characters.
pub fn unusable_email(parsed: Option<&Email>, sent: Option<&str>) -> Option<String> {
    match (parsed, sent) {
        (None, Some(text)) if !text.trim().is_empty() => Some(text.chars().take(254).collect()),
        _ => None,
    }
}

impl ExternalIdentity {
    /// Which of the attributes Portal reads the provider sent: their names, never their values,
    /// so that the audit log can show whether Okta's attribute statements are in place.
    pub fn attributes_received(&self) -> Vec<&'static str> {
        [
            ("firstName", !self.first_name.is_empty()),
            ("lastName", !self.last_name.is_empty()),
            ("email", self.email.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, present)| present.then_some(name))
        .collect()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Admission {
    /// A known person signed in.
    SignedIn(user::Model),
    /// An existing account was bound to this identity by its email.
    Linked(user::Model),
    /// An account bound to an identity provider no longer in force was bound to this one by
    /// its email: the same people after a move from SAML to OIDC, or to a new Okta app.
    Moved {
        account: user::Model,
        from_provider: String,
    },
    /// A new account was created just in time.
    Created(user::Model),
}

impl Admission {
    pub fn account(&self) -> &user::Model {
        match self {
            Admission::SignedIn(a) | Admission::Linked(a) | Admission::Created(a) => a,
            Admission::Moved { account, .. } => account,
        }
    }

    /// The identity provider the account was bound to before this sign-in moved it.
    pub fn moved_from(&self) -> Option<&str> {
        match self {
            Admission::Moved { from_provider, .. } => Some(from_provider),
            _ => None,
        }
    }

    pub fn action(&self) -> &'static str {
        match self {
            Admission::SignedIn(_) => "sign_in.sso",
            Admission::Linked(_) | Admission::Moved { .. } => "account.linked",
            Admission::Created(_) => "account.jit_created",
        }
    }
}

/// Why a person was not let in, in words the error page and the audit log use.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Refusal {
    #[error("the identity provider sent no email address ({})", match .0 {
        SsoProtocol::Saml => "attribute 'email' or an email NameID",
        SsoProtocol::Oidc => "claim 'email', which the scope 'email' asks for",
    })]
    NoEmail(SsoProtocol),
    #[error("the identity provider sent '{0}' as the email, which is not an email address")]
    NotAnEmail(String),
    #[error("the account for {0} is deactivated")]
    Inactive(String),
    #[error("the account for {0} is already bound to another identity at the identity provider")]
    IdentityConflict(String),
    #[error("the email {0} is not verified by the identity provider, so it cannot be linked to the existing account")]
    EmailNotVerified(String),
    #[error("the email {0} is not verified by the identity provider, so no account is made")]
    NewEmailNotVerified(String),
    #[error("the account for {0} signs in with its own password, and Portal binds no such account to an identity provider by its email")]
    LocalPassword(String),
    #[error("{email} has no Portal account, and {}", match jit.left_on {
        true => format!("{}, left on, creates none on this plan", jit.toggle),
        false => format!("{} is off", jit.toggle),
    })]
    NoAccount { email: String, jit: Jit },
}

impl Refusal {
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::NoEmail(_) => "no_email",
            Refusal::NotAnEmail(_) => "not_an_email",
            Refusal::Inactive(_) => "inactive",
            Refusal::IdentityConflict(_) => "identity_conflict",
            Refusal::EmailNotVerified(_) | Refusal::NewEmailNotVerified(_) => "email_not_verified",
            Refusal::LocalPassword(_) => "local_password_account",
            Refusal::NoAccount { .. } => "no_account",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AdmitError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The identity configuration the sign-in was decided on was replaced before it was
    /// written (an admin's save, on any replica): nothing was written, and the sign-in is to be
    /// decided again under the configuration in force.
    #[error("the identity configuration was changed while the sign-in was decided")]
    Overtaken,
    #[error(transparent)]
    Database(#[from] DbErr),
}

/// SSO JIT as a sign-in finds it: whether it creates an account for a person unknown to Portal,
/// and, when it does not, what a refusal tells them to ask an administrator for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Jit {
    /// SSO JIT is the provisioning method and the plan includes it.
    pub in_force: bool,
    /// SSO JIT is the stored method but the plan does not include it: turning it on again would
    /// change nothing, and an administrator adds people by hand after turning it off.
    pub left_on: bool,
    /// The toggle's name on this release: "SSO JIT", or "SAML JIT" before 1.54.
    pub toggle: &'static str,
}

pub struct JitProvisioner {
    pub jit: Jit,
}

impl JitProvisioner {
    /// Admits `who`, inside the caller's transaction; nothing is written when it refuses.
    ///
    /// It reads the accounts, and creates a new one, at once; the rest of what it writes (the
    /// account's changes, a new account's pool and role) it adds to `writes`, which the caller
    /// runs with its own writes in one round trip.
    pub async fn admit(
        &self,
        db: &impl ConnectionTrait,
        who: &ExternalIdentity,
        writes: &mut Batch,
    ) -> Result<Admission, AdmitError> {
        let now = Utc::now();
        // One statement reads both candidates, so they come from one snapshot: under READ
        // COMMITTED, two lookups could straddle another replica's commit of this very person
        // and mistake them for someone else holding the address.
        let mut either = Condition::all()
            .add(user::Column::IdpProvider.eq(&who.provider))
            .add(user::Column::IdpSubject.eq(&who.subject));
        if let Some(email) = &who.email {
            either = Condition::any()
                .add(either)
                .add(user::Column::EmailNormalized.eq(email.normalized()));
        }
        let candidates = user::Entity::find().filter(either).all(db).await?;
        let (bound, holders): (Vec<_>, Vec<_>) = candidates.into_iter().partition(|account| {
            account.idp_provider.as_deref() == Some(who.provider.as_str())
                && account.idp_subject.as_deref() == Some(who.subject.as_str())
        });
        let email_holder = holders.into_iter().next();
        let bound = bound.into_iter().next().or_else(|| {
            email_holder.clone().filter(|holder| {
                who.subject_is_an_address
                    && holder.idp_provider.as_deref() == Some(who.provider.as_str())
                    && holder
                        .idp_subject
                        .as_deref()
                        .is_some_and(|subject| subject.eq_ignore_ascii_case(&who.subject))
            })
        });
        if let Some(account) = bound {
            if !account.active {
                return Err(Refusal::Inactive(account.email).into());
            }
            let mut update: user::ActiveModel = account.clone().into();
            // The same address in other capitals: bound as the provider spells it now, while
            // no admin has unlinked it meanwhile, and audited as a link.
            let rebound =
                (account.idp_subject.as_deref() != Some(who.subject.as_str())).then(|| {
                    update.idp_subject = Set(Some(who.subject.clone()));
                    let was = account.idp_subject.clone().unwrap_or_default();
                    (
                        user::Column::IdpSubject.eq(was),
                        "the account, still bound as it was",
                    )
                });
            if !who.first_name.is_empty() && who.first_name != account.first_name {
                update.first_name = Set(who.first_name.clone());
            }
            if !who.last_name.is_empty() && who.last_name != account.last_name {
                update.last_name = Set(who.last_name.clone());
            }
            // A new address is taken only on the provider's word that it is this person's.
            if let Some(email) = who
                .email
                .as_ref()
                .filter(|e| who.email_verified == Some(true) && e.as_str() != account.email)
            {
                // Another account already holds the new address: keep the old one rather than
                // take it over; an admin sorts out the two accounts.
                if email_holder
                    .as_ref()
                    .is_none_or(|holder| holder.id == account.id)
                {
                    update.email = Set(email.as_str().to_string());
                    update.email_normalized = Set(email.normalized());
                }
            }
            update.last_login_at = Set(Some(now));
            return Ok(match rebound {
                Some(still) => Admission::Linked(account_update(update, Some(still), writes)?),
                None => Admission::SignedIn(account_update(update, None, writes)?),
            });
        }

        let email = who
            .email
            .as_ref()
            .ok_or_else(|| match &who.unusable_email {
                Some(sent) => Refusal::NotAnEmail(sent.clone()),
                None => Refusal::NoEmail(who.protocol),
            })?;
        if let Some(account) = email_holder {
            // Bound to someone else at this same provider: the provider and Portal disagree
            // about who holds the address, and an admin sorts it out. Bound at another provider:
            // that one is no longer in force (Portal trusts one at a time), and the account
            // moves to this one on the terms a local account is linked on.
            let from_provider = match (account.idp_provider.clone(), &account.idp_subject) {
                (Some(provider), Some(_)) if provider == who.provider => {
                    return Err(Refusal::IdentityConflict(account.email).into())
                }
                (provider, Some(_)) => Some(provider.unwrap_or_default()),
                (_, None) => None,
            };
            if who.email_verified != Some(true) {
                return Err(Refusal::EmailNotVerified(account.email).into());
            }
            if !account.active {
                return Err(Refusal::Inactive(account.email).into());
            }
            // An account with a password of its own (the break-glass admin) is not bound by its
            // email: whoever the provider vouches for with that address, a new person at Okta
            // or an Okta admin's mistake, must not become that admin. Checked last, so that only
            // someone the provider says holds the address learns what kind of account it is.
            if account.password_hash.is_some() {
                return Err(Refusal::LocalPassword(account.email).into());
            }
            let mut link: user::ActiveModel = account.into();
            link.idp_provider = Set(Some(who.provider.clone()));
            link.idp_subject = Set(Some(who.subject.clone()));
            link.last_login_at = Set(Some(now));
            // Still without a password when the link is written: an operator's reset that
            // gave it one since the accounts were read makes the link write nothing, and the
            // sign-in fails rather than binds a password account.
            let still = Some((
                user::Column::PasswordHash.is_null(),
                "the account, still without a password",
            ));
            let account = account_update(link, still, writes)?;
            return Ok(match from_provider {
                Some(from_provider) => Admission::Moved {
                    account,
                    from_provider,
                },
                None => Admission::Linked(account),
            });
        }

        if !self.jit.in_force {
            return Err(Refusal::NoAccount {
                email: email.as_str().to_string(),
                jit: self.jit,
            }
            .into());
        }
        // Someone who registered at the provider with another person's address, unconfirmed,
        // must not hold it here: the owner would meet a conflict, and an admin would grant that
        // address's roles to them.
        if who.email_verified == Some(false) {
            return Err(Refusal::NewEmailNotVerified(email.as_str().to_string()).into());
        }
        let account = user::ActiveModel {
            email: Set(email.as_str().to_string()),
            email_normalized: Set(email.normalized()),
            first_name: Set(who.first_name.clone()),
            last_name: Set(who.last_name.clone()),
            source: Set(AccountSource::SsoJit.as_str().to_string()),
            jit_provisioned: Set(true),
            idp_provider: Set(Some(who.provider.clone())),
            idp_subject: Set(Some(who.subject.clone())),
            password_hash: Set(None),
            active: Set(true),
            created_at: Set(now),
            last_login_at: Set(Some(now)),
            ..Default::default()
        }
        .insert(db)
        .await?;
        writes.push(joining_default_pool(account.id)?, "the default agent pool");
        writes.push(granting(account.id, Role::User)?, "the role User");
        Ok(Admission::Created(account))
    }
}

/// Adds `changes` to `writes`, and answers the account as they leave it. With `still`, the
/// update writes only where that condition holds too, and the batch names what it says when it
/// does not.
fn account_update(
    changes: user::ActiveModel,
    still: Option<(Expr, &'static str)>,
    writes: &mut Batch,
) -> Result<user::Model, DbErr> {
    let account = changes.clone().try_into_model()?;
    let mut update = user::Entity::update(changes).validate()?.into_query();
    let what = match still {
        Some((condition, what)) => {
            update.and_where(condition);
            what
        }
        None => "the account",
    };
    writes.push(update, what);
    Ok(account)
}

/// Makes `user_id` a member of the default agent pool, found and joined in one statement.
fn joining_default_pool(user_id: i32) -> Result<InsertStatement, DbErr> {
    let default_pool = Query::select()
        .column(agent_pool::Column::Id)
        .expr(Expr::val(user_id))
        .from(agent_pool::Entity)
        .and_where(agent_pool::Column::IsDefault.eq(true))
        .to_owned();
    Ok(Query::insert()
        .into_table(pool_member::Entity)
        .columns([pool_member::Column::PoolId, pool_member::Column::UserId])
        .select_from(default_pool)
        .map_err(|e| DbErr::Custom(e.to_string()))?
        .to_owned())
}

/// Grants `granted` to `user_id` directly, the role found and granted in one statement.
fn granting(user_id: i32, granted: Role) -> Result<InsertStatement, DbErr> {
    let by_key = Query::select()
        .expr(Expr::val(user_id))
        .column(role::Column::Id)
        .from(role::Entity)
        .and_where(role::Column::Key.eq(granted.key()))
        .to_owned();
    Ok(Query::insert()
        .into_table(user_role::Entity)
        .columns([user_role::Column::UserId, user_role::Column::RoleId])
        .select_from(by_key)
        .map_err(|e| DbErr::Custom(e.to_string()))?
        .to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arriving(first: &str, last: &str, email: Option<&str>) -> ExternalIdentity {
        ExternalIdentity {
            protocol: SsoProtocol::Saml,
            provider: "saml:http://www.okta.com/exk1".into(),
            subject: "00u1".into(),
            subject_is_an_address: false,
            email: email.map(|e| Email::parse(e).unwrap()),
            unusable_email: None,
            email_verified: Some(true),
            session_ends_by: None,
            first_name: first.into(),
            last_name: last.into(),
        }
    }

    #[test]
    fn attributes_received_names_what_arrived_and_nothing_else() {
        assert_eq!(
            arriving("Ada", "Lovelace", Some("ada@example.com")).attributes_received(),
            ["firstName", "lastName", "email"]
        );
        assert_eq!(
            arriving("", "Lovelace", None).attributes_received(),
            ["lastName"]
        );
        assert!(arriving("", "", None).attributes_received().is_empty());
    }
}
