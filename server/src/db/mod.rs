//! Persistence: the SeaORM entities and the connection, the same on SQLite and PostgreSQL.

pub mod entities;

use std::{path::Path, time::Duration};

use migrations::MigratorTrait;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr};

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
        .sqlx_logging(false);
    let db = Database::connect(options).await?;
    if db.get_database_backend() == DbBackend::Sqlite {
        // WAL lets readers proceed while a login writes; NORMAL is durable across application
        // crashes and loses at most the last transactions on power loss.
        db.execute_unprepared("PRAGMA journal_mode=WAL").await?;
        db.execute_unprepared("PRAGMA synchronous=NORMAL").await?;
        db.execute_unprepared("PRAGMA foreign_keys=ON").await?;
    }
    migrations::Migrator::up(&db, None).await?;
    Ok(db)
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
