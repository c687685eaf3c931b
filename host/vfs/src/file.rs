//! File contents: shared until written (copy on write), loaded on first use when they come
//! from a checkpoint.

use crate::node::Node;
use crate::{Errno, Ino, Key, Vfs};
use std::sync::Arc;

/// Largest offset or size a file may have (Linux's `MAX_LFS_FILESIZE` is larger; the budget
/// stops a guest long before either).
const MAX_FILE_SIZE: u64 = i64::MAX as u64;

/// A file's bytes: in memory once loaded or written, shared with snapshots until written;
/// while unchanged since it was restored, it remembers which stored content it is, so capture
/// need not hash it.
#[derive(Clone, Debug)]
pub struct Content {
    bytes: Option<Arc<Vec<u8>>>,
    key: Option<Key>,
    len: u64,
}

impl Content {
    /// Bytes already in memory, of no stored content.
    pub fn bytes(bytes: Vec<u8>) -> Self {
        Self { len: bytes.len() as u64, bytes: Some(Arc::new(bytes)), key: None }
    }

    /// `len` bytes of the stored content `key`, loaded by the [`crate::Loader`] on first use.
    pub fn stored(key: Key, len: u64) -> Self {
        Self { bytes: None, key: Some(key), len }
    }

    /// Its length.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether it holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The stored content it still equals (`None` once written, or if never stored).
    pub fn key(&self) -> Option<Key> {
        self.key
    }

    /// Its bytes, if in memory.
    pub fn loaded(&self) -> Option<&Arc<Vec<u8>>> {
        self.bytes.as_ref()
    }
}

/// A file's content about to change: it no longer equals a stored one.
fn written(node: &mut Node) -> Result<&mut Content, Errno> {
    let Node::File(content) = node else { return Err(Errno::IsDirectory) };
    content.key = None;
    Ok(content)
}

impl Vfs {
    /// The file `ino`'s bytes, loading them if needed.
    pub fn contents(&mut self, ino: Ino) -> Result<Arc<Vec<u8>>, Errno> {
        let loader = self.loader.clone();
        let Node::File(content) = &self.inode(ino)?.node else { return Err(Errno::IsDirectory) };
        if let Some(bytes) = &content.bytes {
            return Ok(bytes.clone());
        }
        let (key, len) = (content.key.ok_or(Errno::Io)?, content.len);
        self.take_resident(0, len)?;
        let loaded = loader.ok_or(Errno::Io).and_then(|l| l.load(&key).map_err(|_| Errno::Io));
        let bytes = match loaded {
            Ok(bytes) if bytes.len() as u64 == len => Arc::new(bytes),
            _ => {
                let _ = self.take_resident(len, 0);
                return Err(Errno::Io);
            }
        };
        let Node::File(content) = &mut self.inode_mut(ino)?.node else { return Err(Errno::IsDirectory) };
        content.bytes = Some(bytes.clone());
        Ok(bytes)
    }

    /// What must be loaded before `ino`'s bytes can be used without blocking: the stored
    /// content's key and length, and the loader (`None`: nothing to load).
    pub fn pending_load(&self, ino: Ino) -> Option<(Key, u64, Arc<dyn crate::Loader>)> {
        match &self.inodes.get(&ino)?.node {
            Node::File(c) if c.bytes.is_none() => Some((c.key?, c.len, self.loader.clone()?)),
            _ => None,
        }
    }

    /// Gives `ino` the bytes [`Vfs::pending_load`] asked for (loaded elsewhere, e.g. off the
    /// async runtime); a length that differs from the stored one is `Io`.
    pub fn fill(&mut self, ino: Ino, bytes: Vec<u8>) -> Result<(), Errno> {
        let Node::File(content) = &self.inode(ino)?.node else { return Err(Errno::IsDirectory) };
        if content.bytes.is_some() {
            return Ok(());
        }
        if bytes.len() as u64 != content.len {
            return Err(Errno::Io);
        }
        self.take_resident(0, content.len)?;
        let Node::File(content) = &mut self.inode_mut(ino)?.node else { return Err(Errno::IsDirectory) };
        content.bytes = Some(Arc::new(bytes));
        Ok(())
    }

    /// Records that `ino`'s bytes are now stored as `key` (a capture hashed them), so the next
    /// capture need not hash them again unless they are written first.
    pub fn set_key(&mut self, ino: Ino, key: Key) -> Result<(), Errno> {
        let Node::File(content) = &mut self.inode_mut(ino)?.node else { return Err(Errno::IsDirectory) };
        content.key = Some(key);
        Ok(())
    }

    /// Up to `len` bytes at `offset`; empty at or past the end.
    pub fn read(&mut self, ino: Ino, offset: u64, len: u64) -> Result<Vec<u8>, Errno> {
        let bytes = self.contents(ino)?;
        let start = offset.min(bytes.len() as u64) as usize;
        let end = offset.saturating_add(len).min(bytes.len() as u64) as usize;
        let now = self.now.access;
        self.inode_mut(ino)?.times.access = now;
        Ok(bytes[start..end].to_vec())
    }

    /// Writes `data` at `offset` (`None`: at the end), zero-filling a gap; returns the offset
    /// after the write.
    pub fn write(&mut self, ino: Ino, offset: Option<u64>, data: &[u8]) -> Result<u64, Errno> {
        let old = self.contents(ino)?.len() as u64;
        let at = offset.unwrap_or(old);
        let end =
            at.checked_add(data.len() as u64).filter(|e| *e <= MAX_FILE_SIZE).ok_or(Errno::FileTooLarge)?;
        if data.is_empty() {
            return Ok(at);
        }
        self.charge(old, end.max(old))?;
        self.journal.file(ino);
        let now = self.now;
        let inode = self.inode_mut(ino)?;
        let content = written(&mut inode.node)?;
        let bytes = Arc::make_mut(content.bytes.as_mut().ok_or(Errno::Io)?);
        if (bytes.len() as u64) < end {
            bytes.resize(end as usize, 0);
        }
        bytes[at as usize..end as usize].copy_from_slice(data);
        content.len = bytes.len() as u64;
        inode.times.modify = now.modify;
        inode.times.change = now.change;
        Ok(end)
    }

    /// Truncates or zero-extends the file `ino` to `size`.
    pub fn set_size(&mut self, ino: Ino, size: u64) -> Result<(), Errno> {
        if size > MAX_FILE_SIZE {
            return Err(Errno::FileTooLarge);
        }
        if size == 0 {
            // Truncating needs no old bytes: a stored content is never loaded for `O_TRUNC`.
            let old = self.stat(ino)?.size;
            let resident = self.inode(ino)?.resident_bytes();
            self.charge_stored(old, 0)?;
            self.take_resident(resident, 0)?;
            self.journal.file(ino);
            let now = self.now;
            let inode = self.inode_mut(ino)?;
            *written(&mut inode.node)? = Content::bytes(Vec::new());
            inode.times.modify = now.modify;
            inode.times.change = now.change;
            return Ok(());
        }
        let old = self.contents(ino)?.len() as u64;
        self.charge(old, size)?;
        self.journal.file(ino);
        let now = self.now;
        let inode = self.inode_mut(ino)?;
        let content = written(&mut inode.node)?;
        if size != old {
            Arc::make_mut(content.bytes.as_mut().ok_or(Errno::Io)?).resize(size as usize, 0);
            content.len = size;
        }
        inode.times.modify = now.modify;
        inode.times.change = now.change;
        Ok(())
    }

    /// Sets `ino`'s access and modification times (`None` leaves one as it is).
    pub fn set_times(&mut self, ino: Ino, access: Option<u64>, modify: Option<u64>) -> Result<(), Errno> {
        let change = self.now.change;
        let t = &mut self.inode_mut(ino)?.times;
        if let Some(a) = access {
            t.access = a;
        }
        if let Some(m) = modify {
            t.modify = m;
        }
        t.change = change;
        Ok(())
    }

    /// A symlink's target.
    pub fn target(&self, ino: Ino) -> Result<&str, Errno> {
        match &self.inode(ino)?.node {
            Node::Symlink(t) => Ok(t),
            _ => Err(Errno::Invalid),
        }
    }
}
