//! A finished case checked against its expectations: one readable line (or block) per
//! expectation that does not hold. Pure.

use super::{EventExpect, Expect, FileExpect};
use crate::history::{Content, TextChange, content_change};
use crate::model::{AttemptStatus, Digest, EntryKind, ExecutionStatus, FileTree, TrapKind};
use crate::workflow::Schema;
use serde_json::Value;
use std::collections::BTreeMap;

/// What a case's run showed.
#[derive(Clone, Debug)]
pub struct Observed<'a> {
    /// The execution's final status.
    pub status: ExecutionStatus,
    /// Why it failed, and the node whose attempt failed last.
    pub failure: Option<(&'a str, &'a str)>,
    /// How that attempt ended: its status and trap kind.
    pub failed_as: Option<(AttemptStatus, Option<TrapKind>)>,
    /// The nodes that completed, in order.
    pub path: Vec<&'a str>,
    /// The final state.
    pub state: &'a Value,
    /// The final workspace.
    pub files: &'a FileTree,
    /// The contents of the files the expectations read (by path).
    pub contents: &'a BTreeMap<String, Vec<u8>>,
    /// The guest events, in order: kind (without `guest.`) and payload.
    pub events: Vec<(&'a str, &'a Value)>,
    /// Guest time summed over the attempts, µs.
    pub guest_micros: u64,
    /// The largest peak memory of an attempt, bytes.
    pub peak_memory_bytes: u64,
    /// Fuel summed over the attempts, when metered.
    pub fuel: Option<u64>,
}

/// Every expectation of `expect` that `seen` does not meet, as readable text.
pub fn check(expect: &Expect, seen: &Observed<'_>) -> Vec<String> {
    let mut out = Vec::new();
    if seen.status != expect.status {
        let why = seen.failure.map(|(node, e)| format!(" (node `{node}`: {e})")).unwrap_or_default();
        out.push(format!("status: expected {}, got {}{why}", expect.status.as_str(), seen.status.as_str()));
    }
    if let Some(node) = &expect.failed_node
        && seen.failure.map(|f| f.0) != Some(node.as_str())
    {
        let got = seen.failure.map_or_else(|| "no failed node".to_owned(), |f| format!("`{}`", f.0));
        out.push(format!("failed node: expected `{node}`, got {got}"));
    }
    if let Some(want) = expect.outcome
        && !seen.failed_as.is_some_and(|(s, t)| want.matches(s, t))
    {
        let got = match seen.failed_as {
            Some((_, Some(t))) => format!("trapped ({})", t.as_str()),
            Some((s, None)) => s.as_str().to_owned(),
            None => "no failed attempt".to_owned(),
        };
        out.push(format!("outcome: expected {}, got {got}", want.as_str()));
    }
    if let Some(path) = &expect.path
        && path.iter().map(String::as_str).ne(seen.path.iter().copied())
    {
        out.push(format!("path: expected {}, got {}", path.join(" → "), seen.path.join(" → ")));
    }
    for (key, want) in &expect.state {
        subset(&format!("/{}", escape(key)), want, seen.state.get(key), &mut out);
    }
    for (pointer, want) in &expect.pointers {
        match seen.state.pointer(pointer) {
            Some(got) if got == want => {}
            Some(got) => out.push(format!("state {pointer}: expected {want}, got {got}")),
            None => out.push(format!("state {pointer}: expected {want}, missing")),
        }
    }
    if let Some(spec) = &expect.schema {
        match spec.inline().map(Schema::compile) {
            Some(Ok(schema)) => {
                if let Err(v) = schema.check(seen.state) {
                    out.push(format!("state does not match the schema: {v}"));
                }
            }
            Some(Err(e)) => out.push(format!("schema: not a usable JSON Schema: {e}")),
            None => out.push("schema: its file was not read".into()),
        }
    }
    for (path, want) in &expect.files {
        file(path, want, seen, &mut out);
    }
    events(&expect.events, &seen.events, &mut out);
    let b = &expect.budgets;
    if let Some(ms) = b.guest_ms
        && seen.guest_micros > ms * 1000
    {
        out.push(format!("budget: guest time {:.1} ms, over {ms} ms", seen.guest_micros as f64 / 1000.0));
    }
    if let Some(mib) = b.peak_memory_mib
        && seen.peak_memory_bytes > mib << 20
    {
        out.push(format!("budget: peak memory {} bytes, over {mib} MiB", seen.peak_memory_bytes));
    }
    if let Some(fuel) = b.fuel {
        match seen.fuel {
            Some(used) if used > fuel => out.push(format!("budget: fuel {used}, over {fuel}")),
            Some(_) => {}
            None => out.push("budget: fuel is not metered on this host".into()),
        }
    }
    out
}

/// `want` as a subset of `got` at `at` (objects: every key of `want`; anything else: equal).
fn subset(at: &str, want: &Value, got: Option<&Value>, out: &mut Vec<String>) {
    match (want, got) {
        (_, None) => out.push(format!("state {at}: expected {want}, missing")),
        (Value::Object(w), Some(Value::Object(g))) => {
            for (k, v) in w {
                subset(&format!("{at}/{}", escape(k)), v, g.get(k), out);
            }
        }
        (_, Some(g)) if g == want => {}
        (_, Some(g)) => out.push(format!("state {at}: expected {want}, got {g}")),
    }
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn file(path: &str, want: &FileExpect, seen: &Observed<'_>, out: &mut Vec<String>) {
    let entry = seen.files.get(path);
    if want.absent {
        if entry.is_some() {
            out.push(format!("file {path}: expected absent, it exists"));
        }
        return;
    }
    let Some(entry) = entry.filter(|e| e.kind == EntryKind::File) else {
        out.push(format!("file {path}: missing (or not a regular file)"));
        return;
    };
    if let Some(d) = &want.digest
        && entry.digest.as_ref() != Some(d)
    {
        let got = entry.digest.map_or_else(|| "none".to_owned(), |g: Digest| g.to_hex());
        out.push(format!("file {path}: digest expected {d}, got {got}"));
    }
    if want.content.is_none() && want.contains.is_none() && want.regex.is_none() {
        return;
    }
    let Some(text) = seen.contents.get(path).and_then(|b| std::str::from_utf8(b).ok()) else {
        out.push(format!("file {path}: not UTF-8 text within the size read ({} bytes)", entry.size));
        return;
    };
    if let Some(c) = &want.content
        && c != text
    {
        let diff = match content_change(path, Content::Bytes(c.as_bytes()), Content::Bytes(text.as_bytes())) {
            TextChange::Text { unified } => unified,
            TextChange::Binary { before, after } => format!("{before} bytes expected, {after} found\n"),
        };
        out.push(format!("file {path}: content differs (expected → found):\n{diff}"));
    }
    if let Some(c) = &want.contains
        && !text.contains(c.as_str())
    {
        out.push(format!("file {path}: does not contain {c:?}"));
    }
    if let Some(r) = &want.regex
        && !regex::Regex::new(r).is_ok_and(|re| re.is_match(text))
    {
        out.push(format!("file {path}: does not match /{r}/"));
    }
}

/// The expected events as a subsequence of the emitted ones.
fn events(want: &[EventExpect], got: &[(&str, &Value)], out: &mut Vec<String>) {
    let mut rest = got.iter();
    for (i, e) in want.iter().enumerate() {
        let matches = |(kind, payload): &&(&str, &Value)| {
            *kind == e.kind && e.payload.as_ref().is_none_or(|p| contains(payload, p))
        };
        if rest.find(matches).is_none() {
            let emitted: Vec<&str> = got.iter().map(|(k, _)| *k).collect();
            let payload = e.payload.as_ref().map(|p| format!(" with payload ⊇ {p}")).unwrap_or_default();
            out.push(format!(
                "events: expected #{} `{}`{payload} (in order); emitted: [{}]",
                i + 1,
                e.kind,
                emitted.join(", ")
            ));
            return;
        }
    }
}

/// Whether `got` holds `want` (objects as subsets, the rest equal).
fn contains(got: &Value, want: &Value) -> bool {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            w.iter().all(|(k, v)| g.get(k).is_some_and(|gv| contains(gv, v)))
        }
        _ => want == got,
    }
}
