//! Capture from the names the in-memory workspace saw change: every kind of change a guest can
//! make is captured exactly — name by name where the workspace's journal holds them, by
//! listing the whole tree where it cannot (a write through a second hard link). (Debug builds
//! also check every incremental capture against a full listing, so every other test checks it
//! too.)

use serde_json::{Map, json};
use wtb::model::{CheckpointKind, Digest, EntryKind, ExecutionStatus, FileTree};
use wtb_tests::Harness;

/// `path → content` of the files in `tree` (directories as `/`), checked against their digests.
fn files(tree: &FileTree, ws: &std::path::Path) -> Vec<(String, String)> {
    tree.iter()
        .map(|(p, e)| match e.kind {
            EntryKind::Dir => (p.clone(), "/".to_owned()),
            EntryKind::Symlink => (p.clone(), "->".to_owned()),
            EntryKind::File => {
                let text = std::fs::read_to_string(ws.join(p)).unwrap_or_default();
                let text = if e.digest == Some(Digest::of(text.as_bytes())) {
                    text
                } else {
                    format!("<not {p} on disk>")
                };
                (p.clone(), text)
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_kind_of_change_is_captured_exactly() {
    let h = Harness::new();
    let big = "b".repeat(100_000); // over the inline limit: goes to the CAS, off the quick path
    let wf = h.probe_workflow("mutations", &[
        ("build", json!({ "action": "mutate", "ops": [
            json!({ "op": "mkdir", "path": "a" }), json!({ "op": "mkdir", "path": "a/b" }),
            json!({ "op": "write", "path": "a/b/x", "text": "1" }), json!({ "op": "write", "path": "a/y", "text": "2" }),
            json!({ "op": "write", "path": "top", "text": "333" }), json!({ "op": "write", "path": "keep", "text": "kkk" }),
            json!({ "op": "write", "path": "a-b", "text": "sibling" }),
        ] })),
        ("edit", json!({ "action": "mutate", "ops": [
            json!({ "op": "append", "path": "a/y", "text": "+" }), json!({ "op": "truncate", "path": "top", "size": 1 }),
            json!({ "op": "overwrite", "path": "keep", "at": 0, "text": "K" }), json!({ "op": "write_at", "path": "a/b/x", "at": 1, "text": "9" }),
            json!({ "op": "rename", "from": "a", "to": "c" }), json!({ "op": "mkdir", "path": "d" }),
            json!({ "op": "write", "path": "big", "text": big }),
        ] })),
        ("prune", json!({ "action": "mutate", "ops": [
            json!({ "op": "unlink", "path": "top" }), json!({ "op": "remove_tree", "path": "c/b" }), json!({ "op": "rmdir", "path": "d" }),
        ] })),
        ("dots", json!({ "action": "mutate", "ops": [
            json!({ "op": "mkdir", "path": "z" }), json!({ "op": "write", "path": "z/../dots", "text": "." }),
        ] })),
        ("link", json!({ "action": "mutate", "ops": [json!({ "op": "hard_link", "from": "keep", "to": "keep2" })] })),
        ("through-link", json!({ "action": "mutate", "ops": [json!({ "op": "overwrite", "path": "keep", "at": 1, "text": "!" })] })),
        ("symlink", json!({ "action": "mutate", "ops": [json!({ "op": "symlink", "target": "dots", "link": "ln" })] })),
        ("after-symlink", json!({ "action": "mutate", "ops": [json!({ "op": "write", "path": "dots", "text": "changed" })] })),
    ]);
    let exec = h.executor().await;
    let wf = exec.load_workflow(&wf).await.unwrap();
    let s = exec.run(&wf, Map::new()).await.unwrap();
    assert_eq!(s.status, ExecutionStatus::Completed, "{:?}", s.failure);
    let r = exec.inspect().describe(s.execution).await.unwrap();
    let ws = h.workspace(&exec, s.execution).await;
    let exits: Vec<&FileTree> = r
        .checkpoints
        .iter()
        .filter(|c| c.checkpoint.kind == CheckpointKind::Exit)
        .map(|c| &c.files)
        .collect();
    let at = |i: usize| -> Vec<(String, String)> {
        exits[i]
            .iter()
            .map(|(p, e)| {
                (
                    p.clone(),
                    match e.kind {
                        EntryKind::Dir => "/".into(),
                        EntryKind::Symlink => "->".into(),
                        EntryKind::File => format!("{} bytes", e.size),
                    },
                )
            })
            .collect()
    };
    let s = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect()
    };
    assert_eq!(
        at(0),
        s(&[
            ("a", "/"),
            ("a-b", "7 bytes"),
            ("a/b", "/"),
            ("a/b/x", "1 bytes"),
            ("a/y", "1 bytes"),
            ("keep", "3 bytes"),
            ("top", "3 bytes")
        ])
    );
    assert_eq!(
        at(1),
        s(&[
            ("a-b", "7 bytes"),
            ("big", "100000 bytes"),
            ("c", "/"),
            ("c/b", "/"),
            ("c/b/x", "2 bytes"),
            ("c/y", "2 bytes"),
            ("d", "/"),
            ("keep", "3 bytes"),
            ("top", "1 bytes")
        ])
    );
    assert_eq!(
        at(2),
        s(&[
            ("a-b", "7 bytes"),
            ("big", "100000 bytes"),
            ("c", "/"),
            ("c/y", "2 bytes"),
            ("keep", "3 bytes")
        ])
    );
    assert!(
        at(3).contains(&("dots".into(), "1 bytes".into())) && at(3).contains(&("z".into(), "/".into())),
        "a path through `..`: {:?}",
        at(3)
    );
    // A write through one hard link changes the other name too.
    let last = exits.last().unwrap();
    assert_eq!(
        files(last, &ws),
        s(&[
            ("a-b", "sibling"),
            ("big", &big),
            ("c", "/"),
            ("c/y", "2+"),
            ("dots", "changed"),
            ("keep", "K!k"),
            ("keep2", "K!k"),
            ("ln", "->"),
            ("z", "/")
        ])
    );
    assert_eq!(
        exits[5].get("keep2").and_then(|e| e.digest),
        Some(Digest::of(b"K!k")),
        "the hard link's change is in the commit of the node that made it"
    );
    exec.close().await;
}
