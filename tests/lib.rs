//! Test support: the test guests, compiled from `guests/` by `build.rs`, and a harness that
//! opens a real data dir (SQLite file, CAS, workspaces) in a temp directory, as `wtb` does.

pub mod receiver;
pub mod services;

use serde::Serialize;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wtb::clock::{SteppingClock, UuidV7Ids};
use wtb::config::DataDir;
use wtb::executor::Executor;
use wtb::model::Timestamp;

/// `guests/probe`: a node whose behaviour is chosen by `config.action`.
pub const PROBE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/guests/wtb_test_probe.wasm"));
/// `guests/probe/src/bin/plain_command.rs`: a command that prints a line that is not JSON.
pub const PLAIN_COMMAND: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/guests/plain_command.wasm"));
/// `guests/probe/src/bin/command_node.rs`: a plain command that acts as a node (state on
/// stdin, update on stdout).
pub const COMMAND_NODE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/guests/command_node.wasm"));
/// `guests/probe/src/bin/net_command.rs`: a command importing `wasi:sockets` (never linked).
pub const NET_COMMAND: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/guests/net_command.wasm"));

/// A temp directory holding a data dir and workflow files; on the PostgreSQL backend
/// ([`services::backend`]), with a fresh database its `wtb.toml` names.
pub struct Harness {
    /// Removed on drop.
    pub dir: tempfile::TempDir,
    /// The database URL, on the PostgreSQL backend.
    pub database: Option<String>,
}

#[derive(Serialize)]
struct ManifestOut<'a> {
    name: &'a str,
    nodes: Vec<NodeOut<'a>>,
}

#[derive(Serialize)]
struct NodeOut<'a> {
    id: &'a str,
    component: &'a str,
    config: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    limits: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fixtures: Option<Value>,
}

/// A barrier a test holds a node at: the node (probe action `gate`) waits inside its sandbox
/// until the test [`open`](Gate::open)s it, so "while the node runs" is a state the test
/// controls, not a sleep it hopes is long enough. Works across processes (it is a file).
pub struct Gate {
    dir: PathBuf,
}

impl Gate {
    /// The probe config of a node that waits at this gate.
    pub fn node(&self) -> Value {
        serde_json::json!({ "action": "gate", "path": "/gate/open" })
    }

    /// Lets every node waiting at this gate (and every later one) through.
    pub fn open(&self) {
        std::fs::write(self.dir.join("open"), "").expect("opening the gate");
    }
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

impl Harness {
    /// A fresh temp directory with the probe component written as `probe.wasm`, and a data
    /// dir whose compile cache is the one every harness of this target dir shares (entries are
    /// keyed by component digest and engine settings): each guest compiles once, not per test.
    pub fn new() -> Self {
        let h = Self::with_own_cache();
        std::os::unix::fs::symlink(shared_compile_cache(), h.data_dir().join("cache"))
            .expect("linking the shared compile cache");
        h
    }

    /// A harness whose data dir has a compile cache of its own, for tests of that cache.
    pub fn with_own_cache() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("probe.wasm"), PROBE).expect("writing probe.wasm");
        let database = match services::backend() {
            services::Backend::Sqlite => None,
            services::Backend::Postgres => {
                let server = services::postgres()
                    .unwrap_or_else(|e| panic!("WTB_TEST_BACKEND=postgres, but no PostgreSQL server: {e}"));
                Some(server.database())
            }
        };
        let h = Self { dir, database };
        std::fs::create_dir_all(h.data_dir()).expect("creating the data dir");
        h.config("").expect("writing wtb.toml");
        h
    }

    /// Writes the data dir's `wtb.toml`: the harness's database (an inline table first, so
    /// `text` may start with top-level keys and end inside any table), then `text`.
    pub fn config(&self, text: impl AsRef<str>) -> std::io::Result<()> {
        let mut text = text.as_ref().to_owned();
        if let Some(url) = self.database.as_ref().filter(|_| !text.contains("database")) {
            text = format!("database = {{ url = \"{url}\" }}\n{text}");
        }
        std::fs::write(self.data_dir().join("wtb.toml"), text)
    }

    /// Everything the database holds, as bytes: the SQLite file and its WAL, or a `pg_dump`
    /// of the harness's PostgreSQL database (for "this is never stored" checks).
    pub fn database_bytes(&self) -> Vec<u8> {
        match &self.database {
            None => {
                let db = std::fs::read(self.data_dir().join("wtb.db")).expect("reading wtb.db");
                let wal = std::fs::read(self.data_dir().join("wtb.db-wal")).unwrap_or_default();
                [db, wal].concat()
            }
            Some(url) => {
                let out = std::process::Command::new("pg_dump").arg(url).output().expect("running pg_dump");
                assert!(out.status.success(), "pg_dump: {}", String::from_utf8_lossy(&out.stderr));
                out.stdout
            }
        }
    }

    /// The data dir (`<tmp>/data`).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Opens the data dir as `wtb` does, with a stepping clock.
    pub async fn executor(&self) -> Executor {
        let data = DataDir::open(&self.data_dir()).expect("opening data dir");
        Executor::open(
            data,
            Arc::new(SteppingClock::new(Timestamp::from_micros(1_800_000_000_000_000))),
            Arc::new(UuidV7Ids),
        )
        .await
        .expect("opening executor")
    }

    /// Writes `text` to `<tmp>/<name>` and returns its path.
    pub fn file(&self, name: &str, text: impl AsRef<[u8]>) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).expect("writing test file");
        p
    }

    /// A manifest running the probe once per `(id, config)`, optionally with limits.
    pub fn probe_workflow(&self, name: &str, nodes: &[(&str, Value)]) -> PathBuf {
        self.probe_workflow_with_limits(name, nodes, None)
    }

    /// As [`Harness::probe_workflow`], with `[nodes.limits]` on every node.
    pub fn probe_workflow_with_limits(
        &self,
        name: &str,
        nodes: &[(&str, Value)],
        limits: Option<Value>,
    ) -> PathBuf {
        let m = ManifestOut {
            name,
            nodes: nodes
                .iter()
                .map(|(id, config)| NodeOut {
                    id,
                    component: "probe.wasm",
                    config,
                    limits: limits.as_ref(),
                    fixtures: (config["action"] == "gate")
                        .then(|| serde_json::json!({ "/gate": self.gate().dir.to_string_lossy() })),
                })
                .collect(),
        };
        self.file(&format!("{name}.toml"), toml::to_string(&m).expect("manifest as TOML"))
    }

    /// `drift.toml`: one probe node, `read`, that puts `/input/drift.txt` into the state as
    /// `read`. The file is a fixture this harness holds, written as `first`: rewrite it to give
    /// the node another input outside the sandbox. `seed`: the manifest's deterministic mode.
    /// Returns the fixture directory.
    pub fn drift_workflow(&self, seed: Option<u64>) -> PathBuf {
        let input = self.dir.path().join("input");
        std::fs::create_dir_all(&input).expect("creating the fixture");
        std::fs::write(input.join("drift.txt"), "first").expect("writing the fixture");
        let seed = seed.map(|s| format!("seed = {s}\n")).unwrap_or_default();
        let manifest = format!(
            "name = \"drift\"\n{seed}[[nodes]]\nid = \"read\"\ncomponent = \"probe.wasm\"\nconfig = {{ action = \"read_file\", path = \"/input/drift.txt\" }}\nfixtures = {{ \"/input\" = {:?} }}\n",
            input.display().to_string()
        );
        self.file("drift.toml", manifest);
        input
    }

    /// This harness's [`Gate`] (one per harness; nodes configured with [`Gate::node`] wait at
    /// it, and a workflow from [`Harness::probe_workflow`] mounts it for them).
    pub fn gate(&self) -> Gate {
        let dir = self.dir.path().join("gate");
        std::fs::create_dir_all(&dir).expect("creating the gate directory");
        Gate { dir }
    }

    /// What an execution's workspace holds now, exported into a fresh directory: the files of
    /// its last live checkpoint, which its next node would start from (a lane's in-memory
    /// tree is rebuilt from them).
    pub async fn workspace(
        &self,
        exec: &wtb::executor::Executor,
        execution: wtb::model::ExecutionId,
    ) -> PathBuf {
        static EXPORTS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let report = exec.inspect().describe(execution).await.expect("describing the execution");
        let last = report.checkpoints.last().expect("the execution has a checkpoint").checkpoint.id;
        let n = EXPORTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = self.dir.path().join(format!("workspace-{execution}-{n}"));
        exec.inspect().export(last, &dir, false).await.expect("exporting the last checkpoint");
        dir
    }

    /// The path of a CAS object.
    pub fn cas_object(&self, digest: &wtb::model::Digest) -> PathBuf {
        self.data_dir()
            .join("blobs")
            .join(wtb::cas::LocalCas::object_path(wtb::model::TenantId::DEFAULT, digest))
    }
}

/// The workspace's target dir (where guests and the polyglot toolchains are built).
pub fn target_dir() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_owned();
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace.join("target"))
}

/// `target/test-compile-cache`: the compiled-component cache the harnesses share (a data
/// dir's `cache/`), kept between runs like the rest of the target dir.
fn shared_compile_cache() -> PathBuf {
    let dir = target_dir().join("test-compile-cache");
    std::fs::create_dir_all(dir.join("components")).expect("creating the shared compile cache");
    dir
}

/// The Python and JavaScript toolchains, installed by `examples/polyglot/tools.sh` once per test
/// process (concurrent callers wait for the first) into `target/polyglot-tools`. `Err` says why
/// this machine cannot have them (no python3/pip or npm): the caller skips, printing it.
pub fn polyglot_tools() -> Result<PathBuf, String> {
    static TOOLS: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    TOOLS
        .get_or_init(|| {
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/polyglot/tools.sh");
            let out = std::process::Command::new("sh")
                .arg(script)
                .env("WTB_TOOLS", target_dir().join("polyglot-tools"))
                .output()
                .expect("running sh");
            match out.status.code() {
                Some(0) => Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())),
                Some(3) => Err(String::from_utf8_lossy(&out.stderr).trim().to_owned()),
                _ => panic!("tools.sh failed:\n{}", String::from_utf8_lossy(&out.stderr)),
            }
        })
        .clone()
}

/// A test that cannot have a tool it needs: under `CI` (set by CI systems) that is a failure,
/// so nothing passes by skipping there; on a developer's machine it prints `skip: <what>: <why>`
/// where the test run shows it, and the caller returns.
pub fn skipped(what: &str, why: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("{what}: a tool it needs is missing, and under CI a test never skips: {why}");
    }
    // Straight to the process's stderr, past libtest's capture, so the skip shows on the
    // test's own output without `--nocapture` (a swallowed `eprintln!` would hide it).
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "skip: {what}: {why}");
}

/// The first of `names` on `PATH`.
fn on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    names.iter().flat_map(|b| std::env::split_paths(&path).map(move |d| d.join(b))).find(|p| p.is_file())
}

/// Chromium and its WebDriver: found on `PATH`, or installed with `apt-get install chromium
/// chromium-driver` (Debian, [`services::apt_install`]) once per test process when missing and
/// this process may. `Err` says why there are none; the caller skips, printing it.
fn browser_tools() -> Result<(PathBuf, PathBuf), String> {
    static TOOLS: std::sync::OnceLock<Result<(PathBuf, PathBuf), String>> = std::sync::OnceLock::new();
    let find = || {
        Some((
            on_path(&["chromium", "chromium-browser", "google-chrome", "headless_shell"])?,
            on_path(&["chromedriver"])?,
        ))
    };
    TOOLS
        .get_or_init(|| match find() {
            Some(found) => Ok(found),
            None => {
                services::apt_install(&["chromium", "chromium-driver"])?;
                find().ok_or_else(|| {
                    "apt-get installed chromium, but no chromium and chromedriver are on PATH".into()
                })
            }
        })
        .clone()
}

/// A headless-capable Chromium (see [`browser_tools`]).
pub fn chromium() -> Result<PathBuf, String> {
    browser_tools().map(|(c, _)| c)
}

/// Chromium's WebDriver server, `chromedriver` (see [`browser_tools`]).
pub fn chromedriver() -> Result<PathBuf, String> {
    browser_tools().map(|(_, d)| d)
}

/// The rows `q` reads from the executor's database, of either backend.
pub async fn fetch_all<T: wtb::db::sql::Decoded>(exec: &Executor, q: wtb::db::sql::Query) -> Vec<T> {
    let mut pooled = sql_pool(exec).acquire().await.expect("a connection");
    q.fetch_all(&mut pooled.conn()).await.expect("the test's query")
}

/// The one row `q` reads from the executor's database, of either backend.
pub async fn fetch_one<T: wtb::db::sql::Decoded>(exec: &Executor, q: wtb::db::sql::Query) -> T {
    let mut pooled = sql_pool(exec).acquire().await.expect("a connection");
    q.fetch_one(&mut pooled.conn()).await.expect("the test's query")
}

/// The SQLite pool behind an executor, for tests of SQLite's own representation.
pub fn sqlite(exec: &Executor) -> &wtb::db::sqlite::SqlitePool {
    exec.database().as_any().downcast_ref::<wtb::db::Sqlite>().expect("the embedded SQLite backend").pool()
}

/// The pool behind an executor, of whichever backend, for tests that read or plant rows
/// themselves through the shared SQL.
pub fn sql_pool(exec: &Executor) -> &wtb::db::sql::Pool {
    wtb::db::sql_pool(exec.database().as_ref()).expect("an SQL backend")
}

/// SHA-256 of `bytes` as a model digest.
pub fn digest(bytes: &[u8]) -> wtb::model::Digest {
    wtb::model::Digest::of(bytes)
}

/// Every regular file under `dir`, relative, sorted (for "nothing escaped" checks).
pub fn files_under(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            let ft = e.file_type().expect("file type");
            if ft.is_dir() {
                walk(base, &p, out);
            } else {
                out.push(p.strip_prefix(base).expect("under base").display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}
