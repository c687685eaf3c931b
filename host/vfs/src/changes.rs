//! What changed since a mark (the last capture): the names whose binding changed and the files
//! whose bytes did, so a capture looks again at those paths only instead of walking the tree.
//!
//! Why names and not paths: an operation knows the directory and the name it changes, and a
//! directory's path can move later (a rename of an ancestor). Paths are computed at capture,
//! from the directories' parent links. Any path of the previous capture that no longer holds
//! the same thing has a changed name on it (the shallowest binding that differs), so dropping
//! everything at and beneath each changed name's path, then adding what is there now, yields
//! the tree a full walk would.
//!
//! A written file is found through the name it was opened by for writing; one that also has
//! names the journal does not hold (a hard link, or a descriptor opened before the mark) makes
//! the changes unknown, and so does a journal past its bounds: the caller then walks the tree.

use crate::node::Node;
use crate::walk::{Entry, PathTooLong};
use crate::{Ino, Vfs};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// Most names and written files a journal records before it gives up (the next capture walks
/// the whole tree, which then costs less than replaying the journal anyway).
const MAX_RECORDS: usize = 16_384;
/// Most bytes of names a journal holds, whatever their count.
const MAX_NAME_BYTES: usize = 1 << 20;

/// Changes recorded since the last [`Vfs::mark`].
#[derive(Clone, Debug, Default)]
pub(crate) struct Journal {
    /// Recording: marked, and within bounds.
    on: bool,
    pub(crate) names: BTreeSet<(Ino, String)>,
    files: BTreeSet<Ino>,
    name_bytes: usize,
}

impl Journal {
    /// `name` in directory `dir` was bound, unbound or rebound.
    pub(crate) fn name(&mut self, dir: Ino, name: &str) {
        if self.on && self.names.insert((dir, name.to_owned())) {
            self.name_bytes += name.len();
            self.check();
        }
    }

    /// The bytes of file `ino` changed.
    pub(crate) fn file(&mut self, ino: Ino) {
        if self.on && self.files.insert(ino) {
            self.check();
        }
    }

    fn check(&mut self) {
        if self.names.len() + self.files.len() > MAX_RECORDS || self.name_bytes > MAX_NAME_BYTES {
            *self = Self::default();
        }
    }
}

/// What changed since the mark, as paths of the tree [`Vfs::entries`] lists.
#[derive(Debug, Default)]
pub struct Changed {
    /// Paths to drop from the previous listing, each with everything beneath it.
    pub dropped: Vec<String>,
    /// What the tree holds now at those paths and beneath them, parents before children.
    pub entries: Vec<(String, Entry)>,
}

impl Changed {
    /// Nothing changed.
    pub fn is_empty(&self) -> bool {
        self.dropped.is_empty()
    }
}

impl Vfs {
    /// Starts recording changes: the caller has just listed the whole tree (a capture or a
    /// restore), and [`Vfs::changed`] will say what differs from that listing.
    pub fn mark(&mut self) {
        self.journal = Journal { on: true, ..Journal::default() };
    }

    /// What changed since the last [`Vfs::mark`]; `None` when that is not known (never marked,
    /// too many changes, a written file with a name the journal does not hold, or a changed
    /// path too long to name): walk the whole tree then.
    pub fn changed(&self) -> Option<Changed> {
        let j = &self.journal;
        if !j.on {
            return None;
        }
        let mut bound: HashMap<Ino, u64> = HashMap::new();
        for (dir, name) in &j.names {
            if let Some(ino) = self.inodes.get(dir).and_then(|d| d.entries()).and_then(|e| e.get(name)) {
                *bound.entry(*ino).or_default() += 1;
            }
        }
        for file in &j.files {
            match self.inodes.get(file) {
                Some(inode) if inode.nlink > 0 && bound.get(file) != Some(&inode.nlink) => return None,
                _ => {}
            }
        }
        let mut paths: HashMap<Ino, Option<String>> = HashMap::new();
        let mut changed: BTreeMap<String, Option<Ino>> = BTreeMap::new();
        for (dir, name) in &j.names {
            if let Some(prefix) = self.path_of(*dir, &mut paths).ok()? {
                let child = self.inodes.get(dir).and_then(|d| d.entries()).and_then(|e| e.get(name));
                let path = join(&prefix, name);
                PathTooLong::check(&path).ok()?;
                changed.insert(path, child.copied());
            }
        }
        let mut out = Changed::default();
        let mut walked: HashSet<&str> = HashSet::new();
        for (path, child) in &changed {
            if ancestors(path).any(|a| walked.contains(a)) {
                continue; // listed with a changed directory above it
            }
            walked.insert(path);
            out.dropped.push(path.clone());
            let Some(ino) = child else { continue };
            let Some(entry) = self.entry_of(*ino) else { continue };
            let dir = matches!(entry, Entry::Dir(_));
            out.entries.push((path.clone(), entry));
            if dir {
                self.list_under(path.clone(), *ino, &mut out.entries).ok()?;
            }
        }
        Some(out)
    }

    /// The path of directory `dir` beneath the root (`""` for the root), `None` if it is no
    /// longer reachable (it or a directory above it was removed).
    fn path_of(
        &self,
        dir: Ino,
        memo: &mut HashMap<Ino, Option<String>>,
    ) -> Result<Option<String>, PathTooLong> {
        let mut chain = Vec::new();
        let mut cur = dir;
        let mut known = loop {
            if let Some(p) = memo.get(&cur) {
                break p.clone();
            }
            let Some(inode) = self.inodes.get(&cur) else { return Ok(None) };
            let Node::Dir { parent, name, .. } = &inode.node else { return Ok(None) };
            if cur == Self::ROOT {
                break Some(String::new());
            }
            if inode.nlink == 0 {
                break None;
            }
            chain.push((cur, name.as_str()));
            cur = *parent;
        };
        for (ino, name) in chain.into_iter().rev() {
            known = known.map(|p| join(&p, name));
            if let Some(p) = &known {
                PathTooLong::check(p)?;
            }
            memo.insert(ino, known.clone());
        }
        Ok(known)
    }

    /// `ino` as a listing's entry.
    pub(crate) fn entry_of(&self, ino: Ino) -> Option<Entry> {
        Some(match &self.inodes.get(&ino)?.node {
            Node::File(c) => Entry::File(ino, c.clone()),
            Node::Dir { .. } => Entry::Dir(ino),
            Node::Symlink(t) => Entry::Symlink(ino, t.clone()),
        })
    }
}

/// `name` in the directory at `prefix`.
fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() { name.to_owned() } else { format!("{prefix}/{name}") }
}

/// The proper ancestors of `path`, nearest first.
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.char_indices().rev().filter(|(_, c)| *c == '/').map(move |(i, _)| &path[..i])
}
