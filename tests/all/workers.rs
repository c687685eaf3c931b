//! Workers and leases, in one process on either backend: the fencing token keeps a drive
//! whose lease was taken over from committing anything more; executions handed off are run by
//! a worker; a stopped worker gives its executions back, still running, to the next one.
//! (Worker processes killed, and PostgreSQL restarted under them: `workers_processes`.)

use serde_json::{Map, json};
use std::time::Duration;
use tokio::sync::watch;
use wtb::executor::{Breakpoints, ExecError, Executor, RunOptions};
use wtb::model::{ExecutionId, ExecutionStatus};
use wtb::worker::{WorkerOptions, work};
use wtb_tests::Harness;

/// The (live) checkpoints' nodes, in order, and how many `node.completed` events there are.
pub(super) async fn record(exec: &Executor, id: ExecutionId) -> (Vec<String>, usize) {
    let report = exec.inspect().describe(id).await.unwrap();
    let nodes = report.checkpoints.iter().map(|c| c.checkpoint.node.clone()).collect();
    let (_, events) = exec.inspect().events_after(id, 0).await.unwrap();
    (nodes, events.iter().filter(|e| e.kind == "node.completed").count())
}

/// Barrier: waits until `n` executions have an entry checkpoint of `node` (their drive runs
/// it, or it waits at a gate); returns their ids.
async fn executions_at(exec: &Executor, node: &str, n: usize) -> Vec<ExecutionId> {
    for _ in 0..3000 {
        let mut at = Vec::new();
        for e in exec.inspect().recent(100).await.unwrap() {
            let report = exec.inspect().describe(e.id).await.unwrap();
            if report.checkpoints.iter().any(|c| c.checkpoint.node == node) {
                at.push(e.id);
            }
        }
        if at.len() >= n {
            return at;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{n} execution(s) never reached `{node}`");
}

fn three_nodes(h: &Harness, gate: &wtb_tests::Gate) -> std::path::PathBuf {
    h.probe_workflow(
        "three",
        &[
            ("a", json!({ "action": "write", "files": { "a.txt": "a" } })),
            ("b", gate.node()),
            ("c", json!({ "action": "write", "files": { "c.txt": "c" } })),
        ],
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_drive_whose_lease_was_taken_over_commits_nothing_more() {
    let h = Harness::new();
    let exec = h.executor().await;
    let gate = h.gate();
    let wf = exec.load_workflow(&three_nodes(&h, &gate)).await.unwrap();
    let run = exec.run(&wf, Map::new());
    let take_over = async {
        let id = executions_at(&exec, "b", 1).await[0];
        // Another process claims the lease, as if this one had stalled past its expiry: it
        // names this one as the stale holder. Its own lease expires at once.
        let leases = exec.database().leases();
        let (holder, _) = leases.lease(id).await.unwrap().expect("the run holds the lease");
        let now = exec.clock().now();
        let token = leases.claim(id, "elsewhere:1:x", now, now, Some(&holder)).await.unwrap();
        assert_eq!(token, Some(2), "the claim's token follows the start's");
        gate.open();
        id
    };
    let (ran, id) = tokio::join!(run, take_over);
    let e = ran.expect_err("the fenced drive stops");
    assert!(matches!(e, ExecError::LeaseLost), "{e}");
    assert!(e.to_string().contains("taken over by another process"), "{e}");
    // `b` ran to its end here, but none of it committed: not its exit, not its event.
    let (nodes, completed) = record(&exec, id).await;
    assert_eq!(nodes, ["a", "a", "b"], "b's exit was refused");
    assert_eq!(completed, 1);
    let status = exec.status(id).await.unwrap();
    assert_eq!(status, ExecutionStatus::Running);

    // The next holder (the lease expired) re-runs `b` from its entry: each node once.
    let done = exec.resume(id, 4).await.unwrap();
    assert_eq!(done.status, ExecutionStatus::Completed, "{:?}", done.failure);
    let (nodes, completed) = record(&exec, id).await;
    assert_eq!(nodes, ["a", "a", "b", "b", "c", "c"]);
    assert_eq!(completed, 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn handed_off_executions_run_on_a_worker_and_a_stopped_worker_gives_them_back() {
    let h = Harness::new();
    h.config("[workers]\nhand_off = true\npoll_ms = 50\n").unwrap();
    let exec = h.executor().await;
    let gate = h.gate();
    let wf = exec.load_workflow(&three_nodes(&h, &gate)).await.unwrap();
    let opts = WorkerOptions { concurrency: 8, parallelism: 2 };

    let (stop_first, stopped_first) = watch::channel(false);
    let (stop_second, stopped_second) = watch::channel(false);
    let runs = async {
        let summaries = futures_util::future::join_all((0..3).map(|_| exec.run(&wf, Map::new()))).await;
        stop_second.send(true).unwrap();
        summaries
    };
    let workers = async {
        let handover = async {
            let ids = executions_at(&exec, "b", 3).await;
            for id in &ids {
                let lease = exec.database().leases().lease(*id).await.unwrap();
                assert_eq!(lease.map(|l| l.0).as_deref(), Some(exec.owner()), "the worker claimed it");
            }
            // Stopping: the worker lets `b` commit (the gate opens), launches nothing more,
            // and gives the executions back, still running.
            stop_first.send(true).unwrap();
            // What the worker does on stopping, done here before the gate opens, so that no
            // drive can launch `c` before its request arrived.
            exec.yield_drives();
            gate.open();
            ids
        };
        let (first, ids) = tokio::join!(work(&exec, opts, stopped_first), handover);
        assert_eq!((first.claimed, first.given_back, first.errors), (3, 3, 0), "{first:?}");
        for id in &ids {
            assert_eq!(exec.status(*id).await.unwrap(), ExecutionStatus::Running, "given back running");
            assert_eq!(exec.database().leases().lease(*id).await.unwrap(), None, "and unleased");
            assert_eq!(record(&exec, *id).await.0, ["a", "a", "b", "b", "c"], "c waits, unclaimed");
        }
        // The next worker claims them (not a take-over: nobody held them) and finishes them.
        let second = work(&exec, opts, stopped_second).await;
        assert_eq!((second.claimed, second.taken_over, second.completed), (3, 0, 3), "{second:?}");
        ids
    };
    let (summaries, ids) = tokio::join!(runs, workers);
    for s in summaries {
        let s = s.unwrap();
        assert_eq!(s.status, ExecutionStatus::Completed, "{:?}", s.failure);
        assert_eq!(s.attempts, 3, "the waiting side reports every attempt");
        assert_eq!(s.state["gate"], "passed", "and the last state: {:?}", s.state);
    }
    for id in ids {
        let (nodes, completed) = record(&exec, id).await;
        assert_eq!(nodes, ["a", "a", "b", "b", "c", "c"], "each node's entry and exit once");
        assert_eq!(completed, 3, "each node's event once");
    }
}

/// A worker cut off from its database (PostgreSQL stopped) stops its guests before its lease
/// can run out, so that no node runs in two processes at once; once the database is back the
/// execution is claimed again and finishes with each node once. (Real clock: leases expire.)
#[tokio::test(flavor = "multi_thread")]
async fn a_worker_cut_off_from_its_database_stops_its_guests_before_its_lease_ends() {
    let mut server = match wtb_tests::services::OwnPostgres::start() {
        Ok(server) => server,
        Err(why) => return wtb_tests::skipped("a_worker_cut_off_from_its_database", &why),
    };
    let h = Harness::new();
    let config = "[workers]\nhand_off = true\nlease_seconds = 1\npoll_ms = 50\n";
    h.config(format!("database = {{ url = \"{}\" }}\n{config}", server.url)).unwrap();
    let data = wtb::config::DataDir::open(&h.data_dir()).unwrap();
    let clock = std::sync::Arc::new(wtb::clock::SystemClock);
    let exec = Executor::open(data, clock, std::sync::Arc::new(wtb::clock::UuidV7Ids)).await.unwrap();
    let gate = h.gate();
    let wf = exec.load_workflow(&three_nodes(&h, &gate)).await.unwrap();
    let (stop, stopped) = watch::channel(false);
    let run = async {
        let summary = exec.run(&wf, Map::new()).await;
        stop.send(true).unwrap();
        summary
    };
    let outage = async {
        let id = executions_at(&exec, "b", 1).await[0];
        tokio::task::block_in_place(|| server.stop());
        // Barrier: the drive has stopped (its guest interrupted) while the database is down.
        for _ in 0..3000 {
            if exec.driving() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(exec.driving(), 0, "the worker stopped the execution it could not keep leased");
        tokio::task::block_in_place(|| server.restart()).unwrap();
        gate.open();
        id
    };
    let opts = WorkerOptions { concurrency: 4, parallelism: 2 };
    let (summary, id, report) = tokio::join!(run, outage, work(&exec, opts, stopped));
    let summary = summary.unwrap();
    assert_eq!(summary.status, ExecutionStatus::Completed, "{:?}", summary.failure);
    assert_eq!((report.claimed, report.errors, report.lost, report.completed), (2, 1, 0, 1), "{report:?}");
    let (nodes, completed) = record(&exec, id).await;
    assert_eq!(nodes, ["a", "a", "b", "b", "c", "c"]);
    assert_eq!(completed, 3);
}

/// With hand-off, a breakpoint pauses the execution on the worker, and `resume` hands it back
/// (running, unleased, workers woken): the worker finishes it, each node once.
#[tokio::test(flavor = "multi_thread")]
async fn a_paused_execution_resumed_with_hand_off_is_finished_by_a_worker() {
    let h = Harness::new();
    h.config("[workers]\nhand_off = true\npoll_ms = 50\n").unwrap();
    let exec = h.executor().await;
    let gate = h.gate();
    gate.open();
    let wf = exec.load_workflow(&three_nodes(&h, &gate)).await.unwrap();
    let (stop, stopped) = watch::channel(false);
    let scenario = async {
        let breakpoints = Breakpoints { after: vec!["a".into()], ..Breakpoints::default() };
        let opts = RunOptions { breakpoints, ..RunOptions::default() };
        let paused = exec.run_with(&wf, Map::new(), &opts).await.unwrap();
        assert_eq!(paused.status, ExecutionStatus::Paused, "{:?}", paused.failure);
        assert_eq!(exec.database().leases().lease(paused.execution).await.unwrap(), None, "released");
        let done = exec.resume(paused.execution, 2).await.unwrap();
        stop.send(true).unwrap();
        (paused.execution, done)
    };
    let opts = WorkerOptions { concurrency: 2, parallelism: 2 };
    let ((id, done), report) = tokio::join!(scenario, work(&exec, opts, stopped));
    assert_eq!(done.status, ExecutionStatus::Completed, "{:?}", done.failure);
    assert_eq!((report.claimed, report.paused, report.completed), (2, 1, 1), "{report:?}");
    let (nodes, completed) = record(&exec, id).await;
    assert_eq!(nodes, ["a", "a", "b", "b", "c", "c"]);
    assert_eq!(completed, 3);
}
