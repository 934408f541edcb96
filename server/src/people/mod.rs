//! People, their roles and their agent pools: the reads every request needs, and the first
//! admin created at start-up. What an admin changes about people is in [`admin`].

pub mod admin;

use chrono::Utc;
use sea_orm::{
    sea_query::{Expr, ExprTrait, Query},
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use secrecy::ExposeSecret;

use crate::auth::password;
use crate::config::Config;
use crate::db::entities::{agent_pool, pool_member, pool_role, role, user, user_role};
use crate::domain::{AccountSource, Email, Role};

/// Role keys of a person: direct roles plus those their agent pools grant, sorted, once each.
pub async fn effective_roles(
    db: &impl ConnectionTrait,
    user_id: i32,
) -> Result<Vec<String>, DbErr> {
    effective_roles_query(user_id)
        .into_tuple::<String>()
        .all(db)
        .await
}

/// The one statement behind [`effective_roles`], read on every signed-in request.
pub fn effective_roles_query(user_id: i32) -> sea_orm::Select<role::Entity> {
    let direct = Query::select()
        .column(user_role::Column::RoleId)
        .from(user_role::Entity)
        .and_where(Expr::col(user_role::Column::UserId).eq(user_id))
        .to_owned();
    let pooled = Query::select()
        .column((pool_role::Entity, pool_role::Column::RoleId))
        .from(pool_role::Entity)
        .inner_join(
            pool_member::Entity,
            Expr::col((pool_member::Entity, pool_member::Column::PoolId))
                .equals((pool_role::Entity, pool_role::Column::PoolId)),
        )
        .and_where(Expr::col((pool_member::Entity, pool_member::Column::UserId)).eq(user_id))
        .to_owned();
    role::Entity::find()
        .select_only()
        .column(role::Column::Key)
        .filter(
            Condition::any()
                .add(role::Column::Id.in_subquery(direct))
                .add(role::Column::Id.in_subquery(pooled)),
        )
        .order_by_asc(role::Column::Key)
}

/// Names of the agent pools a person belongs to, sorted.
pub async fn pool_names(db: &impl ConnectionTrait, user_id: i32) -> Result<Vec<String>, DbErr> {
    let memberships = Query::select()
        .column(pool_member::Column::PoolId)
        .from(pool_member::Entity)
        .and_where(Expr::col(pool_member::Column::UserId).eq(user_id))
        .to_owned();
    agent_pool::Entity::find()
        .select_only()
        .column(agent_pool::Column::Name)
        .filter(agent_pool::Column::Id.in_subquery(memberships))
        .order_by_asc(agent_pool::Column::Name)
        .into_tuple::<String>()
        .all(db)
        .await
}

/// A person as the Users list shows them: the account, and where their access comes from.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Listing {
    pub id: i32,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub source: String,
    pub jit_provisioned: bool,
    pub active: bool,
    pub roles: Vec<String>,
    pub pools: Vec<String>,
    pub created_at: chrono::DateTime<Utc>,
    pub last_login_at: Option<chrono::DateTime<Utc>>,
    /// Who signs in to this account at the identity provider, once someone has.
    pub sso_identity: Option<SsoIdentity>,
}

/// The identity at an identity provider that an account is bound to: its first SSO sign-in
/// binds it, and only a sign-in as that identity reaches the account from then on.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct SsoIdentity {
    /// `saml:<entity id>` or `oidc:<issuer>`.
    pub provider: String,
    /// The provider's id for the person: the SAML NameID or the OIDC `sub`.
    pub subject: String,
}

impl SsoIdentity {
    pub fn of(account: &user::Model) -> Option<SsoIdentity> {
        match (&account.idp_provider, &account.idp_subject) {
            (Some(provider), Some(subject)) => Some(SsoIdentity {
                provider: provider.clone(),
                subject: subject.clone(),
            }),
            _ => None,
        }
    }
}

/// Which people to list; every part is optional.
#[derive(Clone, Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PeopleQuery {
    /// Part of the name or email, in any case.
    pub q: Option<String>,
    /// `manual` or `sso_jit`.
    pub source: Option<String>,
    /// `active` or `deactivated`.
    pub status: Option<String>,
    pub page: Option<u64>,
    pub per_page: Option<u64>,
}

pub const MAX_PER_PAGE: u64 = 500;

/// One page of people in the order their accounts were made, and how many match in all.
pub async fn search(
    db: &impl ConnectionTrait,
    query: &PeopleQuery,
) -> Result<(Vec<Listing>, u64), crate::error::PortalError> {
    use crate::error::PortalError;
    use sea_orm::{sea_query::Func, PaginatorTrait};
    let mut find = user::Entity::find();
    if let Some(q) = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        let pattern = format!("%{}%", like_escape(&q.to_lowercase()));
        let lower = |column: user::Column| Expr::expr(Func::lower(Expr::col(column)));
        let like = || sea_orm::sea_query::LikeExpr::new(pattern.clone()).escape('\\');
        // An address is found as `Email::normalized` folds it (ASCII letters only), alike on
        // SQLite, whose lower() folds ASCII only, and on PostgreSQL, whose lower() folds more.
        let address = format!("%{}%", like_escape(&q.to_ascii_lowercase()));
        find = find.filter(
            Condition::any()
                .add(
                    user::Column::EmailNormalized
                        .like(sea_orm::sea_query::LikeExpr::new(address).escape('\\')),
                )
                .add(lower(user::Column::FirstName).like(like()))
                .add(lower(user::Column::LastName).like(like())),
        );
    }
    match query.source.as_deref().unwrap_or_default() {
        "" => {}
        source @ ("manual" | "sso_jit") => find = find.filter(user::Column::Source.eq(source)),
        _ => return Err(PortalError::invalid("source", "choose manual or sso_jit")),
    }
    match query.status.as_deref().unwrap_or_default() {
        "" => {}
        "active" => find = find.filter(user::Column::Active.eq(true)),
        "deactivated" => find = find.filter(user::Column::Active.eq(false)),
        _ => {
            return Err(PortalError::invalid(
                "status",
                "choose active or deactivated",
            ))
        }
    }
    let per_page = query.per_page.unwrap_or(50).clamp(1, MAX_PER_PAGE);
    let page = query.page.unwrap_or(1).clamp(1, 1_000_000);
    let paginator = find.order_by_asc(user::Column::Id).paginate(db, per_page);
    let total = paginator.num_items().await?;
    let accounts = paginator.fetch_page(page - 1).await?;
    Ok((listings(db, accounts).await?, total))
}

/// The listings of `accounts` in five queries whatever their number: roles, direct roles,
/// memberships, pools and the roles the pools grant.
pub async fn listings(
    db: &impl ConnectionTrait,
    accounts: Vec<user::Model>,
) -> Result<Vec<Listing>, DbErr> {
    use std::collections::{BTreeSet, HashMap};
    let ids: Vec<i32> = accounts.iter().map(|a| a.id).collect();
    let role_keys: HashMap<i32, String> = role::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|r| (r.id, r.key))
        .collect();
    let mut roles: HashMap<i32, BTreeSet<String>> = HashMap::new();
    for direct in user_role::Entity::find()
        .filter(user_role::Column::UserId.is_in(ids.clone()))
        .all(db)
        .await?
    {
        if let Some(key) = role_keys.get(&direct.role_id) {
            roles.entry(direct.user_id).or_default().insert(key.clone());
        }
    }
    let memberships = pool_member::Entity::find()
        .filter(pool_member::Column::UserId.is_in(ids))
        .all(db)
        .await?;
    let pool_ids: BTreeSet<i32> = memberships.iter().map(|m| m.pool_id).collect();
    let pools: HashMap<i32, String> = agent_pool::Entity::find()
        .filter(agent_pool::Column::Id.is_in(pool_ids.iter().copied()))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.id, p.name))
        .collect();
    let mut granted: HashMap<i32, Vec<String>> = HashMap::new();
    for grant in pool_role::Entity::find()
        .filter(pool_role::Column::PoolId.is_in(pool_ids))
        .all(db)
        .await?
    {
        if let Some(key) = role_keys.get(&grant.role_id) {
            granted.entry(grant.pool_id).or_default().push(key.clone());
        }
    }
    let mut names: HashMap<i32, Vec<String>> = HashMap::new();
    for membership in memberships {
        if let Some(name) = pools.get(&membership.pool_id) {
            names
                .entry(membership.user_id)
                .or_default()
                .push(name.clone());
        }
        for key in granted.get(&membership.pool_id).into_iter().flatten() {
            roles
                .entry(membership.user_id)
                .or_default()
                .insert(key.clone());
        }
    }
    Ok(accounts
        .into_iter()
        .map(|account| {
            let mut pools = names.remove(&account.id).unwrap_or_default();
            pools.sort();
            Listing {
                sso_identity: SsoIdentity::of(&account),
                roles: roles
                    .remove(&account.id)
                    .unwrap_or_default()
                    .into_iter()
                    .collect(),
                pools,
                id: account.id,
                email: account.email,
                first_name: account.first_name,
                last_name: account.last_name,
                source: account.source,
                jit_provisioned: account.jit_provisioned,
                active: account.active,
                created_at: account.created_at,
                last_login_at: account.last_login_at,
            }
        })
        .collect())
}

pub async fn listing(db: &impl ConnectionTrait, account: user::Model) -> Result<Listing, DbErr> {
    Ok(listings(db, vec![account])
        .await?
        .pop()
        .expect("one account makes one listing"))
}

/// `text` with the LIKE wildcards `%` and `_` (and the escape `\`) taken literally.
pub fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Where each of a person's roles comes from: `direct`, or the pool that grants it.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct RoleSource {
    pub role: String,
    pub from: String,
}

pub async fn role_sources(
    db: &impl ConnectionTrait,
    user_id: i32,
) -> Result<Vec<RoleSource>, DbErr> {
    let keys: std::collections::HashMap<i32, String> = role::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|r| (r.id, r.key))
        .collect();
    let mut sources: Vec<RoleSource> = user_role::Entity::find()
        .filter(user_role::Column::UserId.eq(user_id))
        .all(db)
        .await?
        .into_iter()
        .filter_map(|r| {
            keys.get(&r.role_id).map(|k| RoleSource {
                role: k.clone(),
                from: "direct".into(),
            })
        })
        .collect();
    let memberships = pool_member::Entity::find()
        .filter(pool_member::Column::UserId.eq(user_id))
        .all(db)
        .await?;
    for membership in memberships {
        let Some(pool) = agent_pool::Entity::find_by_id(membership.pool_id)
            .one(db)
            .await?
        else {
            continue;
        };
        for granted in pool_role::Entity::find()
            .filter(pool_role::Column::PoolId.eq(pool.id))
            .all(db)
            .await?
        {
            if let Some(key) = keys.get(&granted.role_id) {
                sources.push(RoleSource {
                    role: key.clone(),
                    from: format!("pool {}", pool.name),
                });
            }
        }
    }
    sources.sort_by(|a, b| (&a.role, &a.from).cmp(&(&b.role, &b.from)));
    Ok(sources)
}

pub async fn all(db: &impl ConnectionTrait) -> Result<Vec<user::Model>, DbErr> {
    user::Entity::find()
        .order_by_asc(user::Column::Id)
        .all(db)
        .await
}

impl crate::state::Portal {
    /// Deletes an account with its sessions, memberships and tokens, in one transaction.
    pub async fn remove_person(
        &self,
        caller: &crate::auth::caller::Caller,
        id: i32,
        correlation_id: &str,
    ) -> Result<(), crate::error::PortalError> {
        use crate::error::PortalError;
        if caller.user.id == id {
            return Err(PortalError::invalid(
                "id",
                "You cannot remove your own account; ask another admin.",
            ));
        }
        let txn = crate::db::begin_write(&self.db).await?;
        admin::lock_admins(&txn).await?;
        let account = user::Entity::find_by_id(id)
            .one(&txn)
            .await?
            .ok_or_else(|| PortalError::NotFound(format!("user {id}")))?;
        crate::auth::session::end_all_for(&txn, id).await?;
        user::Entity::delete_by_id(id).exec(&txn).await?;
        admin::keep_an_active_admin(&txn, caller, &account).await?;
        crate::audit::record_change(
            &txn,
            caller,
            "account.removed",
            &account.email,
            serde_json::json!({ "source": account.source, "jit_provisioned": account.jit_provisioned }),
            correlation_id,
        )
        .await?;
        txn.commit().await?;
        Ok(())
    }
}

pub async fn role_id(db: &impl ConnectionTrait, role: Role) -> Result<i32, DbErr> {
    role::Entity::find()
        .filter(role::Column::Key.eq(role.key()))
        .one(db)
        .await?
        .map(|r| r.id)
        .ok_or_else(|| DbErr::RecordNotFound(format!("role {}", role.key())))
}

pub async fn find_by_email(
    db: &impl ConnectionTrait,
    email: &Email,
) -> Result<Option<user::Model>, DbErr> {
    user::Entity::find()
        .filter(user::Column::EmailNormalized.eq(email.normalized()))
        .one(db)
        .await
}

/// Whether an active Admin exists, directly or through a pool.
async fn any_admin(db: &impl ConnectionTrait) -> Result<bool, DbErr> {
    match admin::active_admins(db).await {
        Ok(admins) => Ok(!admins.is_empty()),
        Err(crate::error::PortalError::Database(e)) => Err(e),
        Err(other) => Err(DbErr::Custom(other.to_string())),
    }
}

/// What start-up did about the first admin.
pub enum FirstAdmin {
    AlreadyPresent,
    Created {
        email: String,
        generated_password: Option<String>,
    },
}

/// Makes the account at `email` an active Admin that signs in with the password `hash` is of,
/// the password lock on its email lifted; creates the account when there is none. The first
/// start's admin, and the operator's way back in (`portal admin reset`).
pub async fn restore_admin(
    txn: &impl ConnectionTrait,
    email: &Email,
    hash: crate::db::entities::user::HashedPassword,
) -> Result<user::Model, DbErr> {
    let account = match find_by_email(txn, email).await? {
        Some(found) => {
            let mut account: user::ActiveModel = found.into();
            account.password_hash = Set(Some(hash));
            account.active = Set(true);
            account.update(txn).await?
        }
        None => {
            user::ActiveModel {
                email: Set(email.as_str().to_string()),
                email_normalized: Set(email.normalized()),
                first_name: Set("Portal".into()),
                last_name: Set("Admin".into()),
                source: Set(AccountSource::Manual.as_str().into()),
                jit_provisioned: Set(false),
                active: Set(true),
                password_hash: Set(Some(hash)),
                created_at: Set(Utc::now()),
                ..Default::default()
            }
            .insert(txn)
            .await?
        }
    };
    password::clear_all_failures(txn, email).await?;
    let admin = role_id(txn, Role::Admin).await?;
    // An account that was an admin before holds the role already.
    if user_role::Entity::find_by_id((account.id, admin))
        .one(txn)
        .await?
        .is_none()
    {
        user_role::ActiveModel {
            user_id: Set(account.id),
            role_id: Set(admin),
        }
        .insert(txn)
        .await?;
    }
    Ok(account)
}

/// With no admin in the database, creates the local admin from `PORTAL_ADMIN_EMAIL` and
/// `PORTAL_ADMIN_PASSWORD`, generating a password when none is configured. Runs inside the start-up transaction ([`crate::db::begin_setup`]), so replicas starting at once
/// make one admin between them.
pub async fn ensure_first_admin(
    txn: &impl ConnectionTrait,
    config: &Config,
) -> anyhow::Result<FirstAdmin> {
    if any_admin(txn).await? {
        return Ok(FirstAdmin::AlreadyPresent);
    }
    let email = Email::parse(
        config
            .admin_email
            .as_deref()
            .unwrap_or("admin@portal.localhost"),
    )
    .map_err(anyhow::Error::msg)?;
    let (password, generated) = match &config.admin_password {
        Some(secret) => (secret.expose_secret().to_string(), false),
        None => (password::generate(), true),
    };
    let hash = password::hash(password.clone()).await?;
    // No admin exists but the configured email has an account: it becomes the admin, with
    // the configured password. This is how an operator recovers a portal with no admin.
    let account = restore_admin(txn, &email, hash).await?;
    Ok(FirstAdmin::Created {
        email: account.email,
        generated_password: generated.then_some(password),
    })
}
