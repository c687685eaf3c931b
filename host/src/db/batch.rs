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

/// Transaction statements that [`Batch::execute_in_savepoint`] sends in the batch's own call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Around {
    /// `BEGIN IMMEDIATE` first: the batch opens the transaction.
    pub begin: bool,
    /// `COMMIT` last (only when the batch is kept): the batch ends it.
    pub commit: bool,
}

/// Statements and their arguments, executed together by [`Batch::execute`].
///
/// SQLite accepts at most 32,766 `?` parameters per call, and a node that writes ten thousand
/// files binds more than that; statements are therefore grouped into chunks of at most
/// [`CHUNK_BINDS`] parameters, one call each (inside the caller's transaction, so the batch
/// stays atomic). A normal exit transaction is one chunk: one call.
#[derive(Default)]
pub struct Batch<'q> {
    chunks: Vec<Chunk<'q>>,
    error: Option<String>,
}

#[derive(Default)]
struct Chunk<'q> {
    sql: String,
    args: SqliteArguments<'q>,
    binds: usize,
}

/// Why [`Batch::execute_in_savepoint`] failed.
#[derive(Debug)]
pub enum SavepointError {
    /// A statement of the batch failed; the batch was undone, the transaction goes on.
    Batch(DbError),
    /// The transaction itself is gone (SQLite rolled it back): nothing of it will commit.
    TransactionLost(DbError),
}

/// Parameters per call before a new chunk starts.
pub const CHUNK_BINDS: usize = 16_000;

/// Rows per multi-row `INSERT` (at most 8 columns each): one statement binds at most 8,000
/// parameters, so a chunk stays under SQLite's 32,766.
pub const ROWS_PER_STATEMENT: usize = 1_000;

impl<'q> Batch<'q> {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one statement (without the trailing `;`).
    pub fn statement(&mut self, sql: &str) -> &mut Self {
        if self.chunks.last().is_none_or(|c| c.binds >= CHUNK_BINDS) {
            self.chunks.push(Chunk::default());
        }
        if let Some(chunk) = self.chunks.last_mut() {
            chunk.sql.push_str(sql);
            chunk.sql.push_str(";\n");
        }
        self
    }

    /// Binds the next `?` parameter.
    pub fn bind<T>(&mut self, value: T) -> &mut Self
    where
        T: 'q + Encode<'q, Sqlite> + Type<Sqlite>,
    {
        let Some(chunk) = self.chunks.last_mut() else {
            self.error.get_or_insert_with(|| "a parameter bound before any statement".into());
            return self;
        };
        chunk.binds += 1;
        if let Err(e) = chunk.args.add(value) {
            self.error.get_or_insert(e.to_string());
        }
        self
    }

    /// Builds a batch of one statement with `build` and runs it on `db`: how an aggregate's
    /// single-statement function reuses the SQL of its `*_into` form instead of repeating it.
    pub async fn run(db: impl SqliteExecutor<'_>, build: impl FnOnce(&mut Batch<'q>)) -> Result<(), DbError> {
        let mut batch = Self::new();
        build(&mut batch);
        if let Some(detail) = batch.error {
            return Err(DbError::Corrupt { what: "bind argument", detail });
        }
        let mut chunks = batch.chunks.into_iter();
        let (Some(chunk), None) = (chunks.next(), chunks.next()) else {
            return Err(DbError::Corrupt { what: "batch", detail: "Batch::run is for one statement; use Batch::execute".into() });
        };
        sqlx::query_with(&chunk.sql, chunk.args).execute(db).await?;
        Ok(())
    }

    /// Runs every statement, in order, one call per chunk on `conn` (normally inside the
    /// caller's transaction). The first failing statement stops the batch and is returned.
    pub async fn execute(self, conn: &mut SqliteConnection) -> Result<(), DbError> {
        if let Some(detail) = self.error {
            return Err(DbError::Corrupt { what: "bind argument", detail });
        }
        for chunk in self.chunks {
            sqlx::query_with(&chunk.sql, chunk.args).execute(&mut *conn).await?;
        }
        Ok(())
    }

    /// Runs the batch as savepoint `name`: all of it stays, or — when a statement fails, or
    /// `keep` is false — none of it does, and the transaction carries on for the other batches
    /// of a group commit. `around` opens the transaction before the savepoint and/or commits
    /// it after, in the same call (each is a thread round trip saved; a group of one costs one
    /// call, not three). If undoing the savepoint fails — SQLite already rolled the whole
    /// transaction back (it does on a full disk or an I/O error), or the folded `BEGIN` or
    /// `COMMIT` is what failed — it is [`SavepointError::TransactionLost`], and the caller must
    /// roll back and give up the group.
    pub async fn execute_in_savepoint(mut self, conn: &mut SqliteConnection, name: &str, keep: bool, around: Around) -> Result<(), SavepointError> {
        if self.chunks.is_empty() {
            self.chunks.push(Chunk::default());
        }
        if let Some(first) = self.chunks.first_mut() {
            let begin = if around.begin { "BEGIN IMMEDIATE;\n" } else { "" };
            first.sql.insert_str(0, &format!("{begin}SAVEPOINT {name};\n"));
        }
        if keep && let Some(last) = self.chunks.last_mut() {
            last.sql.push_str(&format!("RELEASE {name};"));
            if around.commit {
                last.sql.push_str("\nCOMMIT;");
            }
        }
        let result = self.execute(&mut *conn).await;
        if (result.is_err() || !keep)
            && let Err(e) = sqlx::query(&format!("ROLLBACK TO {name}; RELEASE {name};")).execute(&mut *conn).await
        {
            return Err(SavepointError::TransactionLost(result.err().unwrap_or_else(|| e.into())));
        }
        result.map_err(SavepointError::Batch)
    }

    /// Runs `BEGIN IMMEDIATE`, every statement and `COMMIT` (or `ROLLBACK`) as ONE call when
    /// the batch is one chunk: one transaction, one round trip. If a statement fails, the
    /// transaction is rolled back and the error returned; nothing of the batch remains.
    pub async fn execute_atomic(mut self, conn: &mut SqliteConnection, end: End) -> Result<(), DbError> {
        if self.chunks.is_empty() {
            self.chunks.push(Chunk::default());
        }
        if let Some(first) = self.chunks.first_mut() {
            first.sql.insert_str(0, "BEGIN IMMEDIATE;\n");
        }
        if let Some(last) = self.chunks.last_mut() {
            last.sql.push_str(match end {
                End::Commit => "COMMIT;",
                End::Rollback => "ROLLBACK;",
                End::Open => "",
            });
        }
        let result = self.execute(&mut *conn).await;
        if result.is_err() {
            // The failing statement stopped the batch inside its transaction; end it. (If the
            // failure was BEGIN itself there is no transaction and this errors harmlessly.)
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
        }
        result
    }
}
