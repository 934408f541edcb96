//! Writes sent to the database together, in the caller's transaction: what a sign-in writes once
//! it knows the account (a new account's pool and role, the session, the audit event).

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement, StatementBuilder, Values};

/// What separates the statements of a batch in the one text SQLite receives. `/metrics` counts
/// the statements of a batch by it (`metrics::count_statements`); SeaQuery writes no line breaks.
pub const SEPARATOR: &str = ";\n";

/// Statements that each write exactly one row. On SQLite only their sum is known, so a
/// statement that could write two would hide one that wrote none: push only statements that
/// write at most one (by a key, or a unique look-up), as every caller does.
///
/// On SQLite they travel to the connection's thread as one text, which SQLite prepares and runs
/// a statement at a time, binding each its own values: one round trip for all of them, where
/// each statement sent alone is a wake-up of that thread and a wait for its answer. On
/// PostgreSQL, where a prepared statement holds one statement, they run one after another.
pub struct Batch {
    backend: DbBackend,
    statements: Vec<(Statement, &'static str)>,
}

impl Batch {
    pub fn new(backend: DbBackend) -> Batch {
        Batch {
            backend,
            statements: Vec::with_capacity(4),
        }
    }

    /// Adds `statement`, which must write one row; `what` names that row in the error if not.
    pub fn push(&mut self, statement: &impl StatementBuilder, what: &'static str) {
        self.statements.push((statement.build(&self.backend), what));
    }

    /// Runs the statements in the order they were added. Fails, leaving the caller to roll
    /// back, when one fails or one writes no row.
    pub async fn run(self, db: &impl ConnectionTrait) -> Result<(), DbErr> {
        if self.backend != DbBackend::Sqlite || self.statements.len() < 2 {
            for (statement, what) in self.statements {
                if db.execute_raw(statement).await?.rows_affected() != 1 {
                    return Err(wrote_nothing(&[what]));
                }
            }
            return Ok(());
        }
        let count = self.statements.len() as u64;
        let mut sql = String::new();
        let mut values = Vec::new();
        let mut whats = Vec::with_capacity(self.statements.len());
        for (statement, what) in self.statements {
            if !sql.is_empty() {
                sql.push_str(SEPARATOR);
            }
            sql.push_str(&statement.sql);
            values.extend(statement.values.map(|Values(v)| v).unwrap_or_default());
            whats.push(what);
        }
        let together = Statement::from_sql_and_values(DbBackend::Sqlite, sql, values);
        match db.execute_raw(together).await?.rows_affected() {
            // SQLite adds up the rows each statement wrote; each writes at most one.
            written if written == count => Ok(()),
            _ => Err(wrote_nothing(&whats)),
        }
    }
}

fn wrote_nothing(whats: &[&str]) -> DbErr {
    DbErr::RecordNotFound(format!("a row to write for one of: {}", whats.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
    use sea_orm::{Database, TransactionTrait};

    fn named(id: i32, name: &str) -> sea_orm::sea_query::InsertStatement {
        Query::insert()
            .into_table(Alias::new("t"))
            .columns([Alias::new("id"), Alias::new("name")])
            .values_panic([id.into(), name.into()])
            .to_owned()
    }

    /// Copies row `from` under the id `to`: writes nothing when there is no row `from`.
    fn copied(from: i32, to: i32) -> sea_orm::sea_query::InsertStatement {
        let source = Query::select()
            .expr(Expr::val(to))
            .column(Alias::new("name"))
            .from(Alias::new("t"))
            .and_where(Expr::col(Alias::new("id")).eq(from))
            .to_owned();
        Query::insert()
            .into_table(Alias::new("t"))
            .columns([Alias::new("id"), Alias::new("name")])
            .select_from(source)
            .unwrap()
            .to_owned()
    }

    async fn rows(db: &impl ConnectionTrait) -> Vec<(i32, String)> {
        let select = Query::select()
            .columns([Alias::new("id"), Alias::new("name")])
            .from(Alias::new("t"))
            .order_by(Alias::new("id"), sea_orm::Order::Asc)
            .to_owned();
        db.query_all(&select)
            .await
            .unwrap()
            .iter()
            .map(|row| {
                (
                    row.try_get("", "id").unwrap(),
                    row.try_get("", "name").unwrap(),
                )
            })
            .collect()
    }

    async fn database() -> sea_orm::DatabaseConnection {
        // One connection: each connection to `:memory:` is a database of its own.
        let mut options = sea_orm::ConnectOptions::new("sqlite::memory:");
        options.max_connections(1).min_connections(1);
        let db = Database::connect(options).await.unwrap();
        db.execute_unprepared("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
            .await
            .unwrap();
        db
    }

    #[tokio::test]
    async fn each_statement_of_a_batch_gets_its_own_values_in_one_round_trip() {
        let db = database().await;
        let txn = db.begin().await.unwrap();
        let mut batch = Batch::new(DbBackend::Sqlite);
        batch.push(&named(1, "ada"), "ada");
        batch.push(&copied(1, 2), "a copy of ada");
        batch.push(&named(3, "grace"), "grace");
        batch.run(&txn).await.unwrap();
        txn.commit().await.unwrap();
        assert_eq!(
            rows(&db).await,
            [(1, "ada".into()), (2, "ada".into()), (3, "grace".into())]
        );
    }

    #[tokio::test]
    async fn a_batch_with_a_statement_that_writes_nothing_fails_and_its_transaction_keeps_nothing()
    {
        let db = database().await;
        let txn = db.begin().await.unwrap();
        let mut batch = Batch::new(DbBackend::Sqlite);
        batch.push(&named(1, "ada"), "ada");
        batch.push(&copied(7, 2), "a copy of nobody");
        batch.push(&named(3, "grace"), "grace");
        let error = batch.run(&txn).await.unwrap_err().to_string();
        assert!(error.contains("a copy of nobody"), "{error}");
        drop(txn);
        assert!(rows(&db).await.is_empty());
    }

    #[tokio::test]
    async fn a_batch_stops_at_a_statement_that_fails() {
        let db = database().await;
        let txn = db.begin().await.unwrap();
        let mut batch = Batch::new(DbBackend::Sqlite);
        batch.push(&named(1, "ada"), "ada");
        batch.push(&named(1, "again"), "ada again");
        batch.push(&named(3, "grace"), "grace");
        let error = batch.run(&txn).await.unwrap_err();
        assert!(
            matches!(
                error.sql_err(),
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
            ),
            "{error}"
        );
        assert!(rows(&txn).await.iter().all(|(id, _)| *id != 3));
        drop(txn);
        assert!(rows(&db).await.is_empty());
    }
}
