//! Workflow tests and replays over HTTP: `POST /tests` runs a test file's cases and answers
//! with their results; `POST /replays` replays a recorded execution and answers with the
//! report. Both run while the request waits; every case and the replayed execution stay
//! recorded, to fetch with `GET /executions/{id}`.

use super::{AppState, Problem, Tenant, body, id};
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use wtb_core::model::ExecutionId;
use wtb_core::testing::report::FileResult;
use wtb_engine::replay::{ComponentSource, ReplayError, ReplayOptions, ReplayReport};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(run_tests)).routes(routes!(replay))
}

/// `POST /tests` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TestsBody {
    /// The test file (TOML text, the format of `wtb test`); each case's `workflow` is a
    /// registered workflow's id, stubs and inline schemas as in a file; nothing that names
    /// the host's files (fixtures, golden snapshots, schema files, bundle files).
    tests: String,
    /// Cases run at once (1–16, default 4).
    #[serde(default)]
    parallel: Option<u8>,
}

/// Runs the cases of a test file, each as its own recorded execution, and answers with every
/// case's result: `{"cases", "failed", "files": [{"file": "tests", "cases": [...]}]}` — each
/// case with `passed`, `failures` (readable lines) and its `execution`. A bad file is a 400
/// naming line and field, and nothing runs.
#[utoipa::path(post, path = "/tests", tag = "testing", request_body = TestsBody,
    responses((status = 200, description = "every case's result", body = TestRun), (status = 400, body = Problem)))]
async fn run_tests(
    State(state): State<AppState>,
    Tenant(exec): Tenant,
    b: Result<Json<TestsBody>, JsonRejection>,
) -> Result<Json<TestRun>, Problem> {
    let b = body(b)?;
    let parallel = b.parallel.unwrap_or(4);
    if !(1..=16).contains(&parallel) {
        return Err(Problem::bad_field("parallel", format!("{parallel} is not between 1 and 16")));
    }
    let loaded = exec
        .load_tests_text("tests", &b.tests, &state.stub)
        .await
        .map_err(|e| Problem::bad_field("tests", e.to_string()))?;
    // Owned by each case's future (a borrowed stream item is not `Send` for every lifetime).
    let (exec, loaded) = (Arc::new(exec), Arc::new(loaded));
    let mut ran: Vec<_> = futures_util::stream::iter(0..loaded.cases.len())
        .map(|i| {
            let (exec, loaded) = (exec.clone(), loaded.clone());
            async move { (i, exec.run_case(&loaded.cases[i], &loaded.dir, false).await) }
        })
        .buffer_unordered(usize::from(parallel))
        .collect()
        .await;
    ran.sort_by_key(|(i, _)| *i);
    let file = FileResult { file: loaded.file.clone(), cases: ran.into_iter().map(|(_, r)| r).collect() };
    let failed = file.cases.iter().filter(|c| !c.passed).count();
    Ok(Json(TestRun { cases: file.cases.len(), failed, files: vec![file] }))
}

/// The results of a test file's run.
#[derive(Serialize, ToSchema)]
struct TestRun {
    /// Cases run.
    cases: usize,
    /// Cases with an expectation that did not hold.
    failed: usize,
    /// The file (named `tests`) with every case's result.
    files: Vec<FileResult>,
}

/// `POST /replays` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ReplayBody {
    /// The recorded execution.
    #[schema(format = Uuid)]
    execution: String,
    /// Only these nodes' boundaries (default: every node).
    #[serde(default)]
    nodes: Vec<String>,
    /// Nodes to run on another component: node → an upload, `sha256:<digest>`.
    #[serde(default)]
    components: BTreeMap<String, String>,
}

/// Replays every recorded boundary of an execution (see `wtb replay`) and answers with the
/// report: per boundary `same`, `differs` (what) or `failed` (why), with nondeterminism
/// flagged. Nothing is stored.
#[utoipa::path(post, path = "/replays", tag = "testing", request_body = ReplayBody,
    responses((status = 200, description = "the replay report", body = ReplayReport), (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn replay(
    Tenant(exec): Tenant,
    b: Result<Json<ReplayBody>, JsonRejection>,
) -> Result<Json<ReplayReport>, Problem> {
    let b = body(b)?;
    let execution: ExecutionId = id("execution", &b.execution)?;
    let opts = ReplayOptions {
        nodes: b.nodes,
        components: b.components.into_iter().map(|(n, c)| (n, ComponentSource::Uploaded(c))).collect(),
    };
    let report = exec.replay(execution, &opts).await.map_err(|e| match e {
        ReplayError::Exec(e) => Problem::from(e),
        other => Problem::new(StatusCode::BAD_REQUEST, other.to_string()),
    })?;
    Ok(Json(report))
}
