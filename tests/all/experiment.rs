//! Experiments end to end: the greeting example (2 variants × 2 environments × 3 repetitions),
//! its report in every format, a run stopped and resumed without rerunning finished cells,
//! nondeterminism in deterministic mode failing the experiment, and bad experiment files.

use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use wtb::experiment::report;
use wtb_tests::Harness;

fn greeting(h: &Harness) -> std::path::PathBuf {
    wtb::demo::materialize(&h.dir.path().join("demo")).unwrap();
    h.dir.path().join("demo/greeting-experiment.toml")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_greeting_experiment_finds_the_clock_reader_nondeterministic_only_under_a_real_clock() {
    let h = Harness::new();
    let exec = h.executor().await;
    let loaded = exec.experiments().load(&greeting(&h)).await.unwrap();
    let record = exec.experiments().create(&loaded).await.unwrap();
    let done = AtomicUsize::new(0);
    let cells = exec
        .experiments()
        .run(&loaded, &record, 4, &|| false, &|_| {
            done.fetch_add(1, Ordering::SeqCst);
        })
        .await
        .unwrap();
    assert_eq!((cells.len(), done.load(Ordering::SeqCst)), (12, 12));
    let r = exec.experiments().report(record.id).await.unwrap();
    assert!(r.passed, "{:?}", r.problems);
    let matrix: Vec<(String, String, String)> =
        r.matrix.iter().map(|m| (m.variant.clone(), m.environment.clone(), m.outcomes.join(" "))).collect();
    assert_eq!(
        matrix,
        [
            ("plain".into(), "fixed-clock".into(), "A A A".into()),
            ("plain".into(), "real-clock".into(), "A A A".into()),
            ("stamped".into(), "fixed-clock".into(), "B B B".into()),
            ("stamped".into(), "real-clock".into(), "C D E".into()),
        ]
    );
    assert_eq!(r.nondeterminism.len(), 2);
    let f = &r.nondeterminism[0];
    assert_eq!(
        (
            f.variant.as_str(),
            f.environment.as_str(),
            f.divergence.node.as_str(),
            f.divergence.what.as_str(),
            f.deterministic
        ),
        ("stamped", "real-clock", "hello", "state key `stamped_at`", false)
    );
    // Against the baseline: the stamped greeting file differs, with a text diff.
    let stamped = r.cells.iter().find(|c| c.variant == "stamped" && c.environment == "fixed-clock").unwrap();
    let d = stamped.vs_baseline.as_ref().unwrap();
    assert_eq!(d.state.len(), 1);
    assert!(
        matches!(&d.files[0].content, Some(wtb::history::TextChange::Text { unified }) if unified.contains("+hello, Ada (at 1704067200")),
        "{:?}",
        d.files
    );
    assert!(r.cells.iter().all(|c| c.status == wtb::model::ExecutionStatus::Completed
        && c.fuel.unwrap() > 0
        && c.peak_memory_bytes > 0));

    // Cells are ordinary executions, tagged: history, diff and listing by variant work on them.
    let cell = stamped.execution.unwrap();
    let x = exec.inspect().describe(cell).await.unwrap().execution;
    assert_eq!(
        (x.variant.as_deref(), x.environment.seed, x.environment.clock),
        (Some("stamped"), Some(1), Some(1_704_067_200))
    );
    assert!(exec.inspect().history(cell).await.is_ok());
    let filter = wtb::db::ListFilter { variant: Some("stamped".into()), ..Default::default() };
    assert_eq!(exec.inspect().list(&filter, None, 100).await.unwrap().executions.len(), 6);
    // A fork of a cell is not that cell: the report still shows the original.
    let cp = exec.inspect().describe(cell).await.unwrap().checkpoints[0].checkpoint.id;
    let fork = exec.travel().fork(cp, &Default::default()).await.unwrap();
    assert_eq!(exec.inspect().describe(fork.execution).await.unwrap().execution.environment.cell, None);
    assert_eq!(
        exec.experiments()
            .report(record.id)
            .await
            .unwrap()
            .cells
            .iter()
            .find(|c| c.execution == Some(cell))
            .map(|c| c.repetition),
        Some(stamped.repetition)
    );

    // Every format.
    let v: Value = serde_json::to_value(&r).unwrap();
    assert_eq!(v["cells"].as_array().unwrap().len(), 12);
    let md = report::markdown(&r);
    assert!(md.contains("| stamped | real-clock | C D E |") && md.contains("```diff"), "{md}");
    let html = report::html(&r);
    assert!(
        html.starts_with("<!doctype html>")
            && html.contains("id=\"verdict\" class=\"passed\"")
            && !html.contains("<script"),
        "{html}"
    );
    assert!(report::table(&r).contains(
        "stamped × real-clock: repetitions 1 and 2 differ first at node `hello`, state key `stamped_at`"
    ));
    assert_eq!(exec.experiments().list(10).await.unwrap()[0].id, record.id);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_experiment_resumes_without_rerunning_finished_cells() {
    let h = Harness::new();
    let exec = h.executor().await;
    let loaded = exec.experiments().load(&greeting(&h)).await.unwrap();
    let record = exec.experiments().create(&loaded).await.unwrap();
    let started = AtomicUsize::new(0);
    let stop = || started.fetch_add(1, Ordering::SeqCst) >= 5;
    let first = exec.experiments().run(&loaded, &record, 1, &stop, &|_| {}).await.unwrap();
    assert_eq!(first.len(), 5);
    let r = exec.experiments().report(record.id).await.unwrap();
    assert!(!r.passed && r.problems[0].starts_with("7 cell(s) have not run"), "{:?}", r.problems);
    let second = exec.experiments().run(&loaded, &record, 4, &|| false, &|_| {}).await.unwrap();
    assert_eq!(second.len(), 12);
    for c in &first {
        let again = second.iter().find(|s| s.cell == c.cell).unwrap();
        assert_eq!(again.execution, c.execution, "finished cells are not run again");
    }
    assert_eq!(exec.inspect().recent(100).await.unwrap().len(), 12, "12 executions in all");
    assert!(exec.experiments().report(record.id).await.unwrap().passed);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_difference_in_deterministic_mode_fails_the_experiment() {
    let h = Harness::new();
    let exec = h.executor().await;
    // Deterministic mode fixes clocks, randomness and file times; a fixture the host changes
    // between repetitions is what is left to differ.
    let input = h.drift_workflow(None);
    let file = h.file("drift-exp.toml", "name = \"drift\"\nworkflow = \"drift.toml\"\nrepetitions = 2\n[[environments]]\nname = \"det\"\nseed = 3\n");
    let loaded = exec.experiments().load(&file).await.unwrap();
    let record = exec.experiments().create(&loaded).await.unwrap();
    let drift = |_: &_| std::fs::write(input.join("drift.txt"), "second").unwrap();
    exec.experiments().run(&loaded, &record, 1, &|| false, &drift).await.unwrap();
    let r = exec.experiments().report(record.id).await.unwrap();
    assert!(!r.passed);
    assert_eq!(r.problems, ["base × det is deterministic, yet repetitions 1 and 2 differ"]);
    assert_eq!(r.nondeterminism[0].divergence.what, "state key `read`");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_experiment_files_are_refused_before_any_cell_runs() {
    let h = Harness::new();
    let exec = h.executor().await;
    h.probe_workflow("wf", &[("a", json!({ "action": "write" }))]);
    h.file("garbage.wasm", b"not wasm");
    std::fs::create_dir_all(h.dir.path().join("fx")).unwrap();
    let cases = [
        ("[[variants]]\nname = \"v\"\nnodes.nope = { config = {} }\n", "has no node `nope` (it has: a)"),
        (
            "[[variants]]\nname = \"v\"\nnodes.a = { component = \"garbage.wasm\" }\n",
            "not a valid WebAssembly component",
        ),
        ("variants = []\n", "an empty matrix"),
        ("[[variants]]\nname = \"v\"\n[alternatives]\na = [\"x.wasm\"]\n", "conflicts with [[variants]]"),
        ("[[environments]]\nname = \"e\"\nfixtures = { \"/d\" = \"missing\" }\n", "fixture directory"),
        ("repetitions = 0\n", "must be between 1 and 1000"),
    ];
    for (body, expected) in cases {
        let file = h.file("bad-exp.toml", format!("name = \"bad\"\nworkflow = \"wf.toml\"\n{body}"));
        let e = exec.experiments().load(&file).await.err().map(|e| e.to_string()).expect("refused");
        assert!(e.contains(expected) && e.contains("bad-exp.toml:"), "{body}: {e}");
    }
    // An environment mounting a fixture where a node already has one: conflicting overrides.
    h.file(
        "fxwf.toml",
        "name = \"fx\"\n[[nodes]]\nid = \"a\"\ncomponent = \"probe.wasm\"\nfixtures = { \"/d\" = \"fx\" }\n",
    );
    let file = h.file("clash.toml", "name = \"clash\"\nworkflow = \"fxwf.toml\"\n[[environments]]\nname = \"e\"\nfixtures = { \"/d\" = \"fx\" }\n");
    let e = exec.experiments().load(&file).await.err().map(|e| e.to_string()).expect("refused");
    assert!(
        e.contains("conflicting overrides: node `a` already mounts a fixture at `/d`")
            && e.contains("clash.toml:4:"),
        "{e}"
    );
    assert!(exec.inspect().recent(10).await.unwrap().is_empty(), "nothing ran");
    assert_eq!(exec.experiments().list(10).await.unwrap().len(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_html_report_renders_in_headless_chromium() {
    let browser = match wtb_tests::chromium() {
        Ok(b) => b,
        Err(why) => {
            wtb_tests::skipped("html rendering", &why);
            return;
        }
    };
    let h = Harness::new();
    let exec = h.executor().await;
    let loaded = exec.experiments().load(&greeting(&h)).await.unwrap();
    let record = exec.experiments().create(&loaded).await.unwrap();
    exec.experiments().run(&loaded, &record, 4, &|| false, &|_| {}).await.unwrap();
    let page = h.dir.path().join("report.html");
    std::fs::write(&page, report::html(&exec.experiments().report(record.id).await.unwrap())).unwrap();
    let url = format!("file://{}", page.display());
    let headless =
        ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"];
    let dom =
        std::process::Command::new(&browser).args(headless).args(["--dump-dom", &url]).output().unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.contains("id=\"verdict\"") && dom.contains(">passed<") && dom.contains("C D E"),
        "the rendered DOM: {dom}"
    );
    let shot = h.dir.path().join("report.png");
    let out = std::process::Command::new(&browser)
        .args(headless)
        .args([&format!("--screenshot={}", shot.display()), "--window-size=1200,900", &url])
        .output()
        .unwrap();
    let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("no screenshot ({e}): {out:?}"));
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "a real picture of the page");
}

#[tokio::test(flavor = "multi_thread")]
async fn cells_fork_from_a_checkpoint_so_earlier_nodes_run_once() {
    let h = Harness::new();
    let exec = h.executor().await;
    let wf = h.probe_workflow(
        "three",
        &[
            (
                "expensive",
                json!({ "action": "write", "sized": { "big.bin": 200_000 }, "update": { "prepared": true } }),
            ),
            ("tune", json!({ "action": "write", "update": { "mode": "a" } })),
            ("finish", json!({ "action": "write", "files": { "done.txt": "done" } })),
        ],
    );
    let run = exec.run(&exec.load_workflow(&wf).await.unwrap(), serde_json::Map::new()).await.unwrap();
    let r = exec.inspect().describe(run.execution).await.unwrap();
    // The entry checkpoint of `tune`: after `expensive` committed.
    let from = r
        .checkpoints
        .iter()
        .find(|c| c.checkpoint.node == "tune" && c.checkpoint.kind == wtb::model::CheckpointKind::Entry)
        .unwrap()
        .checkpoint
        .id;
    let blobs_before = exec.database().blobs().totals(exec.tenant()).await.unwrap();
    let file = h.file("fork-exp.toml", format!(
        "name = \"fork\"\nworkflow = \"three.toml\"\nfrom = \"{from}\"\nrepetitions = 2\n\
         [[variants]]\nname = \"a\"\n[[variants]]\nname = \"b\"\nnodes.tune = {{ config = {{ action = \"write\", update = {{ mode = \"b\" }} }} }}\n"
    ));
    let loaded = exec.experiments().load(&file).await.unwrap();
    let record = exec.experiments().create(&loaded).await.unwrap();
    let cells = exec.experiments().run(&loaded, &record, 2, &|| false, &|_| {}).await.unwrap();
    assert_eq!(cells.len(), 4);
    for c in &cells {
        let x = exec.inspect().describe(c.execution).await.unwrap();
        assert_eq!(x.execution.parent_checkpoint, Some(from), "a fork of the checkpoint");
        assert_eq!(x.execution.status.as_str(), "completed");
        let state = &x.checkpoints.last().unwrap().checkpoint.state;
        assert_eq!(
            (state["prepared"].clone(), state["mode"].clone()),
            (json!(true), json!(c.cell.variant.clone()))
        );
        let expensive_runs = x
            .nodes
            .iter()
            .filter(|n| n.boundary.node == "expensive" && n.boundary.started_at > record.created_at)
            .count();
        assert_eq!(expensive_runs, 0, "the node before the checkpoint did not run again");
    }
    let blobs_after = exec.database().blobs().totals(exec.tenant()).await.unwrap();
    assert_eq!(blobs_after.bytes, blobs_before.bytes, "forks share blobs: none copied");
    let r = exec.experiments().report(record.id).await.unwrap();
    assert!(r.passed, "{:?}", r.problems);
    assert_eq!(r.matrix.iter().map(|m| m.outcomes.join(" ")).collect::<Vec<_>>(), ["A A", "B B"]);

    // A checkpoint that is not this tenant's (or does not exist) is refused before any cell.
    let other = h.file(
        "bad-from.toml",
        "name = \"x\"\nworkflow = \"three.toml\"\nfrom = \"01a20a14-ebfd-76e7-80e5-a292b641ee44\"\n",
    );
    let loaded = exec.experiments().load(&other).await.unwrap();
    assert!(
        exec.experiments()
            .create(&loaded)
            .await
            .unwrap_err()
            .to_string()
            .contains("no checkpoint 01a20a14-ebfd-76e7-80e5-a292b641ee44")
    );
}

#[test]
fn the_experiment_commands_work_from_the_command_line() {
    let h = Harness::new();
    let file = greeting(&h);
    let wtb = |args: &[&str]| crate::wtb(&h, args);
    let run = wtb(&["experiment", "run", file.to_str().unwrap(), "--parallelism", "3", "--json"]);
    assert!(run.status.success(), "{run:?}");
    let v: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!((v["ran"].as_u64(), v["report"]["passed"].as_bool()), (Some(12), Some(true)));
    let id = v["experiment"].as_str().unwrap().to_owned();
    let list = String::from_utf8(wtb(&["experiment", "list"]).stdout).unwrap();
    assert!(
        list.contains(&id)
            && list.contains("greeting-ab")
            && list.contains("2 variant(s) × 2 environment(s) × 3"),
        "{list}"
    );
    let show = String::from_utf8(wtb(&["experiment", "show", &id]).stdout).unwrap();
    assert!(show.contains("stamped        × real-clock     C D E"), "{show}");
    let html = h.dir.path().join("r.html");
    assert!(
        wtb(&["experiment", "report", &id, "--format", "html", "-o", html.to_str().unwrap()])
            .status
            .success()
    );
    assert!(std::fs::read_to_string(&html).unwrap().contains("greeting-ab"));
    let resumed = wtb(&["experiment", "resume", &id, "--json"]);
    assert_eq!(
        serde_json::from_slice::<Value>(&resumed.stdout).unwrap()["report"]["cells"]
            .as_array()
            .unwrap()
            .len(),
        12,
        "nothing left to run, same report"
    );
    for (args, expected) in [
        (vec!["experiment", "show", "nope"], "not a valid experiment id"),
        (vec!["experiment", "show", "01a20a14-ebfd-76e7-80e5-a292b641ee44"], "no experiment"),
        (vec!["experiment", "run", "missing.toml"], "missing.toml"),
    ] {
        let out = wtb(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(expected), "{args:?}: {out:?}");
    }
}
