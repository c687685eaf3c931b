//! `wtb fsck` on a real data dir: clean after runs, rollbacks and forks; a corrupted or
//! missing CAS object is reported with its path and expected digest, exit status 1.

use serde_json::{Map, json};
use std::process::Command;
use wtb::executor::ForkOptions;
use wtb::model::CheckpointKind;
use wtb_tests::{Harness, digest};

fn fsck(h: &Harness) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_wtb-under-test")).arg("fsck").env("WTB_DATA_DIR", h.data_dir()).output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn fsck_is_clean_after_time_travel_and_names_a_corrupt_or_missing_blob() {
    let h = Harness::new();
    let exec = h.executor().await;
    let wf = h.probe_workflow("fsck", &[
        ("a", json!({ "action": "write", "sized": { "big.bin": 200_000 }, "files": { "small.txt": "s" } })),
        ("b", json!({ "action": "write", "sized": { "other.bin": 120_000 } })),
    ]);
    let wf = exec.load_workflow(&wf).await.unwrap();
    let id = exec.run(&wf, Map::new()).await.unwrap().execution;
    let cps = exec.describe(id).await.unwrap().checkpoints;
    let b_entry = cps.iter().find(|c| c.checkpoint.node == "b" && c.checkpoint.kind == CheckpointKind::Entry).unwrap().checkpoint.id;
    let fork = exec.fork(b_entry, &ForkOptions::default()).await.unwrap().execution;
    exec.resume(fork, 4).await.unwrap();
    exec.rollback(id, b_entry).await.unwrap();
    exec.resume(id, 4).await.unwrap();
    let report = wtb::gc::fsck(&exec).await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    // The original's 4, plus b's exit again after the rollback; the fork's 3 copied + b's exit.
    assert!(report.blobs >= 4 && report.checkpoints == 5 + 4, "{report:?}");
    exec.close().await;
    let (code, text) = fsck(&h);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("no problems"), "{text}");

    // Corrupt one CAS object (same size), delete another.
    let big = digest(&(0..200_000usize).map(|i| (i % 251) as u8).collect::<Vec<_>>());
    let other = digest(&(0..120_000usize).map(|i| (i % 251) as u8).collect::<Vec<_>>());
    let path = h.cas_object(&big);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[1000] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    std::fs::remove_file(h.cas_object(&other)).unwrap();
    let (code, text) = fsck(&h);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains(&format!("is corrupt: expected {big}")) && text.contains(&wtb::cas::LocalCas::object_path(wtb::model::TenantId::DEFAULT, &big)), "{text}");
    assert!(text.contains(&format!("is missing (expected {other}, 120000 bytes)")), "{text}");
    assert!(text.contains("2 problems"), "{text}");
}
