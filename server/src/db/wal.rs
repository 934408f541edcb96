//! Keeps a SQLite file's write-ahead log (the `-wal` file beside it) off the sign-ins' path and
//! from growing without end. PostgreSQL needs none of this.
//!
//! SQLite's own automatic checkpoint copies the log back into the database file in whichever
//! connection commits once the log holds 1,000 pages: one sign-in in about 60 then waited for
//! the copy and its `fsync`, and with one connection per CPU every other request waited behind
//! it. Here a [`Checkpointer`], on a connection of its own, copies the log back every [`EVERY`]
//! instead, beside the sign-ins; SQLite's automatic checkpoint is left only as a backstop at
//! [`BACKSTOP_PAGES`] (set in [`super::connect`]).
//!
//! SQLite starts writing the log from the beginning again only if it has all been copied back
//! when a transaction begins. A portal that signs people in without pause always has a
//! transaction writing, so the log would only grow (244 MB after 30,000 sign-ins in the login
//! storm, before this module). At each look, once the log has passed [`LIMIT_BYTES`], a
//! `wal_checkpoint(TRUNCATE)` in the writers' queue waits for the readers of that moment to
//! finish (new ones read the database file and do not hold it up), copies what is left and
//! empties the file.

use std::path::PathBuf;
use std::time::Duration;

use sea_orm::sqlx::sqlite::SqlitePoolOptions;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, SqlxSqliteConnector, Statement,
};

/// How often the log is copied back and its size looked at. A first sign-in writes some 13 to
/// 16 pages (about 60 KB of log), so at 1,000 sign-ins a second a copy takes in some 1,500 pages,
/// a few hundred of them distinct, and the log grows by 6 MB between looks. An idle portal's
/// copy finds nothing to do, and a look costs one `stat`.
pub const EVERY: Duration = Duration::from_millis(100);

/// A log this large is emptied at the next look (4,096 pages of 4 KB).
pub const LIMIT_BYTES: u64 = 16 << 20;

/// SQLite's automatic checkpoint, in the connection that commits, only once the log holds this
/// many pages (40 MB of 4 KB pages): should the [`Checkpointer`] stop, the log is still copied
/// back, on the sign-ins' path as SQLite does by default (at 1,000).
pub const BACKSTOP_PAGES: u32 = 10_000;

/// A connection of its own to the SQLite file, that copies the log back into the database file
/// (`wal_checkpoint(PASSIVE)`: it waits for no reader or writer and copies what they allow).
/// It reads no table, so the pool's connections keep their page caches.
pub struct Checkpointer {
    connection: DatabaseConnection,
}

/// What one copy found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopiedBack {
    /// Pages in the log.
    pub log_pages: i64,
    /// Pages of the log now in the database file; fewer than `log_pages` while a reader still
    /// needs the older ones, or a writer had the file locked for the moment.
    pub copied_pages: i64,
}

impl Checkpointer {
    /// Opens its connection to the SQLite file behind `db`; `None` on PostgreSQL and for an
    /// in-memory database, which have no log on disk.
    pub async fn open(db: &DatabaseConnection) -> Result<Option<Self>, DbErr> {
        if db.get_database_backend() != DbBackend::Sqlite {
            return Ok(None);
        }
        let options = (*db.get_sqlite_connection_pool().connect_options()).clone();
        if !options.get_filename().is_file() {
            return Ok(None);
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(|e| DbErr::Conn(sea_orm::RuntimeErr::SqlxError(e.into())))?;
        Ok(Some(Checkpointer {
            connection: SqlxSqliteConnector::from_sqlx_sqlite_pool(pool),
        }))
    }

    /// Copies back what the readers and writer of this moment allow.
    pub async fn copy_back(&self) -> Result<CopiedBack, DbErr> {
        let row = self
            .connection
            .query_one_raw(Statement::from_string(
                DbBackend::Sqlite,
                "PRAGMA wal_checkpoint(PASSIVE)",
            ))
            .await?
            .ok_or_else(|| DbErr::Custom("wal_checkpoint returned no row".into()))?;
        Ok(CopiedBack {
            log_pages: row.try_get_by_index(1)?,
            copied_pages: row.try_get_by_index(2)?,
        })
    }
}

/// What a checkpoint found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's size before.
    pub bytes_before: u64,
    /// Whether the log was left as it was: SQLite gave up waiting for a reader (its busy
    /// timeout), or another connection to the file (another replica's checkpointer) was copying
    /// it back at that moment, which SQLite does not wait for. It is tried again at the next look.
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

/// Every [`EVERY`] for as long as the portal runs: copies the log back, then empties it if it
/// has grown past [`LIMIT_BYTES`]; nothing on PostgreSQL.
pub async fn spawn(db: DatabaseConnection) -> Result<(), DbErr> {
    let Some(checkpointer) = Checkpointer::open(&db).await? else {
        return Ok(());
    };
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut copying = Failure::new("copy the SQLite write-ahead log back");
        let mut emptying = Failure::new("empty the SQLite write-ahead log");
        loop {
            tick.tick().await;
            copying.look(checkpointer.copy_back().await);
            match emptying
                .look(truncate_if_over(&db, LIMIT_BYTES).await)
                .flatten()
            {
                Some(Checkpoint {
                    bytes_before,
                    busy: false,
                }) => tracing::debug!(bytes_before, "emptied the SQLite write-ahead log"),
                Some(Checkpoint {
                    bytes_before,
                    busy: true,
                }) => tracing::info!(
                    bytes_before,
                    "the SQLite write-ahead log stays as it is until the next look: \
                     a reader held it for longer than the busy timeout, or another \
                     checkpoint was running"
                ),
                None => {}
            }
        }
    });
    Ok(())
}

/// One of the checkpointer's tasks, which fails or succeeds at every look: its failure is logged
/// when it begins and when it ends, not ten times a second.
struct Failure {
    task: &'static str,
    ongoing: bool,
}

impl Failure {
    fn new(task: &'static str) -> Self {
        Failure {
            task,
            ongoing: false,
        }
    }

    /// What the task gave this time, if it succeeded.
    fn look<T>(&mut self, result: Result<T, DbErr>) -> Option<T> {
        match result {
            Ok(value) => {
                if std::mem::take(&mut self.ongoing) {
                    tracing::info!("can {} again", self.task);
                }
                Some(value)
            }
            Err(error) => {
                if !std::mem::replace(&mut self.ongoing, true) {
                    tracing::warn!(%error, "could not {}", self.task);
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use sea_orm::DbErr;
    use tracing::Level;
    use tracing_subscriber::layer::SubscriberExt;

    use super::Failure;

    /// The level and message of each event logged while it listens.
    #[derive(Clone, Default)]
    struct Logged(Arc<Mutex<Vec<(Level, String)>>>);

    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Logged {
        fn on_event(
            &self,
            event: &tracing::Event<'_>,
            _: tracing_subscriber::layer::Context<'_, S>,
        ) {
            struct Message(String);
            impl tracing::field::Visit for Message {
                fn record_debug(
                    &mut self,
                    field: &tracing::field::Field,
                    value: &dyn std::fmt::Debug,
                ) {
                    if field.name() == "message" {
                        self.0 = format!("{value:?}");
                    }
                }
            }
            let mut message = Message(String::new());
            event.record(&mut message);
            let mut logged = self.0.lock().unwrap();
            logged.push((*event.metadata().level(), message.0));
        }
    }

    #[test]
    fn a_failure_is_logged_when_it_begins_and_when_it_ends_not_at_every_look() {
        let logged = Logged::default();
        let failed = || Err::<u64, _>(DbErr::Custom("disk I/O error".into()));
        tracing::subscriber::with_default(
            tracing_subscriber::registry().with(logged.clone()),
            || {
                let mut copying = Failure::new("copy the log back");
                assert_eq!(copying.look(Ok(7)), Some(7));
                for _ in 0..10 {
                    assert_eq!(copying.look(failed()), None);
                }
                for _ in 0..10 {
                    assert_eq!(copying.look(Ok(0)), Some(0));
                }
                assert_eq!(copying.look(failed()), None);
            },
        );
        assert_eq!(
            *logged.0.lock().unwrap(),
            [
                (Level::WARN, "could not copy the log back".to_string()),
                (Level::INFO, "can copy the log back again".to_string()),
                (Level::WARN, "could not copy the log back".to_string()),
            ]
        );
    }
}
