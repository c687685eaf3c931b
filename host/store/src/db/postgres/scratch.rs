//! Databases made and dropped on a server for one measurement (`wtb bench --database-url`):
//! each scenario starts from an empty schema, as it does with a fresh SQLite file.

use super::connect::redact;
use crate::db::DbError;
use crate::db::sql::{Conn, query};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions as _, Connection as _};
use std::str::FromStr;

fn connect_error(url: &str) -> impl Fn(sqlx::Error) -> DbError + '_ {
    move |e| DbError::Connect { url: redact(url), cause: e.to_string() }
}

/// Creates an empty database named `name` on the server of `url` (connecting to `url`'s own
/// database to do so) and returns the URL of the new one.
pub async fn create_database(url: &str, name: &str) -> Result<String, DbError> {
    let options = PgConnectOptions::from_str(url).map_err(connect_error(url))?;
    let mut c = options.connect().await.map_err(connect_error(url))?;
    query(format!("CREATE DATABASE \"{}\"", name.replace('"', "")))
        .execute(&mut Conn::Postgres(&mut c))
        .await?;
    c.close().await?;
    let (base, params) = url.split_once('?').map_or((url, None), |(b, p)| (b, Some(p)));
    let server = base.rsplit_once('/').map_or(base, |(server, _)| server);
    Ok(match params {
        Some(p) => format!("{server}/{name}?{p}"),
        None => format!("{server}/{name}"),
    })
}

/// Drops database `name` from the server of `url`, closing its sessions first.
pub async fn drop_database(url: &str, name: &str) -> Result<(), DbError> {
    let options = PgConnectOptions::from_str(url).map_err(connect_error(url))?;
    let mut c = options.connect().await.map_err(connect_error(url))?;
    query(format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", name.replace('"', "")))
        .execute(&mut Conn::Postgres(&mut c))
        .await?;
    c.close().await?;
    Ok(())
}

/// How many bytes the database of `url` takes on the server.
pub async fn database_size(url: &str) -> Result<u64, DbError> {
    let options = PgConnectOptions::from_str(url).map_err(connect_error(url))?;
    let mut c = options.connect().await.map_err(connect_error(url))?;
    let (size,): (i64,) =
        query("SELECT pg_database_size(current_database())").fetch_one(&mut Conn::Postgres(&mut c)).await?;
    c.close().await?;
    Ok(u64::try_from(size).unwrap_or(0))
}

/// The server's cumulative counters a benchmark divides by its work: transactions committed
/// in the database of `url`, and WAL flushes to disk server-wide (`pg_stat_wal`). Read after
/// the measured processes closed their sessions, whose statistics are flushed at exit.
pub async fn commit_counters(url: &str) -> Result<(i64, i64), DbError> {
    let options = PgConnectOptions::from_str(url).map_err(connect_error(url))?;
    let mut c = options.connect().await.map_err(connect_error(url))?;
    let conn = &mut Conn::Postgres(&mut c);
    query("SELECT pg_stat_clear_snapshot()::text").execute(conn).await?;
    let commits: i64 = query("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
        .scalar(conn)
        .await?;
    let flushes: i64 = query("SELECT wal_sync FROM pg_stat_wal").scalar(conn).await?;
    c.close().await?;
    Ok((commits, flushes))
}
