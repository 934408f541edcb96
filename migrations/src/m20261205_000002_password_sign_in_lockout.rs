//! Counts the failed password sign-ins in a row for each email typed, and when too many have
//! failed, until when the password is not even checked. Keyed by the email as typed (lower-cased),
//! not by account, so that an address without an account locks the same way and the lock tells
//! nobody which addresses have one; in the database, so that every replica sees it and a
//! restart does not forget it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    integer, string, timestamp_with_time_zone, timestamp_with_time_zone_null,
};
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let create = Table::create()
            .table(PasswordFailures::Table)
            .col(string(PasswordFailures::EmailNormalized).primary_key())
            .col(integer(PasswordFailures::Failures))
            .col(timestamp_with_time_zone_null(PasswordFailures::LockedUntil))
            .col(timestamp_with_time_zone(PasswordFailures::LastFailureAt))
            .to_owned();
        match m.get_database_backend() {
            // Keyed by text: stored by that key, as the other such tables are.
            DbBackend::Sqlite => {
                let sql = format!("{} WITHOUT ROWID", create.to_string(SqliteQueryBuilder));
                m.get_connection().execute_unprepared(&sql).await?;
                Ok(())
            }
            _ => m.create_table(create).await,
        }
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(PasswordFailures::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum PasswordFailures {
    Table,
    EmailNormalized,
    Failures,
    LockedUntil,
    LastFailureAt,
}
