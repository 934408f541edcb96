//! The foundation: people, roles, agent pools, the identity configuration, sessions,
//! API tokens, the audit log and the one-time SSO state that any replica must be able to read.

use sea_orm_migration::{prelude::*, schema::*};
use sha2::{Digest, Sha256};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Users::Table)
                .col(pk_auto(Users::Id))
                .col(string(Users::Email))
                .col(string_uniq(Users::EmailNormalized))
                .col(string(Users::FirstName))
                .col(string(Users::LastName))
                .col(string(Users::Source))
                .col(boolean(Users::JitProvisioned))
                .col(string_null(Users::IdpProvider))
                .col(string_null(Users::IdpSubject))
                .col(string_null(Users::PasswordHash))
                .col(boolean(Users::Active))
                .col(timestamp_with_time_zone(Users::CreatedAt))
                .col(timestamp_with_time_zone_null(Users::LastLoginAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("users_identity_binding")
                .table(Users::Table)
                .col(Users::IdpProvider)
                .col(Users::IdpSubject)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Roles::Table)
                .col(pk_auto(Roles::Id))
                .col(string_uniq(Roles::Key))
                .col(string(Roles::Name))
                .col(string(Roles::Description))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(UserRoles::Table)
                .col(integer(UserRoles::UserId))
                .col(integer(UserRoles::RoleId))
                .primary_key(
                    Index::create()
                        .col(UserRoles::UserId)
                        .col(UserRoles::RoleId),
                )
                .foreign_key(&mut cascade(
                    UserRoles::Table,
                    UserRoles::UserId,
                    Users::Table,
                    Users::Id,
                ))
                .foreign_key(&mut cascade(
                    UserRoles::Table,
                    UserRoles::RoleId,
                    Roles::Table,
                    Roles::Id,
                ))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(AgentPools::Table)
                .col(pk_auto(AgentPools::Id))
                .col(string_uniq(AgentPools::Name))
                .col(boolean(AgentPools::IsDefault))
                .col(string(AgentPools::AgentKeyHash))
                .col(timestamp_with_time_zone(AgentPools::CreatedAt))
                .to_owned(),
        )
        .await?;
        // At most one default pool, enforced by the database rather than by every writer.
        m.get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX agent_pools_one_default ON agent_pools (is_default) WHERE is_default",
            )
            .await?;
        m.create_table(
            Table::create()
                .table(PoolRoles::Table)
                .col(integer(PoolRoles::PoolId))
                .col(integer(PoolRoles::RoleId))
                .primary_key(
                    Index::create()
                        .col(PoolRoles::PoolId)
                        .col(PoolRoles::RoleId),
                )
                .foreign_key(&mut cascade(
                    PoolRoles::Table,
                    PoolRoles::PoolId,
                    AgentPools::Table,
                    AgentPools::Id,
                ))
                .foreign_key(&mut cascade(
                    PoolRoles::Table,
                    PoolRoles::RoleId,
                    Roles::Table,
                    Roles::Id,
                ))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(PoolMembers::Table)
                .col(integer(PoolMembers::PoolId))
                .col(integer(PoolMembers::UserId))
                .primary_key(
                    Index::create()
                        .col(PoolMembers::PoolId)
                        .col(PoolMembers::UserId),
                )
                .foreign_key(&mut cascade(
                    PoolMembers::Table,
                    PoolMembers::PoolId,
                    AgentPools::Table,
                    AgentPools::Id,
                ))
                .foreign_key(&mut cascade(
                    PoolMembers::Table,
                    PoolMembers::UserId,
                    Users::Table,
                    Users::Id,
                ))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(IdentityConfig::Table)
                .col(integer(IdentityConfig::Id).primary_key())
                .col(string(IdentityConfig::LoginMethod))
                .col(string_null(IdentityConfig::SsoProtocol))
                .col(text_null(IdentityConfig::Saml))
                .col(text_null(IdentityConfig::Oidc))
                .col(string(IdentityConfig::ProvisioningMethod))
                .col(integer_null(IdentityConfig::UpdatedBy))
                .col(string_null(IdentityConfig::UpdatedByEmail))
                .col(timestamp_with_time_zone_null(IdentityConfig::UpdatedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Sessions::Table)
                .col(string(Sessions::IdHash).primary_key())
                .col(integer(Sessions::UserId))
                .col(string(Sessions::CsrfToken))
                .col(timestamp_with_time_zone(Sessions::CreatedAt))
                .col(timestamp_with_time_zone(Sessions::LastSeenAt))
                .col(timestamp_with_time_zone(Sessions::ExpiresAt))
                .foreign_key(&mut cascade(
                    Sessions::Table,
                    Sessions::UserId,
                    Users::Table,
                    Users::Id,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("sessions_by_user")
                .table(Sessions::Table)
                .col(Sessions::UserId)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(ApiTokens::Table)
                .col(pk_auto(ApiTokens::Id))
                .col(integer(ApiTokens::UserId))
                .col(string(ApiTokens::Name))
                .col(string_uniq(ApiTokens::TokenHash))
                .col(timestamp_with_time_zone(ApiTokens::CreatedAt))
                .col(timestamp_with_time_zone_null(ApiTokens::LastUsedAt))
                .col(timestamp_with_time_zone_null(ApiTokens::RevokedAt))
                .foreign_key(&mut cascade(
                    ApiTokens::Table,
                    ApiTokens::UserId,
                    Users::Table,
                    Users::Id,
                ))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(AuditEvents::Table)
                .col(pk_auto(AuditEvents::Id))
                .col(timestamp_with_time_zone(AuditEvents::At))
                .col(integer_null(AuditEvents::ActorId))
                .col(string(AuditEvents::Actor))
                .col(string(AuditEvents::Action))
                .col(string(AuditEvents::Target))
                .col(string(AuditEvents::Outcome))
                .col(text(AuditEvents::Details))
                .col(string(AuditEvents::CorrelationId))
                .to_owned(),
        )
        .await?;
        for (name, col) in [
            ("audit_events_at", AuditEvents::At),
            ("audit_events_correlation", AuditEvents::CorrelationId),
        ] {
            m.create_index(
                Index::create()
                    .name(name)
                    .table(AuditEvents::Table)
                    .col(col)
                    .to_owned(),
            )
            .await?;
        }

        // One-time SSO state: SAML request ids, the assertion replay cache and OIDC login state.
        // Kept in the database so that a login begun on one replica can finish on another.
        m.create_table(
            Table::create()
                .table(SamlRequests::Table)
                .col(string(SamlRequests::Id).primary_key())
                .col(string(SamlRequests::RelayState))
                .col(timestamp_with_time_zone(SamlRequests::ExpiresAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(SamlAssertionsSeen::Table)
                .col(string(SamlAssertionsSeen::AssertionId).primary_key())
                .col(timestamp_with_time_zone(SamlAssertionsSeen::ExpiresAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(OidcLogins::Table)
                .col(string(OidcLogins::StateHash).primary_key())
                .col(string(OidcLogins::BrowserHash))
                .col(string(OidcLogins::Nonce))
                .col(string(OidcLogins::PkceVerifier))
                .col(string(OidcLogins::ReturnTo))
                .col(timestamp_with_time_zone(OidcLogins::ExpiresAt))
                .to_owned(),
        )
        .await?;

        seed(m).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            OidcLogins::Table.into_iden(),
            SamlAssertionsSeen::Table.into_iden(),
            SamlRequests::Table.into_iden(),
            AuditEvents::Table.into_iden(),
            ApiTokens::Table.into_iden(),
            Sessions::Table.into_iden(),
            IdentityConfig::Table.into_iden(),
            PoolMembers::Table.into_iden(),
            PoolRoles::Table.into_iden(),
            AgentPools::Table.into_iden(),
            UserRoles::Table.into_iden(),
            Roles::Table.into_iden(),
            Users::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

/// The predefined roles, the default agent pool and the identity configuration's one row.
async fn seed(m: &SchemaManager<'_>) -> Result<(), DbErr> {
    let roles = Query::insert()
        .into_table(Roles::Table)
        .columns([Roles::Key, Roles::Name, Roles::Description])
        .values_panic([
            "admin".into(),
            "Admin".into(),
            "Configures sign-in and provisioning, manages people and agent pools.".into(),
        ])
        .values_panic([
            "user".into(),
            "User".into(),
            "Uses the agents of their agent pools.".into(),
        ])
        .values_panic([
            "viewer".into(),
            "Viewer".into(),
            "Reads everything, changes nothing; for auditors.".into(),
        ])
        .to_owned();
    m.exec_stmt(roles).await?;

    // The default pool's agent key is never shown; an admin rotates it to obtain one.
    let key_hash = hex::encode(Sha256::digest(rand::random::<[u8; 32]>()));
    let pool = Query::insert()
        .into_table(AgentPools::Table)
        .columns([
            AgentPools::Name,
            AgentPools::IsDefault,
            AgentPools::AgentKeyHash,
            AgentPools::CreatedAt,
        ])
        .values_panic([
            "default".into(),
            true.into(),
            key_hash.into(),
            chrono::Utc::now().into(),
        ])
        .to_owned();
    m.exec_stmt(pool).await?;

    let config = Query::insert()
        .into_table(IdentityConfig::Table)
        .columns([
            IdentityConfig::Id,
            IdentityConfig::LoginMethod,
            IdentityConfig::ProvisioningMethod,
        ])
        .values_panic([1.into(), "password".into(), "manual".into()])
        .to_owned();
    m.exec_stmt(config).await
}

/// A foreign key whose rows go when the row they point at goes.
fn cascade(
    table: impl IntoIden,
    col: impl IntoIden,
    ref_table: impl IntoIden,
    ref_col: impl IntoIden,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(table.into_iden(), col.into_iden())
        .to(ref_table.into_iden(), ref_col.into_iden())
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Email,
    EmailNormalized,
    FirstName,
    LastName,
    Source,
    JitProvisioned,
    IdpProvider,
    IdpSubject,
    PasswordHash,
    Active,
    CreatedAt,
    LastLoginAt,
}

#[derive(DeriveIden)]
enum Roles {
    Table,
    Id,
    Key,
    Name,
    Description,
}

#[derive(DeriveIden)]
enum UserRoles {
    Table,
    UserId,
    RoleId,
}

#[derive(DeriveIden)]
enum AgentPools {
    Table,
    Id,
    Name,
    IsDefault,
    AgentKeyHash,
    CreatedAt,
}

#[derive(DeriveIden)]
enum PoolRoles {
    Table,
    PoolId,
    RoleId,
}

#[derive(DeriveIden)]
enum PoolMembers {
    Table,
    PoolId,
    UserId,
}

#[derive(DeriveIden)]
enum IdentityConfig {
    Table,
    Id,
    LoginMethod,
    SsoProtocol,
    Saml,
    Oidc,
    ProvisioningMethod,
    UpdatedBy,
    UpdatedByEmail,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    IdHash,
    UserId,
    CsrfToken,
    CreatedAt,
    LastSeenAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum ApiTokens {
    Table,
    Id,
    UserId,
    Name,
    TokenHash,
    CreatedAt,
    LastUsedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    At,
    ActorId,
    Actor,
    Action,
    Target,
    Outcome,
    Details,
    CorrelationId,
}

#[derive(DeriveIden)]
enum SamlRequests {
    Table,
    Id,
    RelayState,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum SamlAssertionsSeen {
    Table,
    AssertionId,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum OidcLogins {
    Table,
    StateHash,
    BrowserHash,
    Nonce,
    PkceVerifier,
    ReturnTo,
    ExpiresAt,
}
