//! The JSONL file sink: one event per line, appended; `flush` fsyncs before the relay records
//! the lines as delivered. A crash between the two repeats lines on the next run, each with its
//! idempotency key, so readers dedupe by key.

use super::sink::{BoxFuture, DeliveryError, RunOutcome, Sink, event_json};
use std::fs::File;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wtb_core::model::OutboxEvent;

/// Appends events to one file.
#[derive(Debug)]
pub struct JsonlSink {
    name: String,
    path: PathBuf,
    file: Arc<Mutex<File>>,
}

impl JsonlSink {
    /// A sink over an open file (opened for appending by [`crate::config::open_append`]).
    pub fn new(name: String, path: PathBuf, file: File) -> Self {
        Self { name, path, file: Arc::new(Mutex::new(file)) }
    }

    fn io(&self, e: impl std::fmt::Display) -> DeliveryError {
        DeliveryError::transient(format!("{}: {e}", self.path.display()))
    }
}

impl Sink for JsonlSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn max_delivery_time(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn deliver<'a>(&'a self, events: &'a [OutboxEvent]) -> BoxFuture<'a, RunOutcome> {
        Box::pin(async move {
            let mut lines = String::new();
            for e in events {
                lines.push_str(&event_json(e).to_string());
                lines.push('\n');
            }
            // One write per run: lines of concurrent runs never interleave.
            let written = match self.file.lock() {
                Ok(mut f) => f.write_all(lines.as_bytes()).map_err(|e| self.io(e)),
                Err(_) => Err(self.io("an earlier writer panicked")),
            };
            match written {
                Ok(()) => RunOutcome { delivered: events.len(), error: None },
                Err(e) => RunOutcome { delivered: 0, error: Some(e) },
            }
        })
    }

    fn flush(&self) -> BoxFuture<'_, Result<(), DeliveryError>> {
        Box::pin(async move {
            let file = self
                .file
                .lock()
                .map_err(|_| self.io("an earlier writer panicked"))?
                .try_clone()
                .map_err(|e| self.io(e))?;
            tokio::task::spawn_blocking(move || file.sync_data())
                .await
                .map_err(|e| self.io(e))?
                .map_err(|e| self.io(e))
        })
    }
}
