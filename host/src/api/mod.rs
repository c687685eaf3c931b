//! `wtb serve`'s HTTP API (axum): every request authenticated by `Authorization: Bearer
//! <token>` and scoped to the token's tenant (another tenant's id is a 404, as an unknown one
//! is); every error an RFC 9457 problem. This first cut serves component uploads, executions
//! (start from a manifest, list with filters and cursor, show, history, events, pause, resume,
//! cancel, rollback), checkpoints (files, file content, diff, fork) and experiments (list,
//! report).

mod checkpoints;
mod executions;
mod experiments;
mod problem;

pub use problem::Problem;

use crate::executor::Executor;
use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts};
use axum::http::request::Parts;
use std::sync::Arc;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 16 << 20;

/// What every handler shares: the host, acting for no tenant until a token says which.
#[derive(Clone)]
pub struct AppState {
    host: Arc<Executor>,
}

/// The routes, over `host`.
pub fn router(host: Arc<Executor>) -> Router {
    Router::new()
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .merge(executions::routes())
        .merge(checkpoints::routes())
        .merge(experiments::routes())
        .fallback(|| async { Problem::new(axum::http::StatusCode::NOT_FOUND, "no such endpoint") })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(AppState { host })
}

/// A path or body id, or a 400 naming `field`.
fn id<T: std::str::FromStr<Err = crate::model::IdParseError>>(field: &str, text: &str) -> Result<T, Problem> {
    text.parse().map_err(|e: crate::model::IdParseError| Problem::bad_field(field, e.to_string()))
}

/// A response body as JSON (a failure to encode is the server's, a 500).
fn to_json(v: impl serde::Serialize) -> Result<axum::Json<serde_json::Value>, Problem> {
    serde_json::to_value(v).map(axum::Json).map_err(|e| Problem::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

/// The tenant a request acts for, from its bearer token.
pub struct Tenant(pub Executor);

impl FromRequestParts<AppState> for Tenant {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let header = parts.headers.get(axum::http::header::AUTHORIZATION).ok_or_else(|| Problem::unauthorized("an `Authorization: Bearer <token>` header is required (`wtb token create`)"))?;
        let token = header.to_str().ok().and_then(|h| h.strip_prefix("Bearer ")).ok_or_else(|| Problem::unauthorized("the Authorization header must be `Bearer <token>`"))?;
        Ok(Tenant(state.host.authenticate(token).await?))
    }
}
