//! Getting contents in and out of storage for the executor: component bytes into the CAS,
//! and a [`BlobSource`] over inline rows and CAS objects for restores.

use super::{ExecError, Executor};
use std::collections::HashMap;
use std::io::{self, Read};
use std::sync::Arc;
use wtb_core::model::{BlobRecord, Digest, FileTree, TenantId, Timestamp, WorkflowId, WorkflowRecord};
use wtb_store::capture::BlobSource;
use wtb_store::cas::BlobStore;
use wtb_store::db::ComponentRecord;
use wtb_store::db::{Database, DbError, UnitOfWork, Write};

/// Contents of a tree: inline ones prefetched from the database, the rest read from the CAS.
pub struct StoredBlobs {
    inline: HashMap<Digest, Vec<u8>>,
    cas: Arc<dyn BlobStore>,
    tenant: TenantId,
}

impl BlobSource for StoredBlobs {
    fn open(&self, digest: &Digest) -> io::Result<Box<dyn Read + '_>> {
        match self.inline.get(digest) {
            Some(bytes) => Ok(Box::new(bytes.as_slice())),
            None => Ok(Box::new(self.cas.open(self.tenant, digest)?)),
        }
    }
}

/// Contents read from the database (inline rows, one query per content) or the CAS when
/// first asked for: what an in-memory workspace restores from, so a restore reads nothing
/// until a guest opens a file. Read only off the async runtime (restores and loads run on the
/// blocking pool), as it waits for the database there.
pub(crate) struct LazyBlobs {
    db: Arc<dyn Database>,
    cas: Arc<dyn BlobStore>,
    tenant: TenantId,
    runtime: tokio::runtime::Handle,
}

impl BlobSource for LazyBlobs {
    fn open(&self, digest: &Digest) -> io::Result<Box<dyn Read + '_>> {
        let inline = self
            .runtime
            .block_on(self.db.blobs().inline_contents(self.tenant, std::slice::from_ref(digest)))
            .map_err(io::Error::other)?;
        match inline.into_values().next() {
            Some(bytes) => Ok(Box::new(io::Cursor::new(bytes))),
            None => Ok(Box::new(self.cas.open(self.tenant, digest)?)),
        }
    }
}

impl StoredBlobs {
    /// The contents a capture just produced: inline ones from `blobs`, the rest in `cas`.
    pub(crate) fn captured(
        blobs: Vec<wtb_store::capture::NewBlob>,
        cas: Arc<dyn BlobStore>,
        tenant: TenantId,
    ) -> Self {
        let inline = blobs.into_iter().filter_map(|b| Some((b.digest, b.inline?))).collect();
        Self { inline, cas, tenant }
    }
}

impl Executor {
    /// A source for every content `tree` references: inline contents fetched in a few
    /// queries (not one per file: a 10,000-file rollback spent most of its time there).
    pub async fn stored_blobs(&self, tree: &FileTree) -> Result<StoredBlobs, ExecError> {
        self.blobs_for(tree.values().filter_map(|e| e.digest).collect()).await
    }

    /// What a lane's workspace restores a tree from: contents read on demand (a file's
    /// content is loaded the first time a guest reads it).
    pub fn lane_blobs(&self) -> Arc<dyn BlobSource> {
        Arc::new(LazyBlobs {
            db: self.db.clone(),
            cas: self.cas.clone(),
            tenant: self.tenant,
            runtime: tokio::runtime::Handle::current(),
        })
    }

    /// A source for the contents `digests` name.
    pub(crate) async fn blobs_for(
        &self,
        digests: std::collections::BTreeSet<Digest>,
    ) -> Result<StoredBlobs, ExecError> {
        let digests: Vec<Digest> = digests.into_iter().collect();
        let inline = self.db.blobs().inline_contents(self.tenant, &digests).await?;
        Ok(StoredBlobs { inline, cas: self.cas.clone(), tenant: self.tenant })
    }

    /// Stores a workflow definition and its components once (all content-addressed: a second
    /// store of the same finds them). Component bytes go to the CAS first, durably; then their
    /// rows (`components`, and `blobs` so the cleaner keeps the objects) and the definition's
    /// row commit in one transaction through the writer. Returns the id of the stored
    /// definition (an earlier one with the same digest, if any).
    pub(crate) async fn store_definition(
        &self,
        components: &[(Digest, Arc<[u8]>)],
        record: &WorkflowRecord,
    ) -> Result<WorkflowId, ExecError> {
        let mut work = UnitOfWork::new();
        for (digest, bytes) in components {
            self.store_component(*digest, bytes.clone()).await?;
            self.component_rows_into(&mut work, *digest, bytes.len() as u64, record.created_at);
        }
        work.push(Write::Workflow(record.clone()));
        self.write_alone(work).await?;
        self.db.workflows().id_by_digest(self.tenant, &record.digest).await?.ok_or_else(|| {
            ExecError::Db(DbError::Corrupt { what: "workflow", detail: record.digest.to_string() })
        })
    }

    /// The rows of a component stored with [`Executor::store_component`].
    pub(crate) fn component_rows_into(
        &self,
        work: &mut UnitOfWork,
        digest: Digest,
        size: u64,
        now: Timestamp,
    ) {
        let tenant = self.tenant;
        work.push(Write::Component(ComponentRecord { tenant, digest, size, created_at: now }))
            .push(Write::Blob(BlobRecord { tenant, digest, size, inline: None, created_at: now }));
    }

    /// Makes component bytes durable in the CAS (a no-op when already there).
    pub(crate) async fn store_component(&self, digest: Digest, bytes: Arc<[u8]>) -> Result<(), ExecError> {
        let (cas, tenant) = (self.cas.clone(), self.tenant);
        super::blocking(move || cas.put(tenant, &digest, &mut &bytes[..]))
            .await?
            .map(|_| ())
            .map_err(|source| ExecError::Io { what: format!("storing component {digest}"), source })
    }
}
