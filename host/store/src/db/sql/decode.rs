//! Turning column values back into model types, with errors that name the column.
//!
//! Rows decode in two steps: `sqlx::FromRow` reads each aggregate's row struct (the columns
//! as stored: uuids, integers, text), then a `TryFrom` builds the model type with the checks
//! below (ranges, enum names, JSON), so a hand-edited or corrupt value is an error naming its
//! column, never a panic.

use super::DbError;

/// An unsigned value as SQLite's INTEGER (saturating: sizes never reach 2^63).
pub(crate) fn int(v: impl TryInto<i64>) -> i64 {
    v.try_into().unwrap_or(i64::MAX)
}

/// A stored TEXT value parsed into `T` (an enum name, a digest).
pub(crate) fn parsed<T: std::str::FromStr>(col: &'static str, s: &str) -> Result<T, DbError>
where
    T::Err: std::fmt::Display,
{
    s.parse().map_err(|e: T::Err| DbError::Corrupt { what: col, detail: e.to_string() })
}

/// An optional stored TEXT value parsed into `T`.
pub(crate) fn parsed_opt<T: std::str::FromStr>(
    col: &'static str,
    s: Option<&str>,
) -> Result<Option<T>, DbError>
where
    T::Err: std::fmt::Display,
{
    s.map(|s| parsed(col, s)).transpose()
}

/// A stored INTEGER as an unsigned value.
pub(crate) fn in_range<T: TryFrom<i64>>(col: &'static str, v: i64) -> Result<T, DbError> {
    T::try_from(v).map_err(|_| DbError::Corrupt { what: col, detail: format!("{v} out of range") })
}

/// An optional stored INTEGER as an unsigned value.
pub(crate) fn in_range_opt<T: TryFrom<i64>>(col: &'static str, v: Option<i64>) -> Result<Option<T>, DbError> {
    v.map(|v| in_range(col, v)).transpose()
}

/// A stored TEXT value holding JSON.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(col: &'static str, s: &str) -> Result<T, DbError> {
    serde_json::from_str(s).map_err(|e| DbError::Corrupt { what: col, detail: e.to_string() })
}
