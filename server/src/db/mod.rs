//! Persistence: the SeaORM entities and the connection, the same on SQLite and PostgreSQL.

pub mod batch;
pub mod entities;
pub mod wal;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use migrations::MigratorTrait;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, ExecResult, QueryResult, SqliteTransactionMode, Statement, TransactionOptions,
    TransactionTrait,
};

/// Opens the database named by `url`, creating a SQLite file and its folder when needed, and
/// brings the schema up to date.
pub async fn connect_and_migrate(url: &str) -> Result<DatabaseConnection, DbErr> {
    let db = connect(url).await?;
    let setup = begin_setup(&db).await?;
    migrate(&setup).await?;
    setup.commit().await?;
    Ok(db)
}

/// Opens the database named by `url` (a pool), creating a SQLite file and its folder when
/// needed. The schema is left as it is: see [`begin_setup`].
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    let (url, sqlite) = match prepare_sqlite_url(url)? {
        Some(url) => (url, true),
        None => (url.to_string(), false),
    };
    // A SQLite connection is a file handle in this process: it cannot go stale the way a
    // PostgreSQL connection does when the server restarts, so it is not pinged before each use
    // (a round trip to its thread that would cost every sign-in two).
    let mut options = ConnectOptions::new(url);
    options
        .test_before_acquire(!sqlite)
        .max_connections(if sqlite { sqlite_connections() } else { 16 })
        .min_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .sqlx_logging(false)
        // Every connection of the pool, not only the first: WAL lets readers proceed while a
        // login writes; NORMAL is durable across application crashes and loses at most the last
        // transactions on power loss. The log is copied back by `wal::Checkpointer`, beside the
        // sign-ins rather than in one of them; SQLite's own checkpoint stays as a backstop.
        .map_sqlx_sqlite_opts(|sqlite| {
            sqlite
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(BUSY_TIMEOUT_SECS))
                .pragma("wal_autocheckpoint", wal::BACKSTOP_PAGES.to_string())
        });
    // Turning a new file to WAL takes an exclusive lock that SQLite's busy timeout does not wait
    // for: of several replicas opening a new file at the same moment, all but one are told the
    // database is locked, and try again until the first is done.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(BUSY_TIMEOUT_SECS);
    loop {
        match Database::connect(options.clone()).await {
            Err(error) if sqlite && is_busy(&error) && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            opened => return opened,
        }
    }
}

/// How long a SQLite connection waits for another's lock before it answers "database is locked".
const BUSY_TIMEOUT_SECS: u64 = 5;

/// Whether `error` is SQLite's "database is locked" (`SQLITE_BUSY`): another connection held
/// the file for longer than the busy timeout, or held a lock that cannot be waited for.
pub fn is_busy(error: &DbErr) -> bool {
    let text = error.to_string();
    text.contains("database is locked") || text.contains("(code: 5)")
}

/// How many connections to a SQLite file: one per CPU, at most 16. SQLite runs in this process,
/// so a connection does work only while it holds a CPU, and one writer runs at a time. More
/// connections cost CPU as well as memory: in WAL mode a connection empties its page cache
/// whenever another has written since its last transaction, and the pool hands out its
/// connections in turn, so under sign-ins each statement re-read its pages from the file. With
/// the server on one CPU, four connections instead of one cost a first SAML sign-in about 15%
/// more CPU, an OIDC callback about 65% more and a page about 50% more (README, "Numbers").
fn sqlite_connections() -> u32 {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
    cpus.clamp(1, 16)
}

/// The PostgreSQL advisory lock that start-up holds ("portal" in ASCII).
const SETUP_LOCK: i64 = 0x706f_7274_616c;

/// Begins the start-up transaction, in which the schema is migrated and the first admin made.
/// Replicas starting at once on one PostgreSQL take turns (a transaction-scoped advisory lock):
/// the first applies the migrations, the others wait, then find nothing left to do. If start-up
/// fails, the transaction rolls back and the schema is as it was.
pub async fn begin_setup(db: &DatabaseConnection) -> Result<WriteTransaction, DbErr> {
    let setup = begin_write(db).await?;
    if setup.get_database_backend() == DbBackend::Postgres {
        setup
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_advisory_xact_lock($1)",
                [SETUP_LOCK.into()],
            ))
            .await?;
    }
    Ok(setup)
}

/// Applies the migrations not yet applied, inside the start-up transaction.
pub async fn migrate(setup: &WriteTransaction) -> Result<(), DbErr> {
    migrations::Migrator::up(&setup.txn, None).await
}

/// Begins a transaction that writes. On SQLite, writers of this process take turns in the order
/// they arrive (a fair queue), then take the file's write lock at once (`BEGIN IMMEDIATE`), so a
/// transaction that reads first cannot fail when it comes to write (SQLITE_BUSY) and no writer
/// sleeps in SQLite's busy handler while another commits. PostgreSQL begins as usual.
pub async fn begin_write(db: &DatabaseConnection) -> Result<WriteTransaction, DbErr> {
    let turn = match db.get_database_backend() {
        DbBackend::Sqlite => Some(sqlite_writer(db).lock_owned().await),
        _ => None,
    };
    let txn = db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        })
        .await?;
    Ok(WriteTransaction { txn, _turn: turn })
}

/// The queue of this process's writers to one SQLite file.
fn sqlite_writer(db: &DatabaseConnection) -> Arc<tokio::sync::Mutex<()>> {
    type Writers = std::sync::Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>;
    static WRITERS: LazyLock<Writers> = LazyLock::new(Writers::default);
    let file = db
        .get_sqlite_connection_pool()
        .connect_options()
        .get_filename()
        .to_path_buf();
    let mut writers = WRITERS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    writers.entry(file).or_default().clone()
}

/// A transaction from [`begin_write`]: on SQLite it holds this process's writer turn until it
/// commits, rolls back or is dropped.
pub struct WriteTransaction {
    // Dropped first: an unfinished transaction starts its rollback before the next writer's turn
    // (whose BEGIN IMMEDIATE then waits the moment it takes in SQLite's busy handler).
    txn: DatabaseTransaction,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl WriteTransaction {
    /// Commits; a `WriteTransaction` dropped without this rolls back.
    pub async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await
    }
}

impl std::ops::Deref for WriteTransaction {
    type Target = DatabaseTransaction;

    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for WriteTransaction {
    fn get_database_backend(&self) -> DbBackend {
        self.txn.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.txn.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.txn.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.txn.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.txn.query_all_raw(stmt).await
    }

    fn support_returning(&self) -> bool {
        self.txn.support_returning()
    }
}

/// Whether `error` says the database could not be reached (down, restarting, or the connection
/// dropped), as opposed to a statement it refused: the request may succeed if tried again.
pub fn is_unreachable(error: &DbErr) -> bool {
    use sea_orm::{sqlx, RuntimeErr};
    let runtime = match error {
        DbErr::ConnectionAcquire(_) => return true,
        DbErr::Conn(runtime) | DbErr::Exec(runtime) | DbErr::Query(runtime) => runtime,
        _ => return false,
    };
    let RuntimeErr::SqlxError(sqlx_error) = runtime else {
        return matches!(error, DbErr::Conn(_));
    };
    match sqlx_error.as_ref() {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        // Class 08 (connection exception) and 57P01-57P03 (the server shutting down, crashed or
        // starting up).
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03")
        }),
        _ => matches!(error, DbErr::Conn(_)),
    }
}

/// The file a SQLite URL names (`sqlite://data/portal.db` → `data/portal.db`); `None` for
/// another database or SQLite in memory.
pub fn sqlite_file(url: &str) -> Option<&Path> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| Path::new(path))
}

/// `sqlite://data/portal.db` → the folder exists and the file is created on first open.
/// `None` when `url` is not a SQLite URL.
fn prepare_sqlite_url(url: &str) -> Result<Option<String>, DbErr> {
    if !url.starts_with("sqlite:") {
        return Ok(None);
    }
    let Some(path) = sqlite_file(url) else {
        return Ok(Some(url.to_string()));
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| {
            DbErr::Custom(format!(
                "cannot create the folder {}: {e}",
                parent.display()
            ))
        })?;
    }
    Ok(Some(if url.contains("mode=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }))
}
