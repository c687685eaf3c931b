//! Statement parameters as owned, typed values, and a [`Query`] that binds them on either
//! backend. SQL is written once with SQLite's `?` / `?N` parameters; [`postgres_sql`] rewrites
//! them to PostgreSQL's `$N`.

use super::{Conn, Decoded};
use crate::db::DbError;
use sqlx::Arguments as _;
use sqlx::postgres::PgArguments;
use sqlx::sqlite::SqliteArguments;
use std::borrow::Cow;
use uuid::Uuid;

/// One parameter. Each variant keeps its type when it is NULL, because PostgreSQL types a
/// parameter from the value bound (a NULL bound as an integer does not fit a text column).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// An id.
    Uuid(Option<Uuid>),
    /// An integer (times, sizes, counts).
    Int(Option<i64>),
    /// Text (names, JSON, digests).
    Text(Option<Cow<'static, str>>),
    /// Bytes (inline contents).
    Bytes(Option<Vec<u8>>),
    /// A flag.
    Bool(Option<bool>),
}

macro_rules! value_from {
    ($variant:ident: $($t:ty => $conv:expr),+ $(,)?) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Self {
                #[allow(clippy::redundant_closure_call, reason = "one macro arm per conversion")]
                Value::$variant(Some(($conv)(v)))
            }
        }
        impl From<Option<$t>> for Value {
            fn from(v: Option<$t>) -> Self {
                #[allow(clippy::redundant_closure_call, reason = "one macro arm per conversion")]
                Value::$variant(v.map($conv))
            }
        }
    )+};
}

value_from!(Uuid: Uuid => |v| v);
value_from!(Int: i64 => |v| v);
value_from!(Text: String => Cow::Owned, &'static str => Cow::Borrowed);
value_from!(Bytes: Vec<u8> => |v| v);
value_from!(Bool: bool => |v| v);

/// Binds `values` for SQLite.
pub(super) fn sqlite_args(values: Vec<Value>) -> Result<SqliteArguments<'static>, DbError> {
    bind_all::<sqlx::Sqlite>(values)
}

/// Binds `values` for PostgreSQL.
pub(super) fn postgres_args(values: Vec<Value>) -> Result<PgArguments, DbError> {
    bind_all::<sqlx::Postgres>(values)
}

/// Binds `values` as `DB`'s arguments, each with its own type (a NULL too).
fn bind_all<DB: sqlx::Database>(values: Vec<Value>) -> Result<DB::Arguments<'static>, DbError>
where
    Option<Uuid>: sqlx::Encode<'static, DB> + sqlx::Type<DB>,
    Option<i64>: sqlx::Encode<'static, DB> + sqlx::Type<DB>,
    Option<Cow<'static, str>>: sqlx::Encode<'static, DB> + sqlx::Type<DB>,
    Option<Vec<u8>>: sqlx::Encode<'static, DB> + sqlx::Type<DB>,
    Option<bool>: sqlx::Encode<'static, DB> + sqlx::Type<DB>,
{
    let mut args = DB::Arguments::<'static>::default();
    for value in values {
        match value {
            Value::Uuid(v) => args.add(v),
            Value::Int(v) => args.add(v),
            Value::Text(v) => args.add(v),
            Value::Bytes(v) => args.add(v),
            Value::Bool(v) => args.add(v),
        }
        .map_err(bind_error)?;
    }
    Ok(args)
}

fn bind_error(e: sqlx::error::BoxDynError) -> DbError {
    DbError::Corrupt { what: "bind argument", detail: e.to_string() }
}

/// `sql` with SQLite's `?` and `?N` parameters rewritten as PostgreSQL's `$N`, numbered as
/// SQLite numbers them (a bare `?` is one more than the largest number so far). Our SQL has no
/// `?` inside a literal, which the rewrite does not look for.
pub fn postgres_sql(sql: &str) -> String {
    let rewritten: Result<String, std::convert::Infallible> = rewrite_params(sql, |n, out| {
        out.push('$');
        out.push_str(&n.to_string());
        Ok(())
    });
    rewritten.unwrap_or_else(|never| match never {})
}

/// `sql` with each parameter replaced by what `param` writes for its number (1-based, as
/// SQLite numbers them: see [`postgres_sql`]).
pub fn rewrite_params<E>(
    sql: &str,
    mut param: impl FnMut(u32, &mut String) -> Result<(), E>,
) -> Result<String, E> {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut highest = 0u32;
    let mut chars = sql.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c != '?' {
            out.push(c);
            continue;
        }
        let mut digits = String::new();
        while let Some((_, d)) = chars.peek().filter(|(_, d)| d.is_ascii_digit()) {
            digits.push(*d);
            chars.next();
        }
        let n = digits.parse().unwrap_or(highest + 1);
        highest = highest.max(n);
        param(n, &mut out)?;
    }
    Ok(out)
}

/// `value` as a PostgreSQL literal of its type, for statements sent as text (the commit
/// writer sends a whole group in one round trip). Text is quoted by doubling `'`, which with
/// `standard_conforming_strings = on` (set on every connection, see `db::postgres`) is the
/// only character that ends a literal; bytes go as hex. PostgreSQL cannot store a NUL in text
/// at all: one (a guest's stdout may hold it) becomes U+FFFD, as invalid UTF-8 already does.
pub fn postgres_literal(value: &Value, out: &mut String) -> Result<(), DbError> {
    use std::fmt::Write as _;
    let _ = match value {
        Value::Uuid(Some(u)) => {
            out.push('\'');
            out.push_str(u.hyphenated().encode_lower(&mut Uuid::encode_buffer()));
            write!(out, "'::uuid")
        }
        Value::Int(Some(n)) => write!(out, "({n})::int8"),
        Value::Bool(Some(b)) => write!(out, "{b}"),
        Value::Bytes(Some(b)) => {
            // Hex by table: a node's inline contents are kilobytes, and a formatter call per
            // byte measured as a tenth of a worker's time.
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.reserve(b.len() * 2 + 12);
            out.push_str("'\\x");
            for byte in b {
                out.push(char::from(HEX[usize::from(byte >> 4)]));
                out.push(char::from(HEX[usize::from(byte & 15)]));
            }
            write!(out, "'::bytea")
        }
        Value::Text(Some(t)) => {
            out.push('\'');
            for c in t.chars() {
                match c {
                    '\'' => out.push_str("''"),
                    '\0' => out.push('\u{fffd}'),
                    c => out.push(c),
                }
            }
            write!(out, "'::text")
        }
        Value::Uuid(None) => write!(out, "NULL::uuid"),
        Value::Int(None) => write!(out, "NULL::int8"),
        Value::Bool(None) => write!(out, "NULL::boolean"),
        Value::Bytes(None) => write!(out, "NULL::bytea"),
        Value::Text(None) => write!(out, "NULL::text"),
    };
    Ok(())
}

/// A statement and its parameters, run on a [`Conn`] of either backend.
#[derive(Clone, Debug, Default)]
pub struct Query {
    sql: String,
    values: Vec<Value>,
}

/// A query of `sql` (parameters added with [`Query::bind`]).
pub fn query(sql: impl Into<String>) -> Query {
    Query { sql: sql.into(), values: Vec::new() }
}

impl Query {
    /// Binds the next parameter.
    pub fn bind(mut self, value: impl Into<Value>) -> Self {
        self.values.push(value.into());
        self
    }

    /// Appends SQL text (building a statement piece by piece).
    pub fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    /// Appends a `?` parameter bound to `value`.
    pub fn push_bind(&mut self, value: impl Into<Value>) -> &mut Self {
        self.sql.push('?');
        self.values.push(value.into());
        self
    }

    /// Appends `?, ?, …`, one per value.
    pub fn push_list<V: Into<Value>>(&mut self, values: impl IntoIterator<Item = V>) -> &mut Self {
        for (i, v) in values.into_iter().enumerate() {
            if i > 0 {
                self.sql.push_str(", ");
            }
            self.push_bind(v);
        }
        self
    }

    /// Runs it; how many rows it changed.
    pub async fn execute(self, db: &mut Conn<'_>) -> Result<u64, DbError> {
        Ok(match db {
            Conn::Sqlite(c) => sqlx::query_with(&self.sql, sqlite_args(self.values)?)
                .execute(&mut **c)
                .await?
                .rows_affected(),
            Conn::Postgres(c) => sqlx::query_with(&postgres_sql(&self.sql), postgres_args(self.values)?)
                .execute(&mut **c)
                .await?
                .rows_affected(),
        })
    }

    /// Every row.
    pub async fn fetch_all<T: Decoded>(self, db: &mut Conn<'_>) -> Result<Vec<T>, DbError> {
        Ok(match db {
            Conn::Sqlite(c) => {
                sqlx::query_as_with(&self.sql, sqlite_args(self.values)?).fetch_all(&mut **c).await?
            }
            Conn::Postgres(c) => {
                sqlx::query_as_with(&postgres_sql(&self.sql), postgres_args(self.values)?)
                    .fetch_all(&mut **c)
                    .await?
            }
        })
    }

    /// The row, if there is one.
    pub async fn fetch_optional<T: Decoded>(self, db: &mut Conn<'_>) -> Result<Option<T>, DbError> {
        Ok(match db {
            Conn::Sqlite(c) => {
                sqlx::query_as_with(&self.sql, sqlite_args(self.values)?).fetch_optional(&mut **c).await?
            }
            Conn::Postgres(c) => {
                sqlx::query_as_with(&postgres_sql(&self.sql), postgres_args(self.values)?)
                    .fetch_optional(&mut **c)
                    .await?
            }
        })
    }

    /// The one row.
    pub async fn fetch_one<T: Decoded>(self, db: &mut Conn<'_>) -> Result<T, DbError> {
        self.fetch_optional(db).await?.ok_or(DbError::Sqlx(sqlx::Error::RowNotFound))
    }

    /// The first column of every row.
    pub async fn scalars<T>(self, db: &mut Conn<'_>) -> Result<Vec<T>, DbError>
    where
        (T,): Decoded,
    {
        Ok(self.fetch_all::<(T,)>(db).await?.into_iter().map(|(v,)| v).collect())
    }

    /// The first column of the one row.
    pub async fn scalar<T>(self, db: &mut Conn<'_>) -> Result<T, DbError>
    where
        (T,): Decoded,
    {
        Ok(self.fetch_one::<(T,)>(db).await?.0)
    }
}

#[cfg(test)]
mod tests {
    use super::{Value, postgres_literal, postgres_sql};

    #[test]
    fn literals_spell_each_type_as_postgresql_reads_it() {
        let lit = |v: Value| {
            let mut out = String::new();
            postgres_literal(&v, &mut out).unwrap();
            out
        };
        let id = uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        assert_eq!(lit(Value::Uuid(Some(id))), "'01234567-89ab-cdef-0123-456789abcdef'::uuid");
        assert_eq!(lit(Value::Bytes(Some(vec![0, 0x7f, 0xa5, 0xff]))), "'\\x007fa5ff'::bytea");
        assert_eq!(lit(Value::Int(Some(-3))), "(-3)::int8");
        assert_eq!(lit(Value::Text(Some("it's".into()))), "'it''s'::text");
        assert_eq!(lit(Value::Uuid(None)), "NULL::uuid");
    }

    #[test]
    fn parameters_are_numbered_as_sqlite_numbers_them() {
        assert_eq!(postgres_sql("a = ? AND b = ?"), "a = $1 AND b = $2");
        assert_eq!(postgres_sql("a = ?1 OR c = ?1 AND d = ?2"), "a = $1 OR c = $1 AND d = $2");
        assert_eq!(postgres_sql("x = ?3, y = ?"), "x = $3, y = $4");
        assert_eq!(postgres_sql("'$.cell' = ?"), "'$.cell' = $1");
    }
}
