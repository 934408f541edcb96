//! What an admin does to people: add them by hand (while provisioning is manual), change
//! their direct roles, agent pools and address, unlink their Okta identity, deactivate and
//! reactivate them. Every change keeps at least one active Admin, and an admin cannot lock
//! themselves out by accident.

use std::collections::BTreeSet;

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction,
    EntityTrait, QueryFilter,
};
use serde::Deserialize;

use crate::audit;
use crate::auth::caller::Caller;
use crate::db::entities::{agent_pool, pool_member, pool_role, user, user_role};
use crate::domain::{AccountSource, Email, ProvisioningMethod, Role};
use crate::error::PortalError;
use crate::state::Portal;

/// A person added by hand.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPerson {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    #[serde(default)]
    pub roles: Vec<Role>,
    /// Agent pool ids.
    #[serde(default)]
    pub pools: Vec<i32>,
}

/// A change to a person; what is absent stays as it is.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonChange {
    /// The direct roles, replacing the current ones (pool roles are the pools' business).
    pub roles: Option<Vec<Role>>,
    /// The agent pool ids, replacing the current memberships.
    pub pools: Option<Vec<i32>>,
    pub active: Option<bool>,
    /// `true` unbinds the account from its identity at the identity provider, so that the
    /// next SSO sign-in with its email, verified by the provider, binds it again: how an admin
    /// settles an identity conflict (the person re-created in Okta, say) without losing the
    /// account's roles and pools.
    #[serde(default)]
    pub unlink_sso_identity: bool,
    /// A new address for the account. While it is bound to an identity at the identity
    /// provider, the address the provider verifies wins at the next sign-in. When the provider
    /// identifies people by their address (an EmailAddress Name ID) and the address changed
    /// there, a sign-in with the new one finds no account: give the account the new address
    /// and unlink its identity in one change, and that sign-in binds it again.
    pub email: Option<String>,
}

impl Portal {
    /// Adds a person by hand. Refused while SSO JIT is the provisioning method: then accounts
    /// are created at a person's first sign-in.
    pub async fn add_person(
        &self,
        caller: &Caller,
        new: NewPerson,
        correlation_id: &str,
    ) -> Result<user::Model, PortalError> {
        let config = self.identity_config().await?;
        if config.provisioning != ProvisioningMethod::Manual {
            return Err(PortalError::invalid(
                "provisioning",
                format!(
                    "{} is on: accounts are created when people first sign in with Okta. Switch provisioning to Manual to add people by hand.",
                    self.config.release.jit_label()
                ),
            ));
        }
        let email = Email::parse(&new.email).map_err(|m| PortalError::invalid("email", m))?;
        let first_name = required_name("first_name", &new.first_name)?;
        let last_name = required_name("last_name", &new.last_name)?;
        let txn = crate::db::begin_write(&self.db).await?;
        let taken = || format!("{email} already has an account");
        if crate::people::find_by_email(&txn, &email).await?.is_some() {
            return Err(PortalError::invalid("email", taken()));
        }
        let pools = existing_pools(&txn, &new.pools).await?;
        let account = user::ActiveModel {
            email: Set(email.as_str().to_string()),
            email_normalized: Set(email.normalized()),
            first_name: Set(first_name),
            last_name: Set(last_name),
            source: Set(AccountSource::Manual.as_str().to_string()),
            jit_provisioned: Set(false),
            active: Set(true),
            created_at: Set(Utc::now()),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .map_err(|error| PortalError::unless_taken(error, "email", taken))?;
        set_direct_roles(&txn, account.id, &new.roles).await?;
        set_pools(&txn, account.id, &pools).await?;
        audit::record_change(
            &txn,
            caller,
            "account.created",
            &account.email,
            serde_json::json!({
                "roles": new.roles.iter().map(|r| r.key()).collect::<Vec<_>>(),
                "pools": pools,
            }),
            correlation_id,
        )
        .await?;
        txn.commit().await?;
        Ok(account)
    }

    /// Changes a person's direct roles, pools or status in one transaction, or nothing.
    pub async fn change_person(
        &self,
        caller: &Caller,
        id: i32,
        change: PersonChange,
        correlation_id: &str,
    ) -> Result<user::Model, PortalError> {
        let txn = crate::db::begin_write(&self.db).await?;
        lock_admins(&txn).await?;
        let account = user::Entity::find_by_id(id)
            .one(&txn)
            .await?
            .ok_or_else(|| PortalError::NotFound(format!("user {id}")))?;
        let myself = caller.user.id == id;
        let before = snapshot(&txn, &account).await?;
        if let Some(roles) = &change.roles {
            if myself && before.direct_admin && !roles.contains(&Role::Admin) {
                return Err(PortalError::invalid(
                    "roles",
                    "You cannot remove your own Admin role; ask another admin to do it.",
                ));
            }
            set_direct_roles(&txn, id, roles).await?;
        }
        if let Some(pools) = &change.pools {
            let pools = existing_pools(&txn, pools).await?;
            set_pools(&txn, id, &pools).await?;
        }
        let mut account = account;
        if let Some(active) = change.active {
            if myself && !active {
                return Err(PortalError::invalid(
                    "active",
                    "You cannot deactivate your own account; ask another admin to do it.",
                ));
            }
            if active != account.active {
                let mut update: user::ActiveModel = account.into();
                update.active = Set(active);
                account = update.update(&txn).await?;
                if !active {
                    crate::auth::session::end_all_for(&txn, id).await?;
                }
            }
        }
        if let Some(text) = &change.email {
            let email = Email::parse(text).map_err(|m| PortalError::invalid("email", m))?;
            if email.as_str() != account.email {
                let taken = || {
                    format!("{email} is the address of another account: remove that account or change its address first.")
                };
                let holder = crate::people::find_by_email(&txn, &email).await?;
                if holder.is_some_and(|holder| holder.id != id) {
                    return Err(PortalError::invalid("email", taken()));
                }
                let mut update: user::ActiveModel = account.into();
                update.email = Set(email.as_str().to_string());
                update.email_normalized = Set(email.normalized());
                // A sign-in on another replica may have just made an account with it.
                account = update
                    .update(&txn)
                    .await
                    .map_err(|error| PortalError::unless_taken(error, "email", taken))?;
            }
        }
        let unlinked = change.unlink_sso_identity && account.idp_subject.is_some();
        if unlinked {
            if myself {
                return Err(PortalError::invalid(
                    "unlink_sso_identity",
                    "You cannot unlink your own Okta identity; ask another admin to do it.",
                ));
            }
            let mut update: user::ActiveModel = account.into();
            update.idp_provider = Set(None);
            update.idp_subject = Set(None);
            account = update.update(&txn).await?;
            // Unlinked because the binding was wrong, or the identity is no longer this
            // person's: whoever signed in with it is signed out.
            crate::auth::session::end_all_for(&txn, id).await?;
        }
        keep_an_active_admin(&txn, caller, &account).await?;
        let after = snapshot(&txn, &account).await?;
        // One event for each kind of change, each with the whole change in its details; an
        // address change is filed under the address the account had, so a search for it finds
        // where it went.
        let mut events = Vec::new();
        match (before.active, after.active) {
            (true, false) => events.push(("account.deactivated", account.email.as_str())),
            (false, true) => events.push(("account.reactivated", account.email.as_str())),
            _ => {}
        }
        if before.email != after.email {
            events.push(("account.email_changed", before.email.as_str()));
        }
        if unlinked {
            events.push(("account.sso_identity_unlinked", account.email.as_str()));
        }
        if events.is_empty() || before.roles != after.roles || before.pools != after.pools {
            events.push(("account.updated", account.email.as_str()));
        }
        let details = serde_json::json!({
            "roles": [before.roles, after.roles],
            "pools": [before.pools, after.pools],
            "active": [before.active, after.active],
            "sso_identity": [before.sso_identity, after.sso_identity],
            "email": [before.email, after.email],
        });
        for (action, target) in events {
            audit::record_change(
                &txn,
                caller,
                action,
                target,
                details.clone(),
                correlation_id,
            )
            .await?;
        }
        txn.commit().await?;
        Ok(account)
    }
}

fn required_name(field: &str, text: &str) -> Result<String, PortalError> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > 100 {
        return Err(PortalError::invalid(
            field,
            "give a name of 1 to 100 characters",
        ));
    }
    Ok(text.to_string())
}

/// The pool ids given, each checked to exist, once each.
async fn existing_pools(db: &impl ConnectionTrait, ids: &[i32]) -> Result<Vec<i32>, PortalError> {
    let mut seen = BTreeSet::new();
    for (index, id) in ids.iter().enumerate() {
        if agent_pool::Entity::find_by_id(*id).one(db).await?.is_none() {
            return Err(PortalError::invalid(
                &format!("pools[{index}]"),
                format!("there is no agent pool {id}"),
            ));
        }
        seen.insert(*id);
    }
    Ok(seen.into_iter().collect())
}

async fn set_direct_roles(
    db: &impl ConnectionTrait,
    user_id: i32,
    roles: &[Role],
) -> Result<(), PortalError> {
    user_role::Entity::delete_many()
        .filter(user_role::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    let roles: BTreeSet<Role> = roles.iter().copied().collect();
    for role in roles {
        user_role::ActiveModel {
            user_id: Set(user_id),
            role_id: Set(crate::people::role_id(db, role).await?),
        }
        .insert(db)
        .await?;
    }
    Ok(())
}

async fn set_pools(
    db: &impl ConnectionTrait,
    user_id: i32,
    pools: &[i32],
) -> Result<(), PortalError> {
    pool_member::Entity::delete_many()
        .filter(pool_member::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    for pool in pools {
        pool_member::ActiveModel {
            pool_id: Set(*pool),
            user_id: Set(user_id),
        }
        .insert(db)
        .await?;
    }
    Ok(())
}

struct Snapshot {
    roles: Vec<String>,
    pools: Vec<String>,
    active: bool,
    email: String,
    sso_identity: Option<crate::people::SsoIdentity>,
    direct_admin: bool,
}

async fn snapshot(
    db: &impl ConnectionTrait,
    account: &user::Model,
) -> Result<Snapshot, PortalError> {
    let admin = crate::people::role_id(db, Role::Admin).await?;
    Ok(Snapshot {
        roles: crate::people::effective_roles(db, account.id).await?,
        pools: crate::people::pool_names(db, account.id).await?,
        active: account.active,
        email: account.email.clone(),
        sso_identity: crate::people::SsoIdentity::of(account),
        direct_admin: user_role::Entity::find()
            .filter(user_role::Column::UserId.eq(account.id))
            .filter(user_role::Column::RoleId.eq(admin))
            .one(db)
            .await?
            .is_some(),
    })
}

/// The active people who are Admins, directly or through an agent pool.
pub async fn active_admins(db: &impl ConnectionTrait) -> Result<BTreeSet<i32>, PortalError> {
    let admin = crate::people::role_id(db, Role::Admin).await?;
    let mut ids: BTreeSet<i32> = user_role::Entity::find()
        .filter(user_role::Column::RoleId.eq(admin))
        .all(db)
        .await?
        .into_iter()
        .map(|r| r.user_id)
        .collect();
    let admin_pools: Vec<i32> = pool_role::Entity::find()
        .filter(pool_role::Column::RoleId.eq(admin))
        .all(db)
        .await?
        .into_iter()
        .map(|r| r.pool_id)
        .collect();
    if !admin_pools.is_empty() {
        ids.extend(
            pool_member::Entity::find()
                .filter(pool_member::Column::PoolId.is_in(admin_pools))
                .all(db)
                .await?
                .into_iter()
                .map(|m| m.user_id),
        );
    }
    let active: BTreeSet<i32> = user::Entity::find()
        .filter(user::Column::Id.is_in(ids))
        .filter(user::Column::Active.eq(true))
        .all(db)
        .await?
        .into_iter()
        .map(|u| u.id)
        .collect();
    Ok(active)
}

/// Serialises the changes that can take Admin away from someone: the first statement of such
/// a transaction, so that two of them cannot each see the other's Admin and both commit.
pub async fn lock_admins(txn: &DatabaseTransaction) -> Result<(), PortalError> {
    use sea_orm::{sea_query::Expr, QueryFilter as _};
    crate::db::entities::role::Entity::update_many()
        .col_expr(
            crate::db::entities::role::Column::Key,
            Expr::col(crate::db::entities::role::Column::Key),
        )
        .filter(crate::db::entities::role::Column::Key.eq(Role::Admin.key()))
        .exec(txn)
        .await?;
    Ok(())
}

/// Refuses a change (inside `txn`, before it commits) that leaves no active Admin, or that
/// takes the caller's own Admin away (directly, or through a pool).
pub async fn keep_an_active_admin(
    txn: &DatabaseTransaction,
    caller: &Caller,
    about: &user::Model,
) -> Result<(), PortalError> {
    let admins = active_admins(txn).await?;
    if admins.is_empty() {
        return Err(PortalError::invalid(
            "roles",
            format!(
                "{} is the last active Admin: make someone else an Admin first.",
                about.email
            ),
        ));
    }
    if caller.has(Role::Admin) && !admins.contains(&caller.user.id) {
        return Err(PortalError::invalid(
            "roles",
            "This would take away your own Admin role; ask another admin to do it.",
        ));
    }
    Ok(())
}
