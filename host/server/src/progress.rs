//! An experiment's progress: as JSON, or — with `Accept: text/event-stream` — as a live
//! Server-Sent Events stream that sends a `cell` event each time a cell starts or changes
//! status and a `done` event once every cell has ended, then closes. It reads the database,
//! so it follows an experiment whichever process runs its cells.

use super::events::POLL;
use super::{AppState, Problem, Tenant, id};
use axum::extract::Path;
use axum::http::HeaderMap;
use axum::response::sse::Event;
use axum::response::{IntoResponse, Response};
use std::collections::VecDeque;
use utoipa_axum::{router::OpenApiRouter, routes};
use wtb_core::model::{ExecutionId, ExecutionStatus, ExperimentId};
use wtb_engine::executor::Executor;
use wtb_engine::experiments::Progress;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(progress))
}

/// Each cell's execution and status. With `Accept: text/event-stream`: a live stream, a
/// `cell` event (one cell's progress) whenever a cell starts or its status changes, and a
/// `done` event (`{"cells", "finished"}`) once every cell has ended, which ends it.
#[utoipa::path(get, path = "/experiments/{id}/progress", tag = "experiments", params(("id" = String, Path, description = "experiment id")),
    responses((status = 200, description = "the progress (JSON), or a text/event-stream", body = Progress), (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn progress(
    Tenant(exec): Tenant,
    Path(e): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let experiment: ExperimentId = id("id", &e)?;
    // Read before any stream starts: an unknown id is a plain 404.
    let first = exec.experiments().progress(experiment).await?;
    if !super::wants_event_stream(&headers) {
        return Ok(axum::Json(first).into_response());
    }
    let watch = Watch {
        exec,
        experiment,
        sent: Vec::new(),
        pending: VecDeque::new(),
        latest: Some(first),
        done: false,
    };
    let stream = futures_util::stream::unfold(watch, Watch::next);
    Ok(super::event_stream(stream))
}

/// A live stream's position.
struct Watch {
    exec: Executor,
    experiment: ExperimentId,
    /// What was last sent per cell, by its place in the matrix (fixed by the stored spec).
    sent: Vec<Option<(Option<ExecutionId>, ExecutionStatus)>>,
    /// Events found, not yet sent.
    pending: VecDeque<Event>,
    /// Progress read and not yet compared with what was sent.
    latest: Option<Progress>,
    /// Every cell has ended (or the stream failed): send what is pending, then close.
    done: bool,
}

impl Watch {
    /// The next SSE event: pending ones first, then what changed since the last read (a
    /// wait between reads), until every cell has ended.
    async fn next(mut self) -> Option<(Result<Event, std::convert::Infallible>, Self)> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Some((Ok(e), self));
            }
            if self.done {
                return None;
            }
            let progress = match self.latest.take() {
                Some(p) => p,
                None => {
                    tokio::time::sleep(POLL).await;
                    match self.exec.experiments().progress(self.experiment).await {
                        Ok(p) => p,
                        Err(e) => {
                            tracing::warn!("experiment {} progress stream: {e}", self.experiment);
                            self.done = true;
                            self.pending.push_back(Event::default().event("error").data(e.to_string()));
                            continue;
                        }
                    }
                }
            };
            self.changes(&progress);
        }
    }

    /// Queues a `cell` event per cell that started or changed, and `done` when all ended.
    fn changes(&mut self, progress: &Progress) {
        self.sent.resize(progress.cells.len(), None);
        for (c, sent) in progress.cells.iter().zip(&mut self.sent) {
            let now = Some((c.execution, c.status));
            if c.execution.is_some() && *sent != now {
                *sent = now;
                let event = Event::default().event("cell").json_data(c);
                self.pending
                    .push_back(event.unwrap_or_else(|_| Event::default().comment("unencodable cell")));
            }
        }
        if progress.is_done() {
            let data = format!("{{\"cells\":{},\"finished\":{}}}", progress.cells.len(), progress.finished);
            self.pending.push_back(Event::default().event("done").data(data));
            self.done = true;
        }
    }
}
