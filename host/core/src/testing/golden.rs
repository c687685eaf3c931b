//! A case's golden snapshot — the final state (`state.json`) and workspace (`files/`) a run
//! must reproduce — compared with a run. Pure: the engine reads the directory and the
//! contents; `wtb test --update` writes it.

use crate::history::{Content, StateDiff, TextChange, content_change};
use crate::model::{Digest, EntryKind, FileTree};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// A golden snapshot as read from its directory.
#[derive(Clone, Debug, Default)]
pub struct Golden {
    /// `state.json`.
    pub state: Value,
    /// Every regular file under `files/`, by workspace path.
    pub files: BTreeMap<String, Vec<u8>>,
}

/// Paths matching any of `globs`.
pub fn ignored(globs: &[String]) -> globset::GlobSet {
    let mut set = globset::GlobSetBuilder::new();
    for g in globs.iter().filter_map(|g| globset::Glob::new(g).ok()) {
        set.add(g);
    }
    set.build().unwrap_or_else(|_| globset::GlobSet::empty())
}

/// The workspace files whose content differs from the snapshot's (to read for a diff).
pub fn differing(golden: &Golden, files: &FileTree, ignore: &globset::GlobSet) -> Vec<String> {
    regular(files, ignore)
        .filter(|(p, d)| golden.files.get(*p).is_some_and(|g| Digest::of(g) != *d))
        .map(|(p, _)| p.to_owned())
        .collect()
}

/// Where the final `state` and workspace differ from `golden`, one line (or block) each;
/// `contents` holds the workspace side of the [`differing`] files (when small enough to read).
pub fn check_golden(
    golden: &Golden,
    state: &Value,
    files: &FileTree,
    contents: &BTreeMap<String, Vec<u8>>,
    ignore: &globset::GlobSet,
) -> Vec<String> {
    let mut out: Vec<String> = StateDiff::between(&golden.state, state)
        .lines
        .into_iter()
        .map(|l| format!("golden state: {l}"))
        .collect();
    let found: BTreeMap<&str, Digest> = regular(files, ignore).collect();
    let expected: BTreeSet<&str> =
        golden.files.keys().map(String::as_str).filter(|p| !ignore.is_match(p)).collect();
    for path in expected.iter().copied().chain(found.keys().copied().filter(|p| !expected.contains(p))) {
        match (golden.files.get(path), found.get(path)) {
            (Some(_), None) => out.push(format!("golden file {path}: missing from the workspace")),
            (None, Some(_)) => out.push(format!("golden file {path}: not in the snapshot")),
            (Some(g), Some(d)) if Digest::of(g) != *d => {
                let now = contents.get(path).map_or(Content::TooLarge(0), |b| Content::Bytes(b));
                let diff = match content_change(path, Content::Bytes(g), now) {
                    TextChange::Text { unified } => unified,
                    TextChange::Binary { before, .. } => {
                        format!("binary or large: {before} bytes in the snapshot\n")
                    }
                };
                out.push(format!("golden file {path}: content differs (snapshot → found):\n{diff}"));
            }
            _ => {}
        }
    }
    out
}

fn regular<'a>(files: &'a FileTree, ignore: &'a globset::GlobSet) -> impl Iterator<Item = (&'a str, Digest)> {
    files
        .iter()
        .filter(move |(p, e)| e.kind == EntryKind::File && !ignore.is_match(p.as_str()))
        .filter_map(|(p, e)| Some((p.as_str(), e.digest?)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FileEntry;
    use serde_json::json;

    fn tree(files: &[(&str, &[u8])]) -> FileTree {
        files
            .iter()
            .map(|(p, b)| {
                let e = FileEntry {
                    kind: EntryKind::File,
                    digest: Some(Digest::of(b)),
                    size: b.len() as u64,
                    mode: 0o644,
                };
                ((*p).to_owned(), e)
            })
            .collect()
    }

    #[test]
    fn the_snapshot_matches_or_each_difference_is_named() {
        let golden = Golden {
            state: json!({ "n": 1 }),
            files: [("a.txt".to_owned(), b"one\n".to_vec()), ("gone.txt".to_owned(), b"x".to_vec())].into(),
        };
        let none = ignored(&["logs/**".to_owned(), "gone.txt".to_owned()]);
        let same = tree(&[("a.txt", b"one\n"), ("logs/today.txt", b"noise")]);
        assert!(check_golden(&golden, &json!({ "n": 1 }), &same, &BTreeMap::new(), &none).is_empty());

        let changed = tree(&[("a.txt", b"two\n"), ("new.txt", b"n")]);
        assert_eq!(differing(&golden, &changed, &ignored(&[])), ["a.txt"]);
        let contents: BTreeMap<String, Vec<u8>> = [("a.txt".to_owned(), b"two\n".to_vec())].into();
        let lines = check_golden(&golden, &json!({ "n": 2 }), &changed, &contents, &ignored(&[]));
        assert_eq!(lines[0], "golden state: ~ /n: 1 → 2");
        assert!(
            lines[1].starts_with("golden file a.txt: content differs") && lines[1].contains("+two"),
            "{lines:?}"
        );
        assert_eq!(lines[2], "golden file gone.txt: missing from the workspace");
        assert_eq!(lines[3], "golden file new.txt: not in the snapshot");
        assert_eq!(lines.len(), 4);
    }
}
