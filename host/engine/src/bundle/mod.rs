//! Run bundles ([`wtb_core::bundle`]) in and out of a data dir: [`Bundles::export`] writes an
//! execution's recorded history and every blob it names to one file; [`Bundles::import`]
//! checks a bundle whole and stores it for this tenant under fresh ids in one transaction.

mod error;
mod import;
mod read;

pub use error::BundleError;
pub use import::Imported;

use crate::executor::{ExecError, Executor};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use wtb_core::bundle::{
    BLOB_PREFIX, BundledArrival, BundledCommit, BundledEvent, BundledWorkflow, FORMAT, HEADER_ENTRY,
    HISTORY_ENTRY, Header, History,
};
use wtb_core::model::{
    BoundaryId, CheckpointId, Digest, ExecutionId, ExecutionStatus, FileCommit, FileCommitId,
};
use wtb_store::capture::BlobSource as _;
use wtb_store::db::DbError;

/// What an export wrote.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Exported {
    /// The file.
    pub file: PathBuf,
    /// The execution it holds.
    pub execution: ExecutionId,
    /// The checkpoint it was exported for.
    pub point: Option<CheckpointId>,
    /// Checkpoints, attempts and blobs in it.
    pub checkpoints: usize,
    /// Attempts in it.
    pub attempts: usize,
    /// Blobs in it.
    pub blobs: usize,
    /// The file's size.
    pub bytes: u64,
}

/// Bundles for one host and tenant; from [`Executor::bundles`].
pub struct Bundles<'a> {
    exec: &'a Executor,
}

impl Executor {
    /// Exporting and importing run bundles (see [`crate::bundle`]).
    pub fn bundles(&self) -> Bundles<'_> {
        Bundles { exec: self }
    }
}

impl Bundles<'_> {
    /// Writes the history of `execution` (and, with `point`, names that checkpoint of it) to
    /// `out`, which must not exist unless `force`. A running execution is refused: pause it.
    pub async fn export(
        &self,
        execution: ExecutionId,
        point: Option<CheckpointId>,
        out: &Path,
        force: bool,
    ) -> Result<Exported, BundleError> {
        let (exec, tenant) = (self.exec, self.exec.tenant);
        let row = exec.execution_of_tenant(execution).await?;
        if row.status == ExecutionStatus::Running {
            return Err(BundleError::Running(execution));
        }
        if !force && out.exists() {
            return Err(BundleError::Exists(out.to_owned()));
        }
        let record = exec
            .db
            .workflows()
            .get_one(tenant, row.workflow)
            .await?
            .ok_or(DbError::Corrupt { what: "workflow", detail: row.workflow.to_string() })?;
        let checkpoints = exec.db.checkpoints().list_for_execution(tenant, execution).await?;
        if let Some(p) = point
            && !checkpoints.iter().any(|c| c.id == p)
        {
            return Err(BundleError::NotOfExecution { checkpoint: p, execution });
        }
        let waiting: BTreeSet<CheckpointId> = exec
            .db
            .joins()
            .list_for_execution(tenant, execution)
            .await?
            .iter()
            .map(|a| a.checkpoint)
            .collect();
        let arrivals = exec.db.joins().list_all(tenant, execution).await?;
        let events = exec.db.events().list_for_execution(tenant, execution).await?;
        let mut history = History {
            workflow: BundledWorkflow {
                name: record.name,
                digest: record.digest,
                definition: record.definition,
            },
            boundaries: exec.db.boundaries().list_for_execution(tenant, execution).await?,
            arrivals: arrivals
                .into_iter()
                .map(|a| BundledArrival {
                    consumed: !waiting.contains(&a.checkpoint),
                    edge: a.edge,
                    seq: a.seq,
                    checkpoint: a.checkpoint,
                    forks: a.forks,
                })
                .collect(),
            events: events
                .into_iter()
                .map(|e| BundledEvent {
                    seq: e.seq,
                    kind: e.kind.as_string(),
                    payload: e.payload,
                    created_at: e.created_at,
                })
                .collect(),
            commits: Vec::new(),
            checkpoints,
            execution: row,
        };
        if let Some(p) = point {
            history = history.cut(p, &mut || BoundaryId::from_uuid(exec.ids.next()));
        }
        let commits = self.commits(history.checkpoints.iter().map(|c| c.file_commit)).await?;
        history.commits = BundledCommit::from_commits(&commits);
        let trees: Vec<_> = commits.iter().map(|c| (*c.tree).clone()).collect();
        let digests = history.digests(&trees).map_err(BundleError::Bad)?;
        let mut blobs = BTreeMap::new();
        for d in &digests {
            let b = exec
                .db
                .blobs()
                .get_one(tenant, d)
                .await?
                .ok_or(DbError::Corrupt { what: "blob", detail: d.to_hex() })?;
            blobs.insert(*d, b.size);
        }
        let text = serde_json::to_vec(&history).map_err(|e| ExecError::StoredWorkflow(e.to_string()))?;
        let header = Header {
            format: FORMAT,
            wtb_version: env!("CARGO_PKG_VERSION").to_owned(),
            created_at: exec.clock.now(),
            execution,
            point,
            history_digest: Digest::of(&text),
            blobs,
        };
        let source = exec.blobs_for(digests.iter().copied().collect()).await?;
        let (file, out_path) = (out.to_owned(), out.to_owned());
        let bytes = crate::executor::blocking(move || -> std::io::Result<u64> {
            let tmp = file.with_extension("wtb-partial");
            let mut tar = tar::Builder::new(std::io::BufWriter::new(std::fs::File::create(&tmp)?));
            append(
                &mut tar,
                HEADER_ENTRY,
                &serde_json::to_vec_pretty(&header).map_err(std::io::Error::other)?,
            )?;
            append(&mut tar, HISTORY_ENTRY, &text)?;
            for (d, size) in &header.blobs {
                let mut h = entry_header(*size);
                let mut reader = source.open(d)?.take(*size);
                tar.append_data(&mut h, format!("{BLOB_PREFIX}{}", d.to_hex()), &mut reader)?;
            }
            let mut w = tar.into_inner()?;
            w.flush()?;
            w.get_ref().sync_all()?;
            drop(w);
            std::fs::rename(&tmp, &file)?;
            Ok(std::fs::metadata(&file)?.len())
        })
        .await?
        .map_err(|source| ExecError::Io { what: format!("writing {}", out_path.display()), source })?;
        Ok(Exported {
            file: out_path,
            execution,
            point,
            checkpoints: history.checkpoints.len(),
            attempts: history.boundaries.len(),
            blobs: digests.len(),
            bytes,
        })
    }

    /// The commits `ids` with all their ancestors.
    async fn commits(&self, ids: impl Iterator<Item = FileCommitId>) -> Result<Vec<FileCommit>, ExecError> {
        let mut todo: Vec<FileCommitId> = ids.collect();
        let mut seen: HashMap<FileCommitId, FileCommit> = HashMap::new();
        while let Some(id) = todo.pop() {
            if seen.contains_key(&id) {
                continue;
            }
            let c = self
                .exec
                .db
                .file_commits()
                .get_one(self.exec.tenant, id)
                .await?
                .ok_or(DbError::Corrupt { what: "file commit", detail: id.to_string() })?;
            todo.extend(c.parent);
            seen.insert(id, c);
        }
        Ok(seen.into_values().collect())
    }
}

fn entry_header(size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    h
}

fn append<W: std::io::Write>(tar: &mut tar::Builder<W>, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    tar.append_data(&mut entry_header(bytes.len() as u64), name, bytes)
}

impl Bundles<'_> {
    /// What `id` names: one of this tenant's executions, or a checkpoint (then its execution
    /// and that checkpoint as the point).
    pub async fn resolve(&self, id: &str) -> Result<(ExecutionId, Option<CheckpointId>), BundleError> {
        let uuid: uuid::Uuid = id
            .parse()
            .map_err(|_| BundleError::NoSuchId(format!("`{id}` is not an execution or checkpoint id")))?;
        let execution = ExecutionId::from_uuid(uuid);
        match self.exec.execution_of_tenant(execution).await {
            Ok(_) => Ok((execution, None)),
            Err(ExecError::UnknownExecution(_)) => {
                let cp = CheckpointId::from_uuid(uuid);
                let (_, exec) = self.exec.checkpoint_of_tenant(cp).await.map_err(|e| match e {
                    ExecError::UnknownCheckpoint(_) => {
                        BundleError::NoSuchId(format!("no execution or checkpoint {id}"))
                    }
                    e => e.into(),
                })?;
                Ok((exec.id, Some(cp)))
            }
            Err(e) => Err(e.into()),
        }
    }
}
