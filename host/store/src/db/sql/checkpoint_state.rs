//! Whole states for checkpoints read back: a row stores its state whole or as a patch on an
//! earlier checkpoint of its execution ([`wtb_core::model::StoredState`]). Rows whose chain
//! is not among those read are completed with one recursive statement that walks the chains
//! to their snapshots (at most [`STATE_CHAIN_MAX`] rows each), then every state is rebuilt in
//! memory, each step reusing the states already rebuilt.

use super::checkpoint::Row;
use super::decode::from_json;
use super::{Conn, DbError, query};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;
use wtb_core::model::{STATE_CHAIN_MAX, apply_state_patch};

/// A row's place: its execution and `seq`.
type Key = (Uuid, i64);

/// A stored state: whole (JSON text) or a patch on the checkpoint `seq` of the same execution.
enum Link {
    Whole(String),
    Patch(i64, String),
}

impl Link {
    /// A row's `state` and `state_parent_seq`.
    fn new(text: String, parent_seq: Option<i64>) -> Self {
        match parent_seq {
            None => Self::Whole(text),
            Some(p) => Self::Patch(p, text),
        }
    }
}

/// Most start rows one chain statement names.
const STARTS_PER_READ: usize = 256;

/// The rows' whole states, in the rows' order.
pub(super) async fn states_of(db: &mut Conn<'_>, rows: &mut [Row]) -> Result<Vec<Arc<Value>>, DbError> {
    let mut links: HashMap<Key, Link> = HashMap::with_capacity(rows.len());
    for r in rows.iter_mut() {
        links.insert((r.execution_id, r.seq), Link::new(std::mem::take(&mut r.state), r.state_parent_seq));
    }
    let starts: Vec<Uuid> =
        rows.iter().filter(|r| !complete(&links, (r.execution_id, r.seq))).map(|r| r.id).collect();
    for part in starts.chunks(STARTS_PER_READ) {
        for l in chains(db, part).await? {
            links.entry((l.execution_id, l.seq)).or_insert_with(|| Link::new(l.state, l.state_parent_seq));
        }
    }
    let mut done: HashMap<Key, Arc<Value>> = HashMap::with_capacity(rows.len());
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by_key(|&i| (rows[i].execution_id, rows[i].seq));
    let mut out: Vec<Option<Arc<Value>>> = (0..rows.len()).map(|_| None).collect();
    for i in order {
        let key = (rows[i].execution_id, rows[i].seq);
        let state = rebuild(&links, &done, key)?;
        done.insert(key, state.clone());
        out[i] = Some(state);
    }
    Ok(out.into_iter().flatten().collect())
}

/// Whether the chain of `key` reaches a snapshot through rows already at hand.
fn complete(links: &HashMap<Key, Link>, mut key: Key) -> bool {
    for _ in 0..=STATE_CHAIN_MAX {
        match links.get(&key) {
            None => return false,
            Some(Link::Whole(_)) => return true,
            Some(Link::Patch(p, _)) => key.1 = *p,
        }
    }
    false
}

/// The state of `key`: from the nearest state already rebuilt or snapshot up its chain, with
/// the patches below it applied oldest first. Empty patches (an entry after its exit) change
/// nothing, so a state they all lead to is shared, not copied.
fn rebuild(
    links: &HashMap<Key, Link>,
    done: &HashMap<Key, Arc<Value>>,
    key: Key,
) -> Result<Arc<Value>, DbError> {
    let corrupt = |detail: String| DbError::Corrupt { what: "checkpoints.state", detail };
    let mut patches = Vec::new();
    let mut at = key;
    let mut steps = 0;
    let base = loop {
        if let Some(v) = done.get(&at) {
            break v.clone();
        }
        match links.get(&at) {
            Some(Link::Whole(text)) => break Arc::new(from_json("state", text)?),
            Some(Link::Patch(p, text)) if *p < at.1 && steps <= STATE_CHAIN_MAX => {
                if text != "[]" {
                    patches.push((at.1, text));
                }
                steps += 1;
                at.1 = *p;
            }
            Some(Link::Patch(..)) => {
                return Err(corrupt(format!(
                    "the state of checkpoint {} of execution {} has no snapshot within {STATE_CHAIN_MAX} patches",
                    key.1, key.0
                )));
            }
            None => {
                return Err(corrupt(format!(
                    "the state of checkpoint {} of execution {} is a patch on the missing checkpoint {}",
                    key.1, key.0, at.1
                )));
            }
        }
    };
    if patches.is_empty() {
        return Ok(base);
    }
    let mut state = Value::clone(&base);
    for (seq, patch) in patches.into_iter().rev() {
        apply_state_patch(&mut state, patch)
            .map_err(|e| corrupt(format!("checkpoint {seq} of execution {}: {e}", key.0)))?;
    }
    Ok(Arc::new(state))
}

/// A stored state on the way to a snapshot.
#[derive(sqlx_macros::FromRow)]
struct LinkRow {
    execution_id: Uuid,
    seq: i64,
    state: String,
    state_parent_seq: Option<i64>,
}

/// Every row up the state chains of the checkpoints `ids`, to their snapshots, in one
/// statement. The ids come from rows already read under their tenant, and a chain never
/// leaves its execution.
async fn chains(db: &mut Conn<'_>, ids: &[Uuid]) -> Result<Vec<LinkRow>, DbError> {
    let marks = vec!["?"; ids.len()].join(", ");
    let sql = format!(
        "WITH RECURSIVE chain (execution_id, seq) AS (
             SELECT execution_id, state_parent_seq FROM checkpoints
              WHERE id IN ({marks}) AND state_parent_seq IS NOT NULL
           UNION
             SELECT c.execution_id, c.state_parent_seq FROM checkpoints c
               JOIN chain h ON c.execution_id = h.execution_id AND c.seq = h.seq
              WHERE c.state_parent_seq IS NOT NULL AND c.state_parent_seq < c.seq
         )
         SELECT c.execution_id, c.seq, c.state, c.state_parent_seq FROM checkpoints c
           JOIN chain h ON c.execution_id = h.execution_id AND c.seq = h.seq"
    );
    let q = ids.iter().fold(query(sql), |q, id| q.bind(*id));
    q.fetch_all::<LinkRow>(db).await
}
