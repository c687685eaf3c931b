//! `wtb test` end to end through the real binary: the example test file `wtb demo` writes
//! passes (and its JUnit XML says so); a case whose expectations do not hold fails with a
//! readable line per expectation and the execution to inspect; a bad test file is exit 2 with
//! file, line and field, and nothing runs.

use serde_json::Value;
use wtb_tests::Harness;

fn demo_dir(h: &Harness) -> std::path::PathBuf {
    let out = crate::wtb(h, &["demo"]);
    assert!(out.status.success(), "{out:?}");
    h.data_dir().join("demo")
}

#[test]
fn the_example_test_file_passes_and_writes_junit() {
    let h = Harness::new();
    let demo = demo_dir(&h);
    let junit = h.dir.path().join("results.xml");
    let file = demo.join("sensors.test.toml");
    let out = crate::wtb(&h, &["--json", "test", file.to_str().unwrap(), "--junit", junit.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((r["cases"].as_u64(), r["failed"].as_u64()), (Some(3), Some(0)), "{r}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("<testsuites name=\"wtb test\" tests=\"3\" failures=\"0\">"), "{xml}");
    // Each case ran as its own execution, tagged with the case's name.
    let id = r["files"][0]["cases"][0]["execution"].as_str().unwrap();
    let shown: Value = serde_json::from_slice(&crate::wtb(&h, &["--json", "show", id]).stdout).unwrap();
    assert_eq!(shown["execution"]["variant"], "test: the report lists every sensor and raises the alerts");
    // A directory runs the *.test.toml files in it.
    let out = crate::wtb(&h, &["test", demo.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.ends_with("3 cases: 3 passed, 0 failed\n"), "{text}");
}

#[test]
fn unmet_expectations_fail_the_case_with_a_line_each() {
    let h = Harness::new();
    let demo = demo_dir(&h);
    let file = demo.join("wrong.test.toml");
    std::fs::write(
        &file,
        "[[case]]\nname = \"wrong\"\nworkflow = \"sensors.toml\"\n[case.expect]\nstatus = \"failed\"\npath = [\"generate\", \"report\"]\nstate = { rows = 3 }\nfiles = { \"report.md\" = { content = \"# Another report\\n\" }, \"data\" = { absent = true } }\nevents = [{ kind = \"report.ready\", payload = { path = \"other.md\" } }]\n\n[[case]]\nname = \"right\"\nworkflow = \"sensors.toml\"\n",
    )
    .unwrap();
    let junit = h.dir.path().join("results.xml");
    let out = crate::wtb(
        &h,
        &["test", file.to_str().unwrap(), "--junit", junit.to_str().unwrap(), "--parallel", "2"],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    for line in [
        "  FAIL  wrong (execution ",
        "        status: expected failed, got completed",
        "        path: expected generate → report, got generate → transform → report",
        "        state /rows: expected 3, got 200",
        "        file report.md: content differs (expected → found):",
        "        -# Another report",
        "        +# Sensor report",
        "        file data: expected absent, it exists",
        "        events: expected #1 `report.ready` with payload ⊇ {\"path\":\"other.md\"} (in order); emitted: [report.ready]",
        "  ok    right (execution ",
        "2 cases: 1 passed, 1 failed",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("tests=\"2\" failures=\"1\"")
            && xml.contains("<failure message=\"status: expected failed, got completed\">"),
        "{xml}"
    );
}

#[test]
fn bad_test_files_are_refused_before_anything_runs() {
    let h = Harness::new();
    let demo = demo_dir(&h);
    let runs_before = crate::wtb(&h, &["--json", "list"]).stdout;
    let cases = [
        (
            "unknown.test.toml",
            "[[case]]\nname = \"a\"\nworkflow = \"sensors.toml\"\nexpekt = {}\n",
            "unknown.test.toml:4:1: unknown field `expekt`",
        ),
        (
            "node.test.toml",
            "[[case]]\nname = \"a\"\nworkflow = \"sensors.toml\"\n[case.expect]\npath = [\"generate\", \"nope\"]\n",
            "node.test.toml:5:21: `case[0].expect.path`: workflow `sensor-report` has no node `nope`",
        ),
        (
            "workflow.test.toml",
            "[[case]]\nname = \"a\"\nworkflow = \"missing.toml\"\n",
            "workflow.test.toml:1:1: `case[0].workflow`: ",
        ),
    ];
    for (name, text, says) in cases {
        let file = demo.join(name);
        std::fs::write(&file, text).unwrap();
        let out = crate::wtb(&h, &["test", file.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains(says), "{name}: {err}");
    }
    let out = crate::wtb(&h, &["test", h.dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no *.test.toml files in this directory"));
    assert_eq!(crate::wtb(&h, &["--json", "list"]).stdout, runs_before, "nothing ran");
}

#[test]
fn update_writes_a_golden_snapshot_that_later_runs_must_reproduce() {
    let h = Harness::new();
    let demo = demo_dir(&h);
    let file = demo.join("golden.test.toml");
    let text = "[[case]]\nname = \"snapshot\"\nworkflow = \"sensors.toml\"\n[case.expect]\ngolden = \"golden/sensors\"\nignore = [\"data/*.json\"]\n";
    std::fs::write(&file, text).unwrap();
    let test = |extra: &[&str]| crate::wtb(&h, &[&["test", file.to_str().unwrap()], extra].concat());

    let out = test(&[]);
    assert_eq!(out.status.code(), Some(2), "no snapshot yet: {out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("golden.test.toml:5:10: `case[0].expect.golden`: golden snapshot `golden/sensors` does not exist: `wtb test --update` writes it"),
        "{err}"
    );
    assert!(test(&["--update"]).status.success());
    let golden = demo.join("golden/sensors");
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(golden.join("state.json")).unwrap()).unwrap();
    assert_eq!(state["rows"], 200);
    assert!(std::fs::read_to_string(golden.join("files/report.md")).unwrap().starts_with("# Sensor report"));
    let out = test(&[]);
    assert!(
        out.status.success(),
        "a deterministic run reproduces its snapshot: {}",
        String::from_utf8_lossy(&out.stdout)
    );

    // The snapshot edited by hand: every difference is named, ignored paths are not.
    std::fs::write(
        golden.join("state.json"),
        serde_json::to_string(&serde_json::json!({ "rows": 199 })).unwrap(),
    )
    .unwrap();
    let report = std::fs::read_to_string(golden.join("files/report.md")).unwrap();
    std::fs::write(golden.join("files/report.md"), report.replacen("# Sensor report", "# Old report", 1))
        .unwrap();
    std::fs::write(golden.join("files/extra.txt"), "x").unwrap();
    std::fs::write(golden.join("files/data/stats.json"), "{}").unwrap();
    let out = test(&[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    for line in [
        "        golden state: ~ /rows: 199 → 200",
        "        golden file extra.txt: missing from the workspace",
        "        golden file report.md: content differs (snapshot → found):",
        "        -# Old report",
        "        +# Sensor report",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    assert!(!text.contains("golden file data/stats.json"), "an ignored path: {text}");
}
