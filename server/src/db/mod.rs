//! Persistence: the SeaORM entities and the connection, the same on SQLite and PostgreSQL.

pub mod entities;

use std::{path::Path, time::Duration};

use migrations::MigratorTrait;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

/// Opens the database named by `url`, creating a SQLite file and its folder when needed, and
/// brings the schema up to date.
pub async fn connect_and_migrate(url: &str) -> Result<DatabaseConnection, DbErr> {
    let url = prepare_sqlite_url(url)?;
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(16)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .sqlx_logging(false)
        // Every connection of the pool, not only the first: WAL lets readers proceed while a
        // login writes; NORMAL is durable across application crashes and loses at most the last
        // transactions on power loss.
        .map_sqlx_sqlite_opts(|sqlite| {
            sqlite
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5))
        });
    let db = Database::connect(options).await?;
    migrations::Migrator::up(&db, None).await?;
    Ok(db)
}

/// Begins a transaction that writes. On SQLite it takes the write lock at once (`BEGIN
/// IMMEDIATE`), waiting up to the busy timeout for another writer to finish, so that a
/// transaction that reads first cannot fail when it comes to write (SQLITE_BUSY). PostgreSQL
/// begins as usual.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    })
    .await
}

/// `sqlite://data/portal.db` → the folder exists and the file is created on first open.
fn prepare_sqlite_url(url: &str) -> Result<String, DbErr> {
    let Some(rest) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    else {
        return Ok(url.to_string());
    };
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Ok(url.to_string());
    }
    if let Some(parent) = Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent).map_err(|e| {
            DbErr::Custom(format!(
                "cannot create the folder {}: {e}",
                parent.display()
            ))
        })?;
    }
    Ok(if url.contains("mode=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    })
}
