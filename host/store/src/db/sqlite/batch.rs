//! Several statements sent to SQLite together.
//!
//! sqlx's SQLite driver runs each call on the connection's worker thread; a transaction of a
//! dozen single statements pays a dozen thread round trips, which measured as the largest part
//! of a node's exit transaction. Aggregates therefore *append* their statements to a `Batch`
//! (the SQL still lives once, in the aggregate's module) and the caller sends the batch inside
//! its transaction in one call — or, for the group-commit writer, runs it on its own thread's
//! connection ([`Batch::execute_direct`]). Positional `?` parameters are bound across the
//! statements in order.

use super::DbError;
use sqlx::encode::IsNull;
use sqlx::sqlite::{SqliteArgumentValue, SqliteArguments};
use sqlx::{Arguments as _, Encode, Sqlite, SqliteConnection, SqliteExecutor, Type};
use std::borrow::Cow;

/// Statements and their arguments, executed together by [`Batch::execute`] (through sqlx) or
/// [`Batch::execute_direct`] (on a connection the caller's thread owns).
///
/// SQLite accepts at most 32,766 `?` parameters per call, and a node that writes ten thousand
/// files binds more than that; through sqlx, statements are therefore grouped into chunks of at
/// most [`CHUNK_BINDS`] parameters, one call each (inside the caller's transaction, so the batch
/// stays atomic). A normal exit transaction is one chunk: one call.
#[derive(Default)]
pub struct Batch<'q> {
    statements: Vec<Statement>,
    values: Vec<SqliteArgumentValue<'q>>,
    error: Option<String>,
}

/// One statement and how many of the batch's values it binds.
struct Statement {
    sql: String,
    binds: usize,
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
        self.statements.push(Statement { sql: sql.to_owned(), binds: 0 });
        self
    }

    /// Binds the next `?` parameter.
    pub fn bind<T>(&mut self, value: T) -> &mut Self
    where
        T: 'q + Encode<'q, Sqlite> + Type<Sqlite>,
    {
        let Some(statement) = self.statements.last_mut() else {
            self.error.get_or_insert_with(|| "a parameter bound before any statement".into());
            return self;
        };
        let before = self.values.len();
        match value.encode(&mut self.values) {
            Ok(IsNull::No) => {}
            Ok(IsNull::Yes) => self.values.push(SqliteArgumentValue::Null),
            Err(e) => {
                self.values.truncate(before);
                self.error.get_or_insert(e.to_string());
                return self;
            }
        }
        statement.binds += 1;
        self
    }

    /// Appends every statement of `other`, after this batch's own (so rows `other` refers to
    /// can be written first, when they are known only later).
    pub fn append(&mut self, other: Batch<'q>) {
        self.statements.extend(other.statements);
        self.values.extend(other.values);
        if let Some(e) = other.error {
            self.error.get_or_insert(e);
        }
    }

    /// Builds a batch of one statement with `build` and runs it on `db`: how an aggregate's
    /// single-statement function reuses the SQL of its `*_into` form instead of repeating it.
    pub async fn run(db: impl SqliteExecutor<'_>, build: impl FnOnce(&mut Batch<'q>)) -> Result<(), DbError> {
        let mut batch = Self::new();
        build(&mut batch);
        let mut chunks = batch.into_chunks()?.into_iter();
        let (Some((sql, args)), None) = (chunks.next(), chunks.next()) else {
            return Err(DbError::Corrupt {
                what: "batch",
                detail: "Batch::run is for one statement; use Batch::execute".into(),
            });
        };
        sqlx::query_with(&sql, args).execute(db).await?;
        Ok(())
    }

    /// The statements joined into calls of at most [`CHUNK_BINDS`] parameters (none when the
    /// batch is empty).
    fn into_chunks(self) -> Result<Vec<(String, SqliteArguments<'q>)>, DbError> {
        if let Some(detail) = self.error {
            return Err(DbError::Corrupt { what: "bind argument", detail });
        }
        let mut chunks: Vec<(String, SqliteArguments<'q>, usize)> = Vec::new();
        let mut values = self.values.into_iter();
        for statement in self.statements {
            if chunks.last().is_none_or(|(_, _, binds)| *binds >= CHUNK_BINDS) {
                chunks.push((String::new(), SqliteArguments::default(), 0));
            }
            let Some((sql, args, binds)) = chunks.last_mut() else { break };
            sql.push_str(&statement.sql);
            sql.push_str(";\n");
            *binds += statement.binds;
            for value in values.by_ref().take(statement.binds) {
                let added = match value {
                    SqliteArgumentValue::Null => args.add(Option::<i64>::None),
                    SqliteArgumentValue::Text(Cow::Borrowed(t)) => args.add(t),
                    SqliteArgumentValue::Text(Cow::Owned(t)) => args.add(t),
                    SqliteArgumentValue::Blob(Cow::Borrowed(b)) => args.add(b),
                    SqliteArgumentValue::Blob(Cow::Owned(b)) => args.add(b),
                    SqliteArgumentValue::Double(f) => args.add(f),
                    SqliteArgumentValue::Int(i) => args.add(i),
                    SqliteArgumentValue::Int64(i) => args.add(i),
                };
                added.map_err(|e| DbError::Corrupt { what: "bind argument", detail: e.to_string() })?;
            }
        }
        Ok(chunks.into_iter().map(|(sql, args, _)| (sql, args)).collect())
    }

    /// Runs every statement, in order, one call per chunk on `conn` (normally inside the
    /// caller's transaction). The first failing statement stops the batch and is returned.
    pub async fn execute(self, conn: &mut SqliteConnection) -> Result<(), DbError> {
        for (sql, args) in self.into_chunks()? {
            sqlx::query_with(&sql, args).execute(&mut *conn).await?;
        }
        Ok(())
    }

    /// Runs every statement, in order, on `db` on the calling thread, each prepared once per
    /// connection (its statement cache). The first failing statement stops the batch and is
    /// returned; the caller owns the transaction. This is the group-commit writer's path: a
    /// call through sqlx hands every statement's result from SQLite's thread to the async
    /// side, and on a busy machine each hand-off waits for a free worker.
    pub fn execute_direct(&self, db: &rusqlite::Connection) -> Result<(), DbError> {
        use rusqlite::types::ValueRef;
        if let Some(detail) = &self.error {
            return Err(DbError::Corrupt { what: "bind argument", detail: detail.clone() });
        }
        let mut values = self.values.iter();
        for statement in &self.statements {
            let mut prepared = db.prepare_cached(&statement.sql)?;
            if prepared.parameter_count() != statement.binds {
                let detail = format!(
                    "{} parameters, {} bound: {}",
                    prepared.parameter_count(),
                    statement.binds,
                    statement.sql
                );
                return Err(DbError::Corrupt { what: "batch statement", detail });
            }
            for (i, value) in values.by_ref().take(statement.binds).enumerate() {
                let value = match value {
                    SqliteArgumentValue::Null => ValueRef::Null,
                    SqliteArgumentValue::Text(t) => ValueRef::Text(t.as_bytes()),
                    SqliteArgumentValue::Blob(b) => ValueRef::Blob(b),
                    SqliteArgumentValue::Double(f) => ValueRef::Real(*f),
                    SqliteArgumentValue::Int(n) => ValueRef::Integer(i64::from(*n)),
                    SqliteArgumentValue::Int64(n) => ValueRef::Integer(*n),
                };
                prepared.raw_bind_parameter(i + 1, rusqlite::types::ToSqlOutput::Borrowed(value))?;
            }
            prepared.raw_execute()?;
        }
        Ok(())
    }
}
