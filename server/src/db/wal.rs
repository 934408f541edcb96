//! Keeps a SQLite file's write-ahead log (the `-wal` file beside it) from growing without end.
//!
//! SQLite copies the log back into the database file after every 1,000 pages written (its
//! automatic checkpoint), but it starts writing the log from the beginning again only if no
//! connection is reading the log at that moment. A portal that signs people in without pause
//! always has a reader, so the log only grows: 244 MB after 30,000 sign-ins in the login storm.
//! Every [`EVERY`], once the log has passed [`LIMIT_BYTES`], a `wal_checkpoint(TRUNCATE)` waits
//! for the readers of that moment to finish (new ones read the database file and do not hold it
//! up), copies what is left and empties the file. PostgreSQL needs none of this.

use std::path::PathBuf;
use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};

/// A first sign-in dirties some 13 to 16 pages (about 60 KB of log), so a busy portal adds
/// megabytes a second; a look costs one `stat`.
pub const EVERY: Duration = Duration::from_secs(1);

/// A log this large is emptied at the next look (4,096 pages of 4 KB).
pub const LIMIT_BYTES: u64 = 16 << 20;

/// What a checkpoint found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's size before.
    pub bytes_before: u64,
    /// Whether SQLite gave up waiting for a reader (its busy timeout), leaving the log as it
    /// was; it is tried again at the next look.
    pub busy: bool,
}

/// Empties the log of the SQLite file behind `db` if it has grown past `limit` bytes; `None`
/// when it has not, or when `db` is not a SQLite file.
pub async fn truncate_if_over(
    db: &DatabaseConnection,
    limit: u64,
) -> Result<Option<Checkpoint>, DbErr> {
    let Some(log) = log_file(db) else {
        return Ok(None);
    };
    let bytes_before = match std::fs::metadata(&log) {
        Ok(metadata) if metadata.len() > limit => metadata.len(),
        _ => return Ok(None),
    };
    // In this process's writer queue, so that sign-ins wait their turn here rather than in
    // SQLite's busy handler while the checkpoint holds the file's write lock.
    let _turn = super::sqlite_writer(db).lock_owned().await;
    let result = db
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            "PRAGMA wal_checkpoint(TRUNCATE)",
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("wal_checkpoint returned no row".into()))?;
    Ok(Some(Checkpoint {
        bytes_before,
        busy: result.try_get_by_index::<i32>(0)? != 0,
    }))
}

/// The `-wal` file of the SQLite file behind `db` (an in-memory database has none on disk);
/// `None` on PostgreSQL.
pub fn log_file(db: &DatabaseConnection) -> Option<PathBuf> {
    if db.get_database_backend() != DbBackend::Sqlite {
        return None;
    }
    let options = db.get_sqlite_connection_pool().connect_options();
    let mut log = options.get_filename().as_os_str().to_owned();
    log.push("-wal");
    Some(log.into())
}

/// Looks every [`EVERY`] for as long as the portal runs; nothing on PostgreSQL.
pub fn spawn(db: DatabaseConnection) {
    if log_file(&db).is_none() {
        return;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match truncate_if_over(&db, LIMIT_BYTES).await {
                Ok(None) => {}
                Ok(Some(Checkpoint {
                    bytes_before,
                    busy: false,
                })) => tracing::debug!(bytes_before, "emptied the SQLite write-ahead log"),
                Ok(Some(Checkpoint {
                    bytes_before,
                    busy: true,
                })) => tracing::info!(
                    bytes_before,
                    "the SQLite write-ahead log stays as it is until the next look: \
                     a reader held it for longer than the busy timeout"
                ),
                Err(error) => {
                    tracing::warn!(%error, "could not empty the SQLite write-ahead log")
                }
            }
        }
    });
}
