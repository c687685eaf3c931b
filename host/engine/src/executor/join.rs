//! Joins: a join fires when a branch waits on every input edge; their states merge through
//! the reducers and their files three-way against the fork they share.

use super::ExecError;
use super::boundary::Entry;
use super::commit::ExitTx;
use super::drive::{Branch, Drive};
use ::wtb_failpoint as failpoint;
use serde_json::{Map, Value};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use wtb_core::model::{CheckpointId, FileCommit, FileCommitId, FileTree, diff_trees, merge_trees};
use wtb_core::workflow::merge_branches;

fn common_prefix<'a>(mut lists: impl Iterator<Item = &'a [CheckpointId]>) -> Vec<CheckpointId> {
    let Some(first) = lists.next() else { return Vec::new() };
    let mut len = first.len();
    for l in lists {
        len = len.min(first.iter().zip(l).take_while(|(a, b)| a == b).count());
    }
    first[..len].to_vec()
}

impl Drive<'_> {
    /// Fires join `j` if every input edge has a branch waiting: merges their states through
    /// the reducers and their files three-way against the fork they share.
    pub(super) async fn try_join(
        &mut self,
        tx: &mut ExitTx,
        j: usize,
    ) -> Result<Result<(), String>, ExecError> {
        let inputs = self.wf.manifest.graph.inputs(j).to_vec();
        if !inputs.iter().all(|e| self.waiting.get(e).is_some_and(|q| !q.is_empty())) {
            return Ok(Ok(()));
        }
        failpoint::hit("join");
        let branches: Vec<Branch> =
            inputs.iter().filter_map(|e| self.waiting.get_mut(e).and_then(VecDeque::pop_front)).collect();
        tx.consumed.extend(branches.iter().map(|b| b.arrival.clone()));
        let name = self.wf.manifest.graph.name(j).to_owned();
        let shared = common_prefix(branches.iter().map(|b| b.arrival.forks.as_slice()));
        let Some((&base_id, outer)) = shared.split_last() else {
            return Ok(Err(format!("join `{name}`: its inputs share no fork point to merge against")));
        };
        let (base_state, base_tree) = self.fork_base(base_id).await?;
        let states: Vec<(&str, &Map<String, Value>)> =
            branches.iter().map(|b| (b.node.as_str(), &b.state)).collect();
        let state = match merge_branches(&base_state, &states, &self.wf.manifest.reducers) {
            Ok(s) => s,
            Err(e) => return Ok(Err(format!("join `{name}`: {e}"))),
        };
        let trees: Vec<(&str, &FileTree)> =
            branches.iter().map(|b| (b.node.as_str(), b.tree.as_ref())).collect();
        let tree = match merge_trees(&base_tree, &trees) {
            Ok(t) => t,
            Err(e) => return Ok(Err(format!("join `{name}`: {e}"))),
        };
        let first = &branches[0];
        let (file_commit, depth, tree) = if tree == *first.tree {
            (first.file_commit, first.depth, first.tree.clone())
        } else {
            let commit = FileCommit {
                id: FileCommitId::from_uuid(self.ex.ids.next()),
                tenant: self.ex.tenant,
                parent: Some(first.file_commit),
                changes: diff_trees(&first.tree, &tree),
                tree: Arc::new(tree),
                depth: first.depth + 1,
                created_at: self.ex.clock.now(),
            };
            let out = (commit.id, commit.depth, commit.tree.clone());
            tx.commits.push(commit);
            out
        };
        let lane = if self.lane_is_free(first.lane) { first.lane } else { self.free_lane(&[]) };
        let parents = branches.iter().map(|b| b.arrival.checkpoint).collect();
        let entry = Entry {
            node: j,
            state: Arc::new(Value::Object(state)),
            file_commit,
            tree,
            depth,
            lane,
            forks: outer.to_vec(),
            parents,
            attempt: 1,
            delay: Duration::ZERO,
        };
        // Merged from several exits: stored whole.
        Ok(self.open(tx, entry, None))
    }

    async fn fork_base(
        &mut self,
        id: CheckpointId,
    ) -> Result<(Map<String, Value>, Arc<FileTree>), ExecError> {
        if let Some(base) = self.fork_bases.get(&id) {
            return Ok(base.clone());
        }
        let (cp, commit) = self.ex.stored_checkpoint(id, "fork checkpoint").await?;
        let base = (cp.state.as_object().cloned().unwrap_or_default(), commit.tree);
        self.fork_bases.insert(id, base.clone());
        Ok(base)
    }
}
