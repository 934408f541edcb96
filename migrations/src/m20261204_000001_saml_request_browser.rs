//! Binds an SP-initiated SAML sign-in to the browser that started it: the digest of a cookie
//! set when Portal sends the person to Okta, which the answer must come back with. Requests
//! made before this migration carry an empty digest and are answered as before, for the ten
//! minutes they live.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(SamlRequests::Table)
                .add_column(
                    ColumnDef::new(SamlRequests::BrowserHash)
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
                .table(SamlRequests::Table)
                .drop_column(SamlRequests::BrowserHash)
                .to_owned(),
        )
        .await
    }
}

#[derive(DeriveIden)]
enum SamlRequests {
    Table,
    BrowserHash,
}
