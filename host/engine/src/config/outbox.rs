//! `[outbox]` of `wtb.toml`: the sinks events are delivered to and how hard the relay tries.

use serde::Deserialize;
use std::path::PathBuf;

/// `[outbox]`: where events go and how hard the relay tries.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxConfig {
    /// The sinks (`[[outbox.sinks]]`). Absent: one JSONL sink named `jsonl` writing
    /// `<data dir>/events.jsonl`; `sinks = []`: none.
    pub sinks: Option<Vec<SinkConfig>>,
    /// Attempts per event and sink before it goes dead.
    pub max_attempts: u32,
    /// Wait before the second attempt (ms); doubles each time, with jitter.
    pub backoff_initial_ms: u64,
    /// Longest wait between attempts (ms).
    pub backoff_max_ms: u64,
    /// How long a relay's claim on events holds (s); another relay takes them over after it.
    /// Stretched per sink to at least twice its timeout.
    pub lease_seconds: u64,
    /// How often an idle relay looks for new events (ms).
    pub poll_interval_ms: u64,
    /// Most events claimed per sink per round.
    pub batch: u32,
    /// Most events of one execution per round (delivered one after another).
    pub per_execution: u32,
    /// Executions delivered at once per sink.
    pub concurrency: usize,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            sinks: None,
            max_attempts: 12,
            backoff_initial_ms: 500,
            backoff_max_ms: 300_000,
            lease_seconds: 300,
            poll_interval_ms: 200,
            batch: 2048,
            per_execution: 64,
            concurrency: 16,
        }
    }
}

/// One `[[outbox.sinks]]` entry.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SinkConfig {
    /// Appends one JSON object per line.
    Jsonl {
        /// Unique among sinks; delivery state is kept per name.
        name: String,
        /// The file, relative to the data dir unless absolute (default `events.jsonl`).
        path: Option<PathBuf>,
    },
    /// POSTs each event as JSON, signed.
    Webhook {
        /// Unique among sinks; delivery state is kept per name.
        name: String,
        /// `http://` or `https://` URL.
        url: String,
        /// HMAC-SHA256 key for the signature header.
        secret: Option<String>,
        /// Or: the environment variable holding it (keeps secrets out of the file).
        secret_env: Option<String>,
        /// Per request (ms).
        #[serde(default = "default_webhook_timeout_ms")]
        timeout_ms: u64,
        /// PEM file of CA certificates trusted besides the public roots (a private CA, a
        /// self-signed receiver), relative to the data dir unless absolute.
        ca_file: Option<PathBuf>,
    },
    /// Publishes each event to NATS JetStream, `Nats-Msg-Id` = its idempotency key.
    Nats {
        /// Unique among sinks; delivery state is kept per name.
        name: String,
        /// `nats://host:4222` (comma-separated for several servers).
        url: String,
        /// Subject prefix: events go to `<subject>.<tenant>.<kind>`.
        subject: String,
        /// A stream to create (subjects `<subject>.>`) if it does not exist.
        stream: Option<String>,
        /// The created stream's duplicate window (s): redeliveries within it are dropped by
        /// the server.
        #[serde(default = "default_nats_duplicate_window_s")]
        duplicate_window_s: u64,
        /// Per connection attempt and acknowledgement (ms).
        #[serde(default = "default_webhook_timeout_ms")]
        timeout_ms: u64,
        /// The environment variable holding an auth token, if the server wants one.
        token_env: Option<String>,
    },
}

fn default_nats_duplicate_window_s() -> u64 {
    120
}

fn default_webhook_timeout_ms() -> u64 {
    10_000
}

impl SinkConfig {
    /// The sink's name.
    pub fn name(&self) -> &str {
        match self {
            Self::Jsonl { name, .. } | Self::Webhook { name, .. } | Self::Nats { name, .. } => name,
        }
    }
}
