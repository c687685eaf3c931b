//! One test component, many behaviours: `config.action` picks what the node does, so the host
//! tests exercise writes, guest errors, traps and escape attempts with a single compiled guest.
#[cfg(target_os = "wasi")]
mod fsops;
mod probes;

use probes::*;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use wtb_guest::wit::wtb::node::types as wit;
use wtb_guest::{Input, NodeError, Update, emit};

#[derive(Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
enum Action {
    /// Writes `files` (path -> text), deletes `delete`, emits `events`, returns `update`.
    Write {
        #[serde(default)]
        files: BTreeMap<String, String>,
        #[serde(default)]
        sized: BTreeMap<String, usize>,
        #[serde(default)]
        delete: Vec<String>,
        #[serde(default)]
        events: Vec<(String, Value)>,
        #[serde(default)]
        update: Map<String, Value>,
        /// Waits this long first (to let a file's fingerprint age past the racy window).
        #[serde(default)]
        sleep_ms: u64,
        /// The route label to return.
        #[serde(default)]
        route: Option<String>,
    },
    /// Returns a `retryable` error on attempts before `succeed_on`, then writes
    /// `attempt-<n>.txt` and sets `attempts`.
    Flaky { succeed_on: u32 },
    /// A loop body: adds 1 to state `counter`, writes `iter-<n>.txt`, routes `again` while
    /// the counter is below `until`, then `done`.
    Loop { until: u64 },
    /// Vandalises the workspace (overwrites `files`, deletes `delete`, plants a symlink), then
    /// returns a guest error: everything must be undone.
    Fail {
        message: String,
        #[serde(default)]
        files: BTreeMap<String, String>,
        #[serde(default)]
        delete: Vec<String>,
    },
    /// Writes a file, then panics: a trap, not a guest error.
    Panic { message: String },
    /// Writes a file, then loops forever.
    Spin,
    /// Allocates until memory runs out.
    Hog,
    /// Tries every way out of the workspace it can think of and reports what happened.
    Escape,
    /// Waits `sleep_ms`, overwrites `path` with `text` (same length as before, so size can't
    /// tell), then sets its mtime back: change detection must still see the new content.
    RewriteKeepMtime { path: String, text: String, sleep_ms: u64 },
    /// Writes `bytes` bytes to `path` through a write stream, 1 MiB at a time (a disk bomb
    /// when large).
    Fill { path: String, bytes: u64 },
    /// Creates `count` one-byte files under `dir`.
    ManyFiles { dir: String, count: u64 },
    /// Makes `path` a sparse file of `size` bytes (set-size; nothing written).
    Sparse { path: String, size: u64 },
    /// Prints `bytes` bytes to stdout.
    Flood { bytes: u64 },
    /// Emits `count` events, each a JSON string of `bytes` bytes.
    EmitMany { count: u64, bytes: usize },
    /// Logs `count` lines of `bytes` bytes each.
    LogMany { count: u64, bytes: usize },
    /// Recurses until something stops it.
    Recurse,
    /// Reads the clocks and both random sources; returns what it saw, writes it to
    /// `observed.json` and emits it.
    Observe,
    /// Reads `path` (e.g. in a fixture) into the state, then tries to write `write_to`.
    ReadFile {
        path: String,
        #[serde(default)]
        write_to: Option<String>,
    },
    /// Reports its arguments and every env var it can see.
    Environ,
    /// Writes `path` and reports its modification time (virtual in deterministic mode).
    Mtime { path: String },
    /// Changes the workspace every way `wasi:filesystem` allows, in order (capture must see
    /// exactly what changed, whichever way).
    Mutate { ops: Vec<Op> },
    /// Waits until `path` exists (in a fixture the test controls: a barrier across the sandbox
    /// and across processes, instead of a sleep), then writes `gate.txt`.
    Gate { path: String },
    /// Makes `count` seeded random `wasi:filesystem` calls and returns their results as `log`
    /// (the differential test of the in-memory workspace).
    FsOps { seed: u64, count: usize },
    /// Builds a chain of `depth` directories named `name`, each made and opened from the one
    /// above (so no single path ever names the deepest): a tree deeper than any path.
    DeepChain { depth: usize, name: String },
    /// Returns an update that is not JSON (bypasses the SDK's encoding).
    BadJson,
    /// Returns an update that is JSON but not an object.
    NotObject,
}

/// One workspace change of [`Action::Mutate`].
#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Op {
    Mkdir {
        path: String,
    },
    Write {
        path: String,
        text: String,
    },
    Append {
        path: String,
        text: String,
    },
    Truncate {
        path: String,
        size: u64,
    },
    /// Overwrites bytes in place through a write stream at an offset.
    Overwrite {
        path: String,
        at: u64,
        text: String,
    },
    /// The same through `descriptor.write` (a positional write, no stream).
    WriteAt {
        path: String,
        at: u64,
        text: String,
    },
    Rename {
        from: String,
        to: String,
    },
    Unlink {
        path: String,
    },
    Rmdir {
        path: String,
    },
    RemoveTree {
        path: String,
    },
    HardLink {
        from: String,
        to: String,
    },
    Symlink {
        target: String,
        link: String,
    },
}

fn mutate(op: &Op) -> std::io::Result<()> {
    use std::io::{Seek as _, SeekFrom, Write as _};
    match op {
        Op::Mkdir { path } => std::fs::create_dir(path),
        Op::Write { path, text } => std::fs::write(path, text),
        Op::Append { path, text } => {
            std::fs::OpenOptions::new().append(true).create(true).open(path)?.write_all(text.as_bytes())
        }
        Op::Truncate { path, size } => std::fs::OpenOptions::new().write(true).open(path)?.set_len(*size),
        Op::Overwrite { path, at, text } => {
            let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
            f.seek(SeekFrom::Start(*at))?;
            f.write_all(text.as_bytes())
        }
        Op::WriteAt { path, at, text } => write_at(path, *at, text),
        Op::Rename { from, to } => std::fs::rename(from, to),
        Op::Unlink { path } => std::fs::remove_file(path),
        Op::Rmdir { path } => std::fs::remove_dir(path),
        Op::RemoveTree { path } => std::fs::remove_dir_all(path),
        Op::HardLink { from, to } => std::fs::hard_link(from, to),
        Op::Symlink { target, link } => symlink(target, link),
    }
}

fn run(input: Input<Map<String, Value>, Action>) -> Result<Update, NodeError> {
    match input.config {
        Action::Flaky { succeed_on } => {
            if input.attempt < succeed_on {
                std::fs::write("partial.txt", format!("attempt {}", input.attempt))?;
                return Err(NodeError::retryable(format!("attempt {} is too early", input.attempt)));
            }
            std::fs::write(format!("attempt-{}.txt", input.attempt), "ok")?;
            Ok(Update::new().set("attempts", input.attempt))
        }
        Action::Loop { until } => {
            let n = input.state.get("counter").and_then(Value::as_u64).unwrap_or(0) + 1;
            std::fs::write(format!("iter-{n}.txt"), format!("iteration {n}"))?;
            emit("iteration", &json!({ "n": n }))?;
            Ok(Update::new().set("counter", n).route(if n < until { "again" } else { "done" }))
        }
        Action::Write { files, sized, delete, events, update, sleep_ms, route } => {
            std::thread::sleep(std::time::Duration::from_millis(sleep_ms));
            for (path, text) in files {
                write(&path, text.as_bytes())?;
            }
            for (path, size) in sized {
                let bytes: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
                write(&path, &bytes)?;
            }
            for path in delete {
                std::fs::remove_file(&path)?;
            }
            for (kind, payload) in events {
                emit(&kind, &payload)?;
            }
            let out = Update::from_serialize(&update)?;
            Ok(match route {
                Some(r) => out.route(r),
                None => out,
            })
        }
        Action::Fail { message, files, delete } => {
            std::fs::write("partial.txt", "written before failing")?;
            for (path, text) in files {
                write(&path, text.as_bytes())?;
            }
            for path in delete {
                if std::fs::metadata(&path)?.is_dir() {
                    std::fs::remove_dir_all(&path)?;
                } else {
                    std::fs::remove_file(&path)?;
                }
            }
            symlink("partial.txt", "planted-link")?;
            Err(NodeError::failed(message))
        }
        Action::Panic { message } => {
            std::fs::write("partial.txt", "written before panicking")?;
            panic!("{message}")
        }
        Action::Spin => {
            std::fs::write("partial.txt", "written before spinning")?;
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        Action::EmitMany { count, bytes } => {
            (0..count).try_for_each(|_| emit("flood", &"e".repeat(bytes.saturating_sub(2))))?;
            Ok(Update::new().set("emitted", count))
        }
        Action::LogMany { count, bytes } => {
            (0..count).for_each(|_| wtb_guest::log(wtb_guest::Level::Info, &"l".repeat(bytes)));
            Ok(Update::new().set("logged", count))
        }
        Action::Hog => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 16 << 20]);
                std::hint::black_box(&hoard);
            }
        }
        Action::Escape => Ok(Update::new().set("escapes", escape_attempts())),
        #[cfg(target_os = "wasi")]
        Action::FsOps { seed, count } => Ok(Update::new().set("log", fsops::run(seed, count))),
        #[cfg(not(target_os = "wasi"))]
        Action::FsOps { seed, count } => {
            Err(NodeError::failed(format!("fs_ops {seed}×{count}: only under WASI")))
        }
        #[cfg(target_os = "wasi")]
        Action::DeepChain { depth, name } => {
            fsops::deep_chain(depth, &name).map_err(NodeError::failed)?;
            Ok(Update::new().set("depth", depth))
        }
        #[cfg(not(target_os = "wasi"))]
        Action::DeepChain { depth, name } => {
            Err(NodeError::failed(format!("deep_chain {depth} × `{name}`: only under WASI")))
        }
        Action::RewriteKeepMtime { path, text, sleep_ms } => {
            let before = std::fs::metadata(&path)?.modified()?;
            std::thread::sleep(std::time::Duration::from_millis(sleep_ms));
            std::fs::write(&path, &text)?;
            std::fs::File::options().write(true).open(&path)?.set_modified(before)?;
            let after = std::fs::metadata(&path)?.modified()?;
            Ok(Update::new().set("mtime_restored", before == after))
        }
        Action::Fill { path, bytes } => {
            use std::io::Write as _;
            let mut f = std::fs::File::create(&path)?;
            let chunk = vec![7u8; 1 << 20];
            let mut left = bytes;
            while left > 0 {
                let n = left.min(chunk.len() as u64) as usize;
                f.write_all(&chunk[..n])?;
                left -= n as u64;
            }
            Ok(Update::new().set("filled", bytes))
        }
        Action::ManyFiles { dir, count } => {
            std::fs::create_dir_all(&dir)?;
            for i in 0..count {
                std::fs::write(format!("{dir}/{i}"), "x")?;
            }
            Ok(Update::new().set("files", count))
        }
        Action::Sparse { path, size } => {
            std::fs::File::create(&path)?.set_len(size)?;
            Ok(Update::new().set("sparse", size))
        }
        Action::Flood { bytes } => {
            use std::io::Write as _;
            let line = [b'y'; 4095];
            let mut out = std::io::stdout().lock();
            let mut left = bytes;
            while left > 0 {
                let n = left.min(line.len() as u64) as usize;
                out.write_all(&line[..n])?;
                left -= n as u64;
            }
            Ok(Update::new().set("flooded", bytes))
        }
        Action::Recurse => Ok(Update::new().set("depth", recurse(0))),
        Action::Observe => {
            let seen = observe();
            std::fs::write("observed.json", seen.to_string())?;
            emit("observed", &seen)?;
            Ok(Update::new().set("observed", seen))
        }
        Action::ReadFile { path, write_to } => {
            let text = std::fs::read_to_string(&path)?;
            let write = write_to.map(|p| match std::fs::write(&p, "x") {
                Ok(()) => "ALLOWED".to_owned(),
                Err(e) => format!("denied: {e}"),
            });
            Ok(Update::new().set("read", text).set("write", write))
        }
        Action::Gate { path } => {
            while std::fs::symlink_metadata(&path).is_err() {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            std::fs::write("gate.txt", "passed")?;
            Ok(Update::new().set("gate", "passed"))
        }
        Action::Environ => {
            let env: BTreeMap<String, String> = std::env::vars().collect();
            Ok(Update::new().set("args", std::env::args().collect::<Vec<_>>()).set("env", env))
        }
        Action::Mtime { path } => {
            std::fs::write(&path, "x")?;
            let mtime = std::fs::metadata(&path)?
                .modified()?
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            Ok(Update::new().set("mtime", mtime))
        }
        Action::Mutate { ops } => {
            for op in &ops {
                mutate(op)?;
            }
            Ok(Update::new().set("ops", ops.len()))
        }
        Action::BadJson | Action::NotObject => unreachable!("handled before decoding"),
    }
}

struct Probe;

impl wtb_guest::wit::Guest for Probe {
    fn run(input: wit::NodeInput) -> Result<wit::NodeOutput, wit::NodeError> {
        let action: Value = serde_json::from_str(&input.config).unwrap_or(json!(null));
        match action.get("action").and_then(Value::as_str) {
            Some("bad_json") => Ok(wit::NodeOutput { update: "{not json".into(), route: None }),
            Some("not_object") => Ok(wit::NodeOutput { update: "[1, 2]".into(), route: None }),
            _ => wtb_guest::__dispatch(input, run),
        }
    }
}

wtb_guest::wit::__export_node!(Probe with_types_in wtb_guest::wit);
