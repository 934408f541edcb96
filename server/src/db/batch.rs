//! Writes sent to the database together, in the caller's transaction: what a sign-in writes once
//! it knows the account (a new account's pool and role, the session, the audit event).

use sea_orm::sea_query::{
    Alias, CommonTableExpression, Expr, InsertStatement, Query, ReturningClause, SubQueryStatement,
    UpdateStatement, WithClause,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, Iterable,
    Statement, Values,
};

/// What separates the statements of a batch in the one text SQLite receives. `/metrics` counts
/// the statements of a batch by it (`metrics::count_statements`); SeaQuery writes no line breaks.
pub const SEPARATOR: &str = ";\n";

/// Writes (`INSERT` or `UPDATE`) that each write exactly one row, sent to the database in one
/// round trip, where each sent alone would cost one: on SQLite a wake-up of the connection's
/// thread and a wait for its answer, on PostgreSQL a trip over the network.
///
/// - On SQLite they travel as one text of several statements, which SQLite prepares and runs
///   one after another, binding each its own values. Only the sum of the rows they wrote comes
///   back, so a statement that could write two would hide one that wrote none: push only writes
///   of at most one row (by a key, or a unique look-up), as every caller does.
/// - On PostgreSQL, where a prepared statement holds one statement, they become one statement:
///   each a data-modifying `WITH` query returning what it wrote, counted for each by the query
///   they lead to. They all see the database as it was before the statement, so none may depend
///   on another's row.
pub struct Batch {
    backend: DbBackend,
    writes: Vec<(Write, &'static str)>,
}

impl Batch {
    pub fn new(backend: DbBackend) -> Batch {
        Batch {
            backend,
            writes: Vec::with_capacity(4),
        }
    }

    /// Adds `write`, which must write one row; `what` names that row in the error if not.
    pub fn push(&mut self, write: impl Into<Write>, what: &'static str) {
        self.writes.push((write.into(), what));
    }

    /// Runs the writes. Fails, leaving the caller to roll back, when one fails or one writes no
    /// row.
    pub async fn run(self, db: &impl ConnectionTrait) -> Result<(), DbErr> {
        match self.writes.len() {
            0 => Ok(()),
            1 => self.run_alone(db).await,
            _ if self.backend == DbBackend::Postgres => self.run_as_one(db).await,
            _ => self.run_together(db).await,
        }
    }

    async fn run_alone(self, db: &impl ConnectionTrait) -> Result<(), DbErr> {
        for (write, what) in self.writes {
            if db
                .execute_raw(write.statement(&self.backend))
                .await?
                .rows_affected()
                != 1
            {
                return Err(wrote_nothing(&[what]));
            }
        }
        Ok(())
    }

    /// SQLite: one text of several statements.
    async fn run_together(self, db: &impl ConnectionTrait) -> Result<(), DbErr> {
        let count = self.writes.len() as u64;
        let mut sql = String::new();
        let mut values = Vec::new();
        for (write, _) in &self.writes {
            let statement = write.statement(&self.backend);
            if !sql.is_empty() {
                sql.push_str(SEPARATOR);
            }
            sql.push_str(&statement.sql);
            values.extend(statement.values.map(|Values(v)| v).unwrap_or_default());
        }
        let together = Statement::from_sql_and_values(self.backend, sql, values);
        match db.execute_raw(together).await?.rows_affected() {
            written if written == count => Ok(()),
            _ => {
                let whats: Vec<&str> = self.writes.iter().map(|(_, what)| *what).collect();
                Err(wrote_nothing(&whats))
            }
        }
    }

    /// PostgreSQL: `WITH w0 AS (INSERT … RETURNING 1), w1 AS (…) SELECT (SELECT COUNT(*) FROM
    /// w0), (SELECT COUNT(*) FROM w1), …`, whose one row says what each wrote.
    async fn run_as_one(self, db: &impl ConnectionTrait) -> Result<(), DbErr> {
        let mut with = WithClause::new();
        let mut counts = Query::select();
        for (i, (write, _)) in self.writes.iter().enumerate() {
            let name = format!("w{i}");
            with.cte(
                CommonTableExpression::new()
                    .query(write.returning_one())
                    .table_name(Alias::new(&name))
                    .to_owned(),
            );
            counts.expr(Expr::cust(format!("(SELECT COUNT(*) FROM {name})")));
        }
        let statement = self.backend.build(&with.query(counts));
        let row = db
            .query_one_raw(statement)
            .await?
            .ok_or_else(|| DbErr::RecordNotFound("the batch's counts".into()))?;
        for (i, (_, what)) in self.writes.iter().enumerate() {
            if row.try_get_by_index::<i64>(i)? != 1 {
                return Err(wrote_nothing(&[what]));
            }
        }
        Ok(())
    }
}

/// What a batch takes: an `INSERT` or an `UPDATE`.
pub enum Write {
    Insert(InsertStatement),
    Update(UpdateStatement),
}

impl Write {
    /// The write alone, for `backend`.
    fn statement(&self, backend: &DbBackend) -> Statement {
        match self {
            Write::Insert(insert) => backend.build(insert),
            Write::Update(update) => backend.build(update),
        }
    }

    /// The write returning `1` for each row it wrote, to be counted.
    fn returning_one(&self) -> SubQueryStatement {
        let one = ReturningClause::Exprs(vec![Expr::val(1)]);
        match self {
            Write::Insert(insert) => insert.clone().returning(one).to_owned().into(),
            Write::Update(update) => update.clone().returning(one).to_owned().into(),
        }
    }
}

impl From<InsertStatement> for Write {
    fn from(insert: InsertStatement) -> Write {
        Write::Insert(insert)
    }
}

impl From<UpdateStatement> for Write {
    fn from(update: UpdateStatement) -> Write {
        Write::Update(update)
    }
}

/// How a batch that wrote nothing where it should have written a row begins its error.
const WROTE_NOTHING: &str = "a row to write for one of: ";

fn wrote_nothing(whats: &[&str]) -> DbErr {
    DbErr::RecordNotFound(format!("{WROTE_NOTHING}{}", whats.join(", ")))
}

/// Whether `error` is a batch's write that wrote no row (rather than one the database refused):
/// the transaction is still usable, to find out why.
pub fn is_wrote_nothing(error: &DbErr) -> bool {
    matches!(error, DbErr::RecordNotFound(message) if message.starts_with(WROTE_NOTHING))
}

/// `row`, inserted only where `condition` holds: `INSERT INTO … (…) SELECT <its values> WHERE
/// <condition>`, which writes no row, and so fails its batch, where it does not.
pub fn insert_where<A: ActiveModelTrait>(
    row: A,
    condition: Expr,
) -> Result<InsertStatement, DbErr> {
    let mut columns = Vec::new();
    let mut values = Query::select();
    for column in <A::Entity as EntityTrait>::Column::iter() {
        if let Some(value) = row.get(column).into_value() {
            columns.push(column);
            values.expr(column.save_as(Expr::val(value)));
        }
    }
    values.and_where(condition);
    Ok(Query::insert()
        .into_table(A::Entity::default())
        .columns(columns)
        .select_from(values)
        .map_err(|e| DbErr::Custom(e.to_string()))?
        .to_owned())
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

    /// A database with one table `t` holding (1, ada): PostgreSQL when
    /// `PORTAL_TEST_POSTGRES_URL` names one (a temporary table, on one connection), else SQLite
    /// in memory (one connection: each connection to `:memory:` is a database of its own).
    async fn database() -> sea_orm::DatabaseConnection {
        let postgres = std::env::var("PORTAL_TEST_POSTGRES_URL").ok();
        let (url, table) = match postgres.filter(|url| !url.is_empty()) {
            Some(url) => (
                url,
                "CREATE TEMPORARY TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
            ),
            None => (
                "sqlite::memory:".to_string(),
                "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
            ),
        };
        let mut options = sea_orm::ConnectOptions::new(url);
        options.max_connections(1).min_connections(1);
        let db = Database::connect(options).await.unwrap();
        db.execute_unprepared(table).await.unwrap();
        db.execute(&named(1, "ada")).await.unwrap();
        db
    }

    #[tokio::test]
    async fn each_statement_of_a_batch_gets_its_own_values_in_one_round_trip() {
        let db = database().await;
        let txn = db.begin().await.unwrap();
        let mut batch = Batch::new(db.get_database_backend());
        batch.push(named(2, "grace"), "grace");
        batch.push(copied(1, 3), "a copy of ada");
        batch.push(named(4, "edsger"), "edsger");
        batch.run(&txn).await.unwrap();
        txn.commit().await.unwrap();
        assert_eq!(
            rows(&db).await,
            [
                (1, "ada".into()),
                (2, "grace".into()),
                (3, "ada".into()),
                (4, "edsger".into())
            ]
        );
    }

    #[tokio::test]
    async fn a_batch_with_a_statement_that_writes_nothing_fails_and_its_transaction_keeps_nothing()
    {
        let db = database().await;
        let txn = db.begin().await.unwrap();
        let mut batch = Batch::new(db.get_database_backend());
        batch.push(named(2, "grace"), "grace");
        batch.push(copied(7, 3), "a copy of nobody");
        batch.push(named(4, "edsger"), "edsger");
        let error = batch.run(&txn).await.unwrap_err().to_string();
        assert!(error.contains("a copy of nobody"), "{error}");
        drop(txn);
        assert_eq!(rows(&db).await, [(1, "ada".into())]);
    }

    #[tokio::test]
    async fn a_batch_with_a_statement_that_fails_fails_and_its_transaction_keeps_nothing() {
        let db = database().await;
        let txn = db.begin().await.unwrap();
        let mut batch = Batch::new(db.get_database_backend());
        batch.push(named(2, "grace"), "grace");
        batch.push(named(1, "again"), "ada again");
        batch.push(named(4, "edsger"), "edsger");
        let error = batch.run(&txn).await.unwrap_err();
        assert!(
            matches!(
                error.sql_err(),
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
            ),
            "{error}"
        );
        if db.get_database_backend() == DbBackend::Sqlite {
            // SQLite ran none after it; PostgreSQL ran the one statement, and ended it.
            assert!(rows(&txn).await.iter().all(|(id, _)| *id != 4));
        }
        drop(txn);
        assert_eq!(rows(&db).await, [(1, "ada".into())]);
    }
}
