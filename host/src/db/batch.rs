//! Several statements sent to SQLite in one call.
//!
//! sqlx's SQLite driver runs each call on the connection's worker thread; a transaction of a
//! dozen single statements pays a dozen thread round trips, which measured as the largest part
//! of a node's exit transaction. Aggregates therefore *append* their statements to a `Batch`
//! (the SQL still lives once, in the aggregate's module) and the caller sends the batch inside
//! its transaction in one call. Positional `?` parameters are bound across the statements in
//! order.

use super::DbError;
use sqlx::sqlite::SqliteArguments;
use sqlx::{Arguments as _, Encode, Sqlite, SqliteConnection, SqliteExecutor, Type};

/// How [`Batch::execute_atomic`] ends its transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// Make every statement durable together.
    Commit,
    /// Run every statement, then undo them all (fault-injection tests).
    Rollback,
    /// Leave the transaction open (crash tests abort the process right after).
    Open,
}

/// Statements and their arguments, executed together by [`Batch::execute`].
#[derive(Default)]
pub struct Batch<'q> {
    sql: String,
    args: SqliteArguments<'q>,
    error: Option<String>,
}

impl<'q> Batch<'q> {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one statement (without the trailing `;`).
    pub fn statement(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self.sql.push_str(";\n");
        self
    }

    /// Binds the next `?` parameter.
    pub fn bind<T>(&mut self, value: T) -> &mut Self
    where
        T: 'q + Encode<'q, Sqlite> + Type<Sqlite>,
    {
        if let Err(e) = self.args.add(value) {
            self.error.get_or_insert(e.to_string());
        }
        self
    }

    /// Builds a batch with `build` and runs it on `db`: how an aggregate's single-statement
    /// function reuses the SQL of its `*_into` form instead of repeating it.
    pub async fn run(db: impl SqliteExecutor<'_>, build: impl FnOnce(&mut Batch<'q>)) -> Result<(), DbError> {
        let mut batch = Self::new();
        build(&mut batch);
        batch.execute(db).await
    }

    /// Runs every statement, in order, in one call on `db` (normally inside the caller's
    /// transaction). The first failing statement stops the batch and is returned.
    pub async fn execute(self, db: impl SqliteExecutor<'_>) -> Result<(), DbError> {
        if let Some(detail) = self.error {
            return Err(DbError::Corrupt { what: "bind argument", detail });
        }
        if self.sql.is_empty() {
            return Ok(());
        }
        sqlx::query_with(&self.sql, self.args).execute(db).await?;
        Ok(())
    }

    /// Runs `BEGIN IMMEDIATE`, every statement and `COMMIT` (or `ROLLBACK`) as ONE call: one
    /// transaction, one round trip. If a statement fails, the transaction is rolled back and
    /// the error returned; nothing of the batch remains.
    pub async fn execute_atomic(mut self, conn: &mut SqliteConnection, end: End) -> Result<(), DbError> {
        self.sql.insert_str(0, "BEGIN IMMEDIATE;\n");
        self.sql.push_str(match end {
            End::Commit => "COMMIT;",
            End::Rollback => "ROLLBACK;",
            End::Open => "",
        });
        let result = self.execute(&mut *conn).await;
        if result.is_err() {
            // The failing statement stopped the batch inside its transaction; end it. (If the
            // failure was BEGIN itself there is no transaction and this errors harmlessly.)
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
        }
        result
    }
}
