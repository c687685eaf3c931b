//! `wtb serve`'s HTTP API (axum): every request authenticated by `Authorization: Bearer
//! <token>` and scoped to the token's tenant (another tenant's id is a 404, as an unknown one
//! is); `/admin/...` and `/metrics` take the admin token of `[serve]` instead. Every error is an
//! RFC 9457 problem. Each handler is registered and documented in one call (utoipa-axum), so
//! `/openapi.json` lists exactly the routes that exist, with the handlers' own types.
#![deny(missing_docs)]

mod admin;
mod archive;
mod checkpoints;
mod contract;
mod events;
mod executions;
mod experiments;
mod metrics;
mod problem;
mod progress;
mod testing;
mod web;
mod workflows;

pub use problem::Problem;

use axum::Router;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequestParts};
use axum::http::request::Parts;
use std::sync::Arc;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use wtb_engine::executor::Executor;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 16 << 20;

/// What every handler shares: the host, acting for no tenant until a token says which.
#[derive(Clone)]
pub struct AppState {
    host: Arc<Executor>,
    /// SHA-256 of the admin token; `None`: no admin API.
    admin: Option<[u8; 32]>,
    /// The component a test case's stub nodes run (embedded in `wtb`).
    stub: Arc<[u8]>,
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "WTB — Workflow Test Bench", description = "Run workflows of sandboxed WebAssembly nodes with checkpoints of state and files: time travel, forks, experiments. Every request takes `Authorization: Bearer <token>` (`wtb token create`); errors are RFC 9457 problems."),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    components(schemas(Problem))
)]
struct ApiDoc;

/// Declares the bearer scheme every operation uses.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Every documented route, with its document.
fn documented() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(workflows::routes())
        .merge(executions::routes())
        .merge(events::routes())
        .merge(checkpoints::routes())
        .merge(experiments::routes())
        .merge(progress::routes())
        .merge(testing::routes())
        .merge(admin::routes())
        .merge(metrics::routes())
}

/// The OpenAPI 3.1 document of [`router`]'s API, with every operation's problem responses
/// and id formats completed (see `contract.rs`).
pub fn openapi() -> serde_json::Value {
    contract::complete(serde_json::to_value(documented().into_openapi()).unwrap_or_default())
}

/// The routes, over `host`; `admin`: the admin token's SHA-256 (`[serve]`), if any; `stub`:
/// the component `POST /tests` runs for stub nodes.
pub fn router(host: Arc<Executor>, admin: Option<[u8; 32]>, stub: Arc<[u8]>) -> Router {
    let (api, doc) = documented().split_for_parts();
    let doc = Arc::new(contract::complete(serde_json::to_value(doc).unwrap_or_default()));
    api.route("/openapi.json", axum::routing::get(move || async move { axum::Json(doc.as_ref().clone()) }))
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .merge(web::routes())
        .fallback(|| async {
            Problem::new(axum::http::StatusCode::NOT_FOUND, "no such endpoint (see /openapi.json)")
        })
        .method_not_allowed_fallback(|| async {
            Problem::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "this endpoint does not take that method (see /openapi.json)",
            )
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(AppState { host, admin, stub })
}

/// A path or body id, or a 400 naming `field`.
fn id<T: std::str::FromStr<Err = wtb_core::model::IdParseError>>(
    field: &str,
    text: &str,
) -> Result<T, Problem> {
    text.parse().map_err(|e: wtb_core::model::IdParseError| Problem::bad_field(field, e.to_string()))
}

/// A live Server-Sent Events response of `events`, with a keep-alive comment every 15 s so
/// proxies do not close a quiet stream.
fn event_stream(
    events: impl futures_util::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>
    + Send
    + 'static,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    use axum::response::sse::{KeepAlive, Sse};
    Sse::new(events).keep_alive(KeepAlive::new().interval(std::time::Duration::from_secs(15))).into_response()
}

/// Whether a request asks for a live `text/event-stream` rather than JSON.
fn wants_event_stream(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(axum::http::header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("text/event-stream"))
}

/// A JSON body, or the problem saying what is wrong with it (syntax, type, unknown field,
/// content type) with axum's status (400, 415, 422).
fn body<T>(b: Result<axum::Json<T>, JsonRejection>) -> Result<T, Problem> {
    b.map(|axum::Json(t)| t).map_err(|e| Problem::new(e.status(), e.body_text()))
}

/// A query string, or a 400 saying what is wrong with it.
fn query<T>(q: Result<axum::extract::Query<T>, QueryRejection>) -> Result<T, Problem> {
    q.map(|axum::extract::Query(t)| t)
        .map_err(|e| Problem::new(axum::http::StatusCode::BAD_REQUEST, e.body_text()))
}

/// The bearer token of a request.
fn bearer(parts: &Parts) -> Result<&str, Problem> {
    let header = parts.headers.get(axum::http::header::AUTHORIZATION).ok_or_else(|| {
        Problem::unauthorized("an `Authorization: Bearer <token>` header is required (`wtb token create`)")
    })?;
    header
        .to_str()
        .ok()
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| Problem::unauthorized("the Authorization header must be `Bearer <token>`"))
}

/// The tenant a request acts for, from its bearer token.
pub struct Tenant(pub Executor);

impl FromRequestParts<AppState> for Tenant {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        Ok(Tenant(state.host.tenancy().authenticate(bearer(parts)?).await?))
    }
}

/// A request made with the admin token: the host itself, acting for no tenant in particular.
pub struct Admin(pub Arc<Executor>);

impl FromRequestParts<AppState> for Admin {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        use sha2::Digest as _;
        // Credentials first: missing or malformed ones are a 401 whatever the route.
        let token = bearer(parts)?;
        let given: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        // Compared as hashes: equal-length, and a timing difference reveals nothing usable.
        if state.admin == Some(given) {
            return Ok(Admin(state.host.clone()));
        }
        // A tenant's valid token has no right here (403); anything else is not a credential.
        match state.host.tenancy().authenticate(token).await {
            Ok(_) => Err(Problem::new(
                axum::http::StatusCode::FORBIDDEN,
                match state.admin {
                    Some(_) => "this endpoint takes the admin token, not a tenant's",
                    None => {
                        "no admin token is configured (`[serve] admin_token_sha256` or `admin_token_env` in wtb.toml)"
                    }
                },
            )),
            Err(_) => Err(Problem::unauthorized("this endpoint takes the admin token")),
        }
    }
}
