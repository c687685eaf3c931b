//! The NATS JetStream sink: each event is published to `<subject>.<tenant>.<kind>` with
//! header `Nats-Msg-Id` set to its idempotency key, and counts as delivered once JetStream
//! acknowledged storing it. Within the stream's duplicate window, the server drops a
//! redelivery with the same id (a relay that died after publishing but before recording
//! the delivery); past it, consumers see the event again and deduplicate by that header.
//!
//! With `stream` set, the sink creates that stream on first use if it is missing (subjects
//! `<subject>.>`, the configured duplicate window); otherwise the operator's stream must
//! capture the subjects, or every publish fails with "no responders" and is retried.

use super::sink::{BoxFuture, DeliveryError, RunOutcome, Sink, event_json};
use async_nats::jetstream;
use std::time::Duration;
use tokio::sync::OnceCell;
use wtb_core::model::OutboxEvent;

/// What a NATS sink is configured with.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `nats://host:4222` (several, comma-separated, for a cluster).
    pub url: String,
    /// Subject prefix.
    pub subject: String,
    /// A stream to create if missing.
    pub stream: Option<String>,
    /// The created stream's duplicate window.
    pub duplicate_window: Duration,
    /// Per connection attempt and per acknowledgement.
    pub timeout: Duration,
    /// An auth token.
    pub token: Option<String>,
}

/// Publishes events to JetStream.
pub struct NatsSink {
    name: String,
    settings: Settings,
    context: OnceCell<jetstream::Context>,
}

impl std::fmt::Debug for NatsSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsSink")
            .field("name", &self.name)
            .field("url", &self.settings.url)
            .finish_non_exhaustive()
    }
}

/// A subject token from free text: NATS separates tokens with `.` and reserves `*`, `>` and
/// whitespace.
fn token(s: &str) -> String {
    s.chars().map(|c| if c == '*' || c == '>' || c.is_whitespace() { '_' } else { c }).collect()
}

impl NatsSink {
    /// Checks the settings now (a malformed URL or subject), not at the first event; connects
    /// at the first delivery.
    pub fn new(name: String, settings: Settings) -> Result<Self, String> {
        for server in settings.url.split(',') {
            let server = server.trim();
            if !(server.starts_with("nats://") || server.starts_with("tls://"))
                || server.len() <= "nats://".len()
            {
                return Err(format!("url `{server}`: must be nats://host:port (or tls://)"));
            }
        }
        let valid = |s: &str| !s.is_empty() && s.split('.').all(|t| !t.is_empty() && token(t) == t);
        if !valid(&settings.subject) {
            return Err(format!(
                "subject `{}`: dot-separated tokens without `*`, `>` or spaces",
                settings.subject
            ));
        }
        if settings.timeout.is_zero() {
            return Err("timeout_ms must be above 0".into());
        }
        Ok(Self { name, settings, context: OnceCell::new() })
    }

    async fn context(&self) -> Result<&jetstream::Context, DeliveryError> {
        self.context
            .get_or_try_init(|| async {
                let s = &self.settings;
                let mut options = async_nats::ConnectOptions::new().connection_timeout(s.timeout);
                if let Some(t) = &s.token {
                    options = options.token(t.clone());
                }
                let servers: Vec<&str> = s.url.split(',').map(str::trim).collect();
                let client = options
                    .connect(servers.as_slice())
                    .await
                    .map_err(|e| DeliveryError::transient(format!("connecting to {}: {e}", s.url)))?;
                let mut context = jetstream::new(client);
                context.set_timeout(s.timeout);
                if let Some(stream) = &s.stream {
                    let config = jetstream::stream::Config {
                        name: stream.clone(),
                        subjects: vec![format!("{}.>", s.subject)],
                        duplicate_window: s.duplicate_window,
                        ..Default::default()
                    };
                    context
                        .get_or_create_stream(config)
                        .await
                        .map_err(|e| DeliveryError::transient(format!("creating stream `{stream}`: {e}")))?;
                }
                Ok(context)
            })
            .await
    }

    async fn publish(&self, context: &jetstream::Context, e: &OutboxEvent) -> Result<(), DeliveryError> {
        let subject = format!("{}.{}.{}", self.settings.subject, e.tenant, token(&e.kind.as_string()));
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(async_nats::header::NATS_MESSAGE_ID, e.idempotency_key.as_str());
        let body = event_json(e).to_string();
        let ack = context
            .publish_with_headers(subject, headers, body.into())
            .await
            .map_err(|err| DeliveryError::transient(format!("publishing: {err}")))?;
        ack.await.map_err(|err| DeliveryError::transient(format!("JetStream did not acknowledge: {err}")))?;
        Ok(())
    }
}

impl Sink for NatsSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn max_delivery_time(&self) -> Duration {
        // Connecting (once) and one acknowledgement.
        self.settings.timeout * 2
    }

    fn deliver<'a>(&'a self, events: &'a [OutboxEvent]) -> BoxFuture<'a, RunOutcome> {
        Box::pin(async move {
            let context = match self.context().await {
                Ok(c) => c,
                Err(error) => return RunOutcome { delivered: 0, error: Some(error) },
            };
            for (i, e) in events.iter().enumerate() {
                if let Err(error) = self.publish(context, e).await {
                    return RunOutcome { delivered: i, error: Some(error) };
                }
            }
            RunOutcome { delivered: events.len(), error: None }
        })
    }

    /// JetStream acknowledged every event once it was stored (replicated, per the stream).
    fn flush(&self) -> BoxFuture<'_, Result<(), DeliveryError>> {
        Box::pin(async { Ok(()) })
    }
}
