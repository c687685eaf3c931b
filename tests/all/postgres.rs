//! The PostgreSQL backend's own behaviour at its edges: what an unreachable server, a bad URL
//! and a schema from a newer WTB do, and that the suite really runs on the backend it was
//! asked for. (Everything else runs against both backends, `WTB_TEST_BACKEND=postgres`, but
//! for the backend-independent `toolchains` tests.)

use std::process::{Command, Output};
use wtb::db::{Database, Postgres, Sqlite};
use wtb_tests::Harness;
use wtb_tests::services::{self, Backend};

fn wtb(h: &Harness, args: &[&str]) -> Output {
    crate::wtb_command(h)
        .args(args)
        .env_remove("WTB_DATABASE_URL")
        .current_dir(h.dir.path())
        .output()
        .expect("running wtb")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test]
async fn the_suite_runs_on_the_backend_it_was_asked_for() {
    let h = Harness::new();
    let exec = h.executor().await;
    let db: &dyn Database = exec.database().as_ref();
    match services::backend() {
        Backend::Sqlite => assert!(db.as_any().is::<Sqlite>(), "WTB_TEST_BACKEND=sqlite runs on SQLite"),
        Backend::Postgres => {
            assert!(db.as_any().is::<Postgres>(), "WTB_TEST_BACKEND=postgres runs on PostgreSQL")
        }
    }
}

#[test]
fn an_unreachable_database_is_one_line_naming_the_url_without_its_password() {
    let h = Harness::new();
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("postgres://wtb:hunter2-secret@127.0.0.1:{port}/nowhere");
    let out = wtb(&h, &["--database-url", &url, "list"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = stderr(&out);
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.contains(&format!("postgres://wtb:***@127.0.0.1:{port}/nowhere")), "names the URL: {err}");
    assert!(!err.contains("hunter2"), "never the password: {err}");
}

#[test]
fn a_database_url_that_is_not_postgres_is_a_config_error_naming_the_file() {
    let h = Harness::new();
    h.config("database = { url = \"mysql://root:pw@db/wtb\" }\n").unwrap();
    let out = wtb(&h, &["list"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = stderr(&out);
    assert!(err.contains("wtb.toml") && err.contains("must start with postgres://"), "{err}");
    assert!(!err.contains(":pw@"), "never the password: {err}");
}

#[test]
fn a_database_migrated_by_a_newer_wtb_is_refused_with_both_versions() {
    let server = match services::postgres() {
        Ok(server) => server,
        Err(why) => return wtb_tests::skipped("a_database_migrated_by_a_newer_wtb_is_refused", &why),
    };
    let h = Harness::new();
    let url = server.database();
    assert!(wtb(&h, &["--database-url", &url, "list"]).status.success(), "a fresh database migrates");
    let newer = Command::new("psql")
        .args([url.as_str(), "-q", "-c"])
        .arg("INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (29991231000001, 'from the future', true, '\\x00', 0)")
        .output()
        .expect("running psql");
    assert!(newer.status.success(), "{newer:?}");
    let out = wtb(&h, &["--database-url", &url, "list"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = stderr(&out);
    let known = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations/postgres"))
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().split('_').next().map(str::to_owned))
        .max()
        .unwrap();
    assert!(err.contains("29991231000001") && err.contains(&known), "both versions ({known}): {err}");
    assert!(err.contains("newer wtb"), "says what to do: {err}");
}

/// Regression (found by `retention::gc_running_while_executions_run_loses_nothing` on
/// PostgreSQL): a collection's marks and sweep are separate statements, and under READ
/// COMMITTED an exit committing between them could reference a blob row the sweep then
/// deleted. Every group commit now holds the sweep lock shared, so a collection waits for the
/// group in flight (held open here at its commit) and then sees its references.
#[tokio::test(flavor = "multi_thread")]
async fn a_collection_waits_for_the_group_in_flight_and_keeps_what_it_references() {
    use std::sync::Arc;
    use wtb::db::{Durability, Submission, UnitOfWork, Write};
    use wtb::model::*;
    let server = match services::postgres() {
        Ok(server) => server,
        Err(why) => return wtb_tests::skipped("a_collection_waits_for_the_group_in_flight", &why),
    };
    let url = server.database();
    let db: Arc<dyn Database> = Arc::new(Postgres::open(&url, Durability::Full).await.unwrap());
    // An execution at its entry checkpoint (empty tree) and two blob rows nothing references.
    let (s, unit, _) = crate::seam::start_unit();
    db.write(unit).await.unwrap();
    let hi = Digest::of(b"hi");
    let mut tree = FileTree::new();
    tree.insert("hi.txt".into(), FileEntry { kind: EntryKind::File, digest: Some(hi), size: 2, mode: 0o644 });
    let commit = FileCommit {
        id: FileCommitId::from_uuid(wtb::clock::IdGen::next(&wtb::clock::UuidV7Ids)),
        tenant: s.tenant,
        parent: Some(s.entry.file_commit),
        changes: diff_trees(&FileTree::new(), &tree),
        tree: tree.into(),
        depth: 1,
        created_at: s.entry.created_at,
    };
    let exit = Checkpoint {
        id: CheckpointId::from_uuid(wtb::clock::IdGen::next(&wtb::clock::UuidV7Ids)),
        seq: 2,
        kind: CheckpointKind::Exit,
        file_commit: commit.id,
        ..s.entry.clone()
    };
    // The exit that references `hi` waits, transaction open, at its commit.
    let held = wtb::failpoint::arm_pause("before-group-commit", &wtb::db::postgres::redact(&url));
    let (reply, committed) = tokio::sync::oneshot::channel();
    let mut exit_unit = UnitOfWork::new();
    exit_unit.push(Write::FileCommit(commit)).push(Write::Checkpoint(exit));
    db.submit(Submission { work: exit_unit, roll_back: false, exit: true, poisoned: Arc::default(), reply });
    held.reached().await;

    let gc_db = db.clone();
    let gc = tokio::spawn(async move { gc_db.retention().collect(&[], false, &mut |_, _| Vec::new()).await });
    // Barrier: the collection is waiting for the lock (seen in pg_locks), not done.
    let mut watcher = wtb::db::sql_pool(db.as_ref()).unwrap().acquire().await.unwrap();
    loop {
        assert!(!gc.is_finished(), "the collection ran while an exit group was in flight: {:?}", gc.await);
        let (waiting,): (i64,) =
            wtb::db::sql::query("SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
                .fetch_one(&mut watcher.conn())
                .await
                .unwrap();
        if waiting > 0 {
            break;
        }
        tokio::task::yield_now().await;
    }
    held.release();
    committed.await.unwrap().unwrap();
    let (_, swept) = gc.await.unwrap().unwrap();
    assert!(db.blobs().get_one(s.tenant, &hi).await.unwrap().is_some(), "the referenced row stays");
    let gone: Vec<_> = swept.blobs.iter().map(|(_, d, _, _)| *d).collect();
    assert_eq!(gone, vec![Digest::of(b"big")], "only the unreferenced row goes");
}

/// The PostgreSQL writer sends each group as text with its values inlined as literals: any
/// text and any bytes (quotes, backslashes, `$$`, `;`, comments, any Unicode) must come back
/// exactly, in one group of many units. A NUL, which PostgreSQL cannot store in text, comes
/// back as U+FFFD.
#[tokio::test(flavor = "multi_thread")]
async fn inlined_literals_round_trip_any_text_and_bytes() {
    use proptest::strategy::{Strategy as _, ValueTree as _};
    use std::sync::Arc;
    use wtb::db::{Durability, UnitOfWork, Write};
    use wtb::model::*;
    let server = match services::postgres() {
        Ok(server) => server,
        Err(why) => return wtb_tests::skipped("inlined_literals_round_trip_any_text_and_bytes", &why),
    };
    let db: Arc<dyn Database> = Arc::new(Postgres::open(&server.database(), Durability::Full).await.unwrap());
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = (
        proptest::arbitrary::any::<String>(),
        proptest::collection::vec(proptest::arbitrary::any::<u8>(), 0..300),
    );
    let mut cases: Vec<(String, Vec<u8>)> =
        (0..200).map(|_| strategy.new_tree(&mut runner).unwrap().current()).collect();
    for nasty in [
        "'",
        "''",
        "\\",
        "\\'",
        "'; DROP TABLE blobs; --",
        "$$",
        "$1",
        "?",
        "\u{0}x",
        "é\u{10ffff}",
        "E'\\x41'",
    ] {
        cases.push((nasty.to_owned(), nasty.as_bytes().to_vec()));
    }
    let mut units = Vec::new();
    for (i, (text, bytes)) in cases.iter().enumerate() {
        let mut bytes = bytes.clone();
        bytes.extend_from_slice(&(i as u64).to_le_bytes()); // distinct digests
        let workflow = WorkflowRecord {
            id: WorkflowId::from_uuid(wtb::clock::IdGen::next(&wtb::clock::UuidV7Ids)),
            tenant: TenantId::DEFAULT,
            name: text.clone(),
            digest: Digest::of(&bytes),
            definition: serde_json::json!({ "text": text }),
            created_at: Timestamp::from_micros(1),
        };
        let blob = BlobRecord {
            tenant: TenantId::DEFAULT,
            digest: Digest::of(&bytes),
            size: bytes.len() as u64,
            inline: Some(bytes),
            created_at: Timestamp::from_micros(1),
        };
        let mut unit = UnitOfWork::new();
        unit.push(Write::Workflow(workflow.clone())).push(Write::Blob(blob.clone()));
        units.push((unit, workflow, blob));
    }
    // Submitted together, so they form groups of many units.
    let writes = units.iter().map(|(unit, _, _)| db.write(unit.clone()));
    for result in futures_util::future::join_all(writes).await {
        result.unwrap();
    }
    for (_, workflow, blob) in &units {
        let stored = db.workflows().get_one(TenantId::DEFAULT, workflow.id).await.unwrap().unwrap();
        assert_eq!(stored.name, workflow.name.replace('\0', "\u{fffd}"), "text round-trips");
        assert_eq!(stored.definition, workflow.definition, "JSON (NUL escaped in it) round-trips");
        let got = db.blobs().get_one(TenantId::DEFAULT, &blob.digest).await.unwrap().unwrap();
        assert_eq!(got.inline, blob.inline, "bytes round-trip");
    }
}

/// The server restarts while an execution runs (a node waits at a gate meanwhile): the commit
/// writer's connection died with it, so the node's exit reconnects and commits on the new
/// server; nothing is lost or repeated, and the execution completes.
#[tokio::test(flavor = "multi_thread")]
async fn a_server_restart_while_an_execution_runs_loses_nothing() {
    use serde_json::{Map, json};
    use wtb::model::ExecutionStatus;
    let mut server = match services::OwnPostgres::start() {
        Ok(server) => server,
        Err(why) => {
            return wtb_tests::skipped("a_server_restart_while_an_execution_runs_loses_nothing", &why);
        }
    };
    let h = Harness::new();
    h.config(format!("database = {{ url = \"{}\" }}\n", server.url)).unwrap();
    let exec = h.executor().await;
    let gate = h.gate();
    let path = h.probe_workflow(
        "restart",
        &[
            ("a", json!({ "action": "write", "files": { "a.txt": "a" } })),
            ("b", gate.node()),
            ("c", json!({ "action": "write", "files": { "c.txt": "c" } })),
        ],
    );
    let wf = exec.load_workflow(&path).await.unwrap();
    let run = exec.run(&wf, Map::new());
    let restart = async {
        // Barrier: `b` has its entry checkpoint, so it is running (waiting at the gate).
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            let Some(e) = exec.inspect().recent(1).await.unwrap().pop() else { continue };
            let report = exec.inspect().describe(e.id).await.unwrap();
            if report.checkpoints.iter().any(|c| c.checkpoint.node == "b") {
                break e.id;
            }
        }
    };
    let (summary, id) = tokio::join!(run, async {
        let id = restart.await;
        tokio::task::block_in_place(|| server.restart()).unwrap();
        gate.open();
        id
    });
    let summary = summary.unwrap();
    assert_eq!(summary.status, ExecutionStatus::Completed, "{:?}", summary.failure);
    let report = exec.inspect().describe(id).await.unwrap();
    let nodes: Vec<&str> = report.checkpoints.iter().map(|c| c.checkpoint.node.as_str()).collect();
    assert_eq!(nodes, ["a", "a", "b", "b", "c", "c"], "each node's entry and exit once");
    let (_, events) = exec.inspect().events_after(id, 0).await.unwrap();
    let completed = events.iter().filter(|e| e.kind == "node.completed").count();
    assert_eq!(completed, 3, "each node's event once");
}
