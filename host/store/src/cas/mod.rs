//! The content-addressed blob store: [`BlobStore`], the seam every caller goes through, and
//! [`LocalCas`], its implementation on a local directory (`blobs/<tenant>/objects/ab/cdef…`,
//! keyed by SHA-256).
//!
//! Blobs are written once (temp file, fsync, rename, fsync of the directory) and never
//! modified, so a blob that exists is complete. Which blobs are *live* is the database's
//! business (`blobs` rows); this module knows nothing of sqlx. Temp files live under
//! `blobs/<tenant>/tmp/` so the orphan cleaner can tell them from objects.

mod hash;
mod object;

pub use hash::{HashingReader, hash_reader};
pub use object::{ObjectCas, ObjectStoreOptions};

use cap_fs_ext::{DirExt as _, FollowSymlinks, OpenOptionsFollowExt, SystemTimeSpec};
use cap_std::fs::{Dir, OpenOptions};
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;
use wtb_core::model::{Digest, TenantId};

/// Where large contents live, by tenant and digest. Objects are immutable and put-if-absent
/// is the only write, so a second backend (an S3-compatible object store) needs no locking:
/// a conditional put, a listing with sizes and times, and a delete.
///
/// The methods block: every caller runs on a blocking thread (capture hashes and stores
/// contents while it walks a workspace), where an object-store client can block on its
/// runtime. Which objects are live is the database's business (`blobs` rows); a store knows
/// nothing of rows.
pub trait BlobStore: Send + Sync + std::fmt::Debug {
    /// Stores the bytes `src` yields, which the caller hashed to `digest` (checked again while
    /// copying: a mismatch stores nothing). Present already: refreshes its modification time,
    /// so the orphan cleaner keeps it until the row the caller is about to commit names it.
    fn put(&self, tenant: TenantId, digest: &Digest, src: &mut dyn Read) -> io::Result<PutOutcome>;

    /// Opens an object for reading.
    fn open(&self, tenant: TenantId, digest: &Digest) -> io::Result<Box<dyn Read + Send>>;

    /// Reads a whole object and verifies its digest.
    fn read(&self, tenant: TenantId, digest: &Digest) -> io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.open(tenant, digest)?.read_to_end(&mut bytes)?;
        if Digest::of(&bytes) != *digest {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("blob {digest} is corrupt")));
        }
        Ok(bytes)
    }

    /// Every object of a tenant with its size and last modification, what the orphan cleaner
    /// weighs against the rows.
    fn list_objects(&self, tenant: TenantId) -> io::Result<Vec<StoredObject>>;

    /// Deletes an object found unreferenced and last modified before `cutoff`, unless a
    /// [`put`](Self::put) has refreshed it since the listing; whether it was deleted.
    fn remove_if_stale(&self, tenant: TenantId, digest: &Digest, cutoff: SystemTime) -> io::Result<bool>;

    /// Clears what crashed writers and cleaners left: objects a cleaner set aside go back
    /// (a row may name them), incomplete writes last touched before `cutoff` go. Returns how
    /// many incomplete writes were (or, with `dry_run`, would be) removed.
    fn clean_incomplete(&self, tenant: TenantId, cutoff: SystemTime, dry_run: bool) -> io::Result<usize>;

    /// Where the object lives, for messages (`fsck` names it).
    fn locate(&self, tenant: TenantId, digest: &Digest) -> String;
}

/// Whether [`BlobStore::put`] wrote a new object.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PutOutcome {
    /// The object was new and is now durable.
    Written,
    /// An object with this digest already existed; nothing was written.
    AlreadyPresent,
}

/// Suffix of an object the orphan cleaner has set aside to delete.
const DOOMED: &str = ".doomed";

/// One object in the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredObject {
    /// Its digest (from its path).
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// When it was written or last re-put.
    pub modified: std::time::SystemTime,
}

/// Blob store on the local disk.
#[derive(Debug)]
pub struct LocalCas {
    root: Dir,
    temp_counter: AtomicU64,
}

impl LocalCas {
    /// A store rooted at `root` (the data dir's `blobs/`).
    pub fn new(root: Dir) -> Self {
        Self { root, temp_counter: AtomicU64::new(0) }
    }

    /// Whether the object exists.
    fn contains(&self, tenant: TenantId, digest: &Digest) -> io::Result<bool> {
        self.root.try_exists(Self::object_path(tenant, digest))
    }

    /// The object's path relative to the store root.
    pub fn object_path(tenant: TenantId, digest: &Digest) -> String {
        let hex = digest.to_hex();
        format!("{tenant}/objects/{}/{}", &hex[..2], &hex[2..])
    }

    /// A fresh name under the tenant's `tmp/` (created if needed) for content `digest`, ending
    /// in `suffix`: unique per process and call, so concurrent writers never share one.
    fn temp_name(&self, tenant: TenantId, digest: &Digest, suffix: &str) -> io::Result<String> {
        let tmp_dir = format!("{tenant}/tmp");
        self.root.create_dir_all(&tmp_dir)?;
        let n = self.temp_counter.fetch_add(1, Ordering::Relaxed);
        Ok(format!("{tmp_dir}/{}.{}.{n}{suffix}", digest.to_hex(), std::process::id()))
    }

    /// Renames the temp file `from` to the object `digest`, durably (the rename is durable
    /// only once the directory entry is on disk).
    fn place(&self, from: &str, tenant: TenantId, digest: &Digest) -> io::Result<()> {
        let object = Self::object_path(tenant, digest);
        let (parent, _) = object.rsplit_once('/').unwrap_or(("", ""));
        self.root.create_dir_all(parent)?;
        self.root.rename(from, &self.root, &object)?;
        self.root.open(parent)?.sync_all()
    }

    fn write_temp(&self, tmp_name: &str, digest: &Digest, src: &mut dyn Read) -> io::Result<()> {
        let mut out = self.root.open_with(tmp_name, OpenOptions::new().write(true).create_new(true))?;
        let mut reader = HashingReader::new(src);
        io::copy(&mut reader, &mut out)?;
        let (actual, _) = reader.finish();
        if actual != *digest {
            return Err(io::Error::other(format!(
                "content changed while storing blob: expected {digest}, got {actual}"
            )));
        }
        out.flush()?;
        out.sync_all()
    }

    /// Temp files of a tenant (`tmp/`), with their last modification: leftovers of crashed
    /// writes once old.
    fn list_temp(&self, tenant: TenantId) -> io::Result<Vec<(String, std::time::SystemTime)>> {
        let Ok(dir) = self.root.read_dir(format!("{tenant}/tmp")) else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        for entry in dir {
            let entry = entry?;
            if let Ok(name) = entry.file_name().into_string() {
                out.push((name, entry.metadata()?.modified()?.into_std()));
            }
        }
        Ok(out)
    }

    /// Puts back an object set aside (see a name ending in `.doomed`); `false` for a name
    /// that is not one.
    fn reinstate(&self, tenant: TenantId, name: &str) -> io::Result<bool> {
        let Some(digest) = name
            .strip_suffix(DOOMED)
            .and_then(|n| n.split('.').next())
            .and_then(|hex| hex.parse::<Digest>().ok())
        else {
            return Ok(false);
        };
        self.place(&format!("{tenant}/tmp/{name}"), tenant, &digest)?;
        Ok(true)
    }
}

impl BlobStore for LocalCas {
    fn put(&self, tenant: TenantId, digest: &Digest, src: &mut dyn Read) -> io::Result<PutOutcome> {
        if self.contains(tenant, digest)? {
            // The object may be an orphan (no row yet) that the transaction now being built will
            // reference: a fresh mtime keeps the orphan cleaner off it until then (see
            // [`LocalCas::remove_if_stale`]). Gone meanwhile: the cleaner took it, write anew.
            match self.root.set_mtime(Self::object_path(tenant, digest), SystemTimeSpec::SymbolicNow) {
                Ok(()) => return Ok(PutOutcome::AlreadyPresent),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        let tmp_name = self.temp_name(tenant, digest, "")?;
        let result =
            self.write_temp(&tmp_name, digest, src).and_then(|()| self.place(&tmp_name, tenant, digest));
        if result.is_err() {
            let _ = self.root.remove_file(&tmp_name);
        }
        result.map(|()| PutOutcome::Written)
    }

    fn open(&self, tenant: TenantId, digest: &Digest) -> io::Result<Box<dyn Read + Send>> {
        // Never through a symlink planted in the store.
        let mut opts = OpenOptions::new();
        opts.read(true).follow(FollowSymlinks::No);
        Ok(Box::new(self.root.open_with(Self::object_path(tenant, digest), &opts)?))
    }

    fn list_objects(&self, tenant: TenantId) -> io::Result<Vec<StoredObject>> {
        let mut out = Vec::new();
        let objects = format!("{tenant}/objects");
        let Ok(fanout) = self.root.read_dir(&objects) else { return Ok(out) };
        for prefix in fanout {
            let prefix = prefix?;
            let Ok(head) = prefix.file_name().into_string() else { continue };
            for entry in self.root.read_dir(format!("{objects}/{head}"))? {
                let entry = entry?;
                let Some(digest) = entry
                    .file_name()
                    .to_str()
                    .and_then(|tail| format!("{head}{tail}").parse::<Digest>().ok())
                else {
                    continue;
                };
                let meta = entry.metadata()?;
                out.push(StoredObject { digest, size: meta.len(), modified: meta.modified()?.into_std() });
            }
        }
        Ok(out)
    }

    // Deletes an object the orphan cleaner found unreferenced and last modified before
    // `cutoff`, unless a [`put`](Self::put) has refreshed it since; whether it was deleted.
    //
    // The cleaner's listing is stale by the time it deletes: a node may have re-produced the
    // content meanwhile (its `put` only refreshed the mtime) and be about to commit a row
    // for it. So the object is first renamed into `tmp/` (atomic). A `put` after the rename
    // finds no object and writes a new one; a `put` before it refreshed the mtime, which is
    // read from the renamed file, and such a file is renamed back; a `put` whose refresh
    // finds the object gone writes it anew. No interleaving loses content a `put` vouched
    // for. (A crash between the rename and the delete leaves a `.doomed` temp file, which
    // the next pass puts back: `reinstate`.)
    fn remove_if_stale(
        &self,
        tenant: TenantId,
        digest: &Digest,
        cutoff: std::time::SystemTime,
    ) -> io::Result<bool> {
        let object = Self::object_path(tenant, digest);
        let doomed = self.temp_name(tenant, digest, DOOMED)?;
        match self.root.rename(&object, &self.root, &doomed) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            r => r?,
        }
        if self.root.symlink_metadata(&doomed)?.modified()?.into_std() >= cutoff {
            // Refreshed by a put: back it goes (if a put wrote it anew since, the bytes are
            // the same, and either copy will do).
            self.place(&doomed, tenant, digest)?;
            return Ok(false);
        }
        self.root.remove_file(&doomed)?;
        Ok(true)
    }

    fn clean_incomplete(&self, tenant: TenantId, cutoff: SystemTime, dry_run: bool) -> io::Result<usize> {
        let temps = self.list_temp(tenant)?;
        let (set_aside, writes): (Vec<_>, Vec<_>) =
            temps.into_iter().partition(|(name, _)| name.ends_with(DOOMED));
        let old: Vec<String> =
            writes.into_iter().filter(|(_, modified)| *modified < cutoff).map(|(name, _)| name).collect();
        if dry_run {
            return Ok(old.len());
        }
        for (name, _) in &set_aside {
            match self.reinstate(tenant, name) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        let mut removed = 0;
        for name in &old {
            match self.root.remove_file(format!("{tenant}/tmp/{name}")) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                Err(_) => {}
                Ok(()) => removed += 1,
            }
        }
        Ok(removed)
    }

    fn locate(&self, tenant: TenantId, digest: &Digest) -> String {
        format!("blobs/{}", Self::object_path(tenant, digest))
    }
}
