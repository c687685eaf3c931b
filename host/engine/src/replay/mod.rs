//! `wtb replay`: every recorded node boundary of an execution run again — on its recorded
//! component or a new one — from the entry's recorded state and files, in the execution's
//! environment (seed, clock, config, env, fixtures, limits), and compared with the recorded
//! exit: state, files, route and guest events. A new component tested against real runs; the
//! same component in deterministic mode coming out differently is a nondeterministic node.
//!
//! Nothing is written to the database; contents too large to keep inline go to a scratch blob
//! store removed at the end.

mod compare;

pub use compare::{Differences, Outputs, recorded_outputs};

use crate::executor::{ExecError, Executor, LoadedNode, LoadedWorkflow, StoredBlobs, blocking, mount};
use crate::inspect::history::{diffed_digests, file_diffs};
use crate::inspect::{CheckpointView, ExecutionReport};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::Arc;
use wtb_core::model::{AttemptStatus, CheckpointId, Digest, ExecutionId, FileTree, Timestamp, diff_trees};
use wtb_core::workflow::{Reducers, parse_update, plan_update};
use wtb_runtime::{CancelSignal, NodeCall, Outcome, PreparedNode};
use wtb_store::capture::{BlobSource, CaptureTo, NewBlob};
use wtb_store::cas::LocalCas;
use wtb_store::db::ListFilter;

/// What to replay, and on which components.
#[derive(Clone, Debug, Default)]
pub struct ReplayOptions {
    /// New components, by node id; the other nodes run the component they were recorded with.
    pub components: Vec<(String, ComponentSource)>,
    /// Only the boundaries of these nodes (none: every node).
    pub nodes: Vec<String>,
}

/// Where a new component comes from.
#[derive(Clone, Debug)]
pub enum ComponentSource {
    /// A `.wasm` file (the command line).
    Path(PathBuf),
    /// An upload of this tenant, `sha256:<digest>` (the API).
    Uploaded(String),
}

/// Recorded executions to replay together: a workflow's, newest first (regression-testing a
/// new component against real runs).
#[derive(Clone, Debug)]
pub struct Corpus {
    /// The workflow's name (or definition digest).
    pub workflow: String,
    /// Only executions created at or after this instant.
    pub since: Option<Timestamp>,
    /// At most this many (1–1000).
    pub limit: u32,
}

/// How a replayed boundary came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The same state, files, route and guest events as recorded.
    Same,
    /// Returned, but something differs.
    Differs,
    /// Did not return a valid update (guest error, trap, invalid output).
    Failed,
}

/// One replayed node boundary.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct NodeReplay {
    /// The node.
    pub node: String,
    /// The recorded attempt number (the guest sees it again).
    pub attempt: u32,
    /// The entry checkpoint it started from.
    pub entry: CheckpointId,
    /// The recorded exit it is compared with.
    pub exit: CheckpointId,
    /// The component that ran.
    pub component: Digest,
    /// Whether that is a new component (`--component`).
    pub replaced: bool,
    /// Same, differs or failed.
    pub verdict: Verdict,
    /// The recorded component, in deterministic mode, came out differently.
    pub nondeterministic: bool,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What differs.
    pub differences: Differences,
}

/// Every replayed boundary of one execution.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ReplayReport {
    /// The execution replayed.
    pub execution: ExecutionId,
    /// Its workflow's name.
    pub workflow: String,
    /// Whether it ran in deterministic mode (its seed).
    pub seed: Option<u64>,
    /// The boundaries, in the order they were recorded.
    pub nodes: Vec<NodeReplay>,
}

impl ReplayReport {
    /// Whether every boundary came out the same.
    pub fn all_same(&self) -> bool {
        self.nodes.iter().all(|n| n.verdict == Verdict::Same)
    }
}

/// Why a replay could not start.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// `--node` or `--component` names a node the workflow does not have.
    #[error("{flag} {node}: workflow `{workflow}` has no node `{node}`")]
    NoSuchNode {
        /// The option.
        flag: &'static str,
        /// The node as given.
        node: String,
        /// The execution's workflow.
        workflow: String,
    },
    /// A new component that cannot be read or is not a node.
    #[error("--component {node}={}: {problem}", path.display())]
    Component {
        /// The node.
        node: String,
        /// The file as given.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// A corpus that holds no execution (a misspelt workflow, a `--since` too late).
    #[error("no recorded execution of workflow `{workflow}`{}", since.map(|t| format!(" since {t}")).unwrap_or_default())]
    NoExecutions {
        /// The workflow as given.
        workflow: String,
        /// The `--since` given.
        since: Option<Timestamp>,
    },
    /// Anything the executor reports (an unknown execution, I/O).
    #[error(transparent)]
    Exec(#[from] ExecError),
}

/// A boundary's run: the state, files (with the new contents they need) and outputs it left,
/// or why it failed.
type Ran = Result<(Value, Arc<FileTree>, Vec<NewBlob>, Outputs), String>;

impl Executor {
    /// Replays the recorded boundaries of `id` (see the module doc).
    pub async fn replay(&self, id: ExecutionId, opts: &ReplayOptions) -> Result<ReplayReport, ReplayError> {
        let report = self.inspect().describe(id).await?;
        let wf = self.registered_workflow(report.execution.workflow).await?;
        let graph = &wf.manifest.graph;
        let no_node = |flag, node: &str| ReplayError::NoSuchNode {
            flag,
            node: node.to_owned(),
            workflow: wf.manifest.name.clone(),
        };
        if let Some(node) = opts.nodes.iter().find(|n| graph.node(n).is_none()) {
            return Err(no_node("--node", node));
        }
        let mut replaced: HashMap<&str, PreparedNode> = HashMap::new();
        for (node, source) in &opts.components {
            let i = graph.node(node).ok_or_else(|| no_node("--component", node))?;
            let path = match source {
                ComponentSource::Path(p) => p.clone(),
                ComponentSource::Uploaded(name) => PathBuf::from(name),
            };
            let bad =
                |problem: String| ReplayError::Component { node: node.clone(), path: path.clone(), problem };
            let bytes: Arc<[u8]> = match source {
                ComponentSource::Path(p) => tokio::fs::read(p).await.map_err(|e| bad(e.to_string()))?.into(),
                ComponentSource::Uploaded(name) => self.uploaded_component(name).await.map_err(bad)?,
            };
            let prepared = self
                .runtime
                .prepare(bytes, wf.nodes[i].spec.network)
                .await
                .map_err(|e| bad(e.to_string()))?;
            replaced.insert(node, prepared);
        }
        let scratch = format!(".replay-{}", self.ids.next());
        let io = |what: &'static str| move |source| ExecError::Io { what: what.into(), source };
        self.workspaces.create_dir_all(&scratch).map_err(io("creating the replay's scratch blob store"))?;
        let replayed = match self.workspaces.open_dir(&scratch) {
            Ok(dir) => {
                self.replay_boundaries(&report, &wf, &replaced, opts, &Arc::new(LocalCas::new(dir))).await
            }
            Err(e) => Err(io("opening the replay's scratch blob store")(e)),
        };
        let _ = self.workspaces.remove_dir_all(&scratch);
        let env = &report.execution.environment;
        Ok(ReplayReport {
            execution: id,
            workflow: wf.manifest.name.clone(),
            seed: env.seed,
            nodes: replayed?,
        })
    }

    /// Each wanted, succeeded boundary of `report` run again and compared; new contents go to
    /// `cas`.
    async fn replay_boundaries(
        &self,
        report: &ExecutionReport,
        wf: &LoadedWorkflow,
        replaced: &HashMap<&str, PreparedNode>,
        opts: &ReplayOptions,
        cas: &Arc<LocalCas>,
    ) -> Result<Vec<NodeReplay>, ExecError> {
        let (id, graph) = (report.execution.id, &wf.manifest.graph);
        let checkpoints: HashMap<CheckpointId, &CheckpointView> =
            report.checkpoints.iter().map(|c| (c.checkpoint.id, c)).collect();
        let env = &report.execution.environment;
        let mut nodes = Vec::new();
        for b in report.nodes.iter().map(|n| &n.boundary) {
            let wanted = opts.nodes.is_empty() || opts.nodes.contains(&b.node);
            let found = (b.status == AttemptStatus::Succeeded)
                .then(|| Some((checkpoints.get(&b.entry_checkpoint)?, checkpoints.get(&b.exit_checkpoint?)?)))
                .flatten();
            let (Some((entry, exit)), Some(i), true) = (found, graph.node(&b.node), wanted) else { continue };
            let loaded = &wf.nodes[i];
            let prepared = replaced.get(b.node.as_str()).unwrap_or(&loaded.prepared);
            let call = NodeCall {
                execution: id.to_string(),
                node: b.node.clone(),
                attempt: b.attempt,
                state: entry.checkpoint.state.to_string(),
                config: loaded.spec.config.to_string(),
                env: loaded.spec.env.clone(),
                args: loaded.spec.args.clone(),
                fixtures: loaded.spec.fixtures.clone(),
                seed: env.seed,
                clock: env.clock,
            };
            let recorded = recorded_outputs(&report.events, exit.checkpoint.id);
            let (verdict, error, differences) = match self
                .replay_one(loaded, prepared, &wf.manifest.reducers, &call, entry, cas)
                .await?
            {
                Err(why) => (Verdict::Failed, Some(why), Differences::default()),
                Ok((state, tree, fresh, outputs)) => {
                    let files = self.file_differences(&exit.files, &tree, fresh, cas).await?;
                    let d =
                        Differences::between((&exit.checkpoint.state, &recorded), (&state, &outputs), files);
                    (if d.is_empty() { Verdict::Same } else { Verdict::Differs }, None, d)
                }
            };
            let is_new = replaced.contains_key(b.node.as_str());
            nodes.push(NodeReplay {
                node: b.node.clone(),
                attempt: b.attempt,
                entry: entry.checkpoint.id,
                exit: exit.checkpoint.id,
                component: prepared.digest(),
                replaced: is_new,
                verdict,
                nondeterministic: verdict != Verdict::Same && !is_new && env.seed.is_some(),
                error,
                differences,
            });
        }
        Ok(nodes)
    }

    /// Replays every execution of `corpus` (see [`Executor::replay`]), newest first.
    pub async fn replay_corpus(
        &self,
        corpus: &Corpus,
        opts: &ReplayOptions,
    ) -> Result<Vec<ReplayReport>, ReplayError> {
        let filter = ListFilter {
            workflow: Some(corpus.workflow.clone()),
            created_after: corpus.since,
            ..Default::default()
        };
        let page = self.inspect().list(&filter, None, corpus.limit).await?;
        if page.executions.is_empty() {
            return Err(ReplayError::NoExecutions { workflow: corpus.workflow.clone(), since: corpus.since });
        }
        let mut reports = Vec::with_capacity(page.executions.len());
        for e in &page.executions {
            reports.push(self.replay(e.id, opts).await?);
        }
        Ok(reports)
    }

    /// Runs one boundary again in an in-memory workspace holding the entry's files.
    async fn replay_one(
        &self,
        loaded: &LoadedNode,
        prepared: &PreparedNode,
        reducers: &Reducers,
        call: &NodeCall,
        entry: &CheckpointView,
        cas: &Arc<LocalCas>,
    ) -> Result<Ran, ExecError> {
        let base = Arc::new(entry.files.clone());
        let (lanes, blobs, capture) = (self.lanes.clone(), self.lane_blobs(), self.config.capture_limits());
        let mut ws = self.open_workspace(entry.checkpoint.execution, 0)?;
        let (ws_back, restored) = {
            let (lanes, base) = (lanes.clone(), base.clone());
            blocking(move || {
                let r = lanes.restore(&mut ws, &base, blobs, &capture);
                (ws, r)
            })
            .await?
        };
        let mut ws = ws_back;
        if let Err(e) = restored {
            return Ok(Err(format!("restoring the entry's files: {e}")));
        }
        let limits = self.config.node_limits(&loaded.spec.limits);
        let report = self.runtime.run(prepared, call, mount(&ws), &limits, &CancelSignal::default()).await;
        let (tenant, cas) = (self.tenant, cas.clone());
        let captured = blocking(move || {
            lanes.capture(&mut ws, &base, CaptureTo { cas: &*cas, tenant, limits: &capture })
        })
        .await?;
        let (update, route) = match report.outcome {
            Outcome::Returned { update, route } => (update, route),
            Outcome::GuestError { kind, message } => return Ok(Err(format!("{}: {message}", kind.as_str()))),
            Outcome::Trapped { kind, detail } => {
                return Ok(Err(format!("trapped ({}): {detail}", kind.as_str())));
            }
            Outcome::Cancelled => return Ok(Err("cancelled".into())),
        };
        let (tree, fresh) = match captured {
            Ok(c) => (c.tree, c.blobs),
            Err(e) => return Ok(Err(format!("what it left in the workspace cannot be captured: {e}"))),
        };
        let update = match parse_update(&update, limits.update_bytes) {
            Ok(update) => update,
            Err(e) => return Ok(Err(format!("invalid output: {e}"))),
        };
        if let Some(schema) = &loaded.update_schema
            && let Err(v) = schema.check(&Value::Object(update.clone()))
        {
            return Ok(Err(format!("invalid output: update does not match the node's `update_schema`: {v}")));
        }
        let mut state: Map<String, Value> = entry.checkpoint.state.as_object().cloned().unwrap_or_default();
        match plan_update(&state, update, reducers) {
            Ok(planned) => drop(planned.apply(&mut state)),
            Err(e) => return Ok(Err(format!("invalid output: {e}"))),
        }
        let events =
            report.events.iter().map(|e| serde_json::json!({ "kind": e.kind, "data": e.data() })).collect();
        Ok(Ok((Value::Object(state), tree, fresh, Outputs { route, events })))
    }

    /// How the replayed tree differs from the recorded one, text files with unified diffs:
    /// recorded contents from the store; replayed ones from the capture (inline, or in the
    /// scratch store) or, when the entry already had them, from the store.
    async fn file_differences(
        &self,
        recorded: &FileTree,
        replayed: &Arc<FileTree>,
        fresh: Vec<NewBlob>,
        cas: &Arc<LocalCas>,
    ) -> Result<Vec<wtb_core::history::FileDiff>, ExecError> {
        let changes = diff_trees(recorded, replayed);
        if changes.is_empty() {
            return Ok(Vec::new());
        }
        let stored = self.blobs_for(diffed_digests(recorded, replayed, &changes)).await?;
        let fresh = StoredBlobs::captured(fresh, cas.clone(), self.tenant);
        let (recorded, replayed) = (recorded.clone(), replayed.clone());
        blocking(move || file_diffs(&recorded, &replayed, &changes, &stored, &Either(&fresh, &stored)))
            .await?
            .map_err(|source| ExecError::Io {
                what: "reading file contents for the replay's diff".into(),
                source,
            })
    }
}

/// Contents from the first source that has them.
struct Either<'a>(&'a dyn BlobSource, &'a dyn BlobSource);

impl BlobSource for Either<'_> {
    fn open(&self, digest: &Digest) -> io::Result<Box<dyn Read + '_>> {
        self.0.open(digest).or_else(|_| self.1.open(digest))
    }
}
