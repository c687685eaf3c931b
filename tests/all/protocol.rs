//! The protocol: checkpoints, file commits, blobs and outbox events, committed together.

use serde_json::{Map, json};
use wtb::executor::FailPoint;
use wtb::model::{CheckpointKind, ExecutionStatus, TenantId};
use wtb_tests::{Harness, digest};

#[tokio::test(flavor = "multi_thread")]
async fn files_land_as_blobs_matching_their_content() {
    let h = Harness::new();
    let exec = h.executor().await;
    let big: Vec<u8> = (0..200_000usize).map(|i| (i % 251) as u8).collect();
    let wf = h.probe_workflow("files", &[(
        "writer",
        json!({ "action": "write", "files": { "notes/a.txt": "alpha\n" }, "sized": { "big.bin": 200_000 } }),
    )]);
    let wf = exec.load_workflow(&wf).await.unwrap();
    let s = exec.run(&wf, Map::new()).await.unwrap();
    assert_eq!(s.status, ExecutionStatus::Completed, "{:?}", s.failure);

    let report = exec.inspect().describe(s.execution).await.unwrap();
    let exit = &report.checkpoints[1];
    assert_eq!(exit.checkpoint.kind, CheckpointKind::Exit);
    let small = &exit.files["notes/a.txt"];
    assert_eq!(small.digest, Some(digest(b"alpha\n")));
    assert_eq!(small.size, 6);
    let large = &exit.files["big.bin"];
    assert_eq!(large.digest, Some(digest(&big)));

    // Small content is inline in its blob row; large content is a CAS object named by digest.
    let row = exec.database().blobs().get_one(TenantId::DEFAULT, &digest(b"alpha\n")).await.unwrap().unwrap();
    assert_eq!(row.inline.as_deref(), Some(&b"alpha\n"[..]));
    let row = exec.database().blobs().get_one(TenantId::DEFAULT, &digest(&big)).await.unwrap().unwrap();
    assert_eq!((row.inline, row.size), (None, 200_000));
    let on_disk = std::fs::read(h.cas_object(&digest(&big))).unwrap();
    assert_eq!(digest(&on_disk), digest(&big));
}

#[tokio::test(flavor = "multi_thread")]
async fn identical_content_is_stored_once() {
    let h = Harness::new();
    let exec = h.executor().await;
    let wf = h.probe_workflow(
        "dedup",
        &[
            ("one", json!({ "action": "write", "sized": { "a.bin": 100_000, "b.bin": 100_000 } })),
            ("two", json!({ "action": "write", "sized": { "c.bin": 100_000 } })),
        ],
    );
    let wf = exec.load_workflow(&wf).await.unwrap();
    for _ in 0..2 {
        let s = exec.run(&wf, Map::new()).await.unwrap();
        assert_eq!(s.status, ExecutionStatus::Completed, "{:?}", s.failure);
    }
    let after = exec.database().blobs().totals(TenantId::DEFAULT).await.unwrap();
    // Six files with the same bytes in two executions: one blob row and one CAS object for
    // them (the other row and object are the component's own bytes).
    assert_eq!((after.count, after.cas_bytes), (2, 100_000 + wtb_tests::PROBE.len() as u64));
    let objects = wtb_tests::files_under(
        &h.data_dir().join("blobs").join(TenantId::DEFAULT.to_string()).join("objects"),
    );
    assert_eq!(objects.len(), 2, "the component and the one shared file: {objects:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_node_has_entry_and_exit_checkpoints_with_the_right_state() {
    let h = Harness::new();
    let exec = h.executor().await;
    let wf = h.probe_workflow(
        "states",
        &[
            ("a", json!({ "action": "write", "update": { "x": 1, "from": "a" } })),
            ("b", json!({ "action": "write", "update": { "y": 2, "from": "b" } })),
        ],
    );
    let wf = exec.load_workflow(&wf).await.unwrap();
    let s = exec.run(&wf, serde_json::from_value(json!({ "seed": true })).unwrap()).await.unwrap();
    let r = exec.inspect().describe(s.execution).await.unwrap();
    let got: Vec<_> = r
        .checkpoints
        .iter()
        .map(|c| {
            (c.checkpoint.seq, c.checkpoint.node.as_str(), c.checkpoint.kind, (*c.checkpoint.state).clone())
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (1, "a", CheckpointKind::Entry, json!({ "seed": true })),
            (2, "a", CheckpointKind::Exit, json!({ "seed": true, "x": 1, "from": "a" })),
            (3, "b", CheckpointKind::Entry, json!({ "seed": true, "x": 1, "from": "a" })),
            (4, "b", CheckpointKind::Exit, json!({ "seed": true, "x": 1, "y": 2, "from": "b" })),
        ]
    );
    assert_eq!(r.execution.status, ExecutionStatus::Completed);
    assert_eq!(r.execution.cursor, None);
    // Each boundary points at its own entry and exit.
    for (n, pair) in r.nodes.iter().zip(r.checkpoints.chunks(2)) {
        assert_eq!(n.boundary.entry_checkpoint, pair[0].checkpoint.id);
        assert_eq!(n.boundary.exit_checkpoint, Some(pair[1].checkpoint.id));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn outbox_events_commit_with_the_checkpoint_with_unique_keys() {
    let h = Harness::new();
    let exec = h.executor().await;
    let wf = h.probe_workflow("events", &[(
        "emitter",
        json!({ "action": "write", "files": { "f.txt": "x" }, "events": [["order.placed", { "id": 7 }], ["order.paid", { "id": 7 }]] }),
    )]);
    let wf = exec.load_workflow(&wf).await.unwrap();
    let s = exec.run(&wf, Map::new()).await.unwrap();
    let r = exec.inspect().describe(s.execution).await.unwrap();
    let kinds: Vec<_> = r.events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "execution.started",
            "node.completed",
            "files.committed",
            "guest.order.placed",
            "guest.order.paid",
            "execution.completed"
        ]
    );
    assert_eq!(r.events[3].payload, json!({ "node": "emitter", "data": { "id": 7 } }));
    let keys: std::collections::HashSet<_> = r.events.iter().map(|e| e.key.clone()).collect();
    assert_eq!(keys.len(), r.events.len());
    assert!(r.events.iter().all(|e| e.key.starts_with(&s.execution.to_string())));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_exit_transaction_leaves_no_checkpoint_and_no_event_only_an_orphan_blob() {
    let h = Harness::new();
    let exec = h.executor().await.with_fail_point(FailPoint::BeforeExitCommit);
    // Two nodes: the second starts while the first's exit transaction is still executing
    // (see executor::commit::Cursor), so this also checks that a failed commit keeps every
    // later node's effects out of the database.
    let wf = h.probe_workflow("crashy", &[
        ("writer", json!({ "action": "write", "sized": { "big.bin": 150_000 }, "files": { "small.txt": "s" }, "events": [["never", {}]] })),
        ("second", json!({ "action": "write", "files": { "second.txt": "2" }, "update": { "second": true } })),
    ]);
    let wf = exec.load_workflow(&wf).await.unwrap();
    let err = exec.run(&wf, Map::new()).await.unwrap_err();
    assert!(err.to_string().contains("injected failure"), "{err}");

    let executions = exec.inspect().recent(10).await.unwrap();
    let id = executions[0].id;
    let r = exec.inspect().describe(id).await.unwrap();
    assert_eq!(r.checkpoints.len(), 1, "only the entry checkpoint");
    assert_eq!(r.checkpoints[0].checkpoint.kind, CheckpointKind::Entry);
    assert_eq!(r.events.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(), ["execution.started"]);
    assert_eq!(r.execution.status, ExecutionStatus::Running, "resumable, not failed");
    // The large blob reached the CAS before the transaction, and nothing references it.
    let big = digest(&(0..150_000usize).map(|i| (i % 251) as u8).collect::<Vec<_>>());
    assert!(h.cas_object(&big).exists());
    assert!(exec.database().blobs().get_one(TenantId::DEFAULT, &big).await.unwrap().is_none());
    assert!(exec.database().blobs().get_one(TenantId::DEFAULT, &digest(b"s")).await.unwrap().is_none());
    assert!(exec.database().blobs().get_one(TenantId::DEFAULT, &digest(b"2")).await.unwrap().is_none());
    assert_eq!(r.nodes.len(), 1, "no boundary of the second node");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rewrite_that_restores_mtime_is_still_captured() {
    let h = Harness::new();
    let exec = h.executor().await;
    let wf = h.probe_workflow(
        "sneaky",
        &[
            ("author", json!({ "action": "write", "files": { "f.txt": "aaaa" } })),
            // Captured well after f.txt was written: its fingerprint goes into the stat index as
            // clean (not racily re-hashed), so only ctime can reveal the next rewrite.
            ("wait", json!({ "action": "write", "sleep_ms": 60 })),
            (
                "sneak",
                json!({ "action": "rewrite_keep_mtime", "path": "f.txt", "text": "bbbb", "sleep_ms": 60 }),
            ),
        ],
    );
    let wf = exec.load_workflow(&wf).await.unwrap();
    let s = exec.run(&wf, Map::new()).await.unwrap();
    assert_eq!(s.state["mtime_restored"], json!(true), "the guest really reset the mtime");
    let r = exec.inspect().describe(s.execution).await.unwrap();
    let exit = &r.checkpoints[5];
    assert_eq!(exit.files["f.txt"].digest, Some(digest(b"bbbb")));
    assert_eq!(
        exit.changes.iter().map(|c| (c.path.as_str(), c.change)).collect::<Vec<_>>(),
        [("f.txt", wtb::model::ChangeKind::Modified)]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_writing_thousands_of_files_and_events_commits_in_one_transaction() {
    // 6,000 file changes and 5,000 events bind far more parameters than SQLite takes in one
    // call; the exit transaction still commits all of them together.
    let h = Harness::new();
    let exec = h.executor().await;
    let files: serde_json::Map<String, serde_json::Value> =
        (0..6_000).map(|i| (format!("many/{i:05}.txt"), json!(format!("file {i}")))).collect();
    let events: Vec<serde_json::Value> = (0..5_000).map(|i| json!(["tick", { "i": i }])).collect();
    let wf =
        h.probe_workflow("many", &[("a", json!({ "action": "write", "files": files, "events": events }))]);
    let wf = exec.load_workflow(&wf).await.unwrap();
    let s = exec.run(&wf, Map::new()).await.unwrap();
    assert_eq!(s.status, ExecutionStatus::Completed, "{:?}", s.failure);
    let r = exec.inspect().describe(s.execution).await.unwrap();
    let exit = r.checkpoints.iter().find(|c| c.checkpoint.kind == CheckpointKind::Exit).unwrap();
    assert_eq!(exit.changes.len(), 6_001, "6,000 files and their directory");
    assert_eq!(r.events.iter().filter(|e| e.kind == "guest.tick").count(), 5_000);
}
