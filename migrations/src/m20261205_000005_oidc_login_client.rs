//! Binds an OIDC sign-in to the provider and client it was started with: the digest of the
//! discovery URL and client id, which the callback must still be configured with before Portal
//! sends the code anywhere. Sign-ins started before this migration, or by a replica of an
//! earlier release during a rolling upgrade, carry an empty digest and are finished as before.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(OidcLogins::Table)
                .add_column(
                    ColumnDef::new(OidcLogins::ClientKey)
                        .string()
                        .not_null()
                        .default(""),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(OidcLogins::Table)
                .drop_column(OidcLogins::ClientKey)
                .to_owned(),
        )
        .await
    }
}

#[derive(DeriveIden)]
enum OidcLogins {
    Table,
    ClientKey,
}
