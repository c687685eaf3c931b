//! Retention GC: what it keeps (active runs, forks' parents, the newest per workflow,
//! undelivered events), what it sweeps (rows, file commits, blob rows, CAS files, workspaces),
//! that `--dry-run` reports exactly what a real run then does, and that running it while
//! executions run loses nothing.

use serde_json::{Map, json};
use std::time::Duration;
use wtb::executor::{Executor, ForkOptions};
use wtb::model::{CheckpointId, ExecutionId};
use wtb_tests::Harness;

fn config(h: &Harness, text: &str) {
    std::fs::create_dir_all(h.data_dir()).unwrap();
    h.config(text).unwrap();
}

/// One run of workflow `gc` writing a file shared by all runs and one of its own (both large
/// enough for the CAS), then a second node.
async fn run_one(h: &Harness, exec: &Executor, i: usize) -> ExecutionId {
    let a = json!({ "action": "write", "sized": { "shared.bin": 100_000, "own.bin": 70_000 + i } });
    let b = json!({ "action": "write", "files": { "note.txt": format!("run {i}") } });
    let path = h.probe_workflow(&format!("gc-{i}"), &[("a", a), ("b", b)]);
    let text =
        std::fs::read_to_string(&path).unwrap().replacen(&format!("name = \"gc-{i}\""), "name = \"gc\"", 1);
    std::fs::write(&path, text).unwrap();
    let wf = exec.load_workflow(&path).await.unwrap();
    exec.run(&wf, Map::new()).await.unwrap().execution
}

async fn checkpoints(exec: &Executor, id: ExecutionId) -> Vec<CheckpointId> {
    exec.inspect().history(id).await.unwrap().checkpoints.iter().map(|c| c.checkpoint.id).collect()
}

/// fsck is clean and every checkpoint of every execution left exports completely.
async fn assert_intact(h: &Harness, exec: &Executor) {
    let report = wtb::gc::fsck(exec).await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let page = exec.inspect().list(&Default::default(), None, 1000).await.unwrap();
    for e in &page.executions {
        for (n, cp) in checkpoints(exec, e.id).await.into_iter().enumerate() {
            let dir = h.dir.path().join(format!("export-{}-{n}", e.id));
            exec.inspect()
                .export(cp, &dir, true)
                .await
                .unwrap_or_else(|err| panic!("export of {cp} ({}): {err}", e.id));
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn gc_keeps_what_it_must_sweeps_the_rest_and_dry_run_tells_the_truth() {
    let h = Harness::new();
    config(&h, "[outbox]\nsinks = []\n\n[retention]\nkeep_last = 2\n");
    let exec = h.executor().await;
    let e0 = run_one(&h, &exec, 0).await;
    let e1 = run_one(&h, &exec, 1).await;
    let e2 = run_one(&h, &exec, 2).await;
    let fork =
        exec.travel().fork(checkpoints(&exec, e0).await[1], &ForkOptions::default()).await.unwrap().execution;
    let own1 = wtb_tests::digest(&(0..70_001usize).map(|i| (i % 251) as u8).collect::<Vec<_>>());
    let shared = wtb_tests::digest(&(0..100_000usize).map(|i| (i % 251) as u8).collect::<Vec<_>>());
    assert!(h.cas_object(&own1).exists());
    let policy = exec.config().retention.clone();
    let grace = Duration::ZERO;
    let dry = wtb::gc::collect_garbage(&exec, &policy, &[], grace, true).await.unwrap();
    assert_eq!(
        dry.deleted,
        vec![e1],
        "the newest two of `gc` are the paused fork and e2; e0 is the fork's parent"
    );
    assert_eq!(dry.kept.get("active"), Some(&1));
    assert_eq!(dry.kept.get("fork_parent"), Some(&1));
    assert_eq!(dry.kept.get("newest"), Some(&1));
    assert!(
        h.cas_object(&own1).exists() && exec.inspect().history(e1).await.is_ok(),
        "a dry run deletes nothing"
    );
    let real = wtb::gc::collect_garbage(&exec, &policy, &[], grace, false).await.unwrap();
    assert_eq!(real.deleted, dry.deleted);
    assert_eq!(
        (real.swept.checkpoints, real.swept.events, real.swept.file_commits),
        (dry.swept.checkpoints, dry.swept.events, dry.swept.file_commits)
    );
    assert_eq!(real.bytes_reclaimed, dry.bytes_reclaimed);
    assert!(real.bytes_reclaimed >= 70_001, "e1's own file: {}", real.bytes_reclaimed);
    assert_eq!(real.cas_files_removed, 1);
    assert!(!h.cas_object(&own1).exists(), "e1's own blob is gone");
    assert!(h.cas_object(&shared).exists(), "a blob shared with kept executions stays");
    assert!(exec.inspect().history(e1).await.is_err());
    assert!(exec.inspect().history(fork).await.is_ok(), "the paused fork stays");
    assert_intact(&h, &exec).await;
    // Kept executions still roll back, files and all.
    for id in [e0, e2] {
        let first_exit = checkpoints(&exec, id).await[1];
        exec.travel().rollback(id, first_exit).await.unwrap();
        let ws = h.workspace(&exec, id).await;
        assert!(ws.join("own.bin").exists() && !ws.join("note.txt").exists());
    }
    // A second pass finds nothing more to do.
    let again = wtb::gc::collect_garbage(&exec, &policy, &[], grace, false).await.unwrap();
    assert!(again.deleted.is_empty() && again.swept.blobs.is_empty(), "{again:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn undelivered_events_keep_an_execution_until_a_relay_delivered_them() {
    let h = Harness::new();
    config(&h, "[retention]\nkeep_last = 1\n");
    let exec = h.executor().await;
    let old = run_one(&h, &exec, 0).await;
    run_one(&h, &exec, 1).await;
    let sinks = vec!["jsonl".to_owned()];
    let policy = exec.config().retention.clone();
    let r = wtb::gc::collect_garbage(&exec, &policy, &sinks, Duration::ZERO, false).await.unwrap();
    assert!(r.deleted.is_empty(), "nothing delivered yet: {r:?}");
    assert_eq!(r.kept.get("undelivered"), Some(&2));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wtb-under-test"))
        .args(["outbox", "relay", "--once"])
        .env("WTB_DATA_DIR", h.data_dir())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    // The CLI reports the same as the library would, then deletes.
    let dry = std::process::Command::new(env!("CARGO_BIN_EXE_wtb-under-test"))
        .args(["gc", "--dry-run"])
        .env("WTB_DATA_DIR", h.data_dir())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&dry.stdout);
    assert!(
        text.contains(&format!("would delete execution {old}")) && text.contains("would delete 1 executions"),
        "{text}"
    );
    let real = std::process::Command::new(env!("CARGO_BIN_EXE_wtb-under-test"))
        .args(["gc", "--json"])
        .env("WTB_DATA_DIR", h.data_dir())
        .output()
        .unwrap();
    let real: serde_json::Value = serde_json::from_slice(&real.stdout).unwrap();
    assert_eq!(real["deleted"], json!([old.to_string()]));
    assert_intact(&h, &exec).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn gc_running_while_executions_run_loses_nothing() {
    let h = Harness::new();
    config(&h, "[outbox]\nsinks = []\n\n[retention]\nkeep_last = 2\n");
    let exec = h.executor().await;
    let policy = exec.config().retention.clone();
    let done = std::sync::atomic::AtomicBool::new(false);
    let runs = async {
        let mut ids = Vec::new();
        for i in 0..14 {
            ids.push(run_one(&h, &exec, i % 5).await);
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        ids
    };
    let gc = async {
        let mut passes = 0;
        let mut deleted = 0;
        // Passes run while the executions do, paced (not timed: nothing below depends on how
        // many overlap); once they are done, passes go on until three have run and one has
        // started after the last execution ended, so the counts below cannot depend on speed.
        let mut after_runs = false;
        while !after_runs || passes < 3 {
            after_runs = done.load(std::sync::atomic::Ordering::SeqCst);
            // A short grace: long enough for a blob re-stored by a running node to reach its
            // commit, short enough that swept files really go during the test.
            let r =
                wtb::gc::collect_garbage(&exec, &policy, &[], Duration::from_secs(2), false).await.unwrap();
            deleted += r.deleted.len();
            passes += 1;
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        (passes, deleted)
    };
    let (ids, (passes, deleted)) = tokio::join!(runs, gc);
    assert!(passes >= 3 && deleted >= 5, "{passes} passes deleted {deleted}");
    assert_intact(&h, &exec).await;
    let last = *ids.last().unwrap();
    let cps = checkpoints(&exec, last).await;
    exec.travel().rollback(last, cps[1]).await.unwrap();
    assert!(h.workspace(&exec, last).await.join("shared.bin").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_running_relay_cleans_orphans_and_collects_garbage_on_schedule() {
    let h = Harness::new();
    config(
        &h,
        "orphan_grace_seconds = 0\norphan_interval_seconds = 1\n\n[outbox]\npoll_interval_ms = 50\n\n[retention]\nkeep_last = 1\ninterval_seconds = 1\n",
    );
    // An orphan: a failed exit transaction leaves its large blob in the CAS without a row.
    let orphan = {
        let exec = h.executor().await.with_fail_point(wtb::executor::FailPoint::BeforeExitCommit);
        let wf = exec
            .load_workflow(&h.probe_workflow(
                "orphan",
                &[("a", json!({ "action": "write", "sized": { "lost.bin": 90_001 } }))],
            ))
            .await
            .unwrap();
        exec.run(&wf, Map::new()).await.unwrap_err();
        exec.close().await;
        wtb_tests::digest(&(0..90_001usize).map(|i| (i % 251) as u8).collect::<Vec<_>>())
    };
    assert!(h.cas_object(&orphan).exists());
    let exec = h.executor().await;
    let old = run_one(&h, &exec, 0).await;
    let new = run_one(&h, &exec, 1).await;
    let mut relay = std::process::Command::new(env!("CARGO_BIN_EXE_wtb-under-test"))
        .args(["outbox", "relay"])
        .env("WTB_DATA_DIR", h.data_dir())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while h.cas_object(&orphan).exists() || exec.inspect().history(old).await.is_ok() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the relay process neither cleaned the orphan nor collected {old}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = std::process::Command::new("sh").args(["-c", &format!("kill -TERM {}", relay.id())]).status();
    assert!(relay.wait().unwrap().success(), "SIGTERM ends the relay cleanly");
    assert!(exec.inspect().history(new).await.is_ok(), "the newest execution of `gc` stays");
    assert_intact(&h, &exec).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_process_dying_between_blob_write_and_commit_leaves_an_orphan_the_cleaner_removes() {
    let h = Harness::new();
    let wf =
        h.probe_workflow("crash", &[("a", json!({ "action": "write", "sized": { "big.bin": 90_002 } }))]);
    let big = wtb_tests::digest(&(0..90_002usize).map(|i| (i % 251) as u8).collect::<Vec<_>>());
    let wtb = |args: &[&str], failpoint: Option<&str>| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_wtb-under-test"));
        c.args(args).env("WTB_DATA_DIR", h.data_dir()).env_remove("WTB_FAILPOINT");
        if let Some(p) = failpoint {
            c.env("WTB_FAILPOINT", p);
        }
        c.output().unwrap()
    };
    // The blob is durable in the CAS; the process aborts with the exit rows written but the
    // transaction not committed.
    let crashed = wtb(&["run", wf.to_str().unwrap()], Some("before-commit"));
    assert!(crashed.status.code().is_none(), "the process was killed by the abort: {crashed:?}");
    assert!(h.cas_object(&big).exists(), "the blob was written before the transaction");
    let kept = wtb(&["gc", "orphans", "--json"], None);
    let kept: serde_json::Value = serde_json::from_slice(&kept.stdout).unwrap();
    assert_eq!(
        (kept["removed"].as_array().unwrap().len(), kept["young"].as_u64()),
        (0, Some(1)),
        "within the grace period it may be an in-flight commit's"
    );
    let cleaned = wtb(&["gc", "orphans", "--grace-seconds", "0", "--json"], None);
    let cleaned: serde_json::Value = serde_json::from_slice(&cleaned.stdout).unwrap();
    assert_eq!(cleaned["removed"], json!([big.to_hex()]));
    assert!(!h.cas_object(&big).exists());
    // The interrupted run resumes, writes the blob again and finishes consistent.
    let resumed = wtb(&["resume", "--all"], None);
    assert!(resumed.status.success(), "{resumed:?}");
    assert!(h.cas_object(&big).exists());
    let exec = h.executor().await;
    assert_intact(&h, &exec).await;
}

/// Finding 5 of the security issue: the cleaner lists an old orphan and decides to delete
/// it; before it does, a node produces the same content (its `put` only refreshes the mtime)
/// and commits a checkpoint referencing it. The pause point holds the cleaner exactly there.
/// The blob must survive, and the store must stay consistent.
#[tokio::test(flavor = "multi_thread")]
async fn the_orphan_cleaner_never_deletes_a_blob_a_node_re_puts_after_its_listing() {
    let h = Harness::new();
    let host = h.executor().await;
    let tenant = host.tenancy().create_tenant("reput", wtb::model::Quotas::default()).await.unwrap().id;
    let exec = host.for_tenant(tenant);
    let content: Vec<u8> = (0..100_000usize).map(|i| (i % 251) as u8).collect();
    let digest = wtb_tests::digest(&content);
    // An old orphan: in the store, no row references it.
    let blobs =
        cap_std::fs::Dir::open_ambient_dir(h.data_dir().join("blobs"), cap_std::ambient_authority()).unwrap();
    use wtb::cas::BlobStore as _;
    wtb::cas::LocalCas::new(blobs).put(tenant, &digest, &mut content.as_slice()).unwrap();
    let object = h.data_dir().join("blobs").join(wtb::cas::LocalCas::object_path(tenant, &digest));
    let long_ago = std::time::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    std::fs::File::options().write(true).open(&object).unwrap().set_modified(long_ago).unwrap();

    let pause = wtb::failpoint::arm_pause("orphans-before-delete", &tenant.to_string());
    let node = async {
        pause.reached().await;
        let wf = exec
            .load_workflow(&h.probe_workflow(
                "reput",
                &[("a", json!({ "action": "write", "sized": { "big.bin": 100_000 } }))],
            ))
            .await
            .unwrap();
        let s = exec.run(&wf, Map::new()).await.unwrap();
        assert_eq!(s.status, wtb::model::ExecutionStatus::Completed, "{:?}", s.failure);
        pause.release();
    };
    let (cleaned, ()) = tokio::join!(wtb::gc::clean_orphans(&exec, Duration::from_secs(3600), false), node);
    let report = cleaned.unwrap();
    assert!(object.exists(), "the cleaner deleted a blob a committed checkpoint references");
    assert!(report.removed.is_empty(), "{report:?}");
    let fsck = wtb::gc::fsck(&exec).await.unwrap();
    assert!(fsck.problems.is_empty(), "{:?}", fsck.problems);
}
