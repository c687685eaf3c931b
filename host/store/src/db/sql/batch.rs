//! Several statements sent together: what a [`UnitOfWork`](crate::db::UnitOfWork) compiles to.
//!
//! sqlx's SQLite driver runs each call on the connection's worker thread; a transaction of a
//! dozen single statements pays a dozen thread round trips, which measured as the largest part
//! of a node's exit transaction. Aggregates therefore *append* their statements to a `Batch`
//! (the SQL still lives once, in the aggregate's module), which SQLite's group-commit writer
//! runs on its own thread's connection ([`Batch::execute_direct`]) and any other caller runs
//! inside its transaction ([`Batch::execute`]). Positional `?` parameters are bound across
//! the statements in order.

use super::merge::Phase;
use super::params::{Value, postgres_args, postgres_literal, postgres_sql, rewrite_params, sqlite_args};
use super::prepared::Prepared;
use super::{Conn, DbError};
use std::borrow::Borrow;

/// Statements and their arguments, executed together.
///
/// SQLite accepts at most 32,766 `?` parameters per call, and a node that writes ten thousand
/// files binds more than that; through sqlx, statements are therefore grouped into chunks of at
/// most [`CHUNK_BINDS`] parameters, one call each (inside the caller's transaction, so the batch
/// stays atomic). A normal exit transaction is one chunk: one call. PostgreSQL prepares one
/// statement per call, so there each statement is its own call.
///
/// `V` is how the values are held: owned, as aggregates build them, or borrowed from the
/// units a group commit merged ([`super::merge`]), so a merged group runs without copying
/// its units' values (inline file contents among them).
#[derive(Debug)]
pub struct Batch<V = Value> {
    pub(super) statements: Vec<Statement>,
    pub(super) values: Vec<V>,
    pub(super) error: Option<String>,
}

impl<V> Default for Batch<V> {
    fn default() -> Self {
        Self { statements: Vec::new(), values: Vec::new(), error: None }
    }
}

/// One statement and how many of the batch's values it binds.
#[derive(Debug)]
pub(super) struct Statement {
    pub(super) sql: String,
    pub(super) binds: usize,
    /// Where it runs when a group's units are merged; `None`: the unit cannot be merged.
    pub(super) phase: Option<Phase>,
    /// For an insert of rows ([`Batch::rows`]): where its parts lie in `sql`.
    pub(super) rows: Option<Rows>,
}

/// The parts of a rows insert's text, `head VALUES row, row, … tail`, as byte lengths.
#[derive(Debug, Clone, Copy)]
pub(super) struct Rows {
    head: usize,
    row: usize,
    tail: usize,
    pub(super) count: usize,
}

impl Statement {
    /// A rows insert's head, one row's text and tail (which other units' rows of the same
    /// shape join).
    pub(super) fn shape(&self) -> Option<(&str, &str, &str)> {
        let r = self.rows?;
        let row_at = r.head + " VALUES ".len();
        Some((&self.sql[..r.head], &self.sql[row_at..row_at + r.row], &self.sql[self.sql.len() - r.tail..]))
    }
}

/// Parameters per call before a new chunk starts.
pub const CHUNK_BINDS: usize = 16_000;

/// Rows per multi-row `INSERT`: with at most 16 columns bound per row (checkpoints), one
/// statement binds at most 16,000 parameters, under SQLite's 32,766 and PostgreSQL's 65,535.
/// (A merged insert also stops at [`CHUNK_BINDS`] values.)
pub const ROWS_PER_STATEMENT: usize = 1_000;

impl<V> Batch<V> {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty batch with room for `statements` statements binding `values` values.
    pub fn with_capacity(statements: usize, values: usize) -> Self {
        Self { statements: Vec::with_capacity(statements), values: Vec::with_capacity(values), error: None }
    }

    /// Appends one statement (without the trailing `;`). A unit holding one cannot be merged
    /// with others ([`super::merge`]): use [`Batch::statement_in`] or [`Batch::rows`] where the
    /// statement has a [`Phase`].
    pub fn statement(&mut self, sql: &str) -> &mut Self {
        self.statements.push(Statement { sql: sql.to_owned(), binds: 0, phase: None, rows: None });
        self
    }

    /// Appends a statement that runs in `phase` when a group's units are merged.
    pub fn statement_in(&mut self, phase: Phase, sql: &str) -> &mut Self {
        self.statements.push(Statement { sql: sql.to_owned(), binds: 0, phase: Some(phase), rows: None });
        self
    }

    /// Appends `head VALUES row, …, row tail` with `count` rows (`head` names the table and
    /// columns; `row` is one row's parenthesised values; `tail` a conflict clause, or empty);
    /// their values are bound next, row by row. When a group's units are merged, the rows of
    /// every unit's insert of the same shape go into one statement.
    pub fn rows(&mut self, phase: Phase, head: &str, row: &str, count: usize, tail: &str) -> &mut Self {
        let mut sql = String::with_capacity(head.len() + 9 + (row.len() + 2) * count + tail.len());
        sql.push_str(head);
        sql.push_str(" VALUES ");
        for i in 0..count {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(row);
        }
        if !tail.is_empty() {
            sql.push(' ');
            sql.push_str(tail);
        }
        let rows = Rows { head: head.len(), row: row.len(), tail: tail.len(), count };
        self.statements.push(Statement { sql, binds: 0, phase: Some(phase), rows: Some(rows) });
        self
    }

    /// Binds the next `?` parameter to a value as this batch holds it.
    pub(super) fn push(&mut self, value: V) -> &mut Self {
        let Some(statement) = self.statements.last_mut() else {
            self.error.get_or_insert_with(|| "a parameter bound before any statement".into());
            return self;
        };
        self.values.push(value);
        statement.binds += 1;
        self
    }

    /// Whether there is nothing to run.
    pub fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }
}

impl Batch {
    /// Binds the next `?` parameter.
    pub fn bind(&mut self, value: impl Into<Value>) -> &mut Self {
        self.push(value.into())
    }

    /// Appends every statement of `other`, after this batch's own (so rows `other` refers to
    /// can be written first, when they are known only later).
    pub fn append(&mut self, other: Batch) {
        self.statements.extend(other.statements);
        self.values.extend(other.values);
        if let Some(e) = other.error {
            self.error.get_or_insert(e);
        }
    }

    /// Builds a batch with `build` and runs it on `db`: how an aggregate's single-statement
    /// function reuses the SQL of its `*_into` form instead of repeating it.
    pub async fn run(db: &mut Conn<'_>, build: impl FnOnce(&mut Batch)) -> Result<(), DbError> {
        let mut batch = Self::new();
        build(&mut batch);
        batch.execute(db).await
    }

    /// Runs every statement, in order, on `db` (normally inside the caller's transaction). The
    /// first failing statement stops the batch and is returned.
    pub async fn execute(&self, db: &mut Conn<'_>) -> Result<(), DbError> {
        self.checked()?;
        let mut values = self.values.iter().cloned();
        match db {
            Conn::Sqlite(c) => {
                let mut sql = String::new();
                let mut chunk = Vec::new();
                let mut statements = self.statements.iter().peekable();
                while let Some(statement) = statements.next() {
                    sql.push_str(&statement.sql);
                    sql.push_str(";\n");
                    chunk.extend(values.by_ref().take(statement.binds));
                    if chunk.len() >= CHUNK_BINDS || statements.peek().is_none() {
                        let args = sqlite_args(std::mem::take(&mut chunk))?;
                        sqlx::query_with(&std::mem::take(&mut sql), args).execute(&mut **c).await?;
                    }
                }
            }
            Conn::Postgres(c) => {
                for statement in &self.statements {
                    let args = postgres_args(values.by_ref().take(statement.binds).collect())?;
                    sqlx::query_with(&postgres_sql(&statement.sql), args).execute(&mut **c).await?;
                }
            }
        }
        Ok(())
    }
}

impl<V: Borrow<Value>> Batch<V> {
    fn checked(&self) -> Result<(), DbError> {
        match &self.error {
            Some(detail) => Err(DbError::Corrupt { what: "bind argument", detail: detail.clone() }),
            None => Ok(()),
        }
    }

    /// The batch as one text of PostgreSQL statements with every parameter inlined as a
    /// literal ([`postgres_literal`]), to send in one round trip (the simple query protocol
    /// takes several statements, but no parameters).
    pub fn postgres_text(&self) -> Result<String, DbError> {
        self.postgres_text_with(None)
    }

    /// [`Batch::postgres_text`] where each statement runs through the connection's prepared
    /// statement of its shape ([`Prepared`]), prepared in the text the first time.
    pub fn postgres_text_prepared(&self, prepared: &mut Prepared) -> Result<String, DbError> {
        self.postgres_text_with(Some(prepared))
    }

    fn postgres_text_with(&self, mut prepared: Option<&mut Prepared>) -> Result<String, DbError> {
        self.checked()?;
        let mut out = String::new();
        let mut next = 0;
        for statement in &self.statements {
            let values = &self.values[next..next + statement.binds];
            next += statement.binds;
            let by_name = match prepared.as_deref_mut() {
                Some(p) => p.write(&statement.sql, values, &mut out, postgres_literal)?,
                None => false,
            };
            if !by_name {
                let text = rewrite_params(&statement.sql, |n, out| {
                    match values.get(n as usize - 1).map(Borrow::borrow) {
                        Some(v) => postgres_literal(v, out),
                        None => Err(DbError::Corrupt {
                            what: "batch statement",
                            detail: format!("parameter {n} of {} bound: {}", values.len(), statement.sql),
                        }),
                    }
                })?;
                out.push_str(&text);
            }
            out.push_str(";\n");
        }
        Ok(out)
    }

    /// Runs every statement, in order, on `db` on the calling thread, each prepared once per
    /// connection (its statement cache). The first failing statement stops the batch and is
    /// returned; the caller owns the transaction. This is SQLite's group-commit writer's path:
    /// a call through sqlx hands every statement's result from SQLite's thread to the async
    /// side, and on a busy machine each hand-off waits for a free worker.
    pub fn execute_direct(&self, db: &rusqlite::Connection) -> Result<(), DbError> {
        use rusqlite::types::ValueRef;
        self.checked()?;
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
                let value = match value.borrow() {
                    Value::Uuid(Some(u)) => ValueRef::Blob(u.as_bytes()),
                    Value::Int(Some(n)) => ValueRef::Integer(*n),
                    Value::Text(Some(t)) => ValueRef::Text(t.as_bytes()),
                    Value::Bytes(Some(b)) => ValueRef::Blob(b),
                    Value::Bool(Some(b)) => ValueRef::Integer(i64::from(*b)),
                    Value::Uuid(None)
                    | Value::Int(None)
                    | Value::Text(None)
                    | Value::Bytes(None)
                    | Value::Bool(None) => ValueRef::Null,
                };
                prepared.raw_bind_parameter(i + 1, rusqlite::types::ToSqlOutput::Borrowed(value))?;
            }
            prepared.raw_execute()?;
        }
        Ok(())
    }
}
