//! Outbox delivery: the relay and its sinks.
//!
//! Events are written by the transactions that cause them (see [`crate::executor`]); this
//! module gets them out: to every configured sink, in order per execution, at least once, each
//! with its idempotency key (`<execution>:<seq>`) so a receiver keeps exactly one. Delivery
//! state is per event and sink in `outbox_deliveries` ([`wtb_store::db::delivery`]).

mod jsonl;
#[cfg(feature = "nats")]
mod nats;
mod operate;
mod relay;
mod retry;
mod sink;
#[cfg(feature = "webhook")]
mod webhook;

pub use jsonl::JsonlSink;
#[cfg(feature = "nats")]
pub use nats::{NatsSink, Settings as NatsSettings};
pub use operate::{DeliveryPage, OutboxStats, deliveries, revive, stats};
pub use relay::{Relay, RelayOptions, RelayReport};
pub use retry::RetryPolicy;
pub use sink::{BoxFuture, DeliveryError, RunOutcome, Sink, event_json};
#[cfg(feature = "webhook")]
pub use webhook::{
    SIGNATURE_HEADER, Settings as WebhookSettings, TIMESTAMP_HEADER, Verdict, WebhookSink, classify,
    signature,
};

use crate::config::{RuntimeConfig, SinkConfig};
use crate::executor::Executor;
use std::path::Path;
use std::sync::Arc;
#[cfg(any(feature = "webhook", feature = "nats"))]
use std::time::Duration;
use wtb_core::clock::Clock;

/// A sink that cannot be used as configured: reported when the relay starts, not at the first
/// event.
#[derive(Debug, thiserror::Error)]
#[error("wtb.toml: outbox sink `{sink}`: {message}")]
pub struct SinkConfigError {
    /// The sink's name.
    pub sink: String,
    /// What is wrong.
    pub message: String,
}

/// Opens and checks the configured sinks: names unique and plain, JSONL files openable,
/// webhook URLs and secrets usable.
pub fn build_sinks(
    root: &Path,
    config: &RuntimeConfig,
    #[cfg_attr(
        not(feature = "webhook"),
        expect(unused_variables, reason = "only the webhook sink reads the clock")
    )]
    clock: Arc<dyn Clock>,
) -> Result<Vec<Arc<dyn Sink>>, SinkConfigError> {
    let mut sinks: Vec<Arc<dyn Sink>> = Vec::new();
    for c in config.sinks() {
        let name = c.name().to_owned();
        let err = |message: String| SinkConfigError { sink: name.clone(), message };
        if name.is_empty() || !name.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_') {
            return Err(err("a sink name is 1+ letters, digits, `-` or `_`".into()));
        }
        if sinks.iter().any(|s| s.name() == name) {
            return Err(err("two sinks have this name".into()));
        }
        let sink: Arc<dyn Sink> = match c {
            SinkConfig::Jsonl { path, .. } => {
                let (path, file) =
                    crate::config::open_append(root, path.as_deref()).map_err(|e| err(e.to_string()))?;
                Arc::new(JsonlSink::new(name.clone(), path, file))
            }
            #[cfg(not(feature = "webhook"))]
            SinkConfig::Webhook { .. } => {
                return Err(err("this build has no webhook sink (wtb-engine's feature `webhook`)".into()));
            }
            #[cfg(feature = "webhook")]
            SinkConfig::Webhook { url, secret, secret_env, timeout_ms, ca_file, .. } => {
                let secret = match (secret, secret_env) {
                    (Some(s), None) => s,
                    (None, Some(var)) => {
                        std::env::var(&var).map_err(|e| err(format!("secret_env `{var}`: {e}")))?
                    }
                    (Some(_), Some(_)) => return Err(err("set `secret` or `secret_env`, not both".into())),
                    (None, None) => {
                        return Err(err("a webhook needs `secret` (or `secret_env`) to sign with".into()));
                    }
                };
                let ca = ca_file
                    .map(|f| {
                        crate::config::read_config_file(root, &f).map_err(|e| err(format!("ca_file: {e}")))
                    })
                    .transpose()?;
                let settings = webhook::Settings {
                    url: &url,
                    secret: secret.into_bytes(),
                    timeout: Duration::from_millis(timeout_ms),
                    ca_pem: ca,
                };
                Arc::new(WebhookSink::new(name.clone(), settings, clock.clone()).map_err(err)?)
            }
            #[cfg(not(feature = "nats"))]
            SinkConfig::Nats { .. } => {
                return Err(err("this build has no NATS sink (wtb-engine's feature `nats`)".into()));
            }
            #[cfg(feature = "nats")]
            SinkConfig::Nats { url, subject, stream, duplicate_window_s, timeout_ms, token_env, .. } => {
                let token = token_env
                    .map(|var| std::env::var(&var).map_err(|e| err(format!("token_env `{var}`: {e}"))))
                    .transpose()?;
                let settings = nats::Settings {
                    url,
                    subject,
                    stream,
                    duplicate_window: Duration::from_secs(duplicate_window_s),
                    timeout: Duration::from_millis(timeout_ms),
                    token,
                };
                Arc::new(NatsSink::new(name.clone(), settings).map_err(err)?)
            }
        };
        sinks.push(sink);
    }
    Ok(sinks)
}

/// The relay of an executor's data dir, with its configured sinks, leased under a name unique
/// to this process.
pub fn relay_for(exec: &Executor) -> Result<Relay, SinkConfigError> {
    let sinks = build_sinks(exec.data_root(), exec.config(), exec.clock())?;
    let owner = crate::executor::control::owner_id(exec.ids().as_ref());
    Ok(Relay::new(
        exec.database().clone(),
        sinks,
        RelayOptions::from_config(&exec.config().outbox),
        exec.clock(),
        owner,
    ))
}
