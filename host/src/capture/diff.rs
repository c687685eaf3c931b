//! Tree comparison. Pure.

use crate::model::{ChangeKind, FileChange, FileTree};

/// The changes that turn `base` into `tree`, in path order.
pub fn diff_trees(base: &FileTree, tree: &FileTree) -> Vec<FileChange> {
    let mut changes = Vec::new();
    let mut old = base.iter().peekable();
    let mut new = tree.iter().peekable();
    loop {
        let change = match (old.peek(), new.peek()) {
            (None, None) => break,
            (Some((p, _)), None) => {
                let path = (*p).clone();
                old.next();
                FileChange { path, change: ChangeKind::Deleted, entry: None }
            }
            (None, Some((p, e))) => {
                let c = FileChange { path: (*p).clone(), change: ChangeKind::Added, entry: Some((*e).clone()) };
                new.next();
                c
            }
            (Some((po, eo)), Some((pn, en))) => match po.cmp(pn) {
                std::cmp::Ordering::Less => {
                    let path = (*po).clone();
                    old.next();
                    FileChange { path, change: ChangeKind::Deleted, entry: None }
                }
                std::cmp::Ordering::Greater => {
                    let c = FileChange { path: (*pn).clone(), change: ChangeKind::Added, entry: Some((*en).clone()) };
                    new.next();
                    c
                }
                std::cmp::Ordering::Equal => {
                    let same = eo == en;
                    let c = FileChange { path: (*pn).clone(), change: ChangeKind::Modified, entry: Some((*en).clone()) };
                    old.next();
                    new.next();
                    if same {
                        continue;
                    }
                    c
                }
            },
        };
        changes.push(change);
    }
    changes
}

/// Applies `changes` (as [`diff_trees`] produces them) to `tree`: the inverse of the diff.
pub fn apply_changes(tree: &mut FileTree, changes: &[crate::model::FileChange]) {
    for c in changes {
        match &c.entry {
            Some(entry) => {
                tree.insert(c.path.clone(), entry.clone());
            }
            None => {
                tree.remove(&c.path);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Digest, EntryKind, FileEntry};

    fn file(content: &[u8]) -> FileEntry {
        FileEntry { kind: EntryKind::File, digest: Some(Digest::of(content)), size: content.len() as u64, mode: 0o644 }
    }

    #[test]
    fn finds_added_modified_deleted_in_path_order() {
        let base: FileTree = [("a".into(), file(b"1")), ("b".into(), file(b"2")), ("c".into(), file(b"3"))].into();
        let tree: FileTree = [("b".into(), file(b"2")), ("c".into(), file(b"x")), ("d".into(), file(b"4"))].into();
        let got: Vec<_> = diff_trees(&base, &tree).into_iter().map(|c| (c.path, c.change)).collect();
        assert_eq!(got, vec![
            ("a".into(), ChangeKind::Deleted),
            ("c".into(), ChangeKind::Modified),
            ("d".into(), ChangeKind::Added),
        ]);
        assert!(diff_trees(&tree, &tree).is_empty());
        let mut rebuilt = base.clone();
        apply_changes(&mut rebuilt, &diff_trees(&base, &tree));
        assert_eq!(rebuilt, tree);
    }
}
