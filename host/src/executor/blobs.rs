//! Getting contents in and out of storage for the executor: component bytes into the CAS,
//! and a [`BlobSource`] over inline rows and CAS objects for restores.

use super::{ExecError, Executor};
use crate::capture::BlobSource;
use crate::cas::LocalCas;
use crate::db;
use crate::model::{BlobRecord, Digest, FileTree, TenantId, Timestamp};
use std::collections::HashMap;
use std::io::{self, Read};
use std::sync::Arc;

/// Contents of a tree: inline ones prefetched from the database, the rest read from the CAS.
pub(crate) struct StoredBlobs {
    inline: HashMap<Digest, Vec<u8>>,
    cas: Arc<LocalCas>,
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

impl Executor {
    /// A source for every content `tree` references: inline contents fetched in a few
    /// queries (not one per file: a 10,000-file rollback spent most of its time there).
    pub(crate) async fn stored_blobs(&self, tree: &FileTree) -> Result<StoredBlobs, ExecError> {
        self.blobs_for(tree.values().filter_map(|e| e.digest).collect()).await
    }

    /// A source for the contents `digests` name.
    pub(crate) async fn blobs_for(&self, digests: std::collections::BTreeSet<Digest>) -> Result<StoredBlobs, ExecError> {
        let digests: Vec<Digest> = digests.into_iter().collect();
        let mut conn = self.pool.acquire().await.map_err(db::DbError::from)?;
        let inline = db::blob::inline_contents(&mut conn, self.tenant, &digests).await?;
        Ok(StoredBlobs { inline, cas: self.cas.clone(), tenant: self.tenant })
    }

    /// The database rows of a component stored with [`Executor::store_component`] (its
    /// `components` row, and its `blobs` row so the cleaner keeps the CAS object).
    pub(crate) async fn record_component(&self, conn: &mut sqlx::SqliteConnection, digest: Digest, size: u64, now: Timestamp) -> Result<(), ExecError> {
        db::component::insert(&mut *conn, &db::component::ComponentRecord { tenant: self.tenant, digest, size, created_at: now }).await?;
        db::blob::insert(&mut *conn, &BlobRecord { tenant: self.tenant, digest, size, inline: None, created_at: now }).await?;
        Ok(())
    }

    /// Makes component bytes durable in the CAS (a no-op when already there).
    pub(crate) async fn store_component(&self, digest: Digest, bytes: Arc<[u8]>) -> Result<(), ExecError> {
        let (cas, tenant) = (self.cas.clone(), self.tenant);
        super::run::blocking(move || cas.put(tenant, &digest, &mut &bytes[..]))
            .await?
            .map(|_| ())
            .map_err(|source| ExecError::Io { what: format!("storing component {digest}"), source })
    }
}
