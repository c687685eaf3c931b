//! The database: the seam the engine runs against ([`port`]: one trait per aggregate, and the
//! [`UnitOfWork`] of typed writes that is the only way to change it), the aggregates' SQL both
//! backends share ([`sql`]), and the backends: embedded SQLite ([`sqlite`]: one file and a
//! group-commit writer) and PostgreSQL ([`postgres`]: a server many processes share).

pub mod port;
pub mod postgres;
pub mod sql;
pub mod sqlite;

pub use port::{
    Arrival, BlobTotals, ClaimSpec, Claimed, ComponentRecord, DURATION_BUCKETS, Database, DeliveryFilter,
    DeliveryRow, DeliveryStatus, ExperimentRecord, Lease, Leases, ListFilter, OpenAttempt, ResumeFacts,
    Settled, SinkCounts, Snapshot, Submission, Swept, Taken, UnitOfWork, Usage, WorkSignals, Write,
    WriteError,
};
pub use postgres::Postgres;
pub use sqlite::Sqlite;

/// The SQL pool behind `db`, if it is one of the SQL backends (for tools and tests that run
/// their own statements).
pub fn sql_pool(db: &dyn Database) -> Option<&sql::Pool> {
    let any = db.as_any();
    any.downcast_ref::<Sqlite>()
        .map(|s| s.reads().pool())
        .or_else(|| any.downcast_ref::<Postgres>().map(|p| p.reads().pool()))
}

/// A database failure.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// SQLite or the driver failed.
    #[error("database: {0}")]
    Sqlx(#[from] sqlx::Error),
    /// Applying migrations failed.
    #[error("migrating the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The lock that serialises migrations between processes could not be taken.
    #[error("locking the database for migration: {0}")]
    Lock(std::io::Error),
    /// SQLite failed on the commit writer's own connection.
    #[error("database: {0}")]
    Direct(#[from] rusqlite::Error),
    /// The commit writer's thread could not be started.
    #[error("starting the commit writer: {0}")]
    Writer(std::io::Error),
    /// The database server could not be reached or refused the connection.
    #[error("cannot connect to the database at {url}: {cause}")]
    Connect {
        /// Where, with any password replaced by `***`.
        url: String,
        /// Why.
        cause: String,
    },
    /// The database holds a schema this build does not know.
    #[error("{0}")]
    Schema(String),
    /// A row holds a value the model cannot represent (a bug or a hand-edited database).
    #[error("database holds an invalid {what}: {detail}")]
    Corrupt {
        /// Which column.
        what: &'static str,
        /// What was wrong.
        detail: String,
    },
}

impl DbError {
    /// Whether a unit was refused by its lease's fence: another process claimed the
    /// execution after this one (see `sql::lease`).
    pub fn is_fenced(&self) -> bool {
        self.raised(sql::lease::FENCED_CODE, sql::lease::FENCED)
    }

    /// Whether a start that assumed its tenant had no quotas found one set (see
    /// `sql::tenant::no_quotas_into`): nothing was stored, and the start may be made again
    /// once the quotas are checked.
    pub fn is_quotas_set(&self) -> bool {
        self.raised(sql::tenant::QUOTAS_SET_CODE, sql::tenant::QUOTAS_SET)
    }

    /// Whether this is the error one of WTB's triggers raises: `code` on PostgreSQL, a
    /// message containing `marker` on SQLite.
    fn raised(&self, code: &str, marker: &str) -> bool {
        match self {
            Self::Sqlx(sqlx::Error::Database(e)) => {
                e.code().as_deref() == Some(code) || e.message().contains(marker)
            }
            Self::Direct(e) => e.to_string().contains(marker),
            _ => false,
        }
    }
}

/// How hard each commit pushes data to the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Durability {
    /// `synchronous=FULL`: a committed checkpoint survives power loss.
    #[default]
    Full,
    /// `synchronous=NORMAL`: survives a crash of WTB, may lose the last commits on power loss.
    Normal,
}

impl Durability {
    /// The value of SQLite's `synchronous` pragma, for every connection.
    pub fn pragma(self) -> &'static str {
        match self {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        }
    }
}
