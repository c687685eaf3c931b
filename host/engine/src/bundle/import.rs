//! Importing a bundle: read and checked whole (see `read.rs`), its definition refused if it
//! would mount host directories (unless trusted), the tenant's `max_stored_bytes` charged,
//! then every row — blobs, components, workflow, execution, file commits, checkpoints,
//! attempts, join arrivals, events — written under fresh ids in one transaction.

use super::read::{Read_, Sink, read};
use super::{BundleError, Bundles};
use crate::executor::ExecError;
use std::path::Path;
use wtb_core::bundle::Header;
use wtb_core::bundle::remap::remap;
use wtb_core::model::{BlobRecord, CheckpointId, ExecutionId, ExecutionStatus, WorkflowId, WorkflowRecord};
use wtb_core::workflow::Definition;
use wtb_store::db::{Arrival, UnitOfWork, Write};

/// What an import stored.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Imported {
    /// The new execution.
    pub execution: ExecutionId,
    /// Its status, as recorded.
    pub status: ExecutionStatus,
    /// The execution it was exported from (in the data dir it came from).
    pub source: ExecutionId,
    /// The checkpoint the bundle was exported for, under its new id.
    pub point: Option<CheckpointId>,
    /// The workflow's name.
    pub workflow: String,
    /// Checkpoints stored.
    pub checkpoints: usize,
    /// Blobs in the bundle.
    pub blobs: usize,
}

impl Bundles<'_> {
    /// Reads and checks the bundle at `path` without storing anything: what an import would
    /// refuse, it refuses here, by entry. Returns its header and workflow's name.
    pub async fn verify(&self, path: &Path) -> Result<(Header, String), BundleError> {
        let got = self.read(path, false).await?;
        Ok((got.header, got.history.workflow.name))
    }

    /// The bundle at `path` read and checked on a blocking thread; with `store`, its large
    /// blobs go to this tenant's CAS as they stream.
    async fn read(&self, path: &Path, store: bool) -> Result<Read_, BundleError> {
        let sink = Sink {
            cas: store.then(|| self.exec.cas.clone()),
            tenant: self.exec.tenant,
            inline_max: self.exec.config.capture_limits().inline_max_bytes,
        };
        let path = path.to_owned();
        crate::executor::blocking(move || read(&path, &sink)).await?
    }

    /// Imports the bundle at `path` for this tenant. `trust_fixtures` allows a workflow that
    /// mounts host directories (their paths as the bundle names them).
    pub async fn import(&self, path: &Path, trust_fixtures: bool) -> Result<Imported, BundleError> {
        let exec = self.exec;
        let mut quota = exec.check_quotas(false).await?;
        let got = self.read(path, true).await?;
        let def: Definition = serde_json::from_value(got.history.workflow.definition.clone())
            .map_err(|e| ExecError::StoredWorkflow(e.to_string()))?;
        if !trust_fixtures
            && let Some((node, f)) = def.nodes.iter().find_map(|n| n.fixtures.first().map(|f| (n, f)))
        {
            return Err(BundleError::Fixture {
                node: node.id.clone(),
                guest: f.guest.clone(),
                host: f.host.clone(),
            });
        }
        let bytes: u64 = got.header.blobs.values().sum();
        if let Some(stored) = &mut quota.stored {
            stored.charge(bytes).map_err(BundleError::Quota)?;
        }
        let now = exec.clock.now();
        let tenant = exec.tenant;
        let mut work = UnitOfWork::new();
        let components = got.history.component_digests().map_err(BundleError::Bad)?;
        for (digest, size) in &got.header.blobs {
            if components.contains(digest) {
                exec.component_rows_into(&mut work, *digest, *size, now);
            } else {
                let inline = got.inline.get(digest).cloned();
                work.push(Write::Blob(BlobRecord {
                    tenant,
                    digest: *digest,
                    size: *size,
                    inline,
                    created_at: now,
                }));
            }
        }
        let wf = &got.history.workflow;
        let workflow = match exec.db.workflows().id_by_digest(tenant, &wf.digest).await? {
            Some(id) => id,
            None => {
                let id = WorkflowId::from_uuid(exec.ids.next());
                work.push(Write::Workflow(WorkflowRecord {
                    id,
                    tenant,
                    name: wf.name.clone(),
                    digest: wf.digest,
                    definition: wf.definition.clone(),
                    created_at: now,
                }));
                id
            }
        };
        let (source, name) = (got.history.execution.id, wf.name.clone());
        let r = remap(got.history, got.trees, got.header.point, tenant, workflow, &mut || exec.ids.next());
        let imported = Imported {
            execution: r.execution.id,
            status: r.execution.status,
            source,
            point: r.point,
            workflow: name,
            checkpoints: r.checkpoints.len(),
            blobs: got.header.blobs.len(),
        };
        work.push(Write::Execution(r.execution, None));
        for c in r.commits {
            work.push(Write::FileCommit(c));
        }
        for c in r.checkpoints {
            work.push(Write::Checkpoint(c));
        }
        for b in r.boundaries {
            work.push(Write::Boundary(b));
        }
        for a in r.arrivals {
            let arrival = Arrival { edge: a.edge, seq: a.seq, checkpoint: a.checkpoint, forks: a.forks };
            work.push(Write::Arrive(imported.execution, arrival.clone()));
            if a.consumed {
                work.push(Write::Consume(imported.execution, arrival, true));
            }
        }
        if !r.events.is_empty() {
            work.push(Write::Events(r.events));
        }
        exec.write_alone(work).await?;
        Ok(imported)
    }
}
