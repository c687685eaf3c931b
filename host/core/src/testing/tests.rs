use super::check::{Observed, check};
use super::*;
use crate::model::{AttemptStatus, EntryKind, FileEntry, FileTree, TrapKind};
use serde_json::json;

const FILE: &str = r#"
[[case]]
name = "greets"
workflow = "greet.toml"
state = { name = "Ada" }

[case.expect]
path = ["hello"]
state = { greeted = "Ada", meta = { by = "x" } }
pointers = { "/list/0" = 1 }
files = { "greeting.txt" = { content = "Hello, Ada\n" }, "gone.txt" = { absent = true }, "n.txt" = { regex = "^[0-9]+$" } }
events = [{ kind = "guest.greeted", payload = { who = "Ada" } }, { kind = "done" }]
budgets = { guest_ms = 500 }

[[case]]
name = "fails"
workflow = "greet.toml"
deterministic = false
expect = { status = "failed", failed_node = "hello" }
"#;

#[test]
fn a_test_file_parses_with_deterministic_defaults() {
    let t = TestFile::parse("t.toml", FILE).unwrap();
    assert_eq!(t.cases.len(), 2);
    let c = &t.cases[0];
    assert_eq!(
        (c.name.as_str(), c.environment.seed, c.expect.status),
        ("greets", Some(0), ExecutionStatus::Completed)
    );
    assert_eq!(
        c.expect.events[0],
        EventExpect { kind: "greeted".into(), payload: Some(json!({ "who": "Ada" })) }
    );
    assert_eq!(c.node_refs[0].0, "hello");
    assert_eq!(c.node_refs[0].2.line, 8);
    assert_eq!(
        (t.cases[1].environment.seed, t.cases[1].expect.failed_node.as_deref()),
        (None, Some("hello"))
    );
}

#[test]
fn bad_test_files_name_file_line_and_field() {
    let bad = |text: &str| TestFile::parse("t.toml", text).unwrap_err().to_string();
    let e = bad("[[case]]\nname = \"a\"\nworkflow = \"w.toml\"\nexpekt = {}\n");
    assert!(e.starts_with("t.toml:4:1: unknown field `expekt`"), "{e}");
    let e = bad("[[case]]\nname = \"a\"\nworkflow = \"w.toml\"\n[case.expect]\nstatus = \"gone\"\n");
    assert_eq!(e, "t.toml:5:10: `case[0].expect.status`: `gone`: expected completed, failed or paused");
    let e = bad("[[case]]\nname = \"a\"\nworkflow = \"w.toml\"\nexpect = { failed_node = \"x\" }\n");
    assert!(e.contains("`case[0].expect.failed_node`: only with `status = \"failed\"`"), "{e}");
    let e = bad("[[case]]\nname = \"a\"\nworkflow = \"w\"\n[[case]]\nname = \"a\"\nworkflow = \"w\"\n");
    assert!(e.starts_with("t.toml:5:8: `case[1].name`: a second case named `a`"), "{e}");
    let e =
        bad("[[case]]\nname = \"a\"\nworkflow = \"w\"\nexpect = { files = { \"f\" = { regex = \"(\" } } }\n");
    assert!(e.contains("`case[0].expect.files.\"f\".regex`"), "{e}");
    let e = bad(
        "[[case]]\nname = \"a\"\nworkflow = \"w\"\nexpect = { files = { \"f\" = { digest = \"xyz\" } } }\n",
    );
    assert!(e.contains("`case[0].expect.files.\"f\".digest`"), "{e}");
    let e = bad("[[case]]\nname = \"a\"\nworkflow = \"w\"\nexpect = { files = { \"f\" = {} } }\n");
    assert!(e.contains("give `absent = true` alone"), "{e}");
    let e = bad("[[case]]\nname = \"a\"\nworkflow = \"w\"\nexpect = { pointers = { \"x\" = 1 } }\n");
    assert!(e.contains("`x` is not a JSON pointer"), "{e}");
    assert!(bad("").contains("missing field `case`"), "{}", bad(""));
    let e = bad("[[case]]\nname = \"a\"\nworkflow = \"w\"\nexpect = { ignore = [\"*.log\"] }\n");
    assert!(e.contains("`case[0].expect.ignore`: only with `golden`"), "{e}");
    let e = bad("[[case]]\nname = \"a\"\nworkflow = \"w\"\nexpect = { golden = \"g\", ignore = [\"[\"] }\n");
    assert!(e.contains("`case[0].expect.ignore`: unclosed character class"), "{e}");
}

fn entry(text: &[u8]) -> FileEntry {
    FileEntry { kind: EntryKind::File, digest: Some(Digest::of(text)), size: text.len() as u64, mode: 0o644 }
}

#[test]
fn a_run_that_meets_every_expectation_passes_and_each_miss_is_one_readable_line() {
    let t = TestFile::parse("t.toml", FILE).unwrap();
    let files: FileTree =
        [("greeting.txt".to_owned(), entry(b"Hello, Ada\n")), ("n.txt".to_owned(), entry(b"42"))]
            .into_iter()
            .collect();
    let contents: BTreeMap<String, Vec<u8>> =
        [("greeting.txt".to_owned(), b"Hello, Ada\n".to_vec()), ("n.txt".to_owned(), b"42".to_vec())].into();
    let state = json!({ "greeted": "Ada", "meta": { "by": "x", "more": 1 }, "list": [1] });
    let (greeted, done) = (json!({ "who": "Ada", "extra": true }), json!(null));
    let seen = Observed {
        status: ExecutionStatus::Completed,
        failure: None,
        failed_as: None,
        path: vec!["hello"],
        state: &state,
        files: &files,
        contents: &contents,
        events: vec![("greeted", &greeted), ("other", &done), ("done", &done)],
        guest_micros: 1_000,
        peak_memory_bytes: 1 << 20,
        fuel: None,
    };
    assert_eq!(check(&t.cases[0].expect, &seen), Vec::<String>::new());

    let state = json!({ "greeted": "Bob", "meta": {}, "list": [] });
    let files: FileTree =
        [("greeting.txt".to_owned(), entry(b"Hello, Bob\n")), ("gone.txt".to_owned(), entry(b""))]
            .into_iter()
            .collect();
    let contents: BTreeMap<String, Vec<u8>> = [("greeting.txt".to_owned(), b"Hello, Bob\n".to_vec())].into();
    let worse = Observed {
        status: ExecutionStatus::Failed,
        failure: Some(("hello", "guest_error: no")),
        path: vec![],
        state: &state,
        files: &files,
        contents: &contents,
        events: vec![("done", &done)],
        guest_micros: 600_000,
        ..seen
    };
    let lines = check(&t.cases[0].expect, &worse);
    assert_eq!(
        lines[..5],
        [
            "status: expected completed, got failed (node `hello`: guest_error: no)".to_owned(),
            "path: expected hello, got ".into(),
            "state /greeted: expected \"Ada\", got \"Bob\"".into(),
            "state /meta/by: expected \"x\", missing".into(),
            "state /list/0: expected 1, missing".into(),
        ]
    );
    assert!(lines[5].starts_with("file gone.txt: expected absent, it exists"), "{lines:?}");
    assert!(
        lines[6].contains("file greeting.txt: content differs") && lines[6].contains("+Hello, Bob"),
        "{lines:?}"
    );
    assert_eq!(lines[7], "file n.txt: missing (or not a regular file)");
    assert_eq!(
        lines[8],
        "events: expected #1 `greeted` with payload ⊇ {\"who\":\"Ada\"} (in order); emitted: [done]"
    );
    assert_eq!(lines[9], "budget: guest time 600.0 ms, over 500 ms");
    assert_eq!(lines.len(), 10);
    let failed = check(&t.cases[1].expect, &worse);
    assert!(failed.is_empty(), "{failed:?}");
}

#[test]
fn stubs_environment_start_and_schema_parse() {
    let text = r#"
[[case]]
name = "doubles"
workflow = "w.toml"
seed = 9
clock = "2030-01-01T00:00:00Z"
env = { MODE = "test" }
limits = { memory_mib = 64 }
fixtures = { "/in" = "input" }
from = "0190a8c2-0000-7000-8000-000000000000"
[case.stub.route]
route = "left"
update = { picked = "left" }
files = { "out/a.txt" = "a" }
events = [{ kind = "picked", payload = { side = "left" } }]
[case.expect]
schema = { type = "object" }
"#;
    let c = &TestFile::parse("t.toml", text).unwrap().cases[0];
    let e = &c.environment;
    assert_eq!((e.seed, e.clock, e.limits.memory_mib), (Some(9), Some(1_893_456_000), Some(64)));
    assert_eq!((e.env["MODE"].as_str(), e.fixtures[0].guest.as_str()), ("test", "/in"));
    assert!(c.from.is_some());
    let stub = &c.stubs["route"];
    assert_eq!(stub.config()["route"], "left");
    assert_eq!(stub.config()["events"][0]["payload"], json!({ "side": "left" }));
    assert_eq!(c.node_refs[0].0, "route");
    assert_eq!(c.expect.schema.as_ref().unwrap().inline(), Some(&json!({ "type": "object" })));
}

#[test]
fn a_failure_outcome_is_a_status_or_a_trap_kind() {
    let parse = |o: &str| {
        let text = format!(
            "[[case]]\nname = \"a\"\nworkflow = \"w\"\nexpect = {{ status = \"failed\", outcome = \"{o}\" }}\n"
        );
        TestFile::parse("t.toml", &text).map(|t| t.cases[0].expect.outcome)
    };
    assert_eq!(parse("guest_error").unwrap(), Some(Outcome::Status(AttemptStatus::GuestError)));
    assert_eq!(parse("out_of_fuel").unwrap(), Some(Outcome::Trap(TrapKind::OutOfFuel)));
    assert!(parse("succeeded").unwrap_err().to_string().contains("`succeeded` is not how an attempt fails"));
    assert!(
        parse("melted")
            .unwrap_err()
            .to_string()
            .contains("`case[0].expect.outcome`: `melted`: expected guest_error")
    );
    let e = TestFile::parse(
        "t.toml",
        "[[case]]\nname = \"a\"\nworkflow = \"w\"\nexpect = { outcome = \"trapped\" }\n",
    );
    assert!(e.unwrap_err().to_string().contains("only with `status = \"failed\"`"));
    let trap = Outcome::Trap(TrapKind::Timeout);
    assert!(trap.matches(AttemptStatus::Trapped, Some(TrapKind::Timeout)));
    assert!(!trap.matches(AttemptStatus::GuestError, None));
    assert!(Outcome::Status(AttemptStatus::Trapped).matches(AttemptStatus::Trapped, Some(TrapKind::Timeout)));
}
