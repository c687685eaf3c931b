//! Tree comparison. Pure.

use crate::model::{ChangeKind, FileChange, FileTree, TreeError, check_tree};

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
                let c =
                    FileChange { path: (*p).clone(), change: ChangeKind::Added, entry: Some((*e).clone()) };
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
                    let c = FileChange {
                        path: (*pn).clone(),
                        change: ChangeKind::Added,
                        entry: Some((*en).clone()),
                    };
                    new.next();
                    c
                }
                std::cmp::Ordering::Equal => {
                    let same = eo == en;
                    let c = FileChange {
                        path: (*pn).clone(),
                        change: ChangeKind::Modified,
                        entry: Some((*en).clone()),
                    };
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

/// Why two joined branches cannot be merged. Names the path and both nodes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FileConflict {
    /// Both changed one path, to different results.
    #[error("branches `{first}` and `{second}` both changed `{path}`, differently")]
    Differently {
        /// The path.
        path: String,
        /// The first branch (in input order) that changed it.
        first: String,
        /// The other.
        second: String,
    },
    /// One put an entry under a path the other removed or made a file or symlink: restoring
    /// the merge would create the entry through whatever is there.
    #[error("branch `{child_node}` wrote `{path}` while branch `{parent_node}` left `{parent}` {what}")]
    UnderNonDirectory {
        /// The entry.
        path: String,
        /// Its parent.
        parent: String,
        /// What the parent is in the merge: "missing", "a file" or "a symlink".
        what: &'static str,
        /// The branch that changed the parent.
        parent_node: String,
        /// The branch that wrote the entry.
        child_node: String,
    },
    /// A branch's own tree was not a workspace (a corrupt store).
    #[error("the merged tree is not a workspace: {0}")]
    Invalid(TreeError),
}

/// Three-way merge of branch trees that forked from `base`: every branch's changes apply;
/// two branches may change one path only to the same result, and the result must be a
/// workspace (no entry under a non-directory). `branches` are (node that ended the branch,
/// its tree).
pub fn merge_trees(base: &FileTree, branches: &[(&str, &FileTree)]) -> Result<FileTree, FileConflict> {
    let mut decided: std::collections::BTreeMap<String, (&str, Option<crate::model::FileEntry>)> =
        Default::default();
    for (node, tree) in branches {
        for c in diff_trees(base, tree) {
            match decided.get(&c.path) {
                Some((first, entry)) if *entry != c.entry => {
                    return Err(FileConflict::Differently {
                        path: c.path,
                        first: (*first).to_owned(),
                        second: (*node).to_owned(),
                    });
                }
                Some(_) => {}
                None => {
                    decided.insert(c.path.clone(), (node, c.entry));
                }
            }
        }
    }
    let mut merged = base.clone();
    for (path, (_, entry)) in &decided {
        match entry {
            Some(e) => merged.insert(path.clone(), e.clone()),
            None => merged.remove(path),
        };
    }
    match check_tree(&merged) {
        Ok(()) => Ok(merged),
        Err(TreeError::UnderNonDirectory { path, parent, what }) => {
            let by = |p: &str| decided.get(p).map_or("(the fork point)", |(node, _)| *node).to_owned();
            Err(FileConflict::UnderNonDirectory {
                parent_node: by(&parent),
                child_node: by(&path),
                path,
                parent,
                what,
            })
        }
        Err(e) => Err(FileConflict::Invalid(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Digest, EntryKind, FileEntry};

    fn file(content: &[u8]) -> FileEntry {
        FileEntry {
            kind: EntryKind::File,
            digest: Some(Digest::of(content)),
            size: content.len() as u64,
            mode: 0o644,
        }
    }

    #[test]
    fn finds_added_modified_deleted_in_path_order() {
        let base: FileTree =
            [("a".to_owned(), file(b"1")), ("b".to_owned(), file(b"2")), ("c".to_owned(), file(b"3"))]
                .into_iter()
                .collect();
        let tree: FileTree =
            [("b".to_owned(), file(b"2")), ("c".to_owned(), file(b"x")), ("d".to_owned(), file(b"4"))]
                .into_iter()
                .collect();
        let got: Vec<_> = diff_trees(&base, &tree).into_iter().map(|c| (c.path, c.change)).collect();
        assert_eq!(
            got,
            vec![
                ("a".to_owned(), ChangeKind::Deleted),
                ("c".to_owned(), ChangeKind::Modified),
                ("d".to_owned(), ChangeKind::Added),
            ]
        );
        assert!(diff_trees(&tree, &tree).is_empty());
        let mut rebuilt = base.clone();
        apply_changes(&mut rebuilt, &diff_trees(&base, &tree));
        assert_eq!(rebuilt, tree);
    }

    #[test]
    fn merges_disjoint_branch_changes_and_names_conflicts() {
        let base: FileTree = [
            ("keep".to_owned(), file(b"k")),
            ("gone".to_owned(), file(b"g")),
            ("both".to_owned(), file(b"0")),
        ]
        .into_iter()
        .collect();
        let a: FileTree =
            [("keep".to_owned(), file(b"k")), ("both".to_owned(), file(b"1")), ("a".to_owned(), file(b"a"))]
                .into_iter()
                .collect();
        let b: FileTree = [
            ("keep".to_owned(), file(b"k")),
            ("gone".to_owned(), file(b"g")),
            ("both".to_owned(), file(b"1")),
            ("b".to_owned(), file(b"b")),
        ]
        .into_iter()
        .collect();
        let merged = merge_trees(&base, &[("left", &a), ("right", &b)]).unwrap();
        let paths: Vec<&str> = merged.keys().map(String::as_str).collect();
        assert_eq!(paths, ["a", "b", "both", "keep"]);
        let c: FileTree = [
            ("keep".to_owned(), file(b"changed")),
            ("gone".to_owned(), file(b"g")),
            ("both".to_owned(), file(b"0")),
        ]
        .into_iter()
        .collect();
        let d: FileTree =
            [("gone".to_owned(), file(b"g")), ("both".to_owned(), file(b"0"))].into_iter().collect();
        let e = merge_trees(&base, &[("left", &c), ("right", &d)]).unwrap_err();
        assert_eq!(e.to_string(), "branches `left` and `right` both changed `keep`, differently");
    }

    #[test]
    fn a_merge_that_would_put_an_entry_under_a_link_or_a_removed_directory_is_a_conflict() {
        let dir = FileEntry { kind: EntryKind::Dir, digest: None, size: 0, mode: 0o755 };
        let link =
            FileEntry { kind: EntryKind::Symlink, digest: Some(Digest::of(b"../..")), size: 5, mode: 0o777 };
        let base: FileTree = [("a".to_owned(), dir.clone())].into_iter().collect();
        let linked: FileTree = [("a".to_owned(), link)].into_iter().collect();
        let removed = FileTree::new();
        let wrote: FileTree = [("a".to_owned(), dir), ("a/x".to_owned(), file(b"x"))].into_iter().collect();
        let e = merge_trees(&base, &[("left", &linked), ("right", &wrote)]).unwrap_err();
        assert_eq!(e.to_string(), "branch `right` wrote `a/x` while branch `left` left `a` a symlink");
        let e = merge_trees(&base, &[("right", &wrote), ("left", &removed)]).unwrap_err();
        assert_eq!(e.to_string(), "branch `right` wrote `a/x` while branch `left` left `a` missing");
    }
}
