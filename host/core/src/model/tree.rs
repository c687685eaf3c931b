//! What makes a file tree a workspace: plain relative paths, each under a directory. Pure.
//!
//! Restore creates a tree's entries in path order; an entry under a symlink would be created
//! through the link, wherever it points. So a tree holding one is refused everywhere: a join
//! that would produce one is a conflict, a stored one is corrupt (`fsck`), and restore checks
//! before it touches anything (and resolves no path through a link even so).

use super::{EntryKind, FileTree};

/// Whether `path` is a plain `/`-separated relative path: no empty, `.` or `..` component,
/// no NUL. Every tree path must be one.
pub fn is_plain_path(path: &str) -> bool {
    !path.is_empty()
        && !path.contains('\0')
        && path.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
}

/// Why a file tree cannot be a workspace.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    /// A path that is empty, absolute, or has an empty, `.` or `..` component.
    #[error("`{0}` is not a plain relative path")]
    BadPath(String),
    /// An entry whose parent is missing or is not a directory.
    #[error("`{path}` sits under `{parent}`, which is {what}")]
    UnderNonDirectory {
        /// The entry.
        path: String,
        /// Its parent path.
        parent: String,
        /// What the parent is: "missing", "a file" or "a symlink".
        what: &'static str,
    },
}

/// Checks every path of `tree` (see the module doc); the first offence in path order.
pub fn check_tree(tree: &FileTree) -> Result<(), TreeError> {
    for path in tree.keys() {
        if !is_plain_path(path) {
            return Err(TreeError::BadPath(path.clone()));
        }
        let Some((parent, _)) = path.rsplit_once('/') else { continue };
        let what = match tree.get(parent).map(|e| e.kind) {
            Some(EntryKind::Dir) => continue,
            Some(EntryKind::File) => "a file",
            Some(EntryKind::Symlink) => "a symlink",
            None => "missing",
        };
        return Err(TreeError::UnderNonDirectory { path: path.clone(), parent: parent.to_owned(), what });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Digest, FileEntry};

    fn entry(kind: EntryKind) -> FileEntry {
        let digest = (kind != EntryKind::Dir).then(|| Digest::of(b"x"));
        FileEntry { kind, digest, size: 1, mode: 0o644 }
    }

    #[test]
    fn entries_must_sit_under_directories_and_paths_must_be_plain() {
        let ok: FileTree = [
            ("a".to_owned(), entry(EntryKind::Dir)),
            ("a/x".to_owned(), entry(EntryKind::File)),
            ("b".to_owned(), entry(EntryKind::Symlink)),
        ]
        .into_iter()
        .collect();
        assert_eq!(check_tree(&ok), Ok(()));
        let link: FileTree =
            [("a".to_owned(), entry(EntryKind::Symlink)), ("a/x".to_owned(), entry(EntryKind::File))]
                .into_iter()
                .collect();
        assert_eq!(check_tree(&link).unwrap_err().to_string(), "`a/x` sits under `a`, which is a symlink");
        let orphan: FileTree = [("a/x".to_owned(), entry(EntryKind::File))].into_iter().collect();
        assert_eq!(check_tree(&orphan).unwrap_err().to_string(), "`a/x` sits under `a`, which is missing");
        for bad in ["", "/etc", "a//b", "a/../b", "./a", "a/.", "a\0b"] {
            let t: FileTree = [(bad.to_owned(), entry(EntryKind::File))].into_iter().collect();
            assert_eq!(check_tree(&t), Err(TreeError::BadPath(bad.into())), "{bad:?}");
        }
    }
}
