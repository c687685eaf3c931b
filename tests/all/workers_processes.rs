//! Three machines' worth of `wtb worker` processes on one PostgreSQL database and one bucket,
//! each in a data dir of its own, SIGKILLed one after another mid-node while an experiment and
//! executions run: every execution completes, every node's update, files and events once,
//! `fsck` clean before and after `gc orphans`.

use super::workers::record;
use std::collections::{BTreeSet, HashMap};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;
use wtb::executor::Executor;
use wtb::model::{ExecutionId, ExecutionStatus};
use wtb_tests::{Harness, services};

const AWS: [(&str, &str); 3] =
    [("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test"), ("AWS_REGION", "us-east-1")];

fn wtb(h: &Harness, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wtb-under-test"));
    cmd.args(args)
        .env("WTB_DATA_DIR", h.data_dir())
        .envs(AWS)
        .env_remove("WTB_TENANT")
        .env_remove("WTB_TOKEN")
        .current_dir(h.dir.path());
    cmd
}

/// A process of the test's: killed (SIGKILL) when dropped, so that a failing test leaves no
/// worker behind, and with the test process (a parent-death signal).
struct Proc(Child);

impl Proc {
    fn spawn(cmd: &mut Command) -> Self {
        // SAFETY: the closure only calls prctl, which is async-signal-safe.
        unsafe {
            use std::os::unix::process::CommandExt as _;
            cmd.pre_exec(|| {
                rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
                    .map_err(std::io::Error::from)
            });
        }
        Self(cmd.spawn().expect("starting wtb"))
    }

    fn id(&self) -> u32 {
        self.0.id()
    }

    /// SIGKILL, and waits for the end.
    fn kill(&mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }

    /// SIGTERM (a graceful stop).
    fn term(&self) {
        let pid = rustix::process::Pid::from_child(&self.0);
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    }

    fn wait(&mut self) -> ExitStatus {
        self.0.wait().unwrap()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// A worker process on machine `h`, one execution at a time, its log in `h`'s temp dir.
fn worker(h: &Harness, n: usize) -> Proc {
    let log = std::fs::File::create(h.dir.path().join(format!("worker-{n}.log"))).unwrap();
    Proc::spawn(
        wtb(h, &["worker", "--concurrency", "1", "--no-maintenance"]).stdout(Stdio::null()).stderr(log),
    )
}

/// The pid in a lease holder's name (`host:pid:nonce`).
fn pid_of(holder: &str) -> u32 {
    holder.split(':').nth(1).and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("holder {holder}"))
}

/// Each running execution's lease holder's pid (`None`: unleased).
async fn holders(exec: &Executor) -> HashMap<ExecutionId, Option<u32>> {
    let mut out = HashMap::new();
    for e in exec.inspect().recent(100).await.unwrap() {
        if e.status == ExecutionStatus::Running {
            let lease = exec.database().leases().lease(e.id).await.unwrap();
            out.insert(e.id, lease.map(|(h, _)| pid_of(&h)));
        }
    }
    out
}

/// Barrier: polls `holders` until `reached` holds of them.
async fn until(
    exec: &Executor,
    what: &str,
    reached: impl Fn(&HashMap<ExecutionId, Option<u32>>) -> bool,
) -> HashMap<ExecutionId, Option<u32>> {
    for _ in 0..3000 {
        let now = holders(exec).await;
        if reached(&now) {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("never reached: {what}; last seen {:?}", holders(exec).await);
}

/// Barrier: waits until every execution of `ids` is at `node` (its entry checkpoint recorded).
async fn wait_all_at(exec: &Executor, ids: &[ExecutionId], node: &str) {
    'poll: for _ in 0..3000 {
        for id in ids {
            let report = exec.inspect().describe(*id).await.unwrap();
            if !report.checkpoints.iter().any(|c| c.checkpoint.node == node) {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue 'poll;
            }
        }
        return;
    }
    panic!("not every execution of {ids:?} reached `{node}`");
}

/// Waits for `child`; if it failed, panics with the logs of every machine.
fn wait_ok(mut child: Proc, what: &str, machines: &[Harness]) {
    let status = child.wait();
    if status.success() {
        return;
    }
    let logs: Vec<String> = machines
        .iter()
        .flat_map(|m| std::fs::read_dir(m.dir.path()).unwrap().flatten())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
        .map(|e| {
            format!("{}:\n{}", e.path().display(), std::fs::read_to_string(e.path()).unwrap_or_default())
        })
        .collect();
    assert!(status.success(), "{what}: {status}; logs:\n{}", logs.join("\n---\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn workers_killed_mid_node_lose_nothing_and_run_nothing_twice() {
    let (pg, s3) = match (services::postgres(), services::s3()) {
        (Ok(pg), Ok(s3)) => (pg, s3),
        (Err(why), _) | (_, Err(why)) => return wtb_tests::skipped("workers_killed_mid_node", &why),
    };
    let database = format!("database = {{ url = \"{}\" }}\n", pg.database());
    let shared = format!("{database}{}[workers]\nhand_off = true\npoll_ms = 100\n", s3.blobs_config());
    let machines: Vec<Harness> = (0..3).map(|_| Harness::new()).collect();
    for m in &machines {
        m.config(&shared).unwrap();
    }
    let one = &machines[0];
    assert!(wtb(one, &["tenant", "create", "alpha"]).status().unwrap().success());
    let gate = one.gate();
    let big = "wtb ".repeat(25_000); // over the inline limit: a bucket object
    let wf = one.probe_workflow(
        "spread",
        &[
            (
                "a",
                serde_json::json!({ "action": "write", "files": { "big.txt": big },
                    "events": [["probe.wrote", { "file": "big.txt" }]] }),
            ),
            ("b", gate.node()),
            ("c", serde_json::json!({ "action": "write", "files": { "c.txt": "c" } })),
        ],
    );
    let experiment = one.file(
        "spread-exp.toml",
        "name = \"spread\"\nworkflow = \"spread.toml\"\n[[variants]]\nname = \"base\"\n\
         [[variants]]\nname = \"loud\"\nnodes.a = { config = { action = \"write\", files = { \"big.txt\" = \"LOUD\" } } }\n\
         [[variants]]\nname = \"quiet\"\nnodes.a = { config = { action = \"write\" } }\n",
    );
    // The test reads the database through an executor of its own (no bucket credentials in
    // this process: it reads rows, not blobs).
    let looking = Harness::new();
    looking.config(&database).unwrap();
    let observer = looking.executor().await;
    let alpha = observer.tenancy().tenant_named("alpha").await.unwrap();
    let observer = observer.for_tenant(alpha.id);

    let mut workers: Vec<Proc> = machines.iter().enumerate().map(|(n, m)| worker(m, n)).collect();
    let cells = Proc::spawn(
        wtb(one, &["--tenant", "alpha", "--json", "experiment", "run", experiment.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(one.dir.path().join("experiment.log")).unwrap()),
    );

    // The three cells spread over the three workers (one execution each), each at `b`.
    let held = until(&observer, "three cells, each on its own worker", |h| {
        h.len() == 3 && h.values().flatten().collect::<BTreeSet<_>>().len() == 3
    })
    .await;
    let cell_ids: Vec<ExecutionId> = held.keys().copied().collect();
    wait_all_at(&observer, &cell_ids, "b").await;

    // Twice: SIGKILL a worker mid-node (its cell waits at the gate inside `b`); a worker
    // started on the same machine takes the cell over and runs `b` again from its entry.
    for round in 0..2 {
        let victim = workers[round].id();
        let (cell, _) = held.iter().find(|(_, pid)| **pid == Some(victim)).expect("the victim holds a cell");
        workers[round].kill();
        workers[round] = worker(&machines[round], 3 + round);
        let successor = workers[round].id();
        until(&observer, "the killed worker's cell taken over", |h| h.get(cell) == Some(&Some(successor)))
            .await;
    }

    // Then the gate opens, two runs join in, and the third worker dies while they run.
    gate.open();
    let runs: Vec<Proc> = (0..2)
        .map(|n| {
            Proc::spawn(
                wtb(one, &["--tenant", "alpha", "--json", "run", wf.to_str().unwrap()])
                    .stdout(Stdio::null())
                    .stderr(std::fs::File::create(one.dir.path().join(format!("run-{n}.log"))).unwrap()),
            )
        })
        .collect();
    workers[2].kill();
    workers[2] = worker(&machines[2], 5);

    wait_ok(cells, "the experiment", &machines);
    for run in runs {
        wait_ok(run, "a run", &machines);
    }
    // Stopped by SIGTERM, a worker holding nothing exits cleanly.
    for w in &workers {
        w.term();
    }
    for (n, w) in workers.into_iter().enumerate() {
        wait_ok(w, &format!("worker {n} after SIGTERM"), &machines);
    }

    let executions = observer.inspect().recent(100).await.unwrap();
    assert_eq!(executions.len(), 5, "three cells and two runs");
    for e in &executions {
        assert_eq!(e.status, ExecutionStatus::Completed, "{e:?}");
        let (nodes, completed) = record(&observer, e.id).await;
        assert_eq!(nodes, ["a", "a", "b", "b", "c", "c"], "each node's entry and exit once: {}", e.id);
        assert_eq!(completed, 3, "each node's event once: {}", e.id);
        let (_, events) = observer.inspect().events_after(e.id, 0).await.unwrap();
        let count = |kind: &str| events.iter().filter(|ev| ev.kind == kind).count();
        let wrote = usize::from(matches!(e.variant.as_deref(), None | Some("base")));
        assert_eq!(count("guest.probe.wrote"), wrote, "the guest's event once: {}", e.id);
        let report = observer.inspect().describe(e.id).await.unwrap();
        let last = report.checkpoints.last().unwrap();
        assert!(last.files.contains_key("c.txt") && last.files.contains_key("gate.txt"), "{e:?}");
        // `a`'s file survives the take-overs: a workspace rebuilt on another worker from the
        // bucket has it (one not rebuilt would have committed its deletion).
        let wrote_big = e.variant.as_deref() != Some("quiet");
        assert_eq!(
            last.files.contains_key("big.txt"),
            wrote_big,
            "{e:?}: {:?}",
            last.files.keys().collect::<Vec<_>>()
        );
    }

    let fsck = wtb(one, &["fsck"]).output().unwrap();
    assert!(String::from_utf8_lossy(&fsck.stdout).contains("no problems"), "{fsck:?}");
    let gc = wtb(one, &["--json", "gc", "orphans", "--grace-seconds", "0"]).output().unwrap();
    assert!(gc.status.success(), "{gc:?}");
    let fsck = wtb(one, &["fsck"]).output().unwrap();
    assert!(
        String::from_utf8_lossy(&fsck.stdout).contains("no problems"),
        "nothing referenced lost: {fsck:?}"
    );
    let again = wtb(one, &["--json", "gc", "orphans", "--grace-seconds", "0", "--dry-run"]).output().unwrap();
    let again: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(again["removed"].as_array().map(Vec::len), Some(0), "no orphan left: {again}");
}

/// PostgreSQL restarted while two workers run executions (waiting inside `b`): the workers
/// and the waiting `wtb run`s reconnect, and every execution completes with each node once.
#[tokio::test(flavor = "multi_thread")]
async fn workers_ride_out_a_database_restart() {
    let (mut server, s3) = match (services::OwnPostgres::start(), services::s3()) {
        (Ok(server), Ok(s3)) => (server, s3),
        (Err(why), _) | (_, Err(why)) => {
            return wtb_tests::skipped("workers_ride_out_a_database_restart", &why);
        }
    };
    let database = format!("database = {{ url = \"{}\" }}\n", server.url);
    let shared = format!("{database}{}[workers]\nhand_off = true\npoll_ms = 100\n", s3.blobs_config());
    let machines: Vec<Harness> = (0..2).map(|_| Harness::new()).collect();
    for m in &machines {
        m.config(&shared).unwrap();
    }
    let one = &machines[0];
    let gate = one.gate();
    let wf = one.probe_workflow(
        "restart",
        &[
            ("a", serde_json::json!({ "action": "write", "files": { "a.txt": "a" } })),
            ("b", gate.node()),
            ("c", serde_json::json!({ "action": "write", "files": { "c.txt": "c" } })),
        ],
    );
    let looking = Harness::new();
    looking.config(&database).unwrap();
    let observer = looking.executor().await;
    let workers: Vec<Proc> = machines
        .iter()
        .enumerate()
        .map(|(n, m)| {
            let log = std::fs::File::create(m.dir.path().join(format!("worker-{n}.log"))).unwrap();
            Proc::spawn(
                wtb(m, &["worker", "--concurrency", "2", "--no-maintenance"])
                    .stdout(Stdio::null())
                    .stderr(log),
            )
        })
        .collect();
    let runs: Vec<Proc> = (0..4)
        .map(|n| {
            let log = std::fs::File::create(one.dir.path().join(format!("run-{n}.log"))).unwrap();
            Proc::spawn(
                wtb(one, &["--json", "run", wf.to_str().unwrap()])
                    .stdout(log.try_clone().unwrap())
                    .stderr(log),
            )
        })
        .collect();
    // Barrier: all four inside `b`, two on each worker.
    let held = until(&observer, "four executions claimed, two by each worker", |h| {
        let by: Vec<u32> = h.values().flatten().copied().collect();
        h.len() == 4
            && by.len() == 4
            && workers.iter().all(|w| by.iter().filter(|p| **p == w.id()).count() == 2)
    })
    .await;
    let ids: Vec<ExecutionId> = held.keys().copied().collect();
    wait_all_at(&observer, &ids, "b").await;
    observer.close().await;
    tokio::task::block_in_place(|| server.restart()).unwrap();
    gate.open();
    for run in runs {
        wait_ok(run, "a run across the restart", &machines);
    }
    let observer = looking.executor().await;
    for id in ids {
        assert_eq!(observer.status(id).await.unwrap(), ExecutionStatus::Completed);
        let (nodes, completed) = record(&observer, id).await;
        assert_eq!(nodes, ["a", "a", "b", "b", "c", "c"], "each node's entry and exit once: {id}");
        assert_eq!(completed, 3, "each node's event once: {id}");
    }
    for mut w in workers {
        w.term();
        assert!(w.wait().success(), "a worker stops cleanly after the restart");
    }
}
