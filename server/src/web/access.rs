//! The People and access pages (Users, a person, Agent Pools, a pool, Roles, Audit Log) as the
//! server answers them: every read needs Admin or Viewer, every change Admin and the session's
//! form token; the services in `people`, `pools` and `audit` do the work.

use app::model::{
    AppError, AuditQuery, AuditRow, AuditView, CreatedPool, NewPersonForm, PersonEdit, PersonView,
    PoolDetail, PoolEdit, PoolOption, PoolRow, PoolsView, RoleRow, UserRow, UsersQuery, UsersView,
};
use axum::http::request::Parts;
use sea_orm::EntityTrait;

use super::{correlation, session_csrf};
use crate::auth::caller::Caller;
use crate::db::entities::user;
use crate::domain::{ProvisioningMethod, Role};
use crate::error::PortalError;
use crate::identity::jit_obstacle;
use crate::people::{self, admin::PersonChange, Listing, PeopleQuery};
use crate::pools::{self, PoolChange, PoolView};
use crate::state::Portal;

fn roles_from_keys(keys: &[String]) -> Vec<Role> {
    keys.iter().filter_map(|k| Role::from_key(k)).collect()
}

fn row(person: Listing) -> UserRow {
    UserRow {
        id: person.id,
        name: format!("{} {}", person.first_name, person.last_name)
            .trim()
            .to_string(),
        email: person.email,
        source: person.source,
        jit_provisioned: person.jit_provisioned,
        active: person.active,
        roles: person.roles,
        pools: person.pools,
        last_sign_in: person
            .last_login_at
            .map(|at| at.format("%Y-%m-%d %H:%M UTC").to_string()),
    }
}

/// "SAML 2.0 identity provider … as …" or "OpenID Connect issuer … as …".
fn identity_in_words(identity: &people::SsoIdentity) -> String {
    let at = match identity.provider.split_once(':') {
        Some(("saml", entity_id)) => format!("the SAML 2.0 identity provider {entity_id}"),
        Some(("oidc", issuer)) => format!("the OpenID Connect issuer {issuer}"),
        _ => identity.provider.clone(),
    };
    format!("{} at {at}", identity.subject)
}

fn pool_row(pool: PoolView, members: Vec<(i32, String)>) -> PoolRow {
    PoolRow {
        id: pool.id,
        name: pool.name,
        is_default: pool.is_default,
        roles: pool.roles,
        members,
    }
}

impl Portal {
    async fn reader(&self, request: &Parts) -> Result<Caller, PortalError> {
        let caller = self.request_caller(request).await?;
        if caller.may_read_people() {
            Ok(caller)
        } else {
            Err(PortalError::Forbidden)
        }
    }

    /// An admin's form: the role first, then the form token.
    async fn writer(&self, request: &Parts, csrf: &str) -> Result<Caller, PortalError> {
        let caller = self.request_caller(request).await?.require(Role::Admin)?;
        caller.check_csrf(csrf)?;
        Ok(caller)
    }

    async fn pool_options(&self) -> Result<Vec<PoolOption>, PortalError> {
        Ok(pools::list(&self.db)
            .await?
            .into_iter()
            .map(|p| PoolOption {
                id: p.id,
                name: p.name,
            })
            .collect())
    }

    async fn pool_members(&self, pool_id: i32) -> Result<Vec<(i32, String)>, PortalError> {
        use sea_orm::{ColumnTrait, QueryFilter, QueryOrder};
        let ids: Vec<i32> = crate::db::entities::pool_member::Entity::find()
            .filter(crate::db::entities::pool_member::Column::PoolId.eq(pool_id))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|m| m.user_id)
            .collect();
        Ok(user::Entity::find()
            .filter(user::Column::Id.is_in(ids))
            .order_by_asc(user::Column::Email)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|u| (u.id, u.email))
            .collect())
    }

    pub(super) async fn users_page_view(
        &self,
        request: &Parts,
        query: UsersQuery,
    ) -> Result<UsersView, AppError> {
        let id = correlation(request);
        let result = async {
            let caller = self.reader(request).await?;
            let search = PeopleQuery {
                q: Some(query.q),
                source: Some(query.source),
                status: Some(query.status),
                page: Some(query.page.max(1)),
                per_page: Some(25),
            };
            let (listings, total) = people::search(&self.db, &search).await?;
            let config = self.identity_config().await?;
            let jit_on = config.provisioning == ProvisioningMethod::SsoJit;
            let release = self.config.release;
            Ok(UsersView {
                rows: listings.into_iter().map(row).collect(),
                total,
                page: query.page.max(1),
                per_page: 25,
                can_write: caller.has(Role::Admin),
                jit_on,
                jit_idle_reason: jit_on
                    .then(|| jit_obstacle(&config, self.config.plan, release))
                    .flatten(),
                jit_label: release.jit_label().to_string(),
                pools: self.pool_options().await?,
                csrf_token: session_csrf(&caller),
            })
        };
        result.await.map_err(|e: PortalError| e.for_page(&id))
    }

    pub(super) async fn add_person_form(
        &self,
        request: &Parts,
        csrf: String,
        form: NewPersonForm,
    ) -> Result<i32, AppError> {
        let id = correlation(request);
        let result = async {
            let caller = self.writer(request, &csrf).await?;
            let new = people::admin::NewPerson {
                first_name: form.first_name,
                last_name: form.last_name,
                email: form.email,
                roles: roles_from_keys(&form.roles),
                pools: form.pool.into_iter().collect(),
            };
            Ok(self.add_person(&caller, new, &id).await?.id)
        };
        result.await.map_err(|e: PortalError| e.for_page(&id))
    }

    async fn person_view(
        &self,
        caller: &Caller,
        person_id: i32,
    ) -> Result<PersonView, PortalError> {
        let account = user::Entity::find_by_id(person_id)
            .one(&self.db)
            .await?
            .ok_or_else(|| PortalError::NotFound(format!("user {person_id}")))?;
        let listing = people::listing(&self.db, account).await?;
        let sso_identity = listing.sso_identity.as_ref().map(identity_in_words);
        let sources = people::role_sources(&self.db, person_id).await?;
        let direct_roles = sources
            .iter()
            .filter(|s| s.from == "direct")
            .map(|s| s.role.clone())
            .collect();
        let all_pools = self.pool_options().await?;
        let (memberships, other_pools) = all_pools
            .into_iter()
            .partition(|p| listing.pools.contains(&p.name));
        Ok(PersonView {
            person: row(listing),
            role_sources: sources.into_iter().map(|s| (s.role, s.from)).collect(),
            direct_roles,
            memberships,
            other_pools,
            can_write: caller.has(Role::Admin),
            is_self: caller.user.id == person_id,
            csrf_token: session_csrf(caller),
            sso_identity,
        })
    }

    pub(super) async fn person_page_view(
        &self,
        request: &Parts,
        person_id: i32,
    ) -> Result<PersonView, AppError> {
        let id = correlation(request);
        let result = async {
            let caller = self.reader(request).await?;
            self.person_view(&caller, person_id).await
        };
        result.await.map_err(|e: PortalError| e.for_page(&id))
    }

    pub(super) async fn change_person_form(
        &self,
        request: &Parts,
        csrf: String,
        person_id: i32,
        edit: PersonEdit,
    ) -> Result<PersonView, AppError> {
        let id = correlation(request);
        let result = async {
            let caller = self.writer(request, &csrf).await?;
            // One membership at a time, as the pool's page changes it: another admin's change
            // to the person's other pools, made meanwhile, stays.
            let change = match edit {
                PersonEdit::AddPool(pool) => {
                    self.add_pool_member(&caller, pool, person_id, &id).await?;
                    return self.person_view(&caller, person_id).await;
                }
                PersonEdit::RemovePool(pool) => {
                    self.remove_pool_member(&caller, pool, person_id, &id)
                        .await?;
                    return self.person_view(&caller, person_id).await;
                }
                PersonEdit::Roles(keys) => PersonChange {
                    roles: Some(roles_from_keys(&keys)),
                    ..Default::default()
                },
                PersonEdit::Active(active) => PersonChange {
                    active: Some(active),
                    ..Default::default()
                },
                PersonEdit::UnlinkSsoIdentity => PersonChange {
                    unlink_sso_identity: true,
                    ..Default::default()
                },
                PersonEdit::Email {
                    email,
                    unlink_sso_identity,
                } => PersonChange {
                    email: Some(email),
                    unlink_sso_identity,
                    ..Default::default()
                },
            };
            self.change_person(&caller, person_id, change, &id).await?;
            self.person_view(&caller, person_id).await
        };
        result.await.map_err(|e: PortalError| e.for_page(&id))
    }

    pub(super) async fn remove_person_form(
        &self,
        request: &Parts,
        csrf: String,
        person_id: i32,
    ) -> Result<String, AppError> {
        let id = correlation(request);
        let result = async {
            let caller = self.writer(request, &csrf).await?;
            let account = user::Entity::find_by_id(person_id)
                .one(&self.db)
                .await?
                .ok_or_else(|| PortalError::NotFound(format!("user {person_id}")))?;
            self.remove_person(&caller, person_id, &id).await?;
            Ok(account.email)
        };
        result.await.map_err(|e: PortalError| e.for_page(&id))
    }

    pub(super) async fn pools_page_view(&self, request: &Parts) -> Result<PoolsView, AppError> {
        let id = correlation(request);
        let result = async {
            let caller = self.reader(request).await?;
            let mut rows = Vec::new();
            for pool in pools::list(&self.db).await? {
                let members = self.pool_members(pool.id).await?;
                rows.push(pool_row(pool, members));
            }
            Ok(PoolsView {
                pools: rows,
                can_write: caller.has(Role::Admin),
                csrf_token: session_csrf(&caller),
            })
        };
        result.await.map_err(|e: PortalError| e.for_page(&id))
    }

    async fn pool_detail(&self, caller: &Caller, pool_id: i32) -> Result<PoolDetail, PortalError> {
        let pool = pools::get(&self.db, pool_id).await?;
        let members = self.pool_members(pool_id).await?;
        Ok(PoolDetail {
            pool: pool_row(pool, members),
            can_write: caller.has(Role::Admin),
            csrf_token: session_csrf(caller),
        })
    }

    pub(super) async fn pool_page_view(
        &self,
        request: &Parts,
        pool_id: i32,
    ) -> Result<PoolDetail, AppError> {
        let id = correlation(request);
        let result = async {
            let caller = self.reader(request).await?;
            self.pool_detail(&caller, pool_id).await
        };
        result.await.map_err(|e: PortalError| e.for_page(&id))
    }

    pub(super) async fn create_pool_form(
        &self,
        request: &Parts,
        csrf: String,
        name: String,
        roles: Vec<String>,
    ) -> Result<CreatedPool, AppError> {
        let id = correlation(request);
        let result = async {
            let caller = self.writer(request, &csrf).await?;
            let made = self
                .create_pool(
                    &caller,
                    pools::NewPool {
                        name,
                        roles: roles_from_keys(&roles),
                    },
                    &id,
                )
                .await?;
            Ok(CreatedPool {
                pool: pool_row(made.pool, vec![]),
                agent_key: made.agent_key,
            })
        };
        result.await.map_err(|e: PortalError| e.for_page(&id))
    }

    pub(super) async fn change_pool_form(
        &self,
        request: &Parts,
        csrf: String,
        pool_id: i32,
        edit: PoolEdit,
    ) -> Result<PoolDetail, AppError> {
        let id = correlation(request);
        let result = async {
            let caller = self.writer(request, &csrf).await?;
            match edit {
                PoolEdit::Rename(name) => {
                    self.change_pool(
                        &caller,
                        pool_id,
                        PoolChange {
                            name: Some(name),
                            ..Default::default()
                        },
                        &id,
                    )
                    .await?;
                }
                PoolEdit::Roles(keys) => {
                    self.change_pool(
                        &caller,
                        pool_id,
                        PoolChange {
                            roles: Some(roles_from_keys(&keys)),
                            ..Default::default()
                        },
                        &id,
                    )
                    .await?;
                }
                PoolEdit::MakeDefault => {
                    self.change_pool(
                        &caller,
                        pool_id,
                        PoolChange {
                            is_default: Some(true),
                            ..Default::default()
                        },
                        &id,
                    )
                    .await?;
                }
                PoolEdit::AddMember(email) => {
                    let email = crate::domain::Email::parse(&email)
                        .map_err(|m| PortalError::invalid("email", m))?;
                    let person =
                        people::find_by_email(&self.db, &email)
                            .await?
                            .ok_or_else(|| {
                                PortalError::invalid(
                                    "email",
                                    format!("{email} has no Portal account"),
                                )
                            })?;
                    self.add_pool_member(&caller, pool_id, person.id, &id)
                        .await?;
                }
                PoolEdit::RemoveMember(user_id) => {
                    self.remove_pool_member(&caller, pool_id, user_id, &id)
                        .await?;
                }
            }
            self.pool_detail(&caller, pool_id).await
        };
        result.await.map_err(|e: PortalError| e.for_page(&id))
    }

    pub(super) async fn rotate_pool_key_form(
        &self,
        request: &Parts,
        csrf: String,
        pool_id: i32,
    ) -> Result<String, AppError> {
        let id = correlation(request);
        let result = async {
            let caller = self.writer(request, &csrf).await?;
            self.rotate_agent_key(&caller, pool_id, &id).await
        };
        result.await.map_err(|e: PortalError| e.for_page(&id))
    }

    pub(super) async fn delete_pool_form(
        &self,
        request: &Parts,
        csrf: String,
        pool_id: i32,
        confirm: bool,
    ) -> Result<(), AppError> {
        let id = correlation(request);
        let result = async {
            let caller = self.writer(request, &csrf).await?;
            self.delete_pool(&caller, pool_id, confirm, &id).await
        };
        result.await.map_err(|e: PortalError| e.for_page(&id))
    }

    pub(super) async fn roles_page_view(&self, request: &Parts) -> Result<Vec<RoleRow>, AppError> {
        let id = correlation(request);
        let result = async {
            self.reader(request).await?;
            Ok([Role::Admin, Role::Viewer, Role::User]
                .into_iter()
                .map(|role| RoleRow {
                    role: role.key().to_string(),
                    may: role.capabilities().iter().map(|c| c.to_string()).collect(),
                })
                .collect())
        };
        result.await.map_err(|e: PortalError| e.for_page(&id))
    }

    pub(super) async fn audit_page_view(
        &self,
        request: &Parts,
        query: AuditQuery,
    ) -> Result<AuditView, AppError> {
        let id = correlation(request);
        let result = async {
            self.reader(request).await?;
            let text = |s: String| Some(s).filter(|s| !s.trim().is_empty());
            // The same reading of days and instants as the API's.
            let bounds: crate::audit::AuditFilter = serde_json::from_value(serde_json::json!({
                "since": query.since,
                "until": query.until,
            }))
            .map_err(|e| PortalError::invalid("since", format!("{e}")))?;
            let (since, until) = (bounds.since, bounds.until);
            let filter = crate::audit::AuditFilter {
                outcome: text(query.outcome),
                action: text(query.action),
                person: text(query.person),
                correlation_id: text(query.correlation_id),
                since,
                until,
                page: Some(query.page.max(1)),
                per_page: Some(50),
            };
            let page = crate::audit::search(&self.db, &filter).await?;
            Ok(AuditView {
                rows: page
                    .events
                    .into_iter()
                    .map(|e| AuditRow {
                        at: e.at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
                        actor: e.actor,
                        action: e.action,
                        target: e.target,
                        outcome: e.outcome,
                        correlation_id: e.correlation_id,
                        details: e.details.to_string(),
                    })
                    .collect(),
                total: page.total,
                page: page.page,
                per_page: page.per_page,
            })
        };
        result.await.map_err(|e: PortalError| e.for_page(&id))
    }
}
