//! Reaching the server: connection options from a URL (with durability as
//! `synchronous_commit`), the pool, migrations, and URLs made safe to print.

use crate::db::{DbError, Durability};
use sqlx::PgPool;
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;

/// The schema history in `migrations/postgres/`, embedded at build time.
pub static MIGRATOR: Migrator = sqlx_macros::migrate!("../../migrations/postgres");

/// How long opening waits for the server before saying it cannot reach it.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Pooled connections per process: reads, claims and the relay (the writer has its own).
const POOL_SIZE: u32 = 16;

/// `url` with its password (in the user part, or a `password=` parameter) replaced by `***`,
/// for messages and logs.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rsplit_once('@') {
        Some((user, host)) if user.contains(':') => {
            format!("{}:***@{host}", user.split(':').next().unwrap_or_default())
        }
        _ => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => kv.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// The options of every connection to `url`: `synchronous_commit` on for
/// [`Durability::Full`] (a commit returns once the WAL is on disk), off for `Normal`.
pub fn options(url: &str, durability: Durability) -> Result<PgConnectOptions, DbError> {
    let options = PgConnectOptions::from_str(url)
        .map_err(|e| DbError::Connect { url: redact(url), cause: e.to_string() })?;
    let synchronous = match durability {
        Durability::Full => "on",
        Durability::Normal => "off",
    };
    // `standard_conforming_strings`: a backslash in a quoted literal is an ordinary character,
    // which the commit writer's inlined literals rely on (the default since 9.1; fixed here).
    Ok(options
        .application_name("wtb")
        .options([("synchronous_commit", synchronous), ("standard_conforming_strings", "on")]))
}

/// Connects a pool to `url` and brings the schema up to date (sqlx holds an advisory lock
/// while migrating, so processes starting together migrate once). A database migrated by a
/// newer WTB is refused with both versions.
pub async fn open(url: &str, options: PgConnectOptions) -> Result<PgPool, DbError> {
    let pool = PgPoolOptions::new()
        .max_connections(POOL_SIZE)
        .acquire_timeout(CONNECT_TIMEOUT)
        .connect_with(options)
        .await
        .map_err(|e| DbError::Connect { url: redact(url), cause: e.to_string() })?;
    match MIGRATOR.run(&pool).await {
        Ok(()) => Ok(pool),
        Err(MigrateError::VersionMissing(v)) => {
            let known = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
            Err(DbError::Schema(format!(
                "the database at {} has schema version {v}, which this wtb does not know (it knows versions up to {known}): run a newer wtb",
                redact(url)
            )))
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_print() {
        assert_eq!(redact("postgres://wtb:s3cret@db:5432/wtb"), "postgres://wtb:***@db:5432/wtb");
        assert_eq!(redact("postgres://db/wtb?user=a&password=x"), "postgres://db/wtb?user=a&password=***");
        assert_eq!(redact("postgres://wtb@db/wtb"), "postgres://wtb@db/wtb");
        assert_eq!(redact("postgres://u:p@w@host"), "postgres://u:***@host");
    }
}
