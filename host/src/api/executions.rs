//! `/executions`: list (filters, cursor), show, history, pause, resume, cancel.

use super::{AppState, Problem, Tenant};
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
        .route("/executions", get(list))
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

fn execution_id(text: &str) -> Result<ExecutionId, Problem> {
    text.parse().map_err(|e: crate::model::IdParseError| Problem::bad_field("id", e.to_string()))
}

fn instant(field: &str, text: &str) -> Result<Timestamp, Problem> {
    let full = if text.len() == 10 { format!("{text}T00:00:00Z") } else { text.to_owned() };
    humantime::parse_rfc3339_weak(&full).map(Timestamp::from).map_err(|_| Problem::bad_field(field, format!("`{text}` is not an RFC 3339 time or a date")))
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
    let after = q.after.as_deref().map(|a| a.parse::<ExecutionId>().map_err(|e| Problem::bad_field("after", e.to_string()))).transpose()?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(Problem::bad_field("limit", format!("{limit} is not between 1 and 1000")));
    }
    let page = exec.list(&filter, after, limit).await?;
    Ok(Json(json!({ "executions": page.executions, "next": page.next })))
}

async fn show(Tenant(exec): Tenant, Path(id): Path<String>) -> Result<Json<Value>, Problem> {
    let r = exec.describe(execution_id(&id)?).await?;
    Ok(Json(serde_json::to_value(r).map_err(|e| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?))
}

async fn history(Tenant(exec): Tenant, Path(id): Path<String>) -> Result<Json<Value>, Problem> {
    let h = exec.history(execution_id(&id)?).await?;
    Ok(Json(serde_json::to_value(h).map_err(|e| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?))
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
