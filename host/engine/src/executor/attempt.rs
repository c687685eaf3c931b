//! One node attempt, off the drive: wait out its backoff, bring its workspace to the entry's
//! files if needed, run the guest, validate its update and capture its files.

use super::ExecError;
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Duration;
use wtb_core::model::{AttemptStatus, Checkpoint, FileTree, NodeBoundary, TenantId, TrapKind};
use wtb_core::workflow::{Schema, parse_update};
use wtb_failpoint as failpoint;
use wtb_runtime::{
    AttemptReport, CancelSignal, GuestErrorKind, Limits, NodeCall, Outcome, PreparedNode, Runtime,
};
use wtb_store::capture::{
    BlobSource, CaptureError, CaptureLimits, CaptureTo, Captured, Workspace, Workspaces,
};
use wtb_store::cas::BlobStore;

/// A node activation: an entry checkpoint whose boundary is open.
pub(crate) struct Task {
    pub(crate) node: usize,
    pub(crate) entry: Checkpoint,
    pub(crate) boundary: NodeBoundary,
    /// The entry's file tree, and its commit's depth.
    pub(crate) tree: Arc<FileTree>,
    pub(crate) depth: u32,
    /// Created by this drive (a resumed task is not stopped again by its breakpoint).
    pub(crate) fresh: bool,
    /// Backoff before a retry.
    pub(crate) delay: Duration,
}

/// How an attempt failed.
pub(crate) struct Failure {
    pub(crate) status: AttemptStatus,
    pub(crate) trap: Option<TrapKind>,
    pub(crate) error: String,
    /// A `retryable` guest error, or a timeout (retried when the policy says so).
    pub(crate) retryable: bool,
}

impl Failure {
    pub(crate) fn describe(&self) -> String {
        match (self.status, self.trap) {
            (AttemptStatus::Trapped, Some(kind)) => format!("trapped ({kind}): {}", self.error),
            (AttemptStatus::GuestError, _) => format!("returned an error: {}", self.error),
            (AttemptStatus::InvalidOutput, _) => format!("returned invalid output: {}", self.error),
            _ => self.error.clone(),
        }
    }
}

/// What an attempt produced.
pub(crate) enum Result_ {
    Returned { update: Map<String, Value>, route: Option<String>, captured: Captured },
    Failed(Failure),
    Cancelled,
}

/// A finished attempt, handed back to the drive with its lane's workspace.
pub(crate) struct Attempted {
    pub(crate) task: Task,
    pub(crate) ws: Workspace,
    pub(crate) report: AttemptReport,
    pub(crate) result: Result_,
}

/// What an attempt needs, owned, so it can run on its own task.
pub(crate) struct Context {
    pub(crate) runtime: Arc<Runtime>,
    pub(crate) cas: Arc<dyn BlobStore>,
    pub(crate) workspaces: Arc<dyn Workspaces>,
    pub(crate) tenant: TenantId,
    pub(crate) capture: CaptureLimits,
    pub(crate) limits: Limits,
    pub(crate) node: PreparedNode,
    pub(crate) call: NodeCall,
    pub(crate) retry_timeouts: bool,
    pub(crate) update_schema: Option<Arc<Schema>>,
    pub(crate) slots: Arc<super::slots::FairSlots>,
    /// The tenant's `max_running_attempts`, if lower than the host's per-tenant cap.
    pub(crate) slot_cap: Option<u64>,
}

/// Runs the attempt. `restore_from` is given when the lane's workspace may not hold the
/// entry's files (a new lane, a retry, a resume).
pub(crate) async fn attempt(
    cx: Context,
    task: Task,
    mut ws: Workspace,
    restore_from: Option<Arc<dyn BlobSource>>,
    cancel: CancelSignal,
) -> Result<Attempted, ExecError> {
    let idle = |task, ws, result| Ok(Attempted { task, ws, report: AttemptReport::empty(), result });
    if !task.delay.is_zero() {
        tokio::select! {
            () = tokio::time::sleep(task.delay) => {}
            () = cancel.cancelled() => return idle(task, ws, Result_::Cancelled),
        }
    }
    if let Some(blobs) = restore_from {
        let (tree, limits, workspaces) = (task.tree.clone(), cx.capture, cx.workspaces.clone());
        let (back, r) = super::blocking(move || {
            let r = workspaces.restore(&mut ws, &tree, blobs, &limits);
            (ws, r)
        })
        .await?;
        ws = back;
        r.map_err(|source| ExecError::Workspace { execution: task.entry.execution, source })?;
    }
    let _slot = tokio::select! {
        slot = cx.slots.acquire(cx.tenant, cx.slot_cap) => slot,
        () = cancel.cancelled() => return idle(task, ws, Result_::Cancelled),
    };
    let report = cx.runtime.run(&cx.node, &cx.call, super::lanes::mount(&ws), &cx.limits, &cancel).await;
    let failure = match &report.outcome {
        Outcome::Returned { update, route } => match checked_update(update, &cx) {
            Err(error) => {
                Failure { status: AttemptStatus::InvalidOutput, trap: None, error, retryable: false }
            }
            Ok(update) => {
                let to = CaptureTo { cas: &*cx.cas, tenant: cx.tenant, limits: &cx.capture };
                let captured = match cx.workspaces.capture_quick(&mut ws, &task.tree, to) {
                    Ok(Some(captured)) => Ok(captured),
                    Err(e) => Err(e),
                    Ok(None) => {
                        let (cas, tenant, limits, base, workspaces) =
                            (cx.cas.clone(), cx.tenant, cx.capture, task.tree.clone(), cx.workspaces.clone());
                        let (back, r) = super::blocking(move || {
                            let to = CaptureTo { cas: &*cas, tenant, limits: &limits };
                            let r = workspaces.capture(&mut ws, &base, to);
                            (ws, r)
                        })
                        .await?;
                        ws = back;
                        r
                    }
                };
                match captured {
                    Ok(captured) => {
                        failpoint::hit("after-capture");
                        let route = route.clone();
                        return Ok(Attempted {
                            task,
                            ws,
                            report,
                            result: Result_::Returned { update, route, captured },
                        });
                    }
                    Err(e) => match node_fault(&e) {
                        Some(trap) => Failure {
                            status: AttemptStatus::Trapped,
                            trap: Some(trap),
                            error: e.to_string(),
                            retryable: false,
                        },
                        None => {
                            return Err(ExecError::Workspace { execution: task.entry.execution, source: e });
                        }
                    },
                }
            }
        },
        Outcome::GuestError { kind, message } => Failure {
            status: AttemptStatus::GuestError,
            trap: None,
            error: format!("{}: {message}", kind.as_str()),
            retryable: *kind == GuestErrorKind::Retryable,
        },
        Outcome::Trapped { kind, detail } => Failure {
            status: AttemptStatus::Trapped,
            trap: Some(*kind),
            error: detail.clone(),
            retryable: *kind == TrapKind::Timeout && cx.retry_timeouts,
        },
        Outcome::Cancelled => return Ok(Attempted { task, ws, report, result: Result_::Cancelled }),
    };
    Ok(Attempted { task, ws, report, result: Result_::Failed(failure) })
}

/// Capture errors that are the node's doing (it wrote something it may not), as a trap kind.
fn node_fault(e: &CaptureError) -> Option<TrapKind> {
    match e {
        CaptureError::FileTooLarge { .. } | CaptureError::TooManyEntries { .. } => {
            Some(TrapKind::DiskQuotaExceeded)
        }
        CaptureError::SpecialFile { .. }
        | CaptureError::NonUtf8Name { .. }
        | CaptureError::PathTooLong { .. } => Some(TrapKind::SandboxViolation),
        // Not from a capture: restore refuses such a tree before touching the workspace.
        CaptureError::Io { .. } | CaptureError::InvalidTree(_) => None,
    }
}

/// The node's update, parsed, within the size limit and matching the node's `update_schema`.
fn checked_update(text: &str, cx: &Context) -> Result<Map<String, Value>, String> {
    let update = parse_update(text, cx.limits.update_bytes).map_err(|e| e.to_string())?;
    if let Some(schema) = &cx.update_schema {
        schema
            .check(&Value::Object(update.clone()))
            .map_err(|v| format!("update does not match the node's `update_schema`: {v}"))?;
    }
    Ok(update)
}
