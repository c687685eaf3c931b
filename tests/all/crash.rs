//! Crash tests with real processes: `wtb run` is killed at named points of the protocol
//! (`WTB_FAILPOINT`, the process aborts like a SIGKILL) and at random instants (a real
//! SIGKILL), then `wtb resume --all` finishes the run. Every time, the result must equal an
//! uninterrupted run: the same state and files at every node's exit, every guest event
//! exactly once, one entry and one exit checkpoint per node, no gaps in the history.

use serde_json::Value;
use std::collections::BTreeMap;
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::Duration;
use wtb::model::{AttemptStatus, CheckpointKind, ExecutionStatus};
use wtb_tests::Harness;

/// Per node: attempts that succeeded, and the state and files (path, digest) of its exit.
type Exits = BTreeMap<String, (usize, Value, Vec<(String, String)>)>;

/// What must be identical between an interrupted-and-resumed run and an uninterrupted one.
#[derive(Debug, PartialEq)]
struct Fingerprint {
    status: ExecutionStatus,
    exits: Exits,
    /// Guest events (node names), sorted.
    guest_events: Vec<String>,
    /// `node.completed` events per node.
    completed_events: BTreeMap<String, usize>,
    /// Entry and exit checkpoints per node.
    checkpoints: BTreeMap<(String, String), usize>,
    /// Seqs are 1..=n.
    seqs_contiguous: bool,
}

fn wtb(h: &Harness) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wtb-under-test"));
    c.env("WTB_DATA_DIR", h.data_dir())
        .env_remove("WTB_FAILPOINT")
        .current_dir(h.dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

async fn fingerprint(h: &Harness) -> Fingerprint {
    let exec = h.executor().await;
    let recent = exec.inspect().recent(10).await.unwrap();
    assert_eq!(recent.len(), 1, "one execution per harness");
    let r = exec.inspect().describe(recent[0].id).await.unwrap();
    let mut exits = Exits::new();
    for n in r.nodes.iter().filter(|n| n.boundary.status == AttemptStatus::Succeeded) {
        let exit = r
            .checkpoints
            .iter()
            .find(|c| Some(c.checkpoint.id) == n.boundary.exit_checkpoint)
            .expect("exit checkpoint");
        let files = exit
            .files
            .iter()
            .map(|(p, e)| (p.clone(), e.digest.map(|d| d.to_hex()).unwrap_or_default()))
            .collect();
        let slot = exits.entry(n.boundary.node.clone()).or_insert((0, Value::Null, Vec::new()));
        *slot = (slot.0 + 1, (*exit.checkpoint.state).clone(), files);
    }
    let mut guest_events: Vec<String> = r
        .events
        .iter()
        .filter(|e| e.kind == "guest.step")
        .map(|e| e.payload["data"]["node"].to_string())
        .collect();
    guest_events.sort();
    let mut completed_events = BTreeMap::new();
    for e in r.events.iter().filter(|e| e.kind == "node.completed") {
        *completed_events.entry(e.payload["node"].as_str().unwrap_or("?").to_owned()).or_insert(0) += 1;
    }
    let mut checkpoints = BTreeMap::new();
    for c in &r.checkpoints {
        let kind = if c.checkpoint.kind == CheckpointKind::Entry { "entry" } else { "exit" };
        *checkpoints.entry((c.checkpoint.node.clone(), kind.to_owned())).or_insert(0) += 1;
    }
    let seqs: Vec<u32> = r.checkpoints.iter().map(|c| c.checkpoint.seq).collect();
    let seqs_contiguous = seqs == (1..=seqs.len() as u32).collect::<Vec<_>>();
    exec.close().await;
    Fingerprint {
        status: r.execution.status,
        exits,
        guest_events,
        completed_events,
        checkpoints,
        seqs_contiguous,
    }
}

fn setup(sleep_ms: u64) -> (Harness, std::path::PathBuf) {
    setup_in(Harness::new(), sleep_ms)
}

fn setup_in(h: Harness, sleep_ms: u64) -> (Harness, std::path::PathBuf) {
    let path = h.file("diamond.toml", crate::engine::diamond("left.txt", "right.txt", sleep_ms));
    (h, path)
}

async fn reference() -> Fingerprint {
    let (h, path) = setup(0);
    let out = wtb(&h).arg("run").arg(&path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let f = fingerprint(&h).await;
    assert_eq!(f.status, ExecutionStatus::Completed);
    assert!(f.seqs_contiguous);
    assert_eq!(f.guest_events.len(), 4);
    f
}

fn resume_all(h: &Harness) {
    let out = wtb(h).args(["resume", "--all"]).output().unwrap();
    assert!(
        out.status.success(),
        "resume failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn crash_at(point: &str, expected: &Fingerprint) {
    let (h, path) = setup(0);
    let out = wtb(&h).arg("run").arg(&path).env("WTB_FAILPOINT", point).output().unwrap();
    assert_eq!(
        out.status.code(),
        None,
        "`{point}` was never reached: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("failpoint"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    resume_all(&h);
    assert_eq!(&fingerprint(&h).await, expected, "after a crash at `{point}`");
}

#[tokio::test]
async fn killed_at_every_named_point_the_resumed_run_equals_an_uninterrupted_one() {
    let expected = reference().await;
    for point in [
        "in-guest@1",
        "in-guest@2",
        "in-guest@4",
        "after-capture@1",
        "after-capture@3",
        "before-commit@1",
        "before-commit@2",
        "before-commit@4",
        "after-commit@1",
        "after-commit@2",
        "after-commit@4",
        "branch-start@1",
        "join@1",
    ] {
        crash_at(point, &expected).await;
    }
}

#[tokio::test]
async fn killed_at_random_instants_the_resumed_run_equals_an_uninterrupted_one() {
    let expected = reference().await;
    let seed = std::time::SystemTime::UNIX_EPOCH.elapsed().map(|d| d.subsec_nanos()).unwrap_or(7);
    let mut interrupted = 0;
    for i in 0..6u32 {
        // Spread over the run (once its execution exists), jittered: reproducible from the
        // printed seed.
        let delay = i * 15 + seed.wrapping_mul(2_654_435_761).wrapping_add(i * 97_531) % 15;
        // The engine's log line of a committed start says the run has begun.
        let (h, path) = setup_in(Harness::new(), 40);
        let mut child = wtb(&h).arg("run").arg(&path).env("WTB_LOG", "wtb_engine=info").spawn().unwrap();
        let mut log = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        while log.read_line(&mut line).unwrap() > 0 && !line.contains("execution started") {
            line.clear();
        }
        std::thread::sleep(Duration::from_millis(u64::from(delay)));
        let _ = child.kill();
        let _ = child.wait();
        let exec = h.executor().await;
        let status = exec.inspect().recent(1).await.unwrap().first().map(|e| e.status);
        exec.close().await;
        match status {
            None => continue,
            Some(ExecutionStatus::Running) => interrupted += 1,
            Some(_) => {}
        }
        resume_all(&h);
        assert_eq!(fingerprint(&h).await, expected, "after a SIGKILL {delay} ms into the run (seed {seed})");
    }
    assert!(interrupted > 0, "no kill landed inside a run (seed {seed})");
    eprintln!("{interrupted} of 6 kills interrupted a running execution");
}
