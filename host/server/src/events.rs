//! An execution's events: as JSON, or — with `Accept: text/event-stream` — as a live
//! Server-Sent Events stream that sends every event once, in order, and ends when the
//! execution reaches a final status. A reconnecting client sends `Last-Event-ID` (or
//! `?after=`) and gets only what it missed: the stream reads the committed outbox, so it shows
//! runs of any process, not only this server's.

use super::{AppState, Problem, Tenant, id, query};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query};
use axum::http::HeaderMap;
use axum::response::sse::Event;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::time::Duration;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use wtb_core::model::{ExecutionId, ExecutionStatus};
use wtb_engine::executor::{EventView, Executor};

/// How often a live stream looks for new events.
pub(super) const POLL: Duration = Duration::from_millis(200);

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(events))
}

/// `GET /executions/{id}/events` query.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct EventsQuery {
    /// Only events with a higher `seq` (a stream also takes `Last-Event-ID`).
    #[param(value_type = Option<i64>, minimum = 0, maximum = 4294967295_i64)]
    after: Option<u32>,
}

/// The events of an execution.
#[derive(Serialize, ToSchema)]
struct EventList {
    /// Its status now.
    status: ExecutionStatus,
    /// Its events in order.
    events: Vec<EventView>,
}

/// An execution's events. With `Accept: text/event-stream`: a live stream, each event's
/// `id` its `seq` and `event` its kind, a `status` event whenever the status changes; it
/// ends once the execution is completed, failed or cancelled.
#[utoipa::path(get, path = "/executions/{id}/events", tag = "executions", params(("id" = String, Path, description = "execution id"), EventsQuery),
    responses((status = 200, description = "the events (JSON), or a text/event-stream", body = EventList), (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn events(
    Tenant(exec): Tenant,
    Path(e): Path<String>,
    headers: HeaderMap,
    q: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    let execution: ExecutionId = id("id", &e)?;
    let resumed = match headers.get("last-event-id") {
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u32>().ok())
                .ok_or_else(|| Problem::bad_field("Last-Event-ID", "must be an event's seq"))?,
        ),
        None => None,
    };
    let after = resumed.or(query(q)?.after).unwrap_or(0);
    // Checked before any stream starts: an unknown id is a plain 404.
    let (status, first) = exec.inspect().events_after(execution, after).await?;
    if !super::wants_event_stream(&headers) {
        return Ok(axum::Json(EventList { status, events: first }).into_response());
    }
    let start = Live {
        exec,
        execution,
        after,
        status: None,
        pending: first.into(),
        first_status: Some(status),
        done: false,
    };
    let stream = futures_util::stream::unfold(start, Live::next);
    Ok(super::event_stream(stream))
}

/// A live stream's position.
struct Live {
    exec: Executor,
    execution: ExecutionId,
    /// The last seq sent.
    after: u32,
    /// The last status sent.
    status: Option<ExecutionStatus>,
    /// Events read, not yet sent.
    pending: VecDeque<EventView>,
    /// The status read with `pending`, to send after them.
    first_status: Option<ExecutionStatus>,
    done: bool,
}

impl Live {
    /// The next SSE event: pending events first, then a changed status (a final one ends the
    /// stream), then a wait for more.
    async fn next(mut self) -> Option<(Result<Event, std::convert::Infallible>, Self)> {
        loop {
            if self.done {
                return None;
            }
            if let Some(e) = self.pending.pop_front() {
                self.after = e.seq;
                let event = Event::default()
                    .id(e.seq.to_string())
                    .event(e.kind.clone())
                    .json_data(&e)
                    .unwrap_or_else(|_| Event::default().comment("unencodable event"));
                return Some((Ok(event), self));
            }
            if let Some(s) = self.first_status.take()
                && self.status != Some(s)
            {
                self.status = Some(s);
                self.done = s.is_final();
                return Some((
                    Ok(Event::default().event("status").data(format!("{{\"status\":\"{}\"}}", s.as_str()))),
                    self,
                ));
            }
            tokio::time::sleep(POLL).await;
            match self.exec.inspect().events_after(self.execution, self.after).await {
                Ok((status, events)) => {
                    self.pending = events.into();
                    self.first_status = Some(status);
                }
                Err(e) => {
                    tracing::warn!("execution {} event stream: {e}", self.execution);
                    self.done = true;
                    return Some((Ok(Event::default().event("error").data(e.to_string())), self));
                }
            }
        }
    }
}
