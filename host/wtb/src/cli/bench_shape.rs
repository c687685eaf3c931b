//! What `wtb bench` measures: sizes, sections and the workspaces it runs on.

use wtb_runtime::WorkspaceKind;

/// What to measure.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// Nodes in the linear workflow.
    pub nodes: usize,
    /// Measured runs per mode.
    pub runs: usize,
    /// Bytes each node writes.
    pub file_size: usize,
    /// Inline-blob threshold for the scratch data dirs.
    pub inline_blob_max_bytes: u64,
    /// Short executions in the concurrency scenario.
    pub executions: usize,
    /// How many of them run at once.
    pub in_flight: usize,
    /// Files in the time-travel section's workspace.
    pub travel_files: u32,
    /// Which workspaces the linear and engine sections use.
    pub workspaces: Workspaces,
    /// Run only this section.
    pub only: Option<Section>,
    /// Concurrent clients of the API load test.
    pub clients: usize,
    /// Length of the API load test (s).
    pub api_seconds: u64,
}

/// The workspaces to measure (`wtb bench --workspaces`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Workspaces {
    /// Host directories (`workspaces = "directory"`).
    Directory,
    /// In-memory trees (`workspaces = "virtual"`).
    Virtual,
    /// Both, side by side.
    Both,
}

impl Workspaces {
    pub(super) fn kinds(self) -> &'static [WorkspaceKind] {
        match self {
            Self::Directory => &[WorkspaceKind::Directory],
            Self::Virtual => &[WorkspaceKind::Virtual],
            Self::Both => &[WorkspaceKind::Directory, WorkspaceKind::Virtual],
        }
    }
}

/// How a workspace kind is named in the figures.
pub fn kind_label(kind: WorkspaceKind) -> &'static str {
    match kind {
        WorkspaceKind::Directory => "directory",
        WorkspaceKind::Virtual => "virtual",
    }
}

/// A part of the benchmark (`wtb bench --only`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Section {
    /// Per-node overhead of a linear workflow, durable and normal.
    Linear,
    /// Fan-out into a join; many executions at once.
    Engine,
    /// List pages, rollback, fork and capture of a 10,000-file workspace (`--travel-files`).
    Travel,
    /// Events/s delivered to the JSONL sink and a local webhook.
    Outbox,
    /// What the sandbox's safeguards cost per node: epoch, fuel, disk accounting.
    Limits,
    /// A 100-cell experiment forking from a checkpoint of a 10-node workflow.
    Experiment,
    /// `wtb serve` under load: concurrent clients starting executions and listing.
    Api,
    /// Short executions handed to one, then two `wtb worker` processes (PostgreSQL only).
    Workers,
}
