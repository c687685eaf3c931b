//! Checkpoints and time travel: events of an execution, files and file content at a
//! checkpoint, diff, rollback, fork.

use super::{AppState, Problem, Tenant, id, to_json};
use crate::executor::ForkOptions;
use crate::model::{CheckpointId, ExecutionId};
use axum::Json;
use axum::extract::{Path, rejection::JsonRejection};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Map, Value, json};

pub(super) fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/executions/{id}/events", get(events))
        .route("/executions/{id}/rollback", post(rollback))
        .route("/checkpoints/{id}/files", get(files))
        .route("/checkpoints/{id}/files/{*path}", get(file))
        .route("/checkpoints/{a}/diff/{b}", get(diff))
        .route("/checkpoints/{id}/fork", post(fork))
}

fn body<T>(b: Result<Json<T>, JsonRejection>) -> Result<T, Problem> {
    b.map(|Json(t)| t).map_err(|e| Problem::new(e.status(), e.body_text()))
}

async fn events(Tenant(exec): Tenant, Path(e): Path<String>) -> Result<Json<Value>, Problem> {
    let r = exec.describe(id::<ExecutionId>("id", &e)?).await?;
    to_json(json!({ "events": r.events }))
}

/// `POST /executions/{id}/rollback` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RollbackBody {
    to: String,
}

async fn rollback(Tenant(exec): Tenant, Path(e): Path<String>, b: Result<Json<RollbackBody>, JsonRejection>) -> Result<Json<Value>, Problem> {
    let execution = id::<ExecutionId>("id", &e)?;
    let to = id::<CheckpointId>("to", &body(b)?.to)?;
    to_json(exec.rollback(execution, to).await?)
}

async fn files(Tenant(exec): Tenant, Path(c): Path<String>) -> Result<Json<Value>, Problem> {
    let (checkpoint, tree) = exec.files(id("id", &c)?).await?;
    to_json(json!({ "checkpoint": checkpoint.id, "files": tree }))
}

/// One file's bytes. Paths are looked up in the checkpoint's tree, never on disk, so `..` or
/// an absolute path simply names nothing.
async fn file(Tenant(exec): Tenant, Path((c, path)): Path<(String, String)>) -> Result<impl IntoResponse, Problem> {
    let checkpoint: CheckpointId = id("id", &c)?;
    let (_, tree) = exec.files(checkpoint).await?;
    if !tree.get(path.as_str()).is_some_and(|e| e.kind == crate::model::EntryKind::File) {
        return Err(Problem::new(StatusCode::NOT_FOUND, format!("checkpoint {checkpoint} has no file `{path}`")));
    }
    let bytes = exec.cat(checkpoint, &path).await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes))
}

async fn diff(Tenant(exec): Tenant, Path((a, b)): Path<(String, String)>) -> Result<Json<Value>, Problem> {
    to_json(exec.diff(id("a", &a)?, id("b", &b)?).await?)
}

/// `POST /checkpoints/{id}/fork` body.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ForkBody {
    /// An RFC 7396 merge patch for the state.
    #[serde(default)]
    state_patch: Option<Value>,
    /// New configs by node id.
    #[serde(default)]
    node_config: Map<String, Value>,
}

async fn fork(Tenant(exec): Tenant, Path(c): Path<String>, b: Result<Json<ForkBody>, JsonRejection>) -> Result<(StatusCode, Json<Value>), Problem> {
    let from: CheckpointId = id("id", &c)?;
    let b = body(b)?;
    let opts = ForkOptions { state_patch: b.state_patch, node_config: b.node_config.into_iter().collect(), ..ForkOptions::default() };
    Ok((StatusCode::CREATED, to_json(exec.fork(from, &opts).await?)?))
}
