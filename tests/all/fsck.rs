//! `wtb fsck` on a real data dir: clean after runs, rollbacks and forks; a corrupted or
//! missing CAS object is reported with its path and expected digest, exit status 1.

use serde_json::{Map, json};
use wtb::executor::ForkOptions;
use wtb::model::CheckpointKind;
use wtb_tests::{Harness, digest};

fn fsck(h: &Harness) -> (Option<i32>, String) {
    let out = crate::wtb(h, &["fsck"]);
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn fsck_is_clean_after_time_travel_and_names_a_corrupt_or_missing_blob() {
    let h = Harness::new();
    let exec = h.executor().await;
    let wf = h.probe_workflow(
        "fsck",
        &[
            (
                "a",
                json!({ "action": "write", "sized": { "big.bin": 200_000 }, "files": { "small.txt": "s" } }),
            ),
            ("b", json!({ "action": "write", "sized": { "other.bin": 120_000 } })),
        ],
    );
    let wf = exec.load_workflow(&wf).await.unwrap();
    let id = exec.run(&wf, Map::new()).await.unwrap().execution;
    let cps = exec.inspect().describe(id).await.unwrap().checkpoints;
    let b_entry = cps
        .iter()
        .find(|c| c.checkpoint.node == "b" && c.checkpoint.kind == CheckpointKind::Entry)
        .unwrap()
        .checkpoint
        .id;
    let fork = exec.travel().fork(b_entry, &ForkOptions::default()).await.unwrap().execution;
    exec.resume(fork, 4).await.unwrap();
    exec.travel().rollback(id, b_entry).await.unwrap();
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
    assert!(
        text.contains(&format!("is corrupt: expected {big}"))
            && text.contains(&wtb::cas::LocalCas::object_path(wtb::model::TenantId::DEFAULT, &big)),
        "{text}"
    );
    assert!(text.contains(&format!("is missing (expected {other}, 120000 bytes)")), "{text}");
    assert!(text.contains("2 problems"), "{text}");
}

fn age(path: &std::path::Path, secs: u64) {
    // Back from its own mtime: the test never reads a clock of its own.
    let f = std::fs::File::options().write(true).open(path).unwrap();
    let modified = f.metadata().unwrap().modified().unwrap();
    f.set_modified(modified - std::time::Duration::from_secs(secs)).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_orphan_cleaner_removes_old_orphans_and_keeps_young_and_live_ones() {
    let h = Harness::new();
    let big = digest(&(0..150_000usize).map(|i| (i % 251) as u8).collect::<Vec<_>>());
    let wf =
        h.probe_workflow("orphan", &[("a", json!({ "action": "write", "sized": { "big.bin": 150_000 } }))]);
    // A failed exit transaction leaves the large blob in the CAS with no row: an orphan.
    {
        let exec = h.executor().await.with_fail_point(wtb::executor::FailPoint::BeforeExitCommit);
        let loaded = exec.load_workflow(&wf).await.unwrap();
        exec.run(&loaded, Map::new()).await.unwrap_err();
        exec.close().await;
    }
    let exec = h.executor().await;
    let object = h.cas_object(&big);
    assert!(object.exists());
    let grace = std::time::Duration::from_secs(3600);
    let r = wtb::gc::clean_orphans(&exec, grace, false).await.unwrap();
    assert_eq!((r.removed.len(), r.young), (0, 1), "a young orphan may be an in-flight transaction's");
    assert!(object.exists());

    age(&object, 7200);
    let tmp = h.data_dir().join("blobs").join(wtb::model::TenantId::DEFAULT.to_string()).join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::write(tmp.join("leftover.1.0"), b"half").unwrap();
    age(&tmp.join("leftover.1.0"), 7200);
    let r = wtb::gc::clean_orphans(&exec, grace, true).await.unwrap();
    assert_eq!((r.removed.clone(), r.temp_removed), (vec![big], 1));
    assert!(object.exists(), "a dry run deletes nothing");
    let r = wtb::gc::clean_orphans(&exec, grace, false).await.unwrap();
    assert_eq!((r.removed, r.removed_bytes, r.temp_removed), (vec![big], 150_000, 1));
    assert!(!object.exists() && !tmp.join("leftover.1.0").exists());
    assert!(wtb::gc::fsck(&exec).await.unwrap().problems.is_empty());

    // Live objects stay however old; an old orphan that a new run stores again is refreshed
    // first (so a cleaner running before that run commits would keep it).
    let loaded = exec.load_workflow(&wf).await.unwrap();
    assert_eq!(exec.run(&loaded, Map::new()).await.unwrap().status, wtb::model::ExecutionStatus::Completed);
    age(&object, 7200);
    let r = wtb::gc::clean_orphans(&exec, std::time::Duration::ZERO, false).await.unwrap();
    assert!(r.removed.is_empty() && object.exists(), "referenced by a row");
    // A new execution writes the same content again: its capture stores it (already present).
    exec.run(&loaded, Map::new()).await.unwrap();
    let modified = std::fs::metadata(&object).unwrap().modified().unwrap();
    assert!(modified.elapsed().unwrap() < std::time::Duration::from_secs(60), "re-put refreshed the mtime");
    let (code, text) = {
        let out = crate::wtb(&h, &["gc", "orphans", "--grace-seconds", "0", "--dry-run"]);
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("would delete 0 orphans"), "{text}");
}

/// A stored tree with an entry under a symlink (what a join could once produce) is corrupt:
/// `fsck` names the commit and the path.
#[tokio::test(flavor = "multi_thread")]
async fn fsck_reports_a_stored_tree_with_an_entry_under_a_symlink() {
    use wtb::model::{EntryKind, FileCommit, FileCommitId, FileEntry, FileTree, TenantId, Timestamp};
    let h = Harness::new();
    let exec = h.executor().await;
    let link = FileEntry { kind: EntryKind::Symlink, digest: Some(digest(b"..")), size: 2, mode: 0o777 };
    let file = FileEntry { kind: EntryKind::File, digest: Some(digest(b"x")), size: 1, mode: 0o644 };
    let tree: FileTree = [("a".to_owned(), link), ("a/x".to_owned(), file)].into_iter().collect();
    let commit = FileCommit {
        id: FileCommitId::from_uuid(uuid::Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0042)),
        tenant: TenantId::DEFAULT,
        parent: None,
        changes: Vec::new(),
        tree: std::sync::Arc::new(tree),
        depth: 0,
        created_at: Timestamp::from_micros(1),
    };
    let mut conn = wtb_tests::sql_pool(&exec).acquire().await.unwrap();
    wtb::db::sql::file_commit::insert(&mut conn.conn(), &commit).await.unwrap();
    drop(conn);
    let report = wtb::gc::fsck(&exec).await.unwrap();
    let problem =
        report.problems.iter().find(|p| p.subject == commit.id.to_string()).expect("the commit is reported");
    assert!(problem.detail.contains("`a/x` sits under `a`, which is a symlink"), "{problem:?}");
}
