//! Agent pools: groups of people that grant roles to their members. JIT accounts land in the
//! default pool. Each pool has an agent key, shown once when made or rotated, stored hashed.

use std::collections::BTreeSet;

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder,
};
use serde::{Deserialize, Serialize};

use crate::audit;
use crate::auth::caller::Caller;
use crate::db::entities::{agent_pool, pool_member, pool_role, role, user};
use crate::domain::Role;
use crate::error::PortalError;
use crate::people::admin::{keep_an_active_admin, lock_admins};
use crate::state::Portal;

/// A pool as the API and pages show it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct PoolView {
    pub id: i32,
    pub name: String,
    pub is_default: bool,
    /// The roles the pool grants its members.
    pub roles: Vec<String>,
    /// Member emails.
    pub members: Vec<String>,
    pub created_at: chrono::DateTime<Utc>,
}

/// A new pool and its agent key, which is shown this once.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct PoolWithKey {
    #[serde(flatten)]
    pub pool: PoolView,
    pub agent_key: String,
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPool {
    pub name: String,
    #[serde(default)]
    pub roles: Vec<Role>,
}

/// A change to a pool; what is absent stays. `is_default: true` makes it the default pool
/// (the previous default stops being it); a pool stops being the default only that way.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PoolChange {
    pub name: Option<String>,
    pub roles: Option<Vec<Role>>,
    pub is_default: Option<bool>,
}

pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<PoolView>, PortalError> {
    let pools = agent_pool::Entity::find()
        .order_by_asc(agent_pool::Column::Id)
        .all(db)
        .await?;
    let mut views = Vec::with_capacity(pools.len());
    for pool in pools {
        views.push(view(db, pool).await?);
    }
    Ok(views)
}

pub async fn get(db: &impl ConnectionTrait, id: i32) -> Result<PoolView, PortalError> {
    let pool = find(db, id).await?;
    view(db, pool).await
}

async fn find(db: &impl ConnectionTrait, id: i32) -> Result<agent_pool::Model, PortalError> {
    agent_pool::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| PortalError::NotFound(format!("agent pool {id}")))
}

async fn view(db: &impl ConnectionTrait, pool: agent_pool::Model) -> Result<PoolView, PortalError> {
    let role_ids: Vec<i32> = pool_role::Entity::find()
        .filter(pool_role::Column::PoolId.eq(pool.id))
        .all(db)
        .await?
        .into_iter()
        .map(|r| r.role_id)
        .collect();
    let mut roles: Vec<String> = role::Entity::find()
        .filter(role::Column::Id.is_in(role_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|r| r.key)
        .collect();
    roles.sort();
    let member_ids: Vec<i32> = pool_member::Entity::find()
        .filter(pool_member::Column::PoolId.eq(pool.id))
        .all(db)
        .await?
        .into_iter()
        .map(|m| m.user_id)
        .collect();
    let mut members: Vec<String> = user::Entity::find()
        .filter(user::Column::Id.is_in(member_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|u| u.email)
        .collect();
    members.sort();
    Ok(PoolView {
        id: pool.id,
        name: pool.name,
        is_default: pool.is_default,
        roles,
        members,
        created_at: pool.created_at,
    })
}

fn pool_name(text: &str) -> Result<String, PortalError> {
    let name = text.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(PortalError::invalid(
            "name",
            "give a name of 1 to 64 characters",
        ));
    }
    Ok(name.to_string())
}

async fn name_is_free(
    db: &impl ConnectionTrait,
    name: &str,
    except: Option<i32>,
) -> Result<(), PortalError> {
    let taken = agent_pool::Entity::find()
        .filter(agent_pool::Column::Name.eq(name))
        .one(db)
        .await?
        .filter(|p| Some(p.id) != except);
    match taken {
        Some(_) => Err(PortalError::invalid("name", name_taken(name))),
        None => Ok(()),
    }
}

fn name_taken(name: &str) -> String {
    format!("a pool named '{name}' exists already")
}

async fn set_roles(
    db: &impl ConnectionTrait,
    pool_id: i32,
    roles: &[Role],
) -> Result<(), PortalError> {
    pool_role::Entity::delete_many()
        .filter(pool_role::Column::PoolId.eq(pool_id))
        .exec(db)
        .await?;
    for role in roles.iter().copied().collect::<BTreeSet<Role>>() {
        pool_role::ActiveModel {
            pool_id: Set(pool_id),
            role_id: Set(crate::people::role_id(db, role).await?),
        }
        .insert(db)
        .await?;
    }
    Ok(())
}

fn new_agent_key() -> String {
    format!("pak_{}", crate::auth::random_secret())
}

impl Portal {
    pub async fn create_pool(
        &self,
        caller: &Caller,
        new: NewPool,
        correlation_id: &str,
    ) -> Result<PoolWithKey, PortalError> {
        let name = pool_name(&new.name)?;
        let txn = crate::db::begin_write(&self.db).await?;
        name_is_free(&txn, &name, None).await?;
        let agent_key = new_agent_key();
        let pool = agent_pool::ActiveModel {
            name: Set(name.clone()),
            is_default: Set(false),
            agent_key_hash: Set(crate::auth::digest(&agent_key)),
            created_at: Set(Utc::now()),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .map_err(|error| PortalError::unless_taken(error, "name", || name_taken(&name)))?;
        set_roles(&txn, pool.id, &new.roles).await?;
        let pool = view(&txn, pool).await?;
        audit::record_change(
            &txn,
            caller,
            "pool.created",
            &pool.name,
            serde_json::json!({ "roles": pool.roles }),
            correlation_id,
        )
        .await?;
        txn.commit().await?;
        Ok(PoolWithKey { pool, agent_key })
    }

    pub async fn change_pool(
        &self,
        caller: &Caller,
        id: i32,
        change: PoolChange,
        correlation_id: &str,
    ) -> Result<PoolView, PortalError> {
        let txn = crate::db::begin_write(&self.db).await?;
        lock_admins(&txn).await?;
        let pool = find(&txn, id).await?;
        let before = view(&txn, pool.clone()).await?;
        let mut update: agent_pool::ActiveModel = pool.clone().into();
        if let Some(name) = &change.name {
            let name = pool_name(name)?;
            name_is_free(&txn, &name, Some(id)).await?;
            update.name = Set(name);
        }
        match change.is_default {
            Some(true) if !pool.is_default => {
                // One default at a time (a unique index holds it): the old one steps down first.
                agent_pool::Entity::update_many()
                    .col_expr(agent_pool::Column::IsDefault, sea_orm::sea_query::Expr::value(false))
                    .filter(agent_pool::Column::IsDefault.eq(true))
                    .exec(&txn)
                    .await?;
                update.is_default = Set(true);
            }
            Some(false) if pool.is_default => {
                return Err(PortalError::invalid(
                    "is_default",
                    "Make another pool the default instead: new JIT accounts always need a default pool.",
                ))
            }
            _ => {}
        }
        update.update(&txn).await?;
        if let Some(roles) = &change.roles {
            set_roles(&txn, id, roles).await?;
        }
        keep_an_active_admin(&txn, caller, &caller.user).await?;
        let after = view(&txn, find(&txn, id).await?).await?;
        audit::record_change(
            &txn,
            caller,
            "pool.updated",
            &after.name,
            serde_json::json!({
                "name": [before.name, after.name],
                "roles": [before.roles, after.roles],
                "is_default": [before.is_default, after.is_default],
            }),
            correlation_id,
        )
        .await?;
        txn.commit().await?;
        Ok(after)
    }

    /// Deletes a pool; its members stay, without the roles it granted. A pool with members
    /// needs `confirm`; the default pool cannot be deleted.
    pub async fn delete_pool(
        &self,
        caller: &Caller,
        id: i32,
        confirm: bool,
        correlation_id: &str,
    ) -> Result<(), PortalError> {
        let txn = crate::db::begin_write(&self.db).await?;
        lock_admins(&txn).await?;
        let pool = find(&txn, id).await?;
        if pool.is_default {
            return Err(PortalError::invalid(
                "id",
                "The default pool cannot be deleted: make another pool the default first.",
            ));
        }
        let before = view(&txn, pool).await?;
        if !before.members.is_empty() && !confirm {
            return Err(PortalError::invalid(
                "confirm",
                format!(
                    "{} has {} members. They stay in Portal but lose the roles this pool grants ({}). Confirm to delete it.",
                    before.name,
                    before.members.len(),
                    if before.roles.is_empty() { "none".to_string() } else { before.roles.join(", ") }
                ),
            ));
        }
        agent_pool::Entity::delete_by_id(id).exec(&txn).await?;
        keep_an_active_admin(&txn, caller, &caller.user).await?;
        audit::record_change(
            &txn,
            caller,
            "pool.deleted",
            &before.name,
            serde_json::json!({ "members": before.members.len(), "roles": before.roles }),
            correlation_id,
        )
        .await?;
        txn.commit().await?;
        Ok(())
    }

    pub async fn add_pool_member(
        &self,
        caller: &Caller,
        pool_id: i32,
        user_id: i32,
        correlation_id: &str,
    ) -> Result<PoolView, PortalError> {
        let txn = crate::db::begin_write(&self.db).await?;
        let pool = find(&txn, pool_id).await?;
        let person = user::Entity::find_by_id(user_id)
            .one(&txn)
            .await?
            .ok_or_else(|| {
                PortalError::invalid("user_id", format!("there is no user {user_id}"))
            })?;
        // Already a member (added by another admin a moment ago, say): nothing to do.
        let added = pool_member::Entity::insert(pool_member::ActiveModel {
            pool_id: Set(pool_id),
            user_id: Set(user_id),
        })
        .on_conflict(
            sea_orm::sea_query::OnConflict::columns([
                pool_member::Column::PoolId,
                pool_member::Column::UserId,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
        if added == 1 {
            audit::record_change(
                &txn,
                caller,
                "pool.member_added",
                &person.email,
                serde_json::json!({ "pool": pool.name }),
                correlation_id,
            )
            .await?;
        }
        let after = view(&txn, pool).await?;
        txn.commit().await?;
        Ok(after)
    }

    pub async fn remove_pool_member(
        &self,
        caller: &Caller,
        pool_id: i32,
        user_id: i32,
        correlation_id: &str,
    ) -> Result<PoolView, PortalError> {
        let txn = crate::db::begin_write(&self.db).await?;
        lock_admins(&txn).await?;
        let pool = find(&txn, pool_id).await?;
        let person = user::Entity::find_by_id(user_id)
            .one(&txn)
            .await?
            .ok_or_else(|| PortalError::NotFound(format!("user {user_id}")))?;
        let removed = pool_member::Entity::delete_by_id((pool_id, user_id))
            .exec(&txn)
            .await?;
        if removed.rows_affected == 0 {
            return Err(PortalError::NotFound(format!(
                "{} in pool {}",
                person.email, pool.name
            )));
        }
        keep_an_active_admin(&txn, caller, &person).await?;
        audit::record_change(
            &txn,
            caller,
            "pool.member_removed",
            &person.email,
            serde_json::json!({ "pool": pool.name }),
            correlation_id,
        )
        .await?;
        let after = view(&txn, pool).await?;
        txn.commit().await?;
        Ok(after)
    }

    /// Replaces the pool's agent key; the new one is returned this once.
    pub async fn rotate_agent_key(
        &self,
        caller: &Caller,
        pool_id: i32,
        correlation_id: &str,
    ) -> Result<String, PortalError> {
        let txn = crate::db::begin_write(&self.db).await?;
        let pool = find(&txn, pool_id).await?;
        let agent_key = new_agent_key();
        let name = pool.name.clone();
        let mut update: agent_pool::ActiveModel = pool.into();
        update.agent_key_hash = Set(crate::auth::digest(&agent_key));
        update.update(&txn).await?;
        audit::record_change(
            &txn,
            caller,
            "pool.agent_key_rotated",
            &name,
            serde_json::json!({}),
            correlation_id,
        )
        .await?;
        txn.commit().await?;
        Ok(agent_key)
    }
}
