//! Checkpoints and time travel: rollback, the files at a checkpoint (listing, one file's
//! content, a tar of all), diff, fork.

use super::{AppState, Problem, Tenant, body, id, query};
use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use wtb_core::model::{CheckpointId, CheckpointKind, ExecutionId, FileEntry, FileTree, Timestamp};
use wtb_engine::executor::ForkOptions;
use wtb_engine::inspect::CheckpointDiff;
use wtb_engine::travel::{Forked, RolledBack};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(rollback))
        .routes(routes!(files))
        .routes(routes!(file))
        .routes(routes!(export))
        .routes(routes!(diff))
        .routes(routes!(fork))
}

/// `POST /executions/{id}/rollback` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RollbackBody {
    /// The checkpoint to go back to (one of this execution's).
    #[schema(format = Uuid)]
    to: String,
}

/// Puts an execution back to one of its checkpoints — state *and* files — and pauses it there.
#[utoipa::path(post, path = "/executions/{id}/rollback", tag = "checkpoints", params(("id" = String, Path, description = "execution id")), request_body = RollbackBody,
    responses((status = 200, description = "what was restored", body = RolledBack), (status = 400, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn rollback(
    Tenant(exec): Tenant,
    Path(e): Path<String>,
    b: Result<Json<RollbackBody>, JsonRejection>,
) -> Result<Json<RolledBack>, Problem> {
    let execution = id::<ExecutionId>("id", &e)?;
    let to = id::<CheckpointId>("to", &body(b)?.to)?;
    Ok(Json(exec.travel().rollback(execution, to).await?))
}

/// A checkpoint: where it is (execution, seq, node, kind, attempt, time), its whole state,
/// and every file, directory and symlink at it (path → kind, digest, size, mode).
#[utoipa::path(get, path = "/checkpoints/{id}/files", tag = "checkpoints", params(("id" = String, Path, description = "checkpoint id")),
    responses((status = 200, description = "the checkpoint, its state and its file tree", body = CheckpointFiles), (status = 404, body = Problem)))]
async fn files(Tenant(exec): Tenant, Path(c): Path<String>) -> Result<Json<CheckpointFiles>, Problem> {
    let (cp, files) = exec.inspect().files(id("id", &c)?).await?;
    Ok(Json(CheckpointFiles {
        checkpoint: cp.id,
        execution: cp.execution,
        seq: cp.seq,
        node: cp.node,
        kind: cp.kind,
        attempt: cp.attempt,
        created_at: cp.created_at,
        state: cp.state,
        files,
    }))
}

/// A checkpoint's place, state and files.
#[derive(Serialize, ToSchema)]
struct CheckpointFiles {
    /// The checkpoint.
    checkpoint: CheckpointId,
    /// Its execution.
    execution: ExecutionId,
    /// Its position in the execution, from 1.
    seq: u32,
    /// The node it is at.
    node: String,
    /// Entry or exit.
    kind: CheckpointKind,
    /// The node attempt, from 1.
    attempt: u32,
    /// When it was recorded.
    created_at: Timestamp,
    /// The workflow state there: a JSON object.
    #[schema(value_type = Object)]
    state: std::sync::Arc<Value>,
    /// Every file, directory and symlink by path.
    #[schema(value_type = std::collections::BTreeMap<String, FileEntry>)]
    files: FileTree,
}

/// `GET /checkpoints/{id}/file` query.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct FileQuery {
    /// The file's path in the workspace (`/`-separated, relative).
    path: String,
}

/// One file's bytes. The path is looked up in the checkpoint's tree, never on disk, so `..`
/// or an absolute path simply names nothing.
#[utoipa::path(get, path = "/checkpoints/{id}/file", tag = "checkpoints", params(("id" = String, Path, description = "checkpoint id"), FileQuery),
    responses((status = 200, description = "the file's content", content_type = "application/octet-stream", body = Vec<u8>), (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn file(
    Tenant(exec): Tenant,
    Path(c): Path<String>,
    q: Result<Query<FileQuery>, QueryRejection>,
) -> Result<impl IntoResponse, Problem> {
    let checkpoint: CheckpointId = id("id", &c)?;
    let path = query(q)?.path;
    // `cat` reads the tree once and refuses a path it does not hold as a file (a 404).
    let bytes = exec.inspect().cat(checkpoint, &path).await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes))
}

/// The workspace at a checkpoint as a tar archive (streamed).
#[utoipa::path(get, path = "/checkpoints/{id}/export", tag = "checkpoints", params(("id" = String, Path, description = "checkpoint id")),
    responses((status = 200, description = "a tar archive", content_type = "application/x-tar", body = Vec<u8>), (status = 404, body = Problem)))]
async fn export(Tenant(exec): Tenant, Path(c): Path<String>) -> Result<impl IntoResponse, Problem> {
    let checkpoint: CheckpointId = id("id", &c)?;
    let rx = super::archive::export_tar(&exec, checkpoint).await?;
    let chunks =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|chunk| (chunk, rx)) });
    let disposition = format!("attachment; filename=\"checkpoint-{checkpoint}.tar\"");
    Ok((
        [(header::CONTENT_TYPE, "application/x-tar".to_owned()), (header::CONTENT_DISPOSITION, disposition)],
        axum::body::Body::from_stream(chunks),
    ))
}

/// How checkpoint `b` differs from checkpoint `a`: the state as an RFC 6902 patch, files as
/// changes with unified diffs of text.
#[utoipa::path(get, path = "/checkpoints/{a}/diff/{b}", tag = "checkpoints", params(("a" = String, Path, description = "from checkpoint"), ("b" = String, Path, description = "to checkpoint")),
    responses((status = 200, description = "the diff", body = CheckpointDiff), (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn diff(
    Tenant(exec): Tenant,
    Path((a, b)): Path<(String, String)>,
) -> Result<Json<CheckpointDiff>, Problem> {
    Ok(Json(exec.inspect().diff(id("a", &a)?, id("b", &b)?).await?))
}

/// `POST /checkpoints/{id}/fork` body.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
struct ForkBody {
    /// An RFC 7396 merge patch for the state.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    state_patch: Option<Value>,
    /// New configs by node id.
    #[serde(default)]
    #[schema(value_type = Object)]
    node_config: Map<String, Value>,
}

/// A new execution starting from this checkpoint's state and files (paused there), optionally
/// with a patched state and node configs.
#[utoipa::path(post, path = "/checkpoints/{id}/fork", tag = "checkpoints", params(("id" = String, Path, description = "checkpoint id")), request_body = ForkBody,
    responses((status = 201, description = "the fork", body = Forked), (status = 400, body = Problem), (status = 404, body = Problem), (status = 409, description = "nothing runs after the checkpoint", body = Problem)))]
async fn fork(
    Tenant(exec): Tenant,
    Path(c): Path<String>,
    b: Result<Json<ForkBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Forked>), Problem> {
    let from: CheckpointId = id("id", &c)?;
    let b = body(b)?;
    let opts = ForkOptions {
        state_patch: b.state_patch,
        node_config: b.node_config.into_iter().collect(),
        ..ForkOptions::default()
    };
    Ok((StatusCode::CREATED, Json(exec.travel().fork(from, &opts).await?)))
}
