//! `wtb test` cases that change what runs, end to end through the real binary: stub nodes
//! (routing and a join tested without the real components, recorded as ordinary executions
//! that replay the same), a case's environment (env vars, fixtures, clock, limits) and state
//! schema, a case that starts from a recorded checkpoint, and each kind of bad input refused
//! before anything runs.

use serde_json::Value;
use wtb_tests::Harness;

/// `wtb --json test FILE`: exit status and the report.
fn test_file(h: &Harness, file: &std::path::Path) -> (Option<i32>, Value, String) {
    let out = crate::wtb(h, &["--json", "test", file.to_str().unwrap()]);
    let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code(), report, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn failures(report: &Value) -> Vec<String> {
    report["files"][0]["cases"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["failures"].as_array().unwrap().iter().map(|f| f.as_str().unwrap().to_owned()))
        .collect()
}

#[test]
fn stubs_test_routing_and_a_join_without_the_real_nodes() {
    let h = Harness::new();
    let out = crate::wtb(&h, &["demo"]);
    assert!(out.status.success(), "{out:?}");
    let demo = h.data_dir().join("demo");
    let file = demo.join("stubs.test.toml");
    std::fs::write(
        &file,
        r#"
[[case]]
name = "routing without the router"
workflow = "branching.toml"
[case.stub.triage]
route = "empty"
update = { picked = "empty" }
[case.expect]
path = ["triage", "nothing"]
state = { picked = "empty" }

[[case]]
name = "a join of stubbed branches"
workflow = "branching.toml"
[case.stub.transform]
update = { stats_file = "data/stats.json", alerts = ["lab"] }
files = { "data/stats.json" = '{"lab": {"count": 2, "min": 1.5, "max": 40.0, "mean": 20.75}}' }
[case.stub.audit]
update = { audited = true }
events = [{ kind = "audit.done", payload = { ok = true } }]
[case.expect]
state = { audited = true, report = "report.md", stats_file = "data/stats.json" }
files = { "report.md" = { contains = "| lab | 2 | 1.5 | 40 | 20.75 |" }, "data/readings.csv" = { regex = '^id,sensor' } }
events = [{ kind = "audit.done", payload = { ok = true } }, { kind = "report.ready", payload = { alerts = ["lab"] } }]
"#,
    )
    .unwrap();
    let (code, r, err) = test_file(&h, &file);
    assert_eq!(code, Some(0), "{err}\n{r:#}");
    assert_eq!((r["cases"].as_u64(), r["failed"].as_u64()), (Some(2), Some(0)), "{r:#}");

    // A stubbed run is an ordinary recorded execution: the stub is its node's component, and
    // a replay of it is the same node by node.
    let join = r["files"][0]["cases"][1]["execution"].as_str().unwrap();
    let out = crate::wtb(&h, &["--json", "replay", join]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let replayed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let verdicts: Vec<&str> =
        replayed["nodes"].as_array().unwrap().iter().map(|n| n["verdict"].as_str().unwrap()).collect();
    assert_eq!(verdicts, ["same"; 5], "{replayed:#}");

    // A stub that says something else fails the case with the line that shows it.
    let text = std::fs::read_to_string(&file).unwrap().replacen("alerts = [\"lab\"] }", "alerts = [] }", 1);
    std::fs::write(&file, text).unwrap();
    let (code, r, _) = test_file(&h, &file);
    assert_eq!(code, Some(1));
    assert_eq!(
        failures(&r),
        [
            "events: expected #2 `report.ready` with payload ⊇ {\"alerts\":[\"lab\"]} (in order); emitted: [audit.done, report.ready]"
        ]
    );
}

#[test]
fn a_case_sets_its_environment_and_checks_a_state_schema() {
    let h = Harness::new();
    h.probe_workflow(
        "env",
        &[
            ("environ", serde_json::json!({ "action": "environ" })),
            ("read", serde_json::json!({ "action": "read_file", "path": "/input/in.txt" })),
            ("clock", serde_json::json!({ "action": "observe" })),
        ],
    );
    std::fs::create_dir_all(h.dir.path().join("input")).unwrap();
    std::fs::write(h.dir.path().join("input/in.txt"), "from the fixture").unwrap();
    std::fs::write(
        h.dir.path().join("state.schema.json"),
        r#"{ "type": "object", "required": ["env", "read"], "properties": {
            "read": { "type": "string", "maxLength": 10 },
            "observed": { "properties": { "wall_nanos": { "minimum": 1893456000000000000, "maximum": 1893542400000000000 } } }
        } }"#,
    )
    .unwrap();
    let file = h.file(
        "env.test.toml",
        r#"
[[case]]
name = "environment"
workflow = "env.toml"
clock = "2030-01-01T00:00:00Z"
env = { MODE = "test" }
fixtures = { "/input" = "input" }
limits = { memory_mib = 64 }
[case.expect]
pointers = { "/env/MODE" = "test", "/read" = "from the fixture" }
schema = "state.schema.json"

[[case]]
name = "inline schema"
workflow = "env.toml"
fixtures = { "/input" = "input" }
[case.expect]
schema = { type = "object", required = ["read"] }
"#,
    );
    let (code, r, err) = test_file(&h, &file);
    assert_eq!(code, Some(1), "{err}\n{r:#}");
    let cases = r["files"][0]["cases"].as_array().unwrap();
    assert_eq!(cases[1]["passed"], true, "{r:#}");
    let f = failures(&r);
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0].starts_with("state does not match the schema: at /read: "), "{f:?}");
    // The guest's wall clock was the case's (2030-01-01), or the schema would say so.
    assert!(!f[0].contains("wall_nanos"), "{f:?}");
}

#[test]
fn a_case_starts_from_a_recorded_checkpoint_with_a_stub() {
    let h = Harness::new();
    let wf = h.probe_workflow(
        "two",
        &[
            (
                "a",
                serde_json::json!({ "action": "write", "files": { "a.txt": "alpha" }, "update": { "n": 1 } }),
            ),
            (
                "b",
                serde_json::json!({ "action": "write", "files": { "b.txt": "bee" }, "update": { "n": 2 } }),
            ),
        ],
    );
    let out = crate::wtb(&h, &["--json", "run", wf.to_str().unwrap()]);
    let id = serde_json::from_slice::<Value>(&out.stdout).unwrap()["execution"].as_str().unwrap().to_owned();
    let history: Value = serde_json::from_slice(&crate::wtb(&h, &["--json", "history", &id]).stdout).unwrap();
    let a_exit = history["checkpoints"][1]["id"].as_str().unwrap().to_owned();
    let file = h.file(
        "from.test.toml",
        format!(
            r#"
[[case]]
name = "b stubbed after a's recorded run"
workflow = "two.toml"
from = "{a_exit}"
state = {{ extra = true }}
[case.stub.b]
update = {{ n = 20 }}
files = {{ "b.txt" = "stubbed" }}
[case.expect]
path = ["a", "b"]
state = {{ n = 20, extra = true }}
files = {{ "a.txt" = {{ content = "alpha" }}, "b.txt" = {{ content = "stubbed" }} }}
"#
        ),
    );
    let (code, r, err) = test_file(&h, &file);
    assert_eq!(code, Some(0), "{err}\n{r:#}");
}

#[test]
fn bad_stubs_environments_and_starts_are_refused_before_anything_runs() {
    let h = Harness::new();
    h.probe_workflow("one", &[("a", serde_json::json!({ "action": "write" }))]);
    let other = h.probe_workflow("other", &[("x", serde_json::json!({ "action": "write" }))]);
    let out = crate::wtb(&h, &["--json", "run", other.to_str().unwrap()]);
    let id = serde_json::from_slice::<Value>(&out.stdout).unwrap()["execution"].as_str().unwrap().to_owned();
    let history: Value = serde_json::from_slice(&crate::wtb(&h, &["--json", "history", &id]).stdout).unwrap();
    let other_cp = history["checkpoints"][0]["id"].as_str().unwrap().to_owned();
    let runs_before = crate::wtb(&h, &["--json", "list"]).stdout;
    let case = |extra: &str| format!("[[case]]\nname = \"c\"\nworkflow = \"one.toml\"\n{extra}\n");
    let cases = [
        (
            case("[case.stub.zz]\nupdate = {}"),
            "bad.test.toml:4:1: `case[0].stub`: workflow `one` has no node `zz`",
        ),
        (
            case("[case.stub.a]\nroute = \"left\""),
            "`case[0].stub.a.route`: node `a` chose route `left`, but no edge from it has that label",
        ),
        (
            case("[case.stub.a]\nfiles = { \"../escape\" = \"x\" }"),
            "`case[0].stub.a`: file `../escape`: a workspace path is relative and normalized",
        ),
        (case("[case.stub.a]\nupdat = {}"), "unknown field `updat`"),
        (
            case("from = \"yesterday\""),
            "bad.test.toml:4:8: `case[0].from`: `yesterday` is neither a checkpoint id nor a bundle file",
        ),
        (
            case("from = \"0190a8c2-0000-7000-8000-000000000000\""),
            "`case[0].from`: no checkpoint 0190a8c2-0000-7000-8000-000000000000",
        ),
        (case(&format!("from = \"{other_cp}\"")), "is of workflow `other`, not `one`"),
        (case("seed = 3\ndeterministic = false"), "`case[0].seed`: `seed` makes the case deterministic"),
        (case("clock = \"soon\""), "bad.test.toml:4:9: `case[0].clock`: `soon` is not an RFC 3339 time"),
        (case("fixtures = { \"/in\" = \"missing-dir\" }"), "`case[0].fixtures`: fixture directory"),
        (case("env = { \"A=B\" = \"x\" }"), "`case[0].env.A=B`: env names must be non-empty without `=`"),
        (case("limits = { memory_mib = 0 }"), "`case[0].limits.memory_mib`"),
        (case("[case.expect]\nschema = \"nope.json\""), "`case[0].expect.schema`: cannot read"),
        (case("[case.expect]\nschema = { type = 12 }"), "`case[0].expect.schema`: not a usable JSON Schema"),
    ];
    for (text, says) in cases {
        let file = h.file("bad.test.toml", text.as_bytes());
        let (code, _, err) = test_file(&h, &file);
        assert_eq!(code, Some(2), "{text}: {err}");
        assert!(err.contains(says), "{text}\nexpected {says:?} in: {err}");
    }
    assert_eq!(crate::wtb(&h, &["--json", "list"]).stdout, runs_before, "nothing ran");

    // A case's limits are held to the operator's ceilings, like an experiment's.
    h.config("[limits.max]\nmemory_mib = 512\n").unwrap();
    let file = h.file("bad.test.toml", case("limits = { memory_mib = 4096 }").as_bytes());
    let (code, _, err) = test_file(&h, &file);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("`case[0].limits.memory_mib`: node `a`: "), "{err}");
}

#[test]
fn a_failing_case_names_its_node_and_how_it_failed() {
    let h = Harness::new();
    h.probe_workflow(
        "spins",
        &[
            ("spin", serde_json::json!({ "action": "spin" })),
            ("after", serde_json::json!({ "action": "write" })),
        ],
    );
    h.probe_workflow("errs", &[("fail", serde_json::json!({ "action": "fail", "message": "no" }))]);
    let file = h.file(
        "fail.test.toml",
        r#"
[[case]]
name = "the case's fuel limit stops the spinner"
workflow = "spins.toml"
limits = { fuel = 5000000 }
expect = { status = "failed", failed_node = "spin", outcome = "out_of_fuel" }

[[case]]
name = "a guest error is not a trap"
workflow = "errs.toml"
expect = { status = "failed", failed_node = "fail", outcome = "out_of_fuel" }
"#,
    );
    let (code, r, err) = test_file(&h, &file);
    assert_eq!(code, Some(1), "{err}\n{r:#}");
    assert_eq!(r["files"][0]["cases"][0]["passed"], true, "{r:#}");
    assert_eq!(failures(&r), ["outcome: expected out_of_fuel, got guest_error"]);
}
