//! Run bundles end to end through the real binary: a recorded run exported to one file and
//! imported into another data dir (and into another tenant, twice) is the same run — states,
//! files big and small, events, history — and replays the same; a bundle of a checkpoint is
//! where a `wtb test` case starts; a bundle that is truncated, tampered, of a newer format, or
//! whose workflow mounts host directories imports nothing (exit 2, naming the bad entry).

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use wtb_tests::Harness;

fn ok_json(h: &Harness, args: &[&str]) -> Value {
    let out = crate::wtb(h, &[&["--json"], args].concat());
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A two-node run with a small and a large file, an event and a deterministic seed.
fn recorded(h: &Harness) -> (String, Value) {
    let wf = h.probe_workflow(
        "trip",
        &[
            (
                "a",
                json!({ "action": "write", "files": { "notes.txt": "one\n" }, "sized": { "big.bin": 200000 },
                        "update": { "n": 1 }, "events": [["made", { "by": "a" }]] }),
            ),
            ("b", json!({ "action": "write", "files": { "notes.txt": "two\n" }, "update": { "n": 2 } })),
        ],
    );
    let run = ok_json(h, &["run", wf.to_str().unwrap(), "--seed", "5"]);
    let id = run["execution"].as_str().unwrap().to_owned();
    let history = ok_json(h, &["history", &id]);
    (id, history)
}

fn export(h: &Harness, id: &str, name: &str) -> PathBuf {
    let file = h.dir.path().join(name);
    let e = ok_json(h, &["bundle", "export", id, "-o", file.to_str().unwrap()]);
    assert_eq!(e["blobs"].as_u64(), Some(4), "three contents and the component: {e}");
    file
}

#[test]
fn a_run_exported_and_imported_elsewhere_is_the_same_run_and_replays_the_same() {
    let (src, dst) = (Harness::new(), Harness::new());
    let (id, history) = recorded(&src);
    let file = export(&src, &id, "run.wtb");
    let out = crate::wtb(&src, &["bundle", "export", &id, "-o", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "an existing file is not replaced without --force");

    let imported = ok_json(&dst, &["bundle", "import", file.to_str().unwrap()]);
    let new = imported["execution"].as_str().unwrap().to_owned();
    assert_ne!(new, id);
    assert_eq!(
        (imported["source"].as_str(), imported["status"].as_str()),
        (Some(id.as_str()), Some("completed"))
    );
    let (a, b) = (ok_json(&src, &["show", &id]), ok_json(&dst, &["show", &new]));
    assert_eq!(a["state"], b["state"]);
    assert_eq!(b["execution"]["environment"]["seed"], 5);
    let moved = ok_json(&dst, &["history", &new]);
    let cps = |h: &Value| h["checkpoints"].as_array().unwrap().len();
    assert_eq!(cps(&moved), cps(&history));
    let last = moved["checkpoints"][3]["id"].as_str().unwrap();
    let big = crate::wtb(&dst, &["cat", last, "big.bin"]);
    assert_eq!(big.stdout, (0..200000u32).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
    assert_eq!(crate::wtb(&dst, &["cat", last, "notes.txt"]).stdout, b"two\n");
    let events = |r: &Value| -> Vec<String> {
        r["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(events(&a), events(&b));
    // The events name the new execution's rows, not the old ones.
    assert!(!serde_json::to_string(&b["events"]).unwrap().contains(&id), "{:#}", b["events"]);
    let replayed = ok_json(&dst, &["replay", &new]);
    let verdicts: Vec<&str> =
        replayed["nodes"].as_array().unwrap().iter().map(|n| n["verdict"].as_str().unwrap()).collect();
    assert_eq!(verdicts, ["same", "same"]);
    let fsck = crate::wtb(&dst, &["fsck"]);
    assert!(fsck.status.success(), "{}", String::from_utf8_lossy(&fsck.stdout));

    // Into another tenant of the source's own data dir, twice: fresh ids each time, and the
    // tenants still see only their own.
    assert!(crate::wtb(&src, &["tenant", "create", "other"]).status.success());
    let one = ok_json(&src, &["--tenant", "other", "bundle", "import", file.to_str().unwrap()]);
    let two = ok_json(&src, &["--tenant", "other", "bundle", "import", file.to_str().unwrap()]);
    assert_ne!(one["execution"], two["execution"]);
    let listed = ok_json(&src, &["--tenant", "other", "list"]);
    assert_eq!(listed["executions"].as_array().map(Vec::len), Some(2), "{listed}");
    let other_id = one["execution"].as_str().unwrap();
    assert_eq!(crate::wtb(&src, &["show", other_id]).status.code(), Some(2), "not the default tenant's");
}

#[test]
fn a_checkpoint_bundle_is_where_a_test_case_and_a_replay_start() {
    let (src, dst) = (Harness::new(), Harness::new());
    let (_, history) = recorded(&src);
    let a_exit = history["checkpoints"][1]["id"].as_str().unwrap();
    let file = src.dir.path().join("a-exit.wtb");
    let e = ok_json(&src, &["bundle", "export", a_exit, "-o", file.to_str().unwrap()]);
    assert_eq!(e["point"].as_str(), Some(a_exit));
    // The history up to that checkpoint: `a` done, `b` open again, the execution paused there.
    let history: Value = serde_json::from_slice(&entries(&file)[1].1).unwrap();
    assert_eq!(history["checkpoints"].as_array().map(Vec::len), Some(3), "a's entry and exit, b's entry");
    assert_eq!(
        (history["execution"]["status"].as_str(), history["execution"]["cursor"].as_str()),
        (Some("paused"), Some("b"))
    );
    let kinds: Vec<&str> =
        history["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.last(), Some(&"guest.made"), "a's transaction is the last one in: {kinds:?}");
    assert_eq!(kinds.iter().filter(|k| **k == "node.completed").count(), 1, "{kinds:?}");
    let verified = crate::wtb(&dst, &["bundle", "verify", file.to_str().unwrap()]);
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stderr));
    assert_eq!(
        ok_json(&dst, &["list"])["executions"].as_array().map(Vec::len),
        Some(0),
        "verify stores nothing"
    );

    // The case's workflow is the same manifest, written in the other data dir's tree.
    std::fs::copy(src.dir.path().join("trip.toml"), dst.dir.path().join("trip.toml")).unwrap();
    std::fs::copy(&file, dst.dir.path().join("a-exit.wtb")).unwrap();
    let tests = dst.file(
        "trip.test.toml",
        "[[case]]\nname = \"b on a stub from a's recorded exit\"\nworkflow = \"trip.toml\"\nfrom = \"a-exit.wtb\"\n[case.stub.b]\nupdate = { n = 20 }\n[case.expect]\npath = [\"a\", \"b\"]\nstate = { n = 20 }\nfiles = { \"notes.txt\" = { content = \"one\\n\" }, \"big.bin\" = { digest = \"sha256:DIGEST\" } }\n"
            .replace("DIGEST", &big_digest())
            .as_bytes(),
    );
    let out = crate::wtb(&dst, &["test", tests.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // Imported, it resumes from there to the same end.
    let imported = ok_json(&dst, &["bundle", "import", file.to_str().unwrap()]);
    let resumed = ok_json(&dst, &["resume", imported["execution"].as_str().unwrap()]);
    assert_eq!(
        (resumed["status"].as_str(), &resumed["state"]["n"]),
        (Some("completed"), &json!(2)),
        "{resumed}"
    );

    // A bundle of a whole execution names no point to start from.
    let (whole, _) = recorded(&src);
    let whole_file = dst.dir.path().join("whole.wtb");
    ok_json(&src, &["bundle", "export", &whole, "-o", whole_file.to_str().unwrap()]);
    let tests = dst
        .file("whole.test.toml", "[[case]]\nname = \"c\"\nworkflow = \"trip.toml\"\nfrom = \"whole.wtb\"\n");
    let out = crate::wtb(&dst, &["test", tests.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code() == Some(2)
            && err.contains("whole.test.toml:4:8: `case[0].from`: ")
            && err.contains("was exported from an execution, not a checkpoint"),
        "{err}"
    );

    // `wtb replay FILE` imports, then replays.
    let out = crate::wtb(&dst, &["replay", file.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("imported as execution"), "{text}");
}

fn big_digest() -> String {
    wtb_tests::digest(&(0..200000u32).map(|i| (i % 251) as u8).collect::<Vec<u8>>()).to_hex()
}

/// A bundle's entries: name and bytes, in order.
type Entries = Vec<(String, Vec<u8>)>;

/// The entries of the bundle at `file`, in order.
fn entries(file: &Path) -> Entries {
    let mut archive = tar::Archive::new(std::fs::File::open(file).unwrap());
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = e.path().unwrap().to_str().unwrap().to_owned();
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut bytes).unwrap();
            (name, bytes)
        })
        .collect()
}

fn write_entries(file: &Path, entries: &Entries) {
    let mut tar = tar::Builder::new(std::fs::File::create(file).unwrap());
    for (name, bytes) in entries {
        let mut h = tar::Header::new_ustar();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        tar.append_data(&mut h, name, &bytes[..]).unwrap();
    }
    tar.finish().unwrap();
}

#[test]
fn a_bad_bundle_imports_nothing_and_names_what_is_wrong() {
    let (src, dst) = (Harness::new(), Harness::new());
    let (id, _) = recorded(&src);
    let good = export(&src, &id, "good.wtb");
    let original = entries(&good);
    let history: Value = serde_json::from_slice(&original[1].1).unwrap();
    let commits = history["commits"].as_array().unwrap();
    assert!(
        commits.len() >= 3 && commits.iter().all(|c| c.get("tree").is_none()),
        "commits travel as changes, not whole trees: {commits:#?}"
    );
    let variant = |name: &str, change: &dyn Fn(&mut Entries)| -> PathBuf {
        let mut e = original.clone();
        change(&mut e);
        let file = src.dir.path().join(name);
        write_entries(&file, &e);
        file
    };
    let header = |e: &mut Entries, f: &dyn Fn(&mut Value)| {
        let mut h: Value = serde_json::from_slice(&e[0].1).unwrap();
        f(&mut h);
        e[0].1 = serde_json::to_vec(&h).unwrap();
    };
    let bytes = std::fs::read(&good).unwrap();
    let truncated = src.dir.path().join("truncated.wtb");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let garbage = src.file("garbage.wtb", "not a tar archive at all, just text that goes on and on");
    let cases: Vec<(PathBuf, &str)> = vec![
        (truncated, "bad bundle: "),
        (garbage, "bad bundle: "),
        (src.dir.path().join("missing.wtb"), "missing.wtb: No such file"),
        (
            variant("newer.wtb", &|e| header(e, &|h| h["format"] = json!(2))),
            "bad bundle: bundle format 2 is not one this wtb reads (1 to 1): import it with a newer wtb",
        ),
        (
            variant("history.wtb", &|e| {
                let text = String::from_utf8(e[1].1.clone()).unwrap().replacen("\"n\":1", "\"n\":7", 1);
                e[1].1 = text.into_bytes();
            }),
            "bad bundle: `history.json` does not match its digest in the header (tampered or damaged)",
        ),
        (
            variant("blob.wtb", &|e| {
                let last =
                    e.iter_mut().rev().find(|(n, b)| n.starts_with("blobs/") && b.len() == 200000).unwrap();
                last.1[7] ^= 1;
            }),
            "does not match its digest",
        ),
        (
            variant("small-blob.wtb", &|e| {
                let small = e.iter_mut().find(|(n, b)| n.starts_with("blobs/") && b == b"one\n").unwrap();
                small.1 = b"0ne\n".to_vec();
            }),
            "does not match its digest (it hashes to",
        ),
        (variant("missing-blob.wtb", &|e| e.truncate(e.len() - 1)), "bad bundle: truncated: blob "),
        (
            variant("extra.wtb", &|e| e.push(("notes.txt".into(), b"x".to_vec()))),
            "unexpected entry `notes.txt`",
        ),
        (
            variant("order.wtb", &|e| e.swap(0, 1)),
            "expected the entry `wtb-bundle.json`, found `history.json`",
        ),
        (
            variant("unlisted.wtb", &|e| header(e, &|h| h["blobs"] = json!({}))),
            "is named by the history but not listed in the bundle",
        ),
    ];
    for (file, says) in &cases {
        let out = crate::wtb(&dst, &["bundle", "import", file.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {err}", file.display());
        assert!(err.contains(says), "{}: expected {says:?} in {err}", file.display());
    }
    assert_eq!(ok_json(&dst, &["list"])["executions"].as_array().map(Vec::len), Some(0), "nothing imported");
    let fsck = crate::wtb(&dst, &["fsck"]);
    assert!(fsck.status.success(), "{}", String::from_utf8_lossy(&fsck.stdout));
    let imported = crate::wtb(&dst, &["bundle", "import", good.to_str().unwrap()]);
    assert!(imported.status.success(), "the good one still imports after all that");
}

#[test]
fn a_bundle_whose_workflow_mounts_host_directories_needs_trust() {
    let (src, dst) = (Harness::new(), Harness::new());
    src.drift_workflow(Some(1));
    let run = ok_json(&src, &["run", src.dir.path().join("drift.toml").to_str().unwrap()]);
    let id = run["execution"].as_str().unwrap();
    let file = src.dir.path().join("drift.wtb");
    ok_json(&src, &["bundle", "export", id, "-o", file.to_str().unwrap()]);
    let out = crate::wtb(&dst, &["bundle", "import", file.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("node `read` of the bundle's workflow mounts the host directory"), "{err}");
    assert_eq!(ok_json(&dst, &["list"])["executions"].as_array().map(Vec::len), Some(0));
    let out = crate::wtb(&dst, &["bundle", "import", file.to_str().unwrap(), "--trust-fixtures"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
