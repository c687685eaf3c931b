//! Turning column values back into model types, with errors that name the column.

use super::DbError;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

/// Reads a column, mapping driver errors.
pub(crate) fn get<'r, T>(row: &'r SqliteRow, col: &'static str) -> Result<T, DbError>
where
    T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    Ok(row.try_get(col)?)
}

/// Reads a TEXT column and parses it.
pub(crate) fn parse<T: std::str::FromStr>(row: &SqliteRow, col: &'static str) -> Result<T, DbError>
where
    T::Err: std::fmt::Display,
{
    let s: String = row.try_get(col)?;
    s.parse().map_err(|e: T::Err| DbError::Corrupt { what: col, detail: e.to_string() })
}

/// Reads an optional TEXT column and parses it.
pub(crate) fn parse_opt<T: std::str::FromStr>(row: &SqliteRow, col: &'static str) -> Result<Option<T>, DbError>
where
    T::Err: std::fmt::Display,
{
    let s: Option<String> = row.try_get(col)?;
    s.map(|s| s.parse().map_err(|e: T::Err| DbError::Corrupt { what: col, detail: e.to_string() })).transpose()
}

/// Reads a TEXT column holding JSON.
pub(crate) fn json<T: serde::de::DeserializeOwned>(row: &SqliteRow, col: &'static str) -> Result<T, DbError> {
    let s: String = row.try_get(col)?;
    serde_json::from_str(&s).map_err(|e| DbError::Corrupt { what: col, detail: e.to_string() })
}

/// Reads an INTEGER column as an unsigned value.
pub(crate) fn unsigned<T: TryFrom<i64>>(row: &SqliteRow, col: &'static str) -> Result<T, DbError> {
    let v: i64 = row.try_get(col)?;
    T::try_from(v).map_err(|_| DbError::Corrupt { what: col, detail: format!("{v} out of range") })
}

/// Reads an optional INTEGER column as an unsigned value.
pub(crate) fn unsigned_opt<T: TryFrom<i64>>(row: &SqliteRow, col: &'static str) -> Result<Option<T>, DbError> {
    let v: Option<i64> = row.try_get(col)?;
    v.map(|v| T::try_from(v).map_err(|_| DbError::Corrupt { what: col, detail: format!("{v} out of range") }))
        .transpose()
}

/// An unsigned value as SQLite's INTEGER (saturating: sizes never reach 2^63).
pub(crate) fn int(v: impl TryInto<i64>) -> i64 {
    v.try_into().unwrap_or(i64::MAX)
}
