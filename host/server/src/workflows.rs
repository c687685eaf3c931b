//! Components and workflows: upload a `.wasm`, validate or register a manifest, list them.

use super::{AppState, Problem, Tenant, body};
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use wtb_core::model::{Digest, Timestamp, WorkflowId};
use wtb_engine::executor::{Executor, LoadError, LoadedWorkflow};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(upload)).routes(routes!(validate)).routes(routes!(register, list))
}

/// A stored component.
#[derive(Serialize, ToSchema)]
struct Uploaded {
    /// SHA-256 of the file, hex.
    digest: Digest,
    /// How a manifest names it: `sha256:<digest>`.
    #[schema(pattern = "^sha256:[0-9a-f]{64}$")]
    component: String,
    /// `node` or `command`.
    #[schema(pattern = "^(node|command)$")]
    kind: &'static str,
}

/// `POST /components`: the body is the `.wasm` file, checked against the node world and stored
/// for the tenant; a manifest then names it `sha256:<digest>`.
#[utoipa::path(post, path = "/components", tag = "workflows", request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "the component: a `.wasm` file"),
    responses((status = 201, body = Uploaded), (status = 400, body = Problem), (status = 422, description = "not a node component", body = Problem)))]
async fn upload(
    Tenant(exec): Tenant,
    bytes: axum::body::Bytes,
) -> Result<(StatusCode, Json<Uploaded>), Problem> {
    if bytes.is_empty() {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "the body must be a WebAssembly component (.wasm)",
        ));
    }
    let (digest, kind) = exec
        .upload_component(bytes.to_vec())
        .await
        .map_err(|e| Problem::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    Ok((StatusCode::CREATED, Json(Uploaded { digest, component: format!("sha256:{digest}"), kind })))
}

/// A workflow manifest sent over the API.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ManifestBody {
    /// The manifest (TOML text), components named `sha256:<digest>` of uploads; schemas
    /// inline; no fixtures (they name host directories).
    pub manifest: String,
}

/// A validated (and maybe registered) workflow.
#[derive(Serialize, ToSchema)]
struct WorkflowSummary {
    /// Its id, when registered.
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<WorkflowId>,
    /// The manifest's `name`.
    name: String,
    /// SHA-256 of its canonical definition: the same manifest registers once.
    digest: Digest,
    /// Its node ids, in order.
    nodes: Vec<String>,
    /// When it was first stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    created_at: Option<Timestamp>,
}

impl WorkflowSummary {
    fn of(wf: &LoadedWorkflow) -> Self {
        Self {
            id: None,
            name: wf.manifest.name.clone(),
            digest: wf.digest,
            nodes: wf.manifest.nodes.iter().map(|n| n.id.clone()).collect(),
            created_at: None,
        }
    }
}

/// A manifest checked and prepared, or the problem naming the field at fault
/// (`manifest.nodes[1].component`, ...).
pub(super) async fn load(exec: &Executor, text: &str) -> Result<LoadedWorkflow, Problem> {
    exec.load_workflow_text("manifest", text).await.map_err(|e| load_problem("manifest", e))
}

/// A 400 for a document sent in body field `body_field` that does not load, naming the field
/// inside it when the error has one (`manifest.nodes[0].component`).
pub(super) fn load_problem(body_field: &str, e: LoadError) -> Problem {
    let field = match &e {
        LoadError::Manifest(m) => {
            m.field.as_ref().map_or_else(|| body_field.to_owned(), |f| format!("{body_field}.{f}"))
        }
        _ => body_field.to_owned(),
    };
    Problem::bad_field(&field, e.to_string())
}

/// Checks a manifest (syntax, graph, schemas, components) without storing anything.
#[utoipa::path(post, path = "/workflows/validate", tag = "workflows", request_body = ManifestBody, responses((status = 200, body = WorkflowSummary), (status = 400, body = Problem)))]
async fn validate(
    Tenant(exec): Tenant,
    b: Result<Json<ManifestBody>, JsonRejection>,
) -> Result<Json<WorkflowSummary>, Problem> {
    let wf = load(&exec, &body(b)?.manifest).await?;
    Ok(Json(WorkflowSummary::of(&wf)))
}

/// Registers a manifest: executions can then start from its id.
#[utoipa::path(post, path = "/workflows", tag = "workflows", request_body = ManifestBody, responses((status = 201, body = WorkflowSummary), (status = 400, body = Problem)))]
async fn register(
    Tenant(exec): Tenant,
    b: Result<Json<ManifestBody>, JsonRejection>,
) -> Result<(StatusCode, Json<WorkflowSummary>), Problem> {
    let wf = load(&exec, &body(b)?.manifest).await?;
    let id = exec.register(&wf, exec.clock().now()).await?;
    Ok((StatusCode::CREATED, Json(WorkflowSummary { id: Some(id), ..WorkflowSummary::of(&wf) })))
}

/// The tenant's workflows, newest first.
#[derive(Serialize, ToSchema)]
struct WorkflowList {
    /// The workflows.
    workflows: Vec<WorkflowSummary>,
}

/// Every workflow the tenant registered or ran.
#[utoipa::path(get, path = "/workflows", tag = "workflows", responses((status = 200, body = WorkflowList)))]
async fn list(Tenant(exec): Tenant) -> Result<Json<WorkflowList>, Problem> {
    let workflows = exec
        .workflows(1000)
        .await?
        .into_iter()
        .map(|w| {
            let nodes = serde_json::from_value::<wtb_core::workflow::Definition>(w.definition)
                .map(|d| d.nodes.into_iter().map(|n| n.id).collect())
                .unwrap_or_default();
            WorkflowSummary {
                id: Some(w.id),
                name: w.name,
                digest: w.digest,
                nodes,
                created_at: Some(w.created_at),
            }
        })
        .collect();
    Ok(Json(WorkflowList { workflows }))
}
