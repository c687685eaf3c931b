//! The webhook sink: each event is POSTed as JSON with its `Idempotency-Key` and an
//! HMAC-SHA256 signature over `<timestamp>.<body>`:
//!
//! ```text
//! Idempotency-Key: <execution>:<seq>
//! X-WTB-Timestamp: <unix seconds>
//! X-WTB-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>
//! ```
//!
//! TLS is rustls with the public (webpki) roots, plus the CAs of `ca_file` if set.
//!
//! 2xx is delivered; 408, 429 and 5xx, timeouts and connection errors are retried (honouring
//! `Retry-After` in seconds); any other status is permanent and the event goes dead at once.

use super::sink::{BoxFuture, DeliveryError, RunOutcome, Sink, event_json};
use hmac::{Hmac, Mac as _};
use std::sync::Arc;
use std::time::Duration;
use wtb_core::clock::Clock;
use wtb_core::model::OutboxEvent;

/// The signature header's name.
pub const SIGNATURE_HEADER: &str = "X-WTB-Signature";
/// The signed timestamp's header name.
pub const TIMESTAMP_HEADER: &str = "X-WTB-Timestamp";

/// POSTs events to one URL.
pub struct WebhookSink {
    name: String,
    url: reqwest::Url,
    secret: Vec<u8>,
    timeout: Duration,
    client: reqwest::Client,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for WebhookSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSink")
            .field("name", &self.name)
            .field("url", &self.url.as_str())
            .finish_non_exhaustive()
    }
}

/// What a webhook sink is configured with.
#[derive(Clone, Debug)]
pub struct Settings<'a> {
    /// `http://` or `https://` URL.
    pub url: &'a str,
    /// HMAC-SHA256 key.
    pub secret: Vec<u8>,
    /// Per request (connect included).
    pub timeout: Duration,
    /// PEM certificates to trust besides the public roots (webpki-roots).
    pub ca_pem: Option<Vec<u8>>,
}

impl WebhookSink {
    /// Checks the settings (a bad URL, an empty secret, an unreadable CA file is an error
    /// now, not at the first event).
    pub fn new(name: String, settings: Settings<'_>, clock: Arc<dyn Clock>) -> Result<Self, String> {
        let Settings { url, secret, timeout, ca_pem } = settings;
        let url = reqwest::Url::parse(url).map_err(|e| format!("url `{url}`: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(format!("url `{url}`: must be http:// or https:// with a host"));
        }
        if secret.is_empty() {
            return Err("the signing secret is empty".into());
        }
        if timeout.is_zero() {
            return Err("timeout_ms must be above 0".into());
        }
        let mut builder = reqwest::Client::builder();
        if let Some(pem) = ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| format!("ca_file: {e}"))?;
            if certs.is_empty() {
                return Err("ca_file: no PEM certificate in it".into());
            }
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
        let client = builder
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("wtb/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("building the HTTP client: {e}"))?;
        Ok(Self { name, url, secret, timeout, client, clock })
    }

    async fn post(&self, e: &OutboxEvent) -> Result<(), DeliveryError> {
        let body = event_json(e).to_string();
        let timestamp = self.clock.now().micros().div_euclid(1_000_000);
        let response = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("Idempotency-Key", &e.idempotency_key)
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, signature(&self.secret, timestamp, body.as_bytes()))
            .body(body)
            .send()
            .await
            .map_err(|err| DeliveryError::transient(describe(&err)))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let excerpt = |body: String| body.chars().take(200).collect::<String>();
        match classify(status.as_u16()) {
            Verdict::Delivered => Ok(()),
            v => {
                let text = excerpt(response.text().await.unwrap_or_default());
                let message = format!(
                    "HTTP {status} from {}{}{text}",
                    self.url,
                    if text.is_empty() { "" } else { ": " }
                );
                Err(DeliveryError { message, permanent: v == Verdict::Permanent, retry_after })
            }
        }
    }
}

/// What an HTTP status means for a delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Accepted.
    Delivered,
    /// Try again later.
    Retry,
    /// Never going to work.
    Permanent,
}

/// 2xx delivered; 408, 429, 5xx retried; everything else (4xx, redirects) permanent.
pub fn classify(status: u16) -> Verdict {
    match status {
        200..=299 => Verdict::Delivered,
        408 | 429 | 500..=599 => Verdict::Retry,
        _ => Verdict::Permanent,
    }
}

/// The `X-WTB-Signature` value for a body sent at `timestamp` (unix seconds).
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// A transport error with its causes (reqwest's own message hides "connection refused").
fn describe(e: &reqwest::Error) -> String {
    let mut msg = if e.is_timeout() { "timed out".to_owned() } else { e.to_string() };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let s_text = s.to_string();
        if !msg.contains(&s_text) {
            msg.push_str(": ");
            msg.push_str(&s_text);
        }
        source = s.source();
    }
    msg
}

impl Sink for WebhookSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn max_delivery_time(&self) -> Duration {
        self.timeout
    }

    fn deliver<'a>(&'a self, events: &'a [OutboxEvent]) -> BoxFuture<'a, RunOutcome> {
        Box::pin(async move {
            for (i, e) in events.iter().enumerate() {
                if let Err(error) = self.post(e).await {
                    return RunOutcome { delivered: i, error: Some(error) };
                }
            }
            RunOutcome { delivered: events.len(), error: None }
        })
    }

    fn flush(&self) -> BoxFuture<'_, Result<(), DeliveryError>> {
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_classify_as_documented() {
        assert_eq!(classify(200), Verdict::Delivered);
        assert_eq!(classify(204), Verdict::Delivered);
        for s in [408, 429, 500, 502, 503] {
            assert_eq!(classify(s), Verdict::Retry, "{s}");
        }
        for s in [301, 400, 401, 404, 410, 422] {
            assert_eq!(classify(s), Verdict::Permanent, "{s}");
        }
    }

    #[test]
    fn signature_matches_a_known_hmac() {
        // HMAC-SHA256("key", "1700000000.{}"), computed independently with Python's hmac module.
        let sig = signature(b"key", 1_700_000_000, b"{}");
        assert_eq!(sig, "v1=9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae");
        assert_ne!(sig, signature(b"key", 1_700_000_001, b"{}"));
        assert_ne!(sig, signature(b"other", 1_700_000_000, b"{}"));
    }
}
