//! How a checkpoint's state is stored: whole (a snapshot), or as an RFC 6902 patch on an
//! earlier checkpoint of the same execution. A node's checkpoints then cost the size of its
//! change, not of the whole state, however large the state grows.
//!
//! When to store whole is decided here, by [`Checkpoint::link_to`]: the patches since the last
//! snapshot may together be at most as large as that snapshot, and a chain is at most
//! [`STATE_CHAIN_MAX`] patches long. The first rule keeps the bytes stored per node
//! proportional to its change (a state of `S` bytes growing by `d` per node is stored whole
//! every `S / d` nodes: `2d` per node on average); both bound what reading any checkpoint's
//! state costs (one snapshot plus patches no larger than it, at most that many rows).

use super::{Checkpoint, CheckpointId};
use serde_json::Value;

/// The most patches between a checkpoint and the snapshot its state is rebuilt from.
pub const STATE_CHAIN_MAX: u32 = 256;

/// A stored state's place in its chain: what deciding the next link needs to know.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StateChain {
    /// Patches since the snapshot, this one included (0: stored whole).
    pub len: u32,
    /// Bytes of those patches.
    pub bytes: u64,
    /// Bytes of the snapshot they apply to.
    pub base_bytes: u64,
}

/// A checkpoint's state as the store writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoredState {
    /// The whole state, as JSON text.
    Whole(String),
    /// An RFC 6902 patch (JSON text) turning the state of the checkpoint `parent_seq` of the
    /// same execution into this one's.
    Patch {
        /// The `seq` of the checkpoint the patch applies to.
        parent_seq: u32,
        /// The patch.
        patch: String,
    },
}

impl StoredState {
    /// The stored text (whole state or patch).
    pub fn text(&self) -> &str {
        match self {
            Self::Whole(t) | Self::Patch { patch: t, .. } => t,
        }
    }

    /// The checkpoint it is a patch on, if any.
    pub fn parent_seq(&self) -> Option<u32> {
        match self {
            Self::Whole(_) => None,
            Self::Patch { parent_seq, .. } => Some(*parent_seq),
        }
    }
}

/// How one checkpoint's state is stored. It names the checkpoint it was made for, so a copy
/// carried into another checkpoint (`..entry.clone()`) is never mistaken for that one's: such
/// a checkpoint is stored whole. Not part of a checkpoint's identity: two checkpoints with the
/// same fields are equal however their states are stored.
#[derive(Clone, Debug, Default)]
pub struct StateLink {
    of: Option<CheckpointId>,
    chain: StateChain,
    stored: Option<StoredState>,
}

impl PartialEq for StateLink {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl StateLink {
    /// The link of a checkpoint read back from the store: its chain, without the stored text
    /// (that is only needed to write it).
    pub fn loaded(of: CheckpointId, chain: StateChain) -> Self {
        Self { of: Some(of), chain, stored: None }
    }
}

impl Checkpoint {
    /// Decides how this checkpoint's state is stored: as a patch on `parent` (the checkpoint
    /// it follows, in the same execution, written before it or in the same transaction) when
    /// the rules of this module allow, otherwise whole.
    pub fn link_to(&mut self, parent: Option<&Checkpoint>) {
        self.link(parent, |p, this| match std::sync::Arc::ptr_eq(&p.state, &this.state) {
            // An entry usually shares its state with the exit before it: nothing to compare.
            true => Ok("[]".to_owned()),
            false => serde_json::to_string(&super::state_patch(&p.state, &this.state)),
        });
    }

    /// [`Self::link_to`] with the patch from `parent`'s state to this one's already known (an
    /// exit's, from its node's update), so the states are not compared.
    pub fn link_with_patch(&mut self, parent: Option<&Checkpoint>, patch: &json_patch::Patch) {
        self.link(parent, |_, _| serde_json::to_string(patch));
    }

    fn link(
        &mut self,
        parent: Option<&Checkpoint>,
        patch: impl FnOnce(&Checkpoint, &Checkpoint) -> serde_json::Result<String>,
    ) {
        let chain = parent.and_then(|p| {
            let chain = p.chain()?;
            (p.execution == self.execution && p.seq < self.seq && chain.len < STATE_CHAIN_MAX)
                .then_some((p, chain))
        });
        if let Some((p, chain)) = chain
            && let Ok(text) = patch(p, self)
        {
            let bytes = chain.bytes + text.len() as u64;
            if bytes <= chain.base_bytes {
                self.state_link = StateLink {
                    of: Some(self.id),
                    chain: StateChain { len: chain.len + 1, bytes, base_bytes: chain.base_bytes },
                    stored: Some(StoredState::Patch { parent_seq: p.seq, patch: text }),
                };
                return;
            }
        }
        let (stored, chain) = whole(&self.state);
        self.state_link = StateLink { of: Some(self.id), chain, stored: Some(stored) };
    }

    /// This checkpoint's place in its chain, if known (linked, or read from the store).
    pub fn chain(&self) -> Option<StateChain> {
        (self.state_link.of == Some(self.id)).then_some(self.state_link.chain)
    }

    /// What to write for this checkpoint's state, and its chain: as [`Self::link_to`]
    /// decided, or whole when it was not linked.
    pub fn stored_state(&self) -> (std::borrow::Cow<'_, StoredState>, StateChain) {
        match (&self.state_link.stored, self.chain()) {
            (Some(stored), Some(chain)) => (std::borrow::Cow::Borrowed(stored), chain),
            _ => {
                let (stored, chain) = whole(&self.state);
                (std::borrow::Cow::Owned(stored), chain)
            }
        }
    }
}

/// `state` stored whole: the start of a chain.
fn whole(state: &Value) -> (StoredState, StateChain) {
    let text = state.to_string();
    let chain = StateChain { len: 0, bytes: 0, base_bytes: text.len() as u64 };
    (StoredState::Whole(text), chain)
}

/// Applies a stored patch (JSON text) to `state`; `Err` says why it does not apply.
pub fn apply_state_patch(state: &mut Value, patch: &str) -> Result<(), String> {
    let patch: json_patch::Patch =
        serde_json::from_str(patch).map_err(|e| format!("not a JSON patch: {e}"))?;
    json_patch::patch(state, &patch).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CheckpointKind, ExecutionId, FileCommitId, Timestamp};
    use serde_json::json;
    use std::collections::HashMap;

    fn cp(execution: ExecutionId, seq: u32, state: Value) -> Checkpoint {
        Checkpoint {
            id: CheckpointId::from_uuid(uuid::Uuid::from_u128(u128::from(seq) | 1 << 64)),
            execution,
            seq,
            node: format!("n{seq}"),
            kind: CheckpointKind::Entry,
            attempt: 1,
            state: state.into(),
            file_commit: FileCommitId::from_uuid(uuid::Uuid::nil()),
            lane: 0,
            forks: Vec::new(),
            parents: Vec::new(),
            created_at: Timestamp::from_micros(0),
            state_link: StateLink::default(),
        }
    }

    /// `nodes` nodes, each appending to a list: entry and exit linked as the engine links them.
    /// Returns the stored forms in order and the states they must rebuild.
    fn growing(nodes: u32) -> Vec<(StoredState, StateChain, Value)> {
        let ex = ExecutionId::from_uuid(uuid::Uuid::from_u128(7));
        let mut out = Vec::new();
        let mut prev: Option<Checkpoint> = None;
        let mut log = Vec::new();
        for seq in 1..=2 * nodes {
            if seq % 2 == 0 {
                log.push(json!(format!("n{seq:03} was here")));
            }
            let mut c = cp(ex, seq, json!({ "counter": seq / 2, "log": log }));
            c.link_to(prev.as_ref());
            let (stored, chain) = c.stored_state();
            out.push((stored.into_owned(), chain, (*c.state).clone()));
            prev = Some(c);
        }
        out
    }

    /// Rebuilds every state from the stored forms alone, as the store does.
    fn rebuild(stored: &[(StoredState, StateChain, Value)]) -> HashMap<u32, Value> {
        let mut states: HashMap<u32, Value> = HashMap::new();
        for (i, (s, _, _)) in stored.iter().enumerate() {
            let seq = i as u32 + 1;
            let state = match s {
                StoredState::Whole(t) => serde_json::from_str(t).unwrap(),
                StoredState::Patch { parent_seq, patch } => {
                    let mut v = states[parent_seq].clone();
                    apply_state_patch(&mut v, patch).unwrap();
                    v
                }
            };
            states.insert(seq, state);
        }
        states
    }

    #[test]
    fn every_state_is_rebuilt_from_its_patches_and_a_growing_state_costs_its_change_per_node() {
        let mut per_node = Vec::new();
        for nodes in [50, 400] {
            let stored = growing(nodes);
            let states = rebuild(&stored);
            for (i, (_, chain, want)) in stored.iter().enumerate() {
                assert_eq!(&states[&(i as u32 + 1)], want, "state {} rebuilt", i + 1);
                assert!(chain.len <= STATE_CHAIN_MAX && chain.bytes <= chain.base_bytes);
            }
            assert!(stored.iter().any(|(s, ..)| s.parent_seq().is_some()), "some are patches");
            let bytes: usize = stored.iter().map(|(s, ..)| s.text().len()).sum();
            per_node.push(bytes as f64 / f64::from(nodes));
        }
        // Whole states would cost ~17 bytes × nodes / 2 per checkpoint: 8× more at 400.
        assert!(per_node[1] < per_node[0] * 1.5, "bytes per node {per_node:?}");
    }

    #[test]
    fn a_link_carried_into_another_checkpoint_or_across_executions_is_not_used() {
        let ex = ExecutionId::from_uuid(uuid::Uuid::from_u128(7));
        let long = "x".repeat(100);
        let mut a = cp(ex, 1, json!({ "a": long }));
        a.link_to(None);
        let mut b = cp(ex, 2, json!({ "a": long, "b": 2 }));
        b.link_to(Some(&a));
        assert!(matches!(&*b.stored_state().0, StoredState::Patch { parent_seq: 1, .. }));
        // A copy made with `..b.clone()` and another id: stored whole, its chain unknown.
        let copy = Checkpoint { id: CheckpointId::from_uuid(uuid::Uuid::from_u128(99)), seq: 3, ..b.clone() };
        assert_eq!(copy.chain(), None);
        assert_eq!(&*copy.stored_state().0, &StoredState::Whole(copy.state.to_string()));
        // A parent in another execution, or later in the history, is not patched against.
        let mut other = cp(ExecutionId::from_uuid(uuid::Uuid::from_u128(8)), 4, json!({ "a": long }));
        other.link_to(None);
        let mut c = cp(ex, 5, json!({ "a": long }));
        c.link_to(Some(&other));
        assert_eq!(c.stored_state().0.parent_seq(), None);
        let mut d = cp(ex, 1, json!({ "a": long }));
        d.link_to(Some(&b));
        assert_eq!(d.stored_state().0.parent_seq(), None);
    }

    #[test]
    fn a_damaged_patch_is_an_error_not_a_state() {
        let mut v = json!({ "a": 1 });
        assert!(apply_state_patch(&mut v, "{").is_err());
        assert!(apply_state_patch(&mut v, r#"[{"op":"remove","path":"/nope"}]"#).is_err());
        apply_state_patch(&mut v, r#"[{"op":"add","path":"/b","value":2}]"#).unwrap();
        assert_eq!(v, json!({ "a": 1, "b": 2 }));
    }
}
