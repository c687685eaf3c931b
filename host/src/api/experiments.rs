//! Experiments: list, and the report in any format.

use super::{AppState, Problem, Tenant};
use crate::experiment::report;
use crate::model::ExperimentId;
use axum::extract::{Path, Query};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

pub(super) fn routes() -> axum::Router<AppState> {
    axum::Router::new().route("/experiments", get(list)).route("/experiments/{id}/report", get(show))
}

async fn list(Tenant(exec): Tenant) -> Result<axum::Json<serde_json::Value>, Problem> {
    let all = exec.experiments(1000).await?;
    Ok(axum::Json(serde_json::json!({ "experiments": all })))
}

/// `?format=json|markdown|html|table` (default json).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Format {
    format: Option<String>,
}

async fn show(Tenant(exec): Tenant, Path(id): Path<String>, Query(f): Query<Format>) -> Result<Response, Problem> {
    let id: ExperimentId = super::id("id", &id)?;
    let r = exec.experiment_report(id).await.map_err(|e| match e {
        crate::executor::ExecError::Refused(m) => Problem::new(StatusCode::NOT_FOUND, m),
        other => other.into(),
    })?;
    Ok(match f.format.as_deref().unwrap_or("json") {
        "json" => axum::Json(r).into_response(),
        "html" => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], report::html(&r)).into_response(),
        "markdown" => ([(header::CONTENT_TYPE, "text/markdown; charset=utf-8")], report::markdown(&r)).into_response(),
        "table" => ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], report::table(&r)).into_response(),
        other => return Err(Problem::bad_field("format", format!("`{other}` is not json, markdown, html or table"))),
    })
}
