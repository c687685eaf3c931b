//! `/executions`: start (from a manifest or a registered workflow), list (filters, cursor),
//! show, history, pause, resume, cancel.

use super::{AppState, Problem, Tenant, body, id, query};
use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use wtb_core::model::{ExecutionId, ExecutionStatus, Timestamp, WorkflowId};
use wtb_engine::inspect::{ExecutionReport, History};
use wtb_store::db::ListFilter;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, start))
        .routes(routes!(show))
        .routes(routes!(history))
        .routes(routes!(pause))
        .routes(routes!(resume))
        .routes(routes!(cancel))
}

/// `POST /executions` body: exactly one of `manifest` and `workflow`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct StartBody {
    /// A workflow manifest (TOML text); components named `sha256:<digest>` of uploads.
    #[serde(default)]
    manifest: Option<String>,
    /// Or: a registered workflow's id (`POST /workflows`).
    #[serde(default)]
    #[schema(format = Uuid)]
    workflow: Option<String>,
    /// Merged over the workflow's initial state.
    #[serde(default)]
    #[schema(value_type = Object)]
    state: Map<String, Value>,
    /// Deterministic mode with this seed.
    #[serde(default)]
    seed: Option<u64>,
}

/// An execution that has started (or been asked to do something).
#[derive(Serialize, ToSchema)]
struct Accepted {
    /// Its id.
    execution: ExecutionId,
    /// What was asked (`start`, `pause`, `resume`, `cancel`).
    #[schema(pattern = "^(start|pause|resume|cancel)$")]
    requested: &'static str,
    /// For `cancel`: whether it was running here and stopped now (else it is stopped when its
    /// runner next looks).
    #[serde(skip_serializing_if = "Option::is_none")]
    cancelled: Option<bool>,
}

impl Accepted {
    fn new(execution: ExecutionId, requested: &'static str) -> (StatusCode, Json<Self>) {
        (StatusCode::ACCEPTED, Json(Self { execution, requested, cancelled: None }))
    }
}

/// Validates the workflow and starts it: 202 once the start is durable; the run continues in
/// the server (follow it with `GET /executions/{id}` or its event stream).
#[utoipa::path(post, path = "/executions", tag = "executions", request_body = StartBody,
    responses((status = 202, body = Accepted), (status = 400, body = Problem), (status = 404, description = "no such workflow", body = Problem), (status = 429, description = "a tenant quota", body = Problem)))]
async fn start(
    Tenant(exec): Tenant,
    b: Result<Json<StartBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Accepted>), Problem> {
    let b = body(b)?;
    let wf = match (&b.manifest, &b.workflow) {
        (Some(text), None) => super::workflows::load(&exec, text).await?,
        (None, Some(w)) => exec.registered_workflow(id::<WorkflowId>("workflow", w)?).await?,
        _ => {
            return Err(Problem::bad_field(
                "manifest",
                "give exactly one of `manifest` (TOML text) and `workflow` (a registered workflow's id)",
            ));
        }
    };
    let opts = wtb_engine::executor::RunOptions { seed: b.seed, ..Default::default() };
    let id = exec.start_detached(wf, b.state, opts).await?;
    Ok(Accepted::new(id, "start"))
}

/// `GET /executions` query.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// `pending`, `running`, `paused`, `completed`, `failed` or `cancelled`.
    #[param(pattern = "^(pending|running|paused|completed|failed|cancelled)$")]
    status: Option<String>,
    /// The workflow's name (or definition digest); no NUL.
    #[param(pattern = "^[^\\x00]*$")]
    workflow: Option<String>,
    /// The A/B variant label; no NUL.
    #[param(pattern = "^[^\\x00]*$")]
    variant: Option<String>,
    /// A date, or an RFC 3339 UTC time (`Z`), from 1970.
    #[param(
        pattern = r"^(19[7-9][0-9]|[2-9][0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])(T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?Z)?$"
    )]
    created_after: Option<String>,
    /// A date, or an RFC 3339 UTC time (`Z`), from 1970.
    #[param(
        pattern = r"^(19[7-9][0-9]|[2-9][0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])(T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?Z)?$"
    )]
    created_before: Option<String>,
    /// The cursor: `next` of the previous page (an execution id).
    #[param(format = Uuid)]
    after: Option<String>,
    /// Page size, 1–1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// One page of executions, newest first.
#[derive(Serialize, ToSchema)]
struct ExecutionPage {
    /// The executions.
    executions: Vec<wtb_core::model::Execution>,
    /// The cursor for the next page (`?after=`), absent on the last.
    next: Option<ExecutionId>,
}

fn execution_id(text: &str) -> Result<ExecutionId, Problem> {
    id("id", text)
}

fn instant(field: &str, text: &str) -> Result<Timestamp, Problem> {
    Timestamp::parse_instant(text)
        .ok_or_else(|| Problem::bad_field(field, format!("`{text}` is not an RFC 3339 time or a date")))
}

/// The tenant's executions, filtered, a page at a time.
#[utoipa::path(get, path = "/executions", tag = "executions", params(ListQuery), responses((status = 200, body = ExecutionPage), (status = 400, body = Problem)))]
async fn list(
    Tenant(exec): Tenant,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<ExecutionPage>, Problem> {
    let q = query(q)?;
    // Text no database stores (PostgreSQL refuses NUL in text): a 400, not a failed query.
    for (field, value) in [("workflow", &q.workflow), ("variant", &q.variant)] {
        if value.as_deref().is_some_and(|v| v.contains('\0')) {
            return Err(Problem::bad_field(field, "must not contain NUL"));
        }
    }
    let filter = ListFilter {
        status: q
            .status
            .as_deref()
            .map(|s| s.parse::<ExecutionStatus>().map_err(|e| Problem::bad_field("status", e.to_string())))
            .transpose()?,
        workflow: q.workflow,
        variant: q.variant,
        created_after: q.created_after.as_deref().map(|t| instant("created_after", t)).transpose()?,
        created_before: q.created_before.as_deref().map(|t| instant("created_before", t)).transpose()?,
        ..ListFilter::default()
    };
    let after = q.after.as_deref().map(|a| id::<ExecutionId>("after", a)).transpose()?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(Problem::bad_field("limit", format!("{limit} is not between 1 and 1000")));
    }
    let page = exec.inspect().list(&filter, after, limit).await?;
    Ok(Json(ExecutionPage { executions: page.executions, next: page.next }))
}

/// Everything recorded about an execution: the row, node attempts, checkpoints with their
/// files and changes, events.
#[utoipa::path(get, path = "/executions/{id}", tag = "executions", params(("id" = String, Path, description = "execution id")),
    responses((status = 200, description = "the execution report", body = ExecutionReport), (status = 404, body = Problem)))]
async fn show(Tenant(exec): Tenant, Path(id): Path<String>) -> Result<Json<ExecutionReport>, Problem> {
    Ok(Json(exec.inspect().describe(execution_id(&id)?).await?))
}

/// The checkpoint timeline: every checkpoint with its node, kind, duration and files changed.
#[utoipa::path(get, path = "/executions/{id}/history", tag = "executions", params(("id" = String, Path, description = "execution id")),
    responses((status = 200, description = "the history", body = History), (status = 404, body = Problem)))]
async fn history(Tenant(exec): Tenant, Path(id): Path<String>) -> Result<Json<History>, Problem> {
    Ok(Json(exec.inspect().history(execution_id(&id)?).await?))
}

/// Asks a running execution to pause at its next node boundary.
#[utoipa::path(post, path = "/executions/{id}/pause", tag = "executions", params(("id" = String, Path, description = "execution id")),
    responses((status = 202, body = Accepted), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn pause(
    Tenant(exec): Tenant,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Accepted>), Problem> {
    let id = execution_id(&id)?;
    exec.request_pause(id).await?;
    Ok(Accepted::new(id, "pause"))
}

/// Continues a paused (or interrupted) execution in the server: 202 at once.
#[utoipa::path(post, path = "/executions/{id}/resume", tag = "executions", params(("id" = String, Path, description = "execution id")),
    responses((status = 202, body = Accepted), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn resume(
    Tenant(exec): Tenant,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Accepted>), Problem> {
    let id = execution_id(&id)?;
    let status = exec.status(id).await?;
    status
        .apply(wtb_core::model::Transition::Resume)
        .or_else(|e| if status == ExecutionStatus::Running { Ok(status) } else { Err(e) })
        .map_err(|e| Problem::new(StatusCode::CONFLICT, e.to_string()))?;
    tokio::spawn(async move {
        if let Err(e) = exec.resume(id, 4).await {
            tracing::warn!("api resume {id}: {e}");
        }
    });
    Ok(Accepted::new(id, "resume"))
}

/// Cancels an execution (final: it can be forked, not resumed).
#[utoipa::path(post, path = "/executions/{id}/cancel", tag = "executions", params(("id" = String, Path, description = "execution id")),
    responses((status = 202, body = Accepted), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn cancel(
    Tenant(exec): Tenant,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Accepted>), Problem> {
    let id = execution_id(&id)?;
    let done = exec.cancel(id).await?;
    let (status, Json(a)) = Accepted::new(id, "cancel");
    Ok((status, Json(Accepted { cancelled: Some(done.is_some()), ..a })))
}
