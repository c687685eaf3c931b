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

/// Two joined branches that changed one path differently.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("branches `{first}` and `{second}` both changed `{path}`, differently")]
pub struct FileConflict {
    /// The path.
    pub path: String,
    /// The first branch (in input order) that changed it.
    pub first: String,
    /// The other.
    pub second: String,
}

/// Three-way merge of branch trees that forked from `base`: every branch's changes apply;
/// two branches may change one path only to the same result. `branches` are (node that ended
/// the branch, its tree).
pub fn merge_trees(base: &FileTree, branches: &[(&str, &FileTree)]) -> Result<FileTree, FileConflict> {
    let mut decided: std::collections::BTreeMap<String, (&str, Option<crate::model::FileEntry>)> = Default::default();
    for (node, tree) in branches {
        for c in diff_trees(base, tree) {
            match decided.get(&c.path) {
                Some((first, entry)) if *entry != c.entry => {
                    return Err(FileConflict { path: c.path, first: (*first).to_owned(), second: (*node).to_owned() });
                }
                Some(_) => {}
                None => {
                    decided.insert(c.path.clone(), (node, c.entry));
                }
            }
        }
    }
    let mut merged = base.clone();
    for (path, (_, entry)) in decided {
        match entry {
            Some(e) => merged.insert(path, e),
            None => merged.remove(&path),
        };
    }
    Ok(merged)
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

    #[test]
    fn merges_disjoint_branch_changes_and_names_conflicts() {
        let base: FileTree = [("keep".into(), file(b"k")), ("gone".into(), file(b"g")), ("both".into(), file(b"0"))].into();
        let a: FileTree = [("keep".into(), file(b"k")), ("both".into(), file(b"1")), ("a".into(), file(b"a"))].into();
        let b: FileTree = [("keep".into(), file(b"k")), ("gone".into(), file(b"g")), ("both".into(), file(b"1")), ("b".into(), file(b"b"))].into();
        let merged = merge_trees(&base, &[("left", &a), ("right", &b)]).unwrap();
        let paths: Vec<&str> = merged.keys().map(String::as_str).collect();
        assert_eq!(paths, ["a", "b", "both", "keep"]);
        let c: FileTree = [("keep".into(), file(b"changed")), ("gone".into(), file(b"g")), ("both".into(), file(b"0"))].into();
        let d: FileTree = [("gone".into(), file(b"g")), ("both".into(), file(b"0"))].into();
        let e = merge_trees(&base, &[("left", &c), ("right", &d)]).unwrap_err();
        assert_eq!(e.to_string(), "branches `left` and `right` both changed `keep`, differently");
    }
}
