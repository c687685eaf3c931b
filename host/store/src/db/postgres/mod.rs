//! The server backend: PostgreSQL, shared by any number of WTB processes. The aggregates are
//! the shared SQL ([`crate::db::sql`]); what is PostgreSQL's own is the connection, the
//! migrations in `migrations/postgres/`, and a group-commit writer on an async connection.
//!
//! Outbox events are numbered after they commit, not as they are inserted (a sequence would
//! hand out numbers in insert order, and a transaction that commits late would put an event
//! behind a relay's cursor): a relay first gives every committed event without a position the
//! next ones, one relay at a time ([`crate::db::sql::delivery::sequence`]), so writers take no
//! lock for the outbox at all.

mod connect;
pub mod scratch;
mod writer;

use super::port::Database;
use super::sql::{Pool, Reads};
use super::{DbError, Durability};
use writer::PgCommitter;

pub use connect::{MIGRATOR, redact};

/// The PostgreSQL implementation of [`Database`].
pub struct Postgres {
    reads: Reads,
    committer: PgCommitter,
}

impl Postgres {
    /// Connects to `url`, migrates the schema and starts the writer. An unreachable server or
    /// a bad URL is [`DbError::Connect`], naming the URL without its password.
    pub async fn open(url: &str, durability: Durability) -> Result<Self, DbError> {
        let options = connect::options(url, durability)?;
        let pool = connect::open(url, options.clone()).await?;
        let committer = PgCommitter::start(options, url);
        Ok(Self { reads: Reads::new(Pool::Postgres(pool)), committer })
    }

    /// The shared aggregates' reads over this database.
    pub fn reads(&self) -> &Reads {
        &self.reads
    }
}

#[async_trait::async_trait]
impl Database for Postgres {
    crate::db::sql::shared_database_parts!(reads, committer, crate::db::sql::Dialect::Postgres);

    async fn metrics(&self) -> Result<super::Snapshot, DbError> {
        crate::db::sql::metrics::snapshot(self.reads.pool()).await
    }

    async fn close(&self) {
        self.committer.shut().await;
        self.reads.pool().close().await;
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
