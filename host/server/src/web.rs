//! The web page at `/`: one self-contained HTML file (no build step, no external assets) that
//! talks to the JSON API with the token the user enters once (kept in the browser's local
//! storage): executions with filters, an execution's timeline with pause/resume/rollback/fork,
//! a diff between two checkpoints, experiment reports.

use super::AppState;
use axum::http::header;
use axum::response::IntoResponse;

/// The page.
const INDEX: &str = include_str!("web/index.html");

pub(super) fn routes() -> axum::Router<AppState> {
    axum::Router::new().route("/", axum::routing::get(index))
}

async fn index() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], INDEX)
}
