//! The scale-out settings: a shared database, a shared blob store, and how executions are
//! handed to `wtb worker` processes.

use serde::Deserialize;
use std::time::Duration;

/// `[database]`: a PostgreSQL server shared by several processes instead of the data dir's
/// SQLite file. The command line's `--database-url` (or `WTB_DATABASE_URL`) overrides it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `postgres://user:password@host:port/database` (any option libpq's URLs take, such as
    /// `?sslmode=require`); unset: `<data dir>/wtb.db`.
    pub url: Option<String>,
}

/// `[blobs]`: an S3-compatible bucket for large contents (shared by every process, on any
/// machine) instead of the data dir's `blobs/`. Credentials come from the environment
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, …), never from this file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BlobsConfig {
    /// `s3://bucket/prefix`; unset: `<data dir>/blobs/`.
    pub url: Option<String>,
    /// An S3-compatible server (`https://minio.internal:9000`); unset: `AWS_ENDPOINT`, else AWS.
    pub endpoint: Option<String>,
    /// Unset: `AWS_REGION`, else `us-east-1`.
    pub region: Option<String>,
    /// Allow a plain-HTTP endpoint (a test server).
    pub allow_http: bool,
}

impl BlobsConfig {
    /// The object store to use, if one is configured.
    pub fn options(&self) -> Option<wtb_store::cas::ObjectStoreOptions> {
        Some(wtb_store::cas::ObjectStoreOptions {
            url: self.url.clone()?,
            endpoint: self.endpoint.clone(),
            region: self.region.clone(),
            allow_http: self.allow_http,
            credentials: None,
        })
    }
}

/// `[workers]`: who runs the executions this process starts, and how leases behave.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkersConfig {
    /// `true`: `wtb run`, `POST /executions`, `resume` and experiments only store the
    /// execution (running, unleased) and wake the workers; a `wtb worker` claims and runs it.
    /// The CLI waits for the end; the HTTP API answers at once. Needs a database every
    /// process shares (`[database] url`) and a blob store they share (`[blobs] url`) when
    /// they are on different machines.
    pub hand_off: bool,
    /// How long a lease holds without renewal; a killed process's executions are taken over
    /// after this (at once on the same host, where its pid tells it is dead).
    pub lease_seconds: u64,
    /// How often an idle worker looks for work when no notification arrived (ms).
    pub poll_ms: u64,
}

impl Default for WorkersConfig {
    fn default() -> Self {
        Self { hand_off: false, lease_seconds: 15, poll_ms: 1000 }
    }
}

impl WorkersConfig {
    /// The lease's length (at least a second).
    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_seconds.max(1))
    }

    /// The polling fallback's period (at least 10 ms).
    pub fn poll(&self) -> Duration {
        Duration::from_millis(self.poll_ms.max(10))
    }
}
