//! Numbers each saved identity configuration, so that a sign-in can write its session only
//! while the configuration it was decided on is still the one in force: every save adds one
//! (drawn at random instead since `m20261205_000004`).
//! A configuration saved before this migration is revision 0.
//!
//! Portal's save sets the revision itself. A trigger adds one to any other update that changes
//! what the configuration says and leaves the revision as it was: a replica of an earlier
//! release saving during a rolling upgrade, or an operator's own SQL. The configuration's
//! meaning is its login method, protocol, SAML and OIDC documents and provisioning method; who
//! saved it and when are not compared.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

pub(crate) const SQLITE_TRIGGER: &str = "CREATE TRIGGER identity_config_revision \
    AFTER UPDATE ON identity_config \
    WHEN NEW.revision = OLD.revision AND ( \
        NEW.login_method IS NOT OLD.login_method \
        OR NEW.sso_protocol IS NOT OLD.sso_protocol \
        OR NEW.saml IS NOT OLD.saml \
        OR NEW.oidc IS NOT OLD.oidc \
        OR NEW.provisioning_method IS NOT OLD.provisioning_method) \
    BEGIN \
        UPDATE identity_config SET revision = OLD.revision + 1 WHERE id = NEW.id; \
    END";

pub(crate) const POSTGRES_FUNCTION: &str =
    "CREATE FUNCTION identity_config_revision() RETURNS trigger \
    LANGUAGE plpgsql AS $$ \
    BEGIN \
        IF NEW.revision = OLD.revision AND \
            (NEW.login_method, NEW.sso_protocol, NEW.saml, NEW.oidc, NEW.provisioning_method) \
            IS DISTINCT FROM \
            (OLD.login_method, OLD.sso_protocol, OLD.saml, OLD.oidc, OLD.provisioning_method) \
        THEN \
            NEW.revision := OLD.revision + 1; \
        END IF; \
        RETURN NEW; \
    END $$";

const POSTGRES_TRIGGER: &str = "CREATE TRIGGER identity_config_revision \
    BEFORE UPDATE ON identity_config \
    FOR EACH ROW EXECUTE FUNCTION identity_config_revision()";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(IdentityConfig::Table)
                .add_column(
                    ColumnDef::new(IdentityConfig::Revision)
                        .big_integer()
                        .not_null()
                        .default(0),
                )
                .to_owned(),
        )
        .await?;
        let db = m.get_connection();
        match m.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared(POSTGRES_FUNCTION).await?;
                db.execute_unprepared(POSTGRES_TRIGGER).await?;
            }
            _ => {
                db.execute_unprepared(SQLITE_TRIGGER).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        match m.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared(
                    "DROP TRIGGER IF EXISTS identity_config_revision ON identity_config",
                )
                .await?;
                db.execute_unprepared("DROP FUNCTION IF EXISTS identity_config_revision()")
                    .await?;
            }
            _ => {
                db.execute_unprepared("DROP TRIGGER IF EXISTS identity_config_revision")
                    .await?;
            }
        }
        m.alter_table(
            Table::alter()
                .table(IdentityConfig::Table)
                .drop_column(IdentityConfig::Revision)
                .to_owned(),
        )
        .await
    }
}

#[derive(DeriveIden)]
enum IdentityConfig {
    Table,
    Revision,
}
