//! What `wtb bench` measures: sizes and sections.

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
    /// Run only this section.
    pub only: Option<Section>,
    /// Concurrent clients of the API load test.
    pub clients: usize,
    /// Length of the API load test (s).
    pub api_seconds: u64,
}

/// `wtb bench`'s options, as typed.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Nodes in the workflow.
    #[arg(long, default_value_t = 50)]
    pub nodes: usize,
    /// Measured runs per durability mode (after one warm-up run).
    #[arg(long, default_value_t = 10)]
    pub runs: usize,
    /// Bytes each node writes.
    #[arg(long, default_value_t = 4096)]
    pub file_size: usize,
    /// Store contents up to this size inline in the database (0: every file is a CAS
    /// object with its own fsync). Defaults to the runtime config's value.
    #[arg(long)]
    pub inline_blob_max_bytes: Option<u64>,
    /// Short executions in the concurrency scenario.
    #[arg(long, default_value_t = 100)]
    pub executions: usize,
    /// How many of them run at once.
    #[arg(long, default_value_t = 64)]
    pub in_flight: usize,
    /// Files of 10 KiB in the time-travel section's workspace (1 % of them change; at most
    /// 100,000, which fill most of the nodes' 1 GiB disk quota).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(100..=100_000))]
    pub travel_files: u32,
    /// Run only this section (`api`, the HTTP load test, runs only when asked for).
    #[arg(long, value_enum)]
    pub only: Option<Section>,
    /// Concurrent clients of the API load test.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub clients: u16,
    /// Seconds the API load test runs.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub api_seconds: u64,
}

impl BenchArgs {
    /// What these options ask to measure (the inline threshold defaults to the runtime
    /// config's).
    pub fn shape(&self) -> Shape {
        let inline = self
            .inline_blob_max_bytes
            .unwrap_or(wtb_engine::config::RuntimeConfig::default().inline_blob_max_bytes);
        Shape {
            nodes: self.nodes,
            runs: self.runs,
            file_size: self.file_size,
            inline_blob_max_bytes: inline,
            executions: self.executions,
            in_flight: self.in_flight,
            travel_files: self.travel_files,
            only: self.only,
            clients: usize::from(self.clients),
            api_seconds: self.api_seconds,
        }
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
    /// What the sandbox's safeguards cost per node: epoch interruption and fuel.
    Limits,
    /// A 100-cell experiment forking from a checkpoint of a 10-node workflow.
    Experiment,
    /// `wtb serve` under load: concurrent clients starting executions and listing.
    Api,
    /// Short executions handed to one, then two `wtb worker` processes (PostgreSQL only).
    Workers,
}
