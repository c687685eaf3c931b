//! Experiments: start one (it runs in the server), list them, and the report in any format.

use super::{AppState, Problem, Tenant, body, id, query};
use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use wtb_core::experiment::report::{self, ExperimentReport};
use wtb_core::model::ExperimentId;
use wtb_engine::experiments::ExperimentError;
use wtb_store::db::ExperimentRecord;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, start)).routes(routes!(show))
}

/// The tenant's experiments, newest first.
#[utoipa::path(get, path = "/experiments", tag = "experiments", responses((status = 200, description = "the experiments", body = ExperimentList)))]
async fn list(Tenant(exec): Tenant) -> Result<Json<ExperimentList>, Problem> {
    Ok(Json(ExperimentList { experiments: exec.experiments().list(1000).await? }))
}

/// The tenant's experiments.
#[derive(Serialize, ToSchema)]
struct ExperimentList {
    /// Newest first.
    experiments: Vec<ExperimentRecord>,
}

/// `POST /experiments` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct StartBody {
    /// The experiment file (TOML text), its `workflow` a registered workflow's id and its
    /// variants' components uploads (`sha256:<digest>`).
    experiment: String,
    /// Cells run at once (1–64, default 4).
    #[serde(default)]
    parallelism: Option<u8>,
}

/// An experiment that has started.
#[derive(Serialize, ToSchema)]
struct Started {
    /// Its id (`GET /experiments/{id}/report`).
    experiment: ExperimentId,
    /// Its cells (variants × environments × repetitions).
    cells: usize,
}

/// Checks an experiment and starts its cells in the server: 202 once it is recorded. A server
/// stopped mid-way continues it when it starts again.
#[utoipa::path(post, path = "/experiments", tag = "experiments", request_body = StartBody,
    responses((status = 202, body = Started), (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn start(
    Tenant(exec): Tenant,
    b: Result<Json<StartBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Started>), Problem> {
    let b = body(b)?;
    let parallelism = b.parallelism.unwrap_or(4);
    if !(1..=64).contains(&parallelism) {
        return Err(Problem::bad_field("parallelism", format!("{parallelism} is not between 1 and 64")));
    }
    let experiments = exec.experiments();
    let loaded = experiments.load_text(&b.experiment).await.map_err(|e| match e {
        ExperimentError::Load(e) => super::workflows::load_problem("experiment", e),
        other => other.into(),
    })?;
    let record = experiments.create(&loaded).await?;
    let started = Started { experiment: record.id, cells: loaded.spec.cells().len() };
    experiments.run_detached(loaded, record, usize::from(parallelism));
    Ok((StatusCode::ACCEPTED, Json(started)))
}

/// `?format=json|markdown|html|table` (default json).
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct Format {
    /// `json` (default), `markdown`, `html` or `table`.
    #[param(pattern = "^(json|markdown|html|table)$")]
    format: Option<String>,
}

/// The experiment's report so far: every cell's status and outcome, each compared with the
/// baseline, and the nondeterminism found.
#[utoipa::path(get, path = "/experiments/{id}/report", tag = "experiments", params(("id" = String, Path, description = "experiment id"), Format),
    responses((status = 200, description = "the report: JSON, or text as `format` asks", content(
        (ExperimentReport = "application/json"),
        (String = "text/markdown"),
        (String = "text/html"),
        (String = "text/plain"),
    )), (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn show(
    Tenant(exec): Tenant,
    Path(e): Path<String>,
    q: Result<Query<Format>, QueryRejection>,
) -> Result<Response, Problem> {
    let experiment: ExperimentId = id("id", &e)?;
    let format = query(q)?.format;
    let r = exec.experiments().report(experiment).await?;
    Ok(match format.as_deref().unwrap_or("json") {
        "json" => Json(r).into_response(),
        "html" => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], report::html(&r)).into_response(),
        "markdown" => {
            ([(header::CONTENT_TYPE, "text/markdown; charset=utf-8")], report::markdown(&r)).into_response()
        }
        "table" => ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], report::table(&r)).into_response(),
        other => {
            return Err(Problem::bad_field(
                "format",
                format!("`{other}` is not json, markdown, html or table"),
            ));
        }
    })
}
