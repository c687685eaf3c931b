//! What a bundle must be before anything of it is imported: its own format, one execution,
//! every reference resolvable inside it, every tree rebuildable and valid, every digest it
//! names among its blobs. A bundle may come from anyone; each refusal names the bad entry.

use super::{BundledCommit, FORMAT, Header, History};
use crate::model::{
    CheckpointId, Digest, EntryKind, EventKind, ExecutionStatus, FileCommit, FileCommitId, FileTree,
    apply_changes, check_tree,
};
use crate::workflow::Definition;
use std::collections::{BTreeSet, HashMap};

/// Why a bundle cannot be imported.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BundleProblem(pub String);

impl BundleProblem {
    /// A problem saying `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl Header {
    /// Refuses a header of a format this host does not read.
    pub fn check(&self) -> Result<(), BundleProblem> {
        if self.format > FORMAT || self.format == 0 {
            return Err(BundleProblem::new(format!(
                "bundle format {} is not one this wtb reads (1 to {FORMAT}): import it with a newer wtb",
                self.format
            )));
        }
        Ok(())
    }
}

impl BundledCommit {
    /// The bundle form of `commits` (ancestors included), parents first: a commit carries its
    /// tree only when its parent is not among them or its changes do not rebuild it.
    pub fn from_commits(commits: &[FileCommit]) -> Vec<Self> {
        let mut sorted: Vec<&FileCommit> = commits.iter().collect();
        sorted.sort_by_key(|c| (c.depth, c.created_at, c.id));
        sorted.dedup_by_key(|c| c.id);
        let by_id: HashMap<FileCommitId, &FileCommit> = sorted.iter().map(|c| (c.id, *c)).collect();
        sorted
            .iter()
            .map(|c| {
                let base = match c.parent {
                    None => Some(FileTree::new()),
                    Some(p) => by_id.get(&p).map(|p| (*p.tree).clone()),
                };
                let rebuilt = base.map(|mut t| {
                    apply_changes(&mut t, &c.changes);
                    t
                });
                let tree = (rebuilt.as_ref() != Some(&*c.tree)).then(|| (*c.tree).clone());
                Self {
                    id: c.id,
                    parent: c.parent.filter(|p| by_id.contains_key(p)),
                    depth: c.depth,
                    created_at: c.created_at,
                    changes: c.changes.clone(),
                    tree,
                }
            })
            .collect()
    }
}

fn bad<T>(message: String) -> Result<T, BundleProblem> {
    Err(BundleProblem::new(message))
}

impl History {
    /// Checks the history against its header and itself; returns each commit's whole tree,
    /// in commit order.
    pub fn check(&self, header: &Header) -> Result<Vec<FileTree>, BundleProblem> {
        let exec = self.execution.id;
        if exec != header.execution {
            return bad(format!("the history is of execution {exec}, the header names {}", header.execution));
        }
        if !(self.execution.status.is_final() || self.execution.status == ExecutionStatus::Paused) {
            return bad(format!(
                "execution {exec} is {}: a bundle holds a paused or finished execution",
                self.execution.status.as_str()
            ));
        }
        let wf = &self.workflow;
        if Digest::of(wf.definition.to_string().as_bytes()) != wf.digest {
            return bad(format!(
                "workflow `{}`: its definition does not match its digest {}",
                wf.name, wf.digest
            ));
        }
        let def: Definition = serde_json::from_value(wf.definition.clone())
            .map_err(|e| BundleProblem::new(format!("workflow `{}`: {e}", wf.name)))?;
        def.to_manifest()
            .map_err(|p| BundleProblem::new(format!("workflow `{}`: {}", wf.name, p.message)))?;
        // Commits: unique, parents before children, every tree rebuilt and valid.
        let mut trees: Vec<FileTree> = Vec::with_capacity(self.commits.len());
        let mut index: HashMap<FileCommitId, usize> = HashMap::new();
        for c in &self.commits {
            let tree = match (&c.tree, c.parent) {
                (Some(t), _) => t.clone(),
                (None, None) => {
                    let mut t = FileTree::new();
                    apply_changes(&mut t, &c.changes);
                    t
                }
                (None, Some(p)) => {
                    let Some(&i) = index.get(&p) else {
                        return bad(format!(
                            "file commit {}: its parent {p} is not before it in the bundle",
                            c.id
                        ));
                    };
                    let mut t = trees[i].clone();
                    apply_changes(&mut t, &c.changes);
                    t
                }
            };
            if let Some(p) = c.parent
                && !index.contains_key(&p)
            {
                return bad(format!("file commit {}: its parent {p} is not before it in the bundle", c.id));
            }
            check_tree(&tree).map_err(|e| BundleProblem::new(format!("file commit {}: {e}", c.id)))?;
            if index.insert(c.id, trees.len()).is_some() {
                return bad(format!("file commit {} appears twice", c.id));
            }
            trees.push(tree);
        }
        // Checkpoints: this execution's, unique ids and seqs, references inside the bundle.
        let ids: BTreeSet<CheckpointId> = self.checkpoints.iter().map(|c| c.id).collect();
        let seqs: BTreeSet<u32> = self.checkpoints.iter().map(|c| c.seq).collect();
        if ids.len() != self.checkpoints.len() || seqs.len() != self.checkpoints.len() {
            return bad("two checkpoints share an id or a seq".into());
        }
        let known = |id: &CheckpointId, what: &str| match ids.contains(id) {
            true => Ok(()),
            false => bad(format!("{what} names checkpoint {id}, which the bundle does not hold")),
        };
        for c in &self.checkpoints {
            if c.execution != exec {
                return bad(format!("checkpoint {} is of execution {}", c.id, c.execution));
            }
            if !c.state.is_object() {
                return bad(format!("checkpoint {}: its state is not a JSON object", c.id));
            }
            if !index.contains_key(&c.file_commit) {
                return bad(format!(
                    "checkpoint {} names file commit {}, which the bundle does not hold",
                    c.id, c.file_commit
                ));
            }
            for p in c.parents.iter().chain(&c.forks) {
                known(p, &format!("checkpoint {}", c.id))?;
            }
        }
        for b in &self.boundaries {
            if b.execution != exec {
                return bad(format!("attempt {} is of execution {}", b.id, b.execution));
            }
            known(&b.entry_checkpoint, &format!("attempt {}", b.id))?;
            if let Some(x) = &b.exit_checkpoint {
                known(x, &format!("attempt {}", b.id))?;
            }
        }
        for a in &self.arrivals {
            for c in std::iter::once(&a.checkpoint).chain(&a.forks) {
                known(c, "a join arrival")?;
            }
        }
        let event_seqs: BTreeSet<u32> = self.events.iter().map(|e| e.seq).collect();
        if event_seqs.len() != self.events.len() {
            return bad("two events share a seq".into());
        }
        if let Some(e) = self.events.iter().find(|e| EventKind::parse(&e.kind).is_none()) {
            return bad(format!("event {}: unknown kind `{}`", e.seq, e.kind));
        }
        if let Some(p) = &header.point {
            known(p, "the header's point")?;
        }
        // Every digest named is a blob of the bundle, and every blob is named.
        let named: BTreeSet<Digest> = self.digests(&trees)?.into_iter().collect();
        if let Some(d) = named.iter().find(|d| !header.blobs.contains_key(d)) {
            return bad(format!("blob {d} is named by the history but not listed in the bundle"));
        }
        if let Some(d) = header.blobs.keys().find(|d| !named.contains(d)) {
            return bad(format!("blob {d} is listed but nothing in the history names it"));
        }
        for (path, e) in trees.iter().flat_map(|t| t.iter()) {
            if let (EntryKind::File, Some(d)) = (e.kind, &e.digest)
                && header.blobs.get(d) != Some(&e.size)
            {
                return bad(format!(
                    "file `{path}` is {} bytes, but its blob {d} is listed with another size",
                    e.size
                ));
            }
        }
        Ok(trees)
    }
}
