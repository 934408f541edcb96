//! Finds a person's agent pools without reading every membership. Membership's primary key
//! starts with the pool, so a lookup by person (their roles on every signed-in request, and the
//! cascade when they are removed) scanned the whole table: 20,000 rows after a storm of first
//! sign-ins, all in the default pool.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name("pool_members_by_user")
                .table(PoolMembers::Table)
                .col(PoolMembers::UserId)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("pool_members_by_user")
                .table(PoolMembers::Table)
                .to_owned(),
        )
        .await
    }
}

#[derive(DeriveIden)]
enum PoolMembers {
    Table,
    UserId,
}
