//! Draws the identity configuration's revision at random where `m20261205_000003` added one,
//! for the changes its trigger numbers (an operator's own SQL, or a save of a release from
//! before that migration); Portal's save draws its own. A counted revision repeats once a
//! database is restored from a backup and saved again, and a replica that held the later
//! configuration under that number would go on deciding sign-ins on it. A drawn one, from 1 to
//! 2^62, repeats only by chance.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::m20261205_000003_identity_config_revision::{
    POSTGRES_FUNCTION as COUNTED_POSTGRES_FUNCTION, SQLITE_TRIGGER as COUNTED_SQLITE_TRIGGER,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

const SQLITE_TRIGGER: &str = "CREATE TRIGGER identity_config_revision \
    AFTER UPDATE ON identity_config \
    WHEN NEW.revision = OLD.revision AND ( \
        NEW.login_method IS NOT OLD.login_method \
        OR NEW.sso_protocol IS NOT OLD.sso_protocol \
        OR NEW.saml IS NOT OLD.saml \
        OR NEW.oidc IS NOT OLD.oidc \
        OR NEW.provisioning_method IS NOT OLD.provisioning_method) \
    BEGIN \
        UPDATE identity_config SET revision = (random() & 4611686018427387903) + 1 \
            WHERE id = NEW.id; \
    END";

const POSTGRES_FUNCTION: &str = "CREATE OR REPLACE FUNCTION identity_config_revision() \
    RETURNS trigger LANGUAGE plpgsql AS $$ \
    BEGIN \
        IF NEW.revision = OLD.revision AND \
            (NEW.login_method, NEW.sso_protocol, NEW.saml, NEW.oidc, NEW.provisioning_method) \
            IS DISTINCT FROM \
            (OLD.login_method, OLD.sso_protocol, OLD.saml, OLD.oidc, OLD.provisioning_method) \
        THEN \
            NEW.revision := 1 + floor(random() * 4611686018427387904)::bigint; \
        END IF; \
        RETURN NEW; \
    END $$";

const SQLITE_DROP: &str = "DROP TRIGGER IF EXISTS identity_config_revision";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        match m.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared(POSTGRES_FUNCTION).await?;
            }
            _ => {
                db.execute_unprepared(SQLITE_DROP).await?;
                db.execute_unprepared(SQLITE_TRIGGER).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        match m.get_database_backend() {
            DbBackend::Postgres => {
                let counted = COUNTED_POSTGRES_FUNCTION.replacen(
                    "CREATE FUNCTION",
                    "CREATE OR REPLACE FUNCTION",
                    1,
                );
                db.execute_unprepared(&counted).await?;
            }
            _ => {
                db.execute_unprepared(SQLITE_DROP).await?;
                db.execute_unprepared(COUNTED_SQLITE_TRIGGER).await?;
            }
        }
        Ok(())
    }
}
