//! On SQLite, stores each table whose key is not one integer id by that key (`WITHOUT ROWID`).
//!
//! An ordinary SQLite table is a B-tree by row number, and its primary key a second B-tree that
//! points into the first: a row of `sessions` was written twice, and read through two lookups.
//! Stored by its key, it is written once. A first sign-in writes to four of these tables (the
//! assertion id, the person's pool and role, their session; five when Portal sent the person to
//! Okta, with the SAML request), so it writes four B-trees fewer. PostgreSQL always keeps a
//! table apart from its key's index and has no such option: nothing changes there.
//!
//! Each table is rebuilt the way SQLite's documentation describes: a new table created from the
//! old one's own definition, its rows copied, the old table dropped, the new one renamed, and
//! the old table's indexes created again. Nothing refers to these tables, so no other table
//! changes and foreign keys stay on, which the documentation's procedure turns off for tables
//! that others refer to. It runs inside the start-up transaction: if any step fails, none is
//! kept, and the error names the table.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{DbBackend, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Every table keyed by a text id or by two ids.
const TABLES_BY_KEY: [&str; 7] = [
    "user_roles",
    "pool_roles",
    "pool_members",
    "sessions",
    "saml_requests",
    "saml_assertions_seen",
    "oidc_logins",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        rebuild_all(m, Storage::ByKey).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        rebuild_all(m, Storage::ByRowNumber).await
    }
}

/// On SQLite, rebuilds every table of [`TABLES_BY_KEY`] stored as `storage` says; elsewhere,
/// nothing.
async fn rebuild_all(m: &SchemaManager<'_>, storage: Storage) -> Result<(), DbErr> {
    if m.get_database_backend() != DbBackend::Sqlite {
        return Ok(());
    }
    for table in TABLES_BY_KEY {
        rebuild(m.get_connection(), table, storage).await?;
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Storage {
    ByKey,
    ByRowNumber,
}

/// Rebuilds `table` stored as `storage` says, with its rows, its foreign keys and its indexes.
async fn rebuild(db: &impl ConnectionTrait, table: &str, storage: Storage) -> Result<(), DbErr> {
    rebuild_steps(db, table, storage)
        .await
        .map_err(|e| DbErr::Migration(format!("could not rebuild the table {table}: {e}")))
}

async fn rebuild_steps(
    db: &impl ConnectionTrait,
    table: &str,
    storage: Storage,
) -> Result<(), DbErr> {
    let schema = |kind: &str| {
        Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "SELECT sql FROM sqlite_master WHERE type = ? AND tbl_name = ? AND sql IS NOT NULL",
            [kind.into(), table.into()],
        )
    };
    let definition: String = db
        .query_one_raw(schema("table"))
        .await?
        .ok_or_else(|| DbErr::Migration(format!("the table {table} is missing")))?
        .try_get_by_index(0)?;
    let indexes = db
        .query_all_raw(schema("index"))
        .await?
        .iter()
        .map(|row| row.try_get_by_index::<String>(0))
        .collect::<Result<Vec<_>, _>>()?;

    // `CREATE TABLE "name" (columns and constraints)`, perhaps followed by `WITHOUT ROWID`.
    let columns = definition
        .split_once('(')
        .map(|(_, rest)| rest.trim_end())
        .map(|rest| {
            rest.strip_suffix("WITHOUT ROWID")
                .map_or(rest, str::trim_end)
        })
        .ok_or_else(|| DbErr::Migration(format!("cannot read the definition of {table}")))?;
    let suffix = match storage {
        Storage::ByKey => " WITHOUT ROWID",
        Storage::ByRowNumber => "",
    };
    let rebuilt = format!("{table}_rebuilt");
    let mut steps = Vec::new();
    if let Storage::ByKey = storage {
        // A row whose person, pool or role is gone (removed while foreign keys were off, by
        // hand with the `sqlite3` tool, whose default that is) can never be read, and its copy
        // would break the new table's foreign keys. Only a table stored by row number can be
        // asked for such rows by number; a table stored by its key was filled with them on.
        steps.push(format!(
            "DELETE FROM \"{table}\" WHERE rowid IN \
             (SELECT rowid FROM pragma_foreign_key_check('{table}'))"
        ));
    }
    steps.extend([
        format!("CREATE TABLE \"{rebuilt}\" ({columns}{suffix}"),
        format!("INSERT INTO \"{rebuilt}\" SELECT * FROM \"{table}\""),
        format!("DROP TABLE \"{table}\""),
        format!("ALTER TABLE \"{rebuilt}\" RENAME TO \"{table}\""),
    ]);
    steps.extend(indexes);
    for step in steps {
        db.execute_unprepared(&step).await?;
    }
    Ok(())
}
