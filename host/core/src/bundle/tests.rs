use super::*;
use crate::model::{ChangeKind, EntryKind, FileCommit, FileEntry, TenantId};
use std::sync::Arc;

fn entry(size: u64) -> FileEntry {
    FileEntry { kind: EntryKind::File, digest: Some(Digest::of(&size.to_le_bytes())), size, mode: 0o644 }
}

fn commit(
    id: u128,
    parent: Option<u128>,
    depth: u32,
    tree: &[(&str, u64)],
    changes: &[(&str, u64)],
) -> FileCommit {
    FileCommit {
        id: FileCommitId::from_uuid(uuid::Uuid::from_u128(id)),
        tenant: TenantId::from_uuid(uuid::Uuid::from_u128(9)),
        parent: parent.map(|p| FileCommitId::from_uuid(uuid::Uuid::from_u128(p))),
        tree: Arc::new(tree.iter().map(|(p, s)| (p.to_string(), entry(*s))).collect()),
        changes: changes
            .iter()
            .map(|(p, s)| FileChange {
                path: p.to_string(),
                change: ChangeKind::Added,
                entry: Some(entry(*s)),
            })
            .collect(),
        depth,
        created_at: Timestamp::from_micros(i64::from(depth)),
    }
}

#[test]
fn commits_carry_a_tree_only_when_their_changes_do_not_rebuild_it() {
    let root = commit(1, None, 0, &[], &[]);
    let a = commit(2, Some(1), 1, &[("a", 1)], &[("a", 1)]);
    // Its changes say `b` only, its tree also has `c`: the tree must travel.
    let odd = commit(3, Some(2), 2, &[("a", 1), ("b", 2), ("c", 3)], &[("b", 2)]);
    // Its parent is not in the set: the tree must travel, and the parent is dropped.
    let orphan = commit(4, Some(77), 5, &[("z", 4)], &[("z", 4)]);
    let out = BundledCommit::from_commits(&[odd.clone(), a.clone(), root.clone(), orphan.clone(), a.clone()]);
    let ids: Vec<FileCommitId> = out.iter().map(|c| c.id).collect();
    assert_eq!(ids, [root.id, a.id, odd.id, orphan.id], "parents first, duplicates once");
    assert!(out[0].tree.is_none() && out[1].tree.is_none());
    assert_eq!(out[2].tree.as_ref(), Some(&*odd.tree));
    assert_eq!((out[3].parent, out[3].tree.as_ref()), (None, Some(&*orphan.tree)));
}

#[test]
fn a_newer_format_is_refused_with_what_to_do() {
    let header = Header {
        format: FORMAT + 1,
        wtb_version: "9.9.9".into(),
        created_at: Timestamp::from_micros(0),
        execution: ExecutionId::from_uuid(uuid::Uuid::from_u128(1)),
        point: None,
        history_digest: Digest::of(b""),
        blobs: BTreeMap::new(),
    };
    let e = header.check().unwrap_err().to_string();
    assert_eq!(e, "bundle format 2 is not one this wtb reads (1 to 1): import it with a newer wtb");
    assert!(Header { format: FORMAT, ..header }.check().is_ok());
}
