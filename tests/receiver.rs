//! A real webhook receiver on 127.0.0.1 (axum): checks each delivery's HMAC signature with an
//! independent implementation, keeps exactly one accepted delivery per idempotency key (later
//! ones are acknowledged and counted as duplicates), and can be told to fail, reject or stall.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac as _};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the receiver answers.
#[derive(Clone, Debug, Default)]
pub struct Behaviour {
    /// Answer 500 to this many requests first.
    pub fail_first: usize,
    /// Then answer 429 (with `Retry-After: 0`) to this many.
    pub throttle_next: usize,
    /// Answer 400 to events of this execution and kind.
    pub reject: Option<(String, String)>,
    /// Accept the n-th request (1-based), then never answer it (a relay killed mid-delivery).
    pub stall_after_accepting: Option<usize>,
    /// Wait this long in every request (to make overlap visible).
    pub delay: Duration,
}

/// What the receiver saw.
#[derive(Debug, Default)]
pub struct Seen {
    /// Requests of any outcome.
    pub requests: usize,
    /// Accepted deliveries, first per key, in arrival order: `(key, execution, seq)`.
    pub accepted: Vec<(String, String, u64)>,
    /// Keys accepted before.
    pub keys: HashSet<String>,
    /// Deliveries of an already accepted key (acknowledged, not accepted again).
    pub duplicates: Vec<String>,
    /// Requests whose signature did not verify.
    pub bad_signatures: usize,
    /// Requests whose Idempotency-Key header differed from the body's key.
    pub key_mismatches: usize,
    /// Requests in flight now, per key, and the most ever at once.
    pub in_flight: HashMap<String, usize>,
    /// The most requests for one key in flight at once.
    pub max_in_flight_per_key: usize,
    /// The key of the stalled request.
    pub stalled: Option<String>,
}

/// A running receiver.
pub struct Receiver {
    /// `http://127.0.0.1:<port>/hook`.
    pub url: String,
    /// Its state.
    pub state: Arc<Mutex<(Behaviour, Seen)>>,
    secret: Vec<u8>,
}

impl Receiver {
    /// Starts a receiver checking signatures with `secret`.
    pub async fn start(secret: &str, behaviour: Behaviour) -> Self {
        let (receiver, listener, app) = Self::bound("http", secret, behaviour).await;
        tokio::spawn(async move { axum::serve(listener, app).await });
        receiver
    }

    /// A listener on 127.0.0.1 and the app answering on it, for either scheme.
    async fn bound(
        scheme: &str,
        secret: &str,
        behaviour: Behaviour,
    ) -> (Self, tokio::net::TcpListener, axum::Router) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binding 127.0.0.1:0");
        let url = format!("{scheme}://{}/hook", listener.local_addr().expect("local addr"));
        let state = Arc::new(Mutex::new((behaviour, Seen::default())));
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(handle))
            .with_state((state.clone(), secret.as_bytes().to_vec()));
        (Self { url, state, secret: secret.as_bytes().to_vec() }, listener, app)
    }

    /// As [`Receiver::start`], over TLS (rustls) with a fresh self-signed certificate for
    /// 127.0.0.1; returns the certificate (PEM) for a client to trust.
    pub async fn start_tls(secret: &str, behaviour: Behaviour) -> (Self, String) {
        let key = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .expect("self-signed certificate");
        let cert_pem = key.cert.pem();
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![key.cert.der().clone()],
                tokio_rustls::rustls::pki_types::PrivateKeyDer::Pkcs8(key.signing_key.serialize_der().into()),
            )
            .expect("server certificate");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let (receiver, listener, app) = Self::bound("https", secret, behaviour).await;
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, app) = (acceptor.clone(), app.clone());
                tokio::spawn(async move {
                    // A client that does not trust the certificate hangs up here.
                    if let Ok(tls) = acceptor.accept(tcp).await {
                        let service = hyper_util::service::TowerToHyperService::new(app);
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                            .await;
                    }
                });
            }
        });
        (receiver, cert_pem)
    }

    /// Runs `f` over what was seen.
    pub fn seen<T>(&self, f: impl FnOnce(&Seen) -> T) -> T {
        f(&self.state.lock().expect("receiver state").1)
    }

    /// Changes the behaviour.
    pub fn set(&self, f: impl FnOnce(&mut Behaviour)) {
        f(&mut self.state.lock().expect("receiver state").0);
    }

    /// The secret (for config files).
    pub fn secret(&self) -> String {
        String::from_utf8_lossy(&self.secret).into_owned()
    }
}

type Shared = (Arc<Mutex<(Behaviour, Seen)>>, Vec<u8>);

async fn handle(
    State((state, secret)): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, HeaderMap) {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let key = event["idempotency_key"].as_str().unwrap_or_default().to_owned();
    let execution = event["execution"].as_str().unwrap_or_default().to_owned();
    let (kind, seq) =
        (event["kind"].as_str().unwrap_or_default().to_owned(), event["seq"].as_u64().unwrap_or(0));
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&secret).expect("hmac key");
    mac.update(header("x-wtb-timestamp").as_bytes());
    mac.update(b".");
    mac.update(&body);
    let expected = format!("v1={}", hex::encode(mac.finalize().into_bytes()));
    let (number, delay) = {
        let mut guard = state.lock().expect("receiver state");
        let (_, seen) = &mut *guard;
        seen.requests += 1;
        let number = seen.requests;
        if header("x-wtb-signature") != expected {
            seen.bad_signatures += 1;
        }
        if header("idempotency-key") != key {
            seen.key_mismatches += 1;
        }
        let n = seen.in_flight.entry(key.clone()).or_default();
        *n += 1;
        seen.max_in_flight_per_key = seen.max_in_flight_per_key.max(*n);
        (number, guard.0.delay)
    };
    tokio::time::sleep(delay).await;
    let (status, stall) = {
        let mut guard = state.lock().expect("receiver state");
        let (b, seen) = &mut *guard;
        if let Some(n) = seen.in_flight.get_mut(&key) {
            *n -= 1;
        }
        // Decided by the request's arrival number: concurrent requests may answer out of order.
        let failing = number <= b.fail_first;
        let throttled = !failing && number <= b.fail_first + b.throttle_next;
        if failing {
            (StatusCode::INTERNAL_SERVER_ERROR, false)
        } else if throttled {
            (StatusCode::TOO_MANY_REQUESTS, false)
        } else if b.reject.as_ref().is_some_and(|(x, k)| *x == execution && *k == kind) {
            (StatusCode::BAD_REQUEST, false)
        } else {
            if seen.keys.insert(key.clone()) {
                seen.accepted.push((key.clone(), execution, seq));
            } else {
                seen.duplicates.push(key.clone());
            }
            let stall = b.stall_after_accepting == Some(number);
            if stall {
                seen.stalled = Some(key.clone());
            }
            (StatusCode::OK, stall)
        }
    };
    if stall {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    let mut out = HeaderMap::new();
    if status == StatusCode::TOO_MANY_REQUESTS {
        out.insert("retry-after", "0".parse().expect("header value"));
    }
    (status, out)
}
