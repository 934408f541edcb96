//! Email addresses are told apart ignoring the case of ASCII letters only. Unicode's lower-casing
//! made distinct addresses one: `\u{212A}evin@example.com` (a Kelvin sign) became
//! `kevin@example.com`, so an identity provider asserting the first could have been linked to
//! the account of the second. Each stored `email_normalized` is recomputed from its address;
//! only addresses with upper-case letters beyond ASCII change, and the new forms tell more
//! addresses apart than the old ones did, so no two accounts can come to share one.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, FromQueryResult};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(FromQueryResult)]
struct Address {
    id: i32,
    email: String,
    email_normalized: String,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        renormalize(m, str::to_ascii_lowercase).await
    }

    /// Back to Unicode's lower-casing; it fails, changing nothing, where two accounts made since
    /// would come to share an address.
    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        renormalize(m, str::to_lowercase).await
    }
}

/// Sets each account's `email_normalized` to `normalize` of its address, where it differs.
async fn renormalize(m: &SchemaManager<'_>, normalize: fn(&str) -> String) -> Result<(), DbErr> {
    let db = m.get_connection();
    let backend = db.get_database_backend();
    let select = Query::select()
        .columns([Users::Id, Users::Email, Users::EmailNormalized])
        .from(Users::Table)
        .to_owned();
    for address in Address::find_by_statement(backend.build(&select))
        .all(db)
        .await?
    {
        let normalized = normalize(&address.email);
        if normalized != address.email_normalized {
            let update = Query::update()
                .table(Users::Table)
                .value(Users::EmailNormalized, normalized)
                .and_where(Expr::col(Users::Id).eq(address.id))
                .to_owned();
            db.execute(&update).await?;
        }
    }
    Ok(())
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Email,
    EmailNormalized,
}
