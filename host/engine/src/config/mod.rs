//! Runtime configuration: *where* things live and the default limits. What runs is the
//! workflow manifest's business ([`wtb_core::workflow`]); the two never mix.
//!
//! This is the only module that turns paths into capabilities (`ambient_authority`); everything
//! else receives a [`Dir`].

use cap_std::ambient_authority;
use cap_std::fs::Dir;
use serde::Deserialize;
use sha2::Digest as _;
use std::path::{Path, PathBuf};
use std::time::Duration;
pub use wtb_core::retention::RetentionConfig;
use wtb_core::workflow::{CeilingProblem, NodeLimits};
use wtb_runtime::{Limits, Tuning};
use wtb_store::capture::CaptureLimits;
use wtb_store::db::Durability;

mod limits;
mod outbox;
mod scale;
pub use limits::DefaultLimits;
pub use outbox::{OutboxConfig, SinkConfig};
pub use scale::{BlobsConfig, DatabaseConfig, WorkersConfig};

/// The runtime config file's name inside the data dir.
pub const CONFIG_FILE: &str = "wtb.toml";

/// A data dir or config that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A directory could not be created or opened.
    #[error("data dir `{}`: {source}", .path.display())]
    DataDir {
        /// Which directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `wtb.toml` is malformed or has unknown keys.
    #[error("{}: {message}", .path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong, with line and column.
        message: String,
    },
}

/// Settings read from `<data dir>/wtb.toml` (all optional).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// `full` (default) or `normal`; see [`Durability`].
    pub durability: Durability,
    /// Where the database lives (`[database]`): the data dir's SQLite file by default.
    pub database: DatabaseConfig,
    /// Where large contents live (`[blobs]`): the data dir's `blobs/` by default.
    pub blobs: BlobsConfig,
    /// Contents up to this size are stored inline in the database (saving an fsync each);
    /// larger ones go to the CAS.
    pub inline_blob_max_bytes: u64,
    /// Default limits.
    pub limits: DefaultLimits,
    /// Most node attempts one tenant may run at once in this process (of the process's 64);
    /// the rest stay free for other tenants. A freed slot always goes to the waiting tenant
    /// running fewest.
    pub attempt_slots_per_tenant: usize,
    /// CAS objects without a `blobs` row are deleted by `wtb gc orphans` once this old: longer
    /// than any exit transaction stays in flight between writing a blob and committing its row.
    pub orphan_grace_seconds: u64,
    /// Long-running processes clean orphans this often (seconds; 0: never).
    pub orphan_interval_seconds: u64,
    /// Outbox delivery: sinks, retries, leases (`[outbox]`).
    pub outbox: OutboxConfig,
    /// Which finished executions to keep (`[retention]`); none set: keep everything.
    pub retention: RetentionConfig,
    /// `wtb serve` (`[serve]`): the admin token.
    pub serve: ServeConfig,
    /// `[workers]`: handing executions to `wtb worker`s, lease length, polling.
    pub workers: WorkersConfig,
    /// Memory all in-memory workspaces of this process may hold together, in MiB (written
    /// and read contents; a file not yet read costs nothing). A guest that would go past it
    /// ends as over its disk quota.
    pub workspace_memory_mib: u64,
    /// Engine safeguards; not configurable (always all on), only switched by `wtb bench`.
    #[serde(skip)]
    pub tuning: Tuning,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            durability: Durability::Full,
            database: DatabaseConfig::default(),
            blobs: BlobsConfig::default(),
            inline_blob_max_bytes: 64 << 10,
            limits: DefaultLimits::default(),
            attempt_slots_per_tenant: 64,
            orphan_grace_seconds: 3600,
            orphan_interval_seconds: 3600,
            outbox: OutboxConfig::default(),
            retention: RetentionConfig::default(),
            serve: ServeConfig::default(),
            workers: WorkersConfig::default(),
            workspace_memory_mib: 4096,
            tuning: Tuning::default(),
        }
    }
}

/// `[serve]`: the token that manages tenants over HTTP (`/admin/...`, `/metrics`). Neither
/// set: no admin API. The file holds only a hash, or the name of a variable holding the token,
/// never the token itself.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeConfig {
    /// SHA-256 (hex) of the admin token (`printf %s "$TOKEN" | sha256sum`).
    pub admin_token_sha256: Option<String>,
    /// Or: the environment variable holding the admin token.
    pub admin_token_env: Option<String>,
}

impl ServeConfig {
    /// The admin token's SHA-256, if one is configured; an error names what is wrong (a
    /// malformed hash, an unset or short variable, both ways at once).
    pub fn admin_token_hash(&self) -> Result<Option<[u8; 32]>, String> {
        match (&self.admin_token_sha256, &self.admin_token_env) {
            (Some(_), Some(_)) => Err("[serve] set admin_token_sha256 or admin_token_env, not both".into()),
            (Some(h), None) => parse_sha256(h).map(Some),
            (None, Some(var)) => match std::env::var(var) {
                Ok(t) if t.trim().len() >= 16 => Ok(Some(sha2::Sha256::digest(t.trim().as_bytes()).into())),
                Ok(_) => Err(format!("[serve] admin_token_env: ${var} must hold at least 16 characters")),
                Err(_) => Err(format!("[serve] admin_token_env: ${var} is not set")),
            },
            (None, None) => Ok(None),
        }
    }
}

/// `admin_token_sha256`'s value as bytes, or the error naming it.
fn parse_sha256(h: &str) -> Result<[u8; 32], String> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(h.trim(), &mut out)
        .map_err(|_| format!("[serve] admin_token_sha256 must be 64 hex digits, not `{h}`"))?;
    Ok(out)
}

impl RuntimeConfig {
    /// The sinks in force: the configured ones, or the default JSONL sink.
    pub fn sinks(&self) -> Vec<SinkConfig> {
        self.outbox
            .sinks
            .clone()
            .unwrap_or_else(|| vec![SinkConfig::Jsonl { name: "jsonl".into(), path: None }])
    }

    /// Parses `wtb.toml` text.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let mut config: Self = toml::from_str(text).map_err(|e: toml::de::Error| {
            // One line, `line L, column C: message` (toml's own text spans several).
            let at = e.span().map(|s| {
                let before = &text[..s.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                format!("line {line}, column {column}: ")
            });
            // The key chose host-directory lanes, which are gone: say so, not just "unknown".
            let removed = e
                .message()
                .contains("unknown field `workspaces`")
                .then_some("; `workspaces` was removed: every workspace is in memory (delete the line)");
            ConfigError::File {
                path: path.to_owned(),
                message: format!(
                    "{}{}{}",
                    at.unwrap_or_default(),
                    e.message().trim(),
                    removed.unwrap_or_default()
                ),
            }
        })?;
        if let Some(url) = &config.database.url
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            let message = format!(
                "[database] url must start with postgres:// (SQLite is the default: leave it unset), not `{}`",
                wtb_store::db::postgres::redact(url)
            );
            return Err(ConfigError::File { path: path.to_owned(), message });
        }
        if let Some(url) = &config.blobs.url
            && url.strip_prefix("s3://").is_none_or(|rest| rest.split('/').next().is_none_or(str::is_empty))
        {
            let message = format!("[blobs] url must be s3://bucket or s3://bucket/prefix, not `{url}`");
            return Err(ConfigError::File { path: path.to_owned(), message });
        }
        if let Some(Err(message)) = config.serve.admin_token_sha256.as_deref().map(parse_sha256) {
            return Err(ConfigError::File { path: path.to_owned(), message });
        }
        if let Err(p) = config.limits.as_node_limits().validate() {
            return Err(ConfigError::File { path: path.to_owned(), message: format!("[limits] {p}") });
        }
        if config.attempt_slots_per_tenant == 0 {
            return Err(ConfigError::File {
                path: path.to_owned(),
                message: "`attempt_slots_per_tenant` = 0 makes no sense: it must be at least 1".into(),
            });
        }
        if let Err(p) = config.limits.max.validate() {
            return Err(ConfigError::File { path: path.to_owned(), message: format!("[limits.max] {p}") });
        }
        config.limits.fit_to_ceilings();
        if let Some(p) = config.limits.as_node_limits().above(&config.limits.max) {
            return Err(ConfigError::File {
                path: path.to_owned(),
                message: format!("[limits] default {p}"),
            });
        }
        Ok(config)
    }

    /// Refuses limits above the operator's ceilings; `node` as the manifest, experiment or
    /// request states them (unset ones take the defaults, which are within the ceilings).
    pub fn check_ceilings(&self, node: &NodeLimits) -> Result<(), CeilingProblem> {
        node.or(&self.limits.as_node_limits()).above(&self.limits.max).map_or(Ok(()), Err)
    }

    /// [`Self::check_ceilings`] for limits `over` every node's own (an environment's, a test
    /// case's): the first node of `manifest` they would take past a ceiling, and how.
    pub fn check_ceilings_over(
        &self,
        over: &NodeLimits,
        manifest: &wtb_core::workflow::Manifest,
    ) -> Result<(), (String, CeilingProblem)> {
        for node in &manifest.nodes {
            self.check_ceilings(&over.or(&node.limits)).map_err(|p| (node.id.clone(), p))?;
        }
        Ok(())
    }

    /// The limits of a node: its manifest's, with these defaults for what it leaves unset,
    /// each held to its ceiling (a definition stored before the operator lowered one runs
    /// under the new ceiling; loads refuse what is above it, see [`Self::check_ceilings`]).
    pub fn node_limits(&self, node: &NodeLimits) -> Limits {
        let l = node.or(&self.limits.as_node_limits()).held_to(&self.limits.max);
        let d = Limits::default();
        Limits {
            memory_bytes: l.memory_mib.map_or(d.memory_bytes, |m| m << 20),
            timeout: l.timeout_ms.map_or(d.timeout, Duration::from_millis),
            fuel: l.fuel,
            disk_bytes: l.disk_mib.map_or(d.disk_bytes, |m| m.saturating_mul(1 << 20)),
            max_files: l.max_files.unwrap_or(d.max_files),
            output_bytes: l.output_bytes.map_or(d.output_bytes, |b| b as usize),
            update_bytes: l.update_bytes.map_or(d.update_bytes, |b| b as usize),
            event_bytes: l.event_bytes.map_or(d.event_bytes, |b| b as usize),
            log_bytes: l.log_bytes.map_or(d.log_bytes, |b| b as usize),
            max_resources: d.max_resources,
        }
    }

    /// What capture accepts.
    pub fn capture_limits(&self) -> CaptureLimits {
        CaptureLimits {
            max_file_bytes: self.limits.max_file_bytes,
            max_entries: self.limits.max_workspace_entries,
            inline_max_bytes: self.inline_blob_max_bytes,
        }
    }
}

/// Opens (creating) a JSONL sink's file for appending: `path` relative to `root` unless
/// absolute, `events.jsonl` by default.
pub fn open_append(root: &Path, path: Option<&Path>) -> Result<(PathBuf, std::fs::File), ConfigError> {
    let path = root.join(path.unwrap_or(Path::new("events.jsonl")));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|source| ConfigError::DataDir { path: path.clone(), source })?;
    Ok((path, file))
}

/// Reads a file named in the runtime config, relative to `root` unless absolute.
pub fn read_config_file(root: &Path, path: &Path) -> Result<Vec<u8>, ConfigError> {
    let path = root.join(path);
    std::fs::read(&path).map_err(|source| ConfigError::DataDir { path, source })
}

/// The opened data dir: `wtb.db`, `blobs/`, `workspaces/`, `cache/`.
#[derive(Debug)]
pub struct DataDir {
    /// The root, as given.
    pub root: PathBuf,
    /// The SQLite database file.
    pub db_path: PathBuf,
    /// The CAS root.
    pub blobs: Dir,
    /// Scratch space of `wtb node run` (the copy of the directory a node runs on).
    pub workspaces: Dir,
    /// `workspaces` as a path.
    pub workspaces_path: PathBuf,
    /// Compiled-component cache.
    pub cache: Dir,
    /// Settings from `wtb.toml`, or defaults.
    pub config: RuntimeConfig,
}

impl DataDir {
    /// Creates (if needed) and opens the data dir at `root`, reading `wtb.toml` if present.
    pub fn open(root: &Path) -> Result<Self, ConfigError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| ConfigError::DataDir { path, source }
        };
        let sub = |name: &str| -> Result<(PathBuf, Dir), ConfigError> {
            let p = root.join(name);
            std::fs::create_dir_all(&p).map_err(io(&p))?;
            let d = Dir::open_ambient_dir(&p, ambient_authority()).map_err(io(&p))?;
            Ok((p, d))
        };
        std::fs::create_dir_all(root).map_err(io(root))?;
        let (_, blobs) = sub("blobs")?;
        let (workspaces_path, workspaces) = sub("workspaces")?;
        let (_, cache) = sub("cache/components")?;
        let config_path = root.join(CONFIG_FILE);
        let config = match std::fs::read_to_string(&config_path) {
            Ok(text) => RuntimeConfig::parse(&config_path, &text)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => RuntimeConfig::default(),
            Err(e) => return Err(io(&config_path)(e)),
        };
        // A uniquely named probe: processes opening the same data dir at once must not remove
        // each other's.
        tempfile::Builder::new().prefix(".write-test").tempfile_in(root).map_err(io(root))?;
        Ok(Self {
            db_path: root.join("wtb.db"),
            root: root.to_owned(),
            blobs,
            workspaces,
            workspaces_path,
            cache,
            config,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_rejects_unknown_keys_and_reads_known_ones() {
        let p = Path::new("wtb.toml");
        let c = RuntimeConfig::parse(p, "durability = \"normal\"\n[limits]\ntimeout_ms = 5\n").unwrap();
        assert_eq!((c.durability, c.limits.timeout_ms), (Durability::Normal, 5));
        let e = RuntimeConfig::parse(p, "durabilty = \"full\"\n").unwrap_err();
        assert!(e.to_string().contains("unknown field `durabilty`"), "{e}");
        let e = RuntimeConfig::parse(p, "workspaces = \"directory\"\n").unwrap_err();
        assert!(e.to_string().contains("line 1, column 1: unknown field `workspaces`"), "{e}");
        assert!(
            e.to_string()
                .ends_with("`workspaces` was removed: every workspace is in memory (delete the line)"),
            "{e}"
        );
    }

    #[test]
    fn sinks_default_to_jsonl_and_parse_by_kind() {
        let p = Path::new("wtb.toml");
        assert_eq!(
            RuntimeConfig::default().sinks(),
            vec![SinkConfig::Jsonl { name: "jsonl".into(), path: None }]
        );
        let c = RuntimeConfig::parse(p, "[outbox]\nsinks = []\n").unwrap();
        assert!(c.sinks().is_empty());
        let text = "[[outbox.sinks]]\nkind = \"webhook\"\nname = \"hook\"\nurl = \"http://127.0.0.1:1/\"\nsecret = \"s\"\n";
        let c = RuntimeConfig::parse(p, text).unwrap();
        assert!(matches!(&c.sinks()[..], [SinkConfig::Webhook { timeout_ms: 10_000, .. }]));
        let e = RuntimeConfig::parse(
            p,
            "[[outbox.sinks]]\nkind = \"webhook\"\nname = \"h\"\nurl = \"x\"\nsecrett = 1\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("unknown field `secrett`"), "{e}");
        let e = RuntimeConfig::parse(p, "[[outbox.sinks]]\nkind = \"kafka\"\nname = \"k\"\n").unwrap_err();
        assert!(e.to_string().contains("unknown variant `kafka`"), "{e}");
        let e = RuntimeConfig::parse(p, "[[outbox.sinks]]\nkind = \"nats\"\nname = \"n\"\n").unwrap_err();
        assert!(e.to_string().contains("missing field `url`"), "{e}");
        let nats =
            "[[outbox.sinks]]\nkind = \"nats\"\nname = \"n\"\nurl = \"nats://h:4222\"\nsubject = \"wtb\"\n";
        let c = RuntimeConfig::parse(p, nats).unwrap();
        assert!(matches!(&c.sinks()[..], [SinkConfig::Nats { duplicate_window_s: 120, stream: None, .. }]));
    }
}
