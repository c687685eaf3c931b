//! `/executions`: list (filters, cursor), show, history, pause, resume, cancel.

use super::{AppState, Problem, Tenant, id, to_json};
use crate::db::execution::ListFilter;
use crate::model::{ExecutionId, ExecutionStatus, Timestamp};
use axum::Json;
use axum::extract::{Path, Query, rejection::QueryRejection};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

pub(super) fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/components", post(upload))
        .route("/executions", get(list).post(start))
        .route("/executions/{id}", get(show))
        .route("/executions/{id}/history", get(history))
        .route("/executions/{id}/pause", post(pause))
        .route("/executions/{id}/resume", post(resume))
        .route("/executions/{id}/cancel", post(cancel))
}

/// `GET /executions` query.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<String>,
    workflow: Option<String>,
    variant: Option<String>,
    created_after: Option<String>,
    created_before: Option<String>,
    after: Option<String>,
    limit: Option<u32>,
}

/// `POST /components`: the body is the `.wasm` file; 201 with its digest (name it in a
/// manifest as `sha256:<digest>`).
async fn upload(Tenant(exec): Tenant, bytes: axum::body::Bytes) -> Result<(StatusCode, Json<Value>), Problem> {
    if bytes.is_empty() {
        return Err(Problem::new(StatusCode::BAD_REQUEST, "the body must be a WebAssembly component (.wasm)"));
    }
    let (digest, kind) = exec.upload_component(bytes.to_vec()).await.map_err(|e| Problem::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    Ok((StatusCode::CREATED, Json(json!({ "digest": digest, "component": format!("sha256:{digest}"), "kind": kind }))))
}

/// `POST /executions` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StartBody {
    /// The workflow manifest (TOML text); components named `sha256:<digest>` of uploads.
    manifest: String,
    /// Merged over the manifest's `[state]`.
    #[serde(default)]
    state: serde_json::Map<String, Value>,
    /// Deterministic mode with this seed.
    #[serde(default)]
    seed: Option<u64>,
}

/// Validates the manifest and starts it: 202 with the execution id once it is durable.
async fn start(Tenant(exec): Tenant, body: Result<Json<StartBody>, axum::extract::rejection::JsonRejection>) -> Result<(StatusCode, Json<Value>), Problem> {
    let Json(b) = body.map_err(|e| Problem::new(e.status(), e.body_text()))?;
    let wf = exec.load_workflow_text("manifest", &b.manifest).await.map_err(|e| {
        let field = match &e {
            crate::executor::LoadError::Manifest(m) => m.field.clone().map(|f| format!("manifest.{f}")).unwrap_or_else(|| "manifest".into()),
            _ => "manifest".into(),
        };
        Problem::bad_field(&field, e.to_string())
    })?;
    let opts = crate::executor::RunOptions { seed: b.seed, ..Default::default() };
    let id = exec.start_detached(wf, b.state, opts).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "execution": id }))))
}

fn execution_id(text: &str) -> Result<ExecutionId, Problem> {
    id("id", text)
}

fn instant(field: &str, text: &str) -> Result<Timestamp, Problem> {
    Timestamp::parse_instant(text).ok_or_else(|| Problem::bad_field(field, format!("`{text}` is not an RFC 3339 time or a date")))
}

async fn list(Tenant(exec): Tenant, query: Result<Query<ListQuery>, QueryRejection>) -> Result<Json<Value>, Problem> {
    let Query(q) = query.map_err(|e| Problem::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let filter = ListFilter {
        status: q.status.as_deref().map(|s| s.parse::<ExecutionStatus>().map_err(|e| Problem::bad_field("status", e.to_string()))).transpose()?,
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
    let page = exec.list(&filter, after, limit).await?;
    Ok(Json(json!({ "executions": page.executions, "next": page.next })))
}

async fn show(Tenant(exec): Tenant, Path(id): Path<String>) -> Result<Json<Value>, Problem> {
    let r = exec.describe(execution_id(&id)?).await?;
    to_json(r)
}

async fn history(Tenant(exec): Tenant, Path(id): Path<String>) -> Result<Json<Value>, Problem> {
    let h = exec.history(execution_id(&id)?).await?;
    to_json(h)
}

async fn pause(Tenant(exec): Tenant, Path(id): Path<String>) -> Result<(StatusCode, Json<Value>), Problem> {
    let id = execution_id(&id)?;
    exec.request_pause(id).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "execution": id, "requested": "pause" }))))
}

/// Resumes in the background (a run can take long): 202 at once; follow it with `GET`.
async fn resume(Tenant(exec): Tenant, Path(id): Path<String>) -> Result<(StatusCode, Json<Value>), Problem> {
    let id = execution_id(&id)?;
    let status = exec.status(id).await?;
    status.apply(crate::model::Transition::Resume).or_else(|e| if status == ExecutionStatus::Running { Ok(status) } else { Err(e) }).map_err(|e| Problem::new(StatusCode::CONFLICT, e.to_string()))?;
    tokio::spawn(async move {
        if let Err(e) = exec.resume(id, 4).await {
            tracing::warn!("api resume {id}: {e}");
        }
    });
    Ok((StatusCode::ACCEPTED, Json(json!({ "execution": id, "requested": "resume" }))))
}

async fn cancel(Tenant(exec): Tenant, Path(id): Path<String>) -> Result<(StatusCode, Json<Value>), Problem> {
    let id = execution_id(&id)?;
    let done = exec.cancel(id).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "execution": id, "requested": "cancel", "cancelled": done.is_some() }))))
}
