//! Portal's schema, applied at start-up on SQLite and PostgreSQL alike.
//! Each migration is a file of its own; never edit one that has shipped, add another.

pub use sea_orm_migration::prelude::*;

mod m20261128_000001_foundation;
mod m20261202_000001_pool_members_by_user;
mod m20261203_000001_sqlite_tables_by_key;
mod m20261204_000001_saml_request_browser;
mod m20261205_000001_emails_ascii_case;
mod m20261205_000002_password_sign_in_lockout;
mod m20261205_000003_identity_config_revision;
mod m20261205_000004_identity_config_revision_drawn;
mod m20261205_000005_oidc_login_client;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261128_000001_foundation::Migration),
            Box::new(m20261202_000001_pool_members_by_user::Migration),
            Box::new(m20261203_000001_sqlite_tables_by_key::Migration),
            Box::new(m20261204_000001_saml_request_browser::Migration),
            Box::new(m20261205_000001_emails_ascii_case::Migration),
            Box::new(m20261205_000002_password_sign_in_lockout::Migration),
            Box::new(m20261205_000003_identity_config_revision::Migration),
            Box::new(m20261205_000004_identity_config_revision_drawn::Migration),
            Box::new(m20261205_000005_oidc_login_client::Migration),
        ]
    }
}
