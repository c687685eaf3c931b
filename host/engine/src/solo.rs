//! One node on its own (`wtb node run`): the same sandbox, limits and capture as inside a
//! workflow, on a scratch workspace (empty, or a copy of a directory the caller names, which
//! stays untouched), with nothing written to the database or the blob store.
//!
//! A sibling of the execution protocol, for plugin authors: its bad inputs are its own
//! [`SoloError`] variants, apart from the executor's errors.

use crate::executor::{ExecError, Executor, StoredBlobs, blocking, load::resolve_fixture};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wtb_core::model::{ChangeKind, Digest, EntryKind, FileTree, TrapKind};
use wtb_core::model::{ExecutionId, Touched};
use wtb_core::workflow::{Fixture, Network, NodeLimits, parse_update};
use wtb_runtime::{CancelSignal, NodeCall, Outcome};
use wtb_store::capture::{CaptureError, CaptureTo, DirWorkspace, capture};
use wtb_store::cas::LocalCas;

/// What to run.
#[derive(Clone, Debug, Default)]
pub struct SoloOptions {
    /// The component file.
    pub component: PathBuf,
    /// The state the node sees.
    pub state: Map<String, Value>,
    /// Its config.
    pub config: Map<String, Value>,
    /// A directory whose copy is the workspace (`None`: an empty one).
    pub workspace: Option<PathBuf>,
    /// The env vars it sees (it sees no others).
    pub env: BTreeMap<String, String>,
    /// Arguments after the program name.
    pub args: Vec<String>,
    /// Read-only host directories it sees (checked here: absolute mount points, existing
    /// directories).
    pub fixtures: Vec<Fixture>,
    /// Limits (unset ones: the runtime config's defaults).
    pub limits: NodeLimits,
    /// Deterministic mode with this seed.
    pub seed: Option<u64>,
    /// Whether sockets are linked (and denied).
    pub network: Network,
}

/// One path the node changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SoloChange {
    /// The path, relative to the workspace.
    pub path: String,
    /// Added, modified or deleted.
    pub change: ChangeKind,
    /// File, directory or symlink (`None` when deleted).
    pub kind: Option<EntryKind>,
    /// Size after the change.
    pub size: u64,
    /// Content digest after the change.
    pub digest: Option<Digest>,
}

/// How the node did.
#[derive(Clone, Debug, Serialize)]
pub struct SoloReport {
    /// The component's SHA-256.
    pub component: Digest,
    /// `returned`, `guest_error`, `trapped` or `invalid_output`.
    pub outcome: &'static str,
    /// The state update (when it returned a valid one).
    pub update: Option<Map<String, Value>>,
    /// The route label it chose.
    pub route: Option<String>,
    /// Why it failed, in one line.
    pub error: Option<String>,
    /// The trap kind, when it trapped.
    pub trap: Option<TrapKind>,
    /// Its stdout and stderr (capped like in a workflow).
    pub stdout: String,
    /// See `stdout`.
    pub stderr: String,
    /// The events it emitted: `{kind, payload}` (a workflow would store them as `guest.<kind>`).
    pub events: Vec<Value>,
    /// Paths it created, changed or deleted.
    pub files: Vec<SoloChange>,
    /// Wall time of the attempt, µs.
    pub duration_us: u64,
    /// Largest linear memory reached.
    pub peak_memory_bytes: u64,
}

impl SoloReport {
    /// Whether the node returned a valid update.
    pub fn succeeded(&self) -> bool {
        self.outcome == "returned"
    }
}

/// Why `wtb node run` could not run the node (a node that ran and failed is a report, not an
/// error).
#[derive(Debug, thiserror::Error)]
pub enum SoloError {
    /// The component cannot be read or is not a node.
    #[error("{path}: {problem}")]
    Component {
        /// The file as given.
        path: String,
        /// What is wrong.
        problem: String,
    },
    /// Limits that make no sense, or pass an operator ceiling.
    #[error("limits: {0}")]
    Limits(String),
    /// A fixture that is not an absolute mount point over a directory.
    #[error("{0}")]
    Fixture(String),
    /// `--workspace` names no directory.
    #[error("--workspace {}: {problem}", dir.display())]
    Workspace {
        /// The directory as given.
        dir: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// Copying `--workspace` failed (e.g. a file there is not a regular file, directory or
    /// symlink).
    #[error("--workspace: {0}")]
    Copy(String),
    /// Anything the executor reports (I/O of the scratch space, a task that died).
    #[error(transparent)]
    Exec(#[from] ExecError),
}

impl Executor {
    /// Runs one node outside any workflow (see the module doc).
    pub async fn run_node(&self, opts: &SoloOptions) -> Result<SoloReport, SoloError> {
        let path = opts.component.display().to_string();
        let bytes: Arc<[u8]> = tokio::fs::read(&opts.component)
            .await
            .map_err(|e| SoloError::Component { path: path.clone(), problem: e.to_string() })?
            .into();
        let prepared = self
            .runtime
            .prepare(bytes, opts.network)
            .await
            .map_err(|e| SoloError::Component { path: path.clone(), problem: e.to_string() })?;
        opts.limits.validate().map_err(|p| SoloError::Limits(p.to_string()))?;
        self.config.check_ceilings(&opts.limits).map_err(|p| SoloError::Limits(p.to_string()))?;
        let cwd = std::env::current_dir()
            .map_err(|source| ExecError::Io { what: "reading the current directory".into(), source })?;
        let fixtures = opts
            .fixtures
            .iter()
            .map(|f| resolve_fixture(&cwd, f))
            .collect::<Result<Vec<_>, _>>()
            .map_err(SoloError::Fixture)?;
        let opts = &SoloOptions { fixtures, ..opts.clone() };
        if let Some(dir) = &opts.workspace
            && !dir.is_dir()
        {
            return Err(SoloError::Workspace { dir: dir.clone(), problem: "not a directory".into() });
        }
        let scratch = format!(".node-run-{}", self.ids.next());
        let io = |what: &str| {
            let what = what.to_owned();
            move |source| ExecError::Io { what, source }
        };
        self.workspaces
            .create_dir_all(format!("{scratch}/ws"))
            .map_err(io("creating a scratch workspace"))?;
        self.workspaces
            .create_dir_all(format!("{scratch}/blobs"))
            .map_err(io("creating a scratch blob store"))?;
        let result = self.run_in_scratch(opts, &prepared, &scratch).await;
        let _ = self.workspaces.remove_dir_all(&scratch);
        result
    }

    async fn run_in_scratch(
        &self,
        opts: &SoloOptions,
        prepared: &wtb_runtime::PreparedNode,
        scratch: &str,
    ) -> Result<SoloReport, SoloError> {
        let ws_dir = self
            .workspaces
            .open_dir(format!("{scratch}/ws"))
            .map_err(|source| ExecError::Io { what: "opening the scratch workspace".into(), source })?;
        let cas =
            Arc::new(LocalCas::new(self.workspaces.open_dir(format!("{scratch}/blobs")).map_err(
                |source| ExecError::Io { what: "opening the scratch blob store".into(), source },
            )?));
        let mut ws = DirWorkspace::new(ws_dir, self.workspaces_path.join(scratch).join("ws"));
        let (tenant, limits) = (self.tenant, self.config.capture_limits());
        let source = opts.workspace.clone();
        let base = blocking(move || {
            let r = source.map_or(Ok(()), |src| {
                copy_tree(&src, ws.dir())
                    .map_err(|e| CaptureError::Io { path: src.display().to_string(), source: e })
            });
            r.and_then(|()| {
                capture(&mut ws, &FileTree::new(), &*cas, tenant, &limits, &Touched::everything())
                    .map(|c| (c.tree, c.blobs, cas))
            })
        })
        .await?;
        let (base, copied, cas) = base.map_err(|e| SoloError::Copy(e.to_string()))?;
        // The node runs in an in-memory workspace holding the copied tree.
        let blobs = Arc::new(StoredBlobs::captured(copied, cas.clone(), tenant));
        let scratch = ExecutionId::from_uuid(uuid::Uuid::nil());
        let mut ws = self
            .lanes
            .open(scratch, 0)
            .map_err(|source| ExecError::Io { what: "opening an in-memory workspace".into(), source })?;
        self.lanes.restore(&mut ws, &base, blobs, &limits).map_err(|e| SoloError::Copy(e.to_string()))?;
        let node_limits = self.config.node_limits(&opts.limits);
        let call = NodeCall {
            execution: "node-run".into(),
            node: opts
                .component
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "node".into()),
            attempt: 1,
            state: Value::Object(opts.state.clone()).to_string(),
            config: Value::Object(opts.config.clone()).to_string(),
            env: opts.env.clone(),
            args: opts.args.clone(),
            fixtures: opts.fixtures.clone(),
            seed: opts.seed,
            clock: None,
        };
        let report = self
            .runtime
            .run(prepared, &call, crate::executor::mount(&ws), &node_limits, &CancelSignal::default())
            .await;
        let lanes = self.lanes.clone();
        let (back, captured) = blocking(move || {
            let r = lanes.capture(&mut ws, &base, CaptureTo { cas: &*cas, tenant, limits: &limits });
            (ws, r)
        })
        .await?;
        drop(back);
        let mut out = SoloReport {
            component: prepared.digest(),
            outcome: "returned",
            update: None,
            route: None,
            error: None,
            trap: None,
            stdout: report.stdout.clone(),
            stderr: report.stderr.clone(),
            events: report
                .events
                .iter()
                .map(|e| serde_json::json!({ "kind": e.kind, "payload": e.data() }))
                .collect(),
            files: Vec::new(),
            duration_us: u64::try_from(report.guest_time.as_micros()).unwrap_or(u64::MAX),
            peak_memory_bytes: report.peak_memory_bytes,
        };
        match captured {
            Ok(c) => {
                out.files = c
                    .changes
                    .iter()
                    .map(|ch| SoloChange {
                        path: ch.path.clone(),
                        change: ch.change,
                        kind: ch.entry.as_ref().map(|e| e.kind),
                        size: ch.entry.as_ref().map_or(0, |e| e.size),
                        digest: ch.entry.as_ref().and_then(|e| e.digest),
                    })
                    .collect();
            }
            Err(e) => {
                out.outcome = "trapped";
                out.trap = Some(TrapKind::SandboxViolation);
                out.error = Some(format!("what it left in the workspace cannot be captured: {e}"));
            }
        }
        match report.outcome {
            _ if out.error.is_some() => {}
            Outcome::Returned { update, route } => match parse_update(&update, node_limits.update_bytes) {
                Ok(update) => (out.update, out.route) = (Some(update), route),
                Err(e) => (out.outcome, out.error) = ("invalid_output", Some(e.to_string())),
            },
            Outcome::GuestError { kind, message } => {
                (out.outcome, out.error) = ("guest_error", Some(format!("{}: {message}", kind.as_str())))
            }
            Outcome::Trapped { kind, detail } => {
                (out.outcome, out.trap, out.error) = ("trapped", Some(kind), Some(detail))
            }
            Outcome::Cancelled => (out.outcome, out.error) = ("trapped", Some("cancelled".into())),
        }
        Ok(out)
    }
}

/// Copies a host directory into the workspace: files, directories and symlinks (as links,
/// never followed), nothing else. The source is the user's own directory, but it may be a
/// workspace a guest wrote, so the copy never follows a link on either side.
fn copy_tree(src: &Path, dst: &cap_std::fs::Dir) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt as _;
    use wtb_store::capture::beneath;
    fn walk(src: &Path, dst: &cap_std::fs::Dir, rel: &Path) -> std::io::Result<()> {
        for entry in std::fs::read_dir(src.join(rel))? {
            let entry = entry?;
            let rel = rel.join(entry.file_name());
            let name = rel.to_str().ok_or_else(|| {
                std::io::Error::other(format!("{}: the name is not UTF-8", src.join(&rel).display()))
            })?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                beneath::create_dir(dst, name)?;
                walk(src, dst, &rel)?;
            } else if kind.is_symlink() {
                beneath::symlink(dst, std::fs::read_link(src.join(&rel))?.as_os_str().as_bytes(), name)?;
            } else if kind.is_file() {
                std::io::Write::write_all(
                    &mut beneath::create_file(dst, name)?,
                    &std::fs::read(src.join(&rel))?,
                )?;
            } else {
                return Err(std::io::Error::other(format!(
                    "{}: not a file, directory or symlink",
                    src.join(&rel).display()
                )));
            }
        }
        Ok(())
    }
    walk(src, dst, Path::new(""))
}
