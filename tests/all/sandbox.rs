//! Escapes: `..`, absolute paths and symlinks pointing out are denied; nothing lands outside
//! the workspace; capture stores links as links.

use serde_json::{Map, Value, json};
use wtb::model::{EntryKind, ExecutionStatus};
use wtb_tests::Harness;

#[tokio::test(flavor = "multi_thread")]
async fn escape_attempts_are_denied_and_nothing_leaves_the_workspace() {
    let h = Harness::new();
    let exec = h.executor().await;
    let wf = exec
        .load_workflow(&h.probe_workflow("escape", &[("prisoner", json!({ "action": "escape" }))]))
        .await
        .unwrap();
    let before = wtb_tests::files_under(h.dir.path());
    let s = exec.run(&wf, Map::new()).await.unwrap();
    assert_eq!(s.status, ExecutionStatus::Completed, "{:?}", s.failure);

    let Value::Object(attempts) = &s.state["escapes"] else { panic!("no report: {:?}", s.state) };
    for (name, verdict) in attempts {
        if name == "create_outward_symlink" {
            continue; // wasmtime lets a guest create the link; following it is what must fail
        }
        assert!(verdict.as_str().unwrap().starts_with("denied"), "{name}: {verdict}");
    }
    // Outside the workspace, only what WTB itself wrote changed (database, CAS, cache).
    let escaped: Vec<_> = wtb_tests::files_under(h.dir.path())
        .into_iter()
        .filter(|p| !before.contains(p) && !p.starts_with("data/"))
        .collect();
    assert!(escaped.is_empty(), "files appeared outside the data dir: {escaped:?}");
    assert!(!h.dir.path().join("data/workspaces/escaped.txt").exists());
    assert!(!h.dir.path().join("escaped.txt").exists());

    // The link is captured as a link (its target is the blob), never followed.
    let r = exec.inspect().describe(s.execution).await.unwrap();
    let link = &r.checkpoints[1].files["out-link"];
    assert_eq!(link.kind, EntryKind::Symlink);
    assert_eq!(link.digest, Some(wtb_tests::digest(b"../../../../etc")));
    let workspace = h.workspace(&exec, s.execution).await;
    assert!(std::fs::symlink_metadata(workspace.join("out-link")).unwrap().file_type().is_symlink());
}

/// Finding 1 of the security issue: one branch replaces directory `a` with a link out of its
/// workspace (to the data dir), the other creates a link under `a/`. Merging both and
/// restoring the result made the host create `a/planted` through the link, in the data dir.
/// The join must fail as a conflict naming both nodes, and nothing may appear outside.
#[tokio::test(flavor = "multi_thread")]
async fn a_join_that_would_restore_an_entry_through_a_guest_link_is_a_conflict_and_writes_nothing_outside() {
    let h = Harness::new();
    let exec = h.executor().await;
    let manifest = crate::engine::diamond_with(
        "plant",
        "",
        r#"{ action = "mutate", ops = [{ op = "mkdir", path = "a" }, { op = "write", path = "a/keep", text = "k" }] }"#,
        r#"{ action = "mutate", ops = [{ op = "remove_tree", path = "a" }, { op = "symlink", target = "../..", link = "a" }] }"#,
        r#"{ action = "mutate", ops = [{ op = "symlink", target = "wtb.toml", link = "a/planted" }] }"#,
        r#"{ action = "write", files = { "joined.txt" = "joined" } }"#,
    );
    let wf = exec.load_workflow(&h.file("plant.toml", manifest)).await.unwrap();
    let s = exec.run(&wf, Map::new()).await.unwrap();
    let planted = h.data_dir().join("planted");
    assert!(
        std::fs::symlink_metadata(&planted).is_err(),
        "the host created {} through the guest's link",
        planted.display()
    );
    assert_eq!(s.status, ExecutionStatus::Failed, "{:?}", s.failure);
    let failure = s.failure.unwrap();
    assert!(
        failure.contains(
            "join `merge`: branch `right` wrote `a/planted` while branch `left` left `a` a symlink"
        ),
        "{failure}"
    );
    let outside: Vec<String> = wtb_tests::files_under(&h.data_dir())
        .into_iter()
        .filter(|p| p.contains("planted") && !p.starts_with("workspaces/"))
        .collect();
    assert!(outside.is_empty(), "{outside:?}");
}
