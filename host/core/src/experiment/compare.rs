//! Comparing runs: where two runs of one cell first diverge, and which cells end alike. Pure.

use crate::model::{Digest, FileTree};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// One exit checkpoint, as compared.
#[derive(Clone, Copy, Debug)]
pub struct Exit<'a> {
    /// The node.
    pub node: &'a str,
    /// The state after it.
    pub state: &'a Value,
    /// The files after it.
    pub files: &'a FileTree,
}

/// Where two runs first differ.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Divergence {
    /// The first node (in the first run's order) whose exit checkpoint differs.
    pub node: String,
    /// What differs first: `state key \`k\``, `file \`p\``, or that only one run got there.
    pub what: String,
}

/// Keys each exit by node and occurrence (the 2nd exit of `n` is `(n, 2)`), in the run's order:
/// runs of parallel branches may interleave differently without differing.
fn keyed<'a>(run: &[Exit<'a>]) -> Vec<((&'a str, usize), Exit<'a>)> {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    run.iter()
        .map(|e| {
            let n = seen.entry(e.node).or_default();
            *n += 1;
            ((e.node, *n), *e)
        })
        .collect()
}

/// The first difference between runs `a` and `b` of one cell, if any.
pub fn first_divergence(a: &[Exit], b: &[Exit]) -> Option<Divergence> {
    let (ka, kb) = (keyed(a), keyed(b));
    let b_by: BTreeMap<_, _> = kb.iter().map(|(k, e)| (*k, *e)).collect();
    for (key, ea) in &ka {
        let Some(eb) = b_by.get(key) else {
            return Some(Divergence {
                node: key.0.to_owned(),
                what: format!("only one run reached exit {} of `{}`", key.1, key.0),
            });
        };
        if let Some(k) = first_key_difference(ea.state, eb.state) {
            return Some(Divergence { node: key.0.to_owned(), what: format!("state key `{k}`") });
        }
        if let Some(p) = first_path_difference(ea.files, eb.files) {
            return Some(Divergence { node: key.0.to_owned(), what: format!("file `{p}`") });
        }
    }
    let a_keys: BTreeSet<_> = ka.iter().map(|(k, _)| *k).collect();
    kb.iter().find(|(k, _)| !a_keys.contains(k)).map(|(k, _)| Divergence {
        node: k.0.to_owned(),
        what: format!("only one run reached exit {} of `{}`", k.1, k.0),
    })
}

/// The first top-level state key (in key order) whose value differs.
fn first_key_difference(a: &Value, b: &Value) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find(|k| x.get(*k) != y.get(*k)).cloned()
        }
        _ if a != b => Some("(the whole state)".into()),
        _ => None,
    }
}

/// The first path (in path order) that exists on one side only or whose entry differs.
fn first_path_difference(a: &FileTree, b: &FileTree) -> Option<String> {
    let paths: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    paths.into_iter().find(|p| a.get(*p) != b.get(*p)).cloned()
}

/// A fingerprint of how a run ended: its status, final state and files. Equal fingerprints:
/// the runs agree.
pub fn outcome_digest(status: &str, state: &Value, files: &FileTree) -> Digest {
    let canonical = serde_json::json!({ "status": status, "state": state, "files": files });
    Digest::of(canonical.to_string().as_bytes())
}

/// Labels outcomes `A`, `B`, … in order of first appearance; equal outcomes share a label.
pub fn group_labels(outcomes: &[Digest]) -> Vec<String> {
    let mut labels: BTreeMap<Digest, String> = BTreeMap::new();
    outcomes
        .iter()
        .map(|d| {
            let next = labels.len();
            labels.entry(*d).or_insert_with(|| label(next)).clone()
        })
        .collect()
}

fn label(mut n: usize) -> String {
    let mut s = String::new();
    loop {
        s.insert(0, (b'A' + (n % 26) as u8) as char);
        if n < 26 {
            return s;
        }
        n = n / 26 - 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EntryKind, FileEntry};
    use serde_json::json;

    fn tree(files: &[(&str, &[u8])]) -> FileTree {
        files
            .iter()
            .map(|(p, c)| {
                (
                    p.to_string(),
                    FileEntry {
                        kind: EntryKind::File,
                        digest: Some(Digest::of(c)),
                        size: c.len() as u64,
                        mode: 0o644,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn finds_the_first_node_and_what_differs() {
        let (s1, s2) = (json!({ "a": 1, "t": 5 }), json!({ "a": 1, "t": 6 }));
        let (f1, f2) = (tree(&[("x", b"1")]), tree(&[("x", b"2")]));
        let run = |s, f| {
            vec![Exit { node: "first", state: &s1, files: &f1 }, Exit { node: "second", state: s, files: f }]
        };
        assert_eq!(first_divergence(&run(&s1, &f1), &run(&s1, &f1)), None);
        assert_eq!(
            first_divergence(&run(&s1, &f1), &run(&s2, &f1)),
            Some(Divergence { node: "second".into(), what: "state key `t`".into() })
        );
        assert_eq!(
            first_divergence(&run(&s1, &f1), &run(&s1, &f2)),
            Some(Divergence { node: "second".into(), what: "file `x`".into() })
        );
        let short = vec![Exit { node: "first", state: &s1, files: &f1 }];
        assert_eq!(first_divergence(&short, &run(&s1, &f1)).unwrap().node, "second");
        // Branches finishing in another order are not a difference.
        let swapped = vec![
            Exit { node: "second", state: &s1, files: &f1 },
            Exit { node: "first", state: &s1, files: &f1 },
        ];
        assert_eq!(first_divergence(&run(&s1, &f1), &swapped), None);
    }

    #[test]
    fn equal_outcomes_share_a_label() {
        let f = tree(&[]);
        let d = |n| outcome_digest("completed", &json!({ "n": n }), &f);
        assert_eq!(group_labels(&[d(1), d(2), d(1), d(3)]), ["A", "B", "A", "C"]);
        assert_eq!((label(25), label(26), label(27)), ("Z".to_owned(), "AA".to_owned(), "AB".to_owned()));
    }
}
