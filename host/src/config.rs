//! Runtime configuration: *where* things live and the default limits. What runs is the
//! workflow manifest's business ([`crate::workflow`]); the two never mix.
//!
//! This is the only module that turns paths into capabilities (`ambient_authority`); everything
//! else receives a [`Dir`].

use crate::db::Durability;
use crate::runtime::Limits;
use crate::capture::CaptureLimits;
use cap_std::ambient_authority;
use cap_std::fs::Dir;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

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

/// Default limits for nodes that do not set their own (`[limits]` in `wtb.toml`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DefaultLimits {
    /// Largest linear memory, MiB.
    pub memory_mib: u64,
    /// Wall time per attempt, ms.
    pub timeout_ms: u64,
    /// Captured stdout and stderr, bytes each.
    pub output_bytes: usize,
    /// Largest state update, bytes.
    pub update_bytes: usize,
    /// Largest single file in a workspace, bytes.
    pub max_file_bytes: u64,
    /// Most entries in a workspace.
    pub max_workspace_entries: usize,
}

impl Default for DefaultLimits {
    fn default() -> Self {
        let l = Limits::default();
        Self {
            memory_mib: l.memory_bytes >> 20,
            timeout_ms: l.timeout.as_millis() as u64,
            output_bytes: l.output_bytes,
            update_bytes: l.update_bytes,
            max_file_bytes: 1 << 30,
            max_workspace_entries: 100_000,
        }
    }
}

/// Settings read from `<data dir>/wtb.toml` (all optional).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// `full` (default) or `normal`; see [`Durability`].
    pub durability: Durability,
    /// Contents up to this size are stored inline in the database (saving an fsync each);
    /// larger ones go to the CAS.
    pub inline_blob_max_bytes: u64,
    /// Default limits.
    pub limits: DefaultLimits,
    /// CAS objects without a `blobs` row are deleted by `wtb gc orphans` once this old: longer
    /// than any exit transaction stays in flight between writing a blob and committing its row.
    pub orphan_grace_seconds: u64,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self { durability: Durability::Full, inline_blob_max_bytes: 64 << 10, limits: DefaultLimits::default(), orphan_grace_seconds: 3600 }
    }
}

impl RuntimeConfig {
    /// Parses `wtb.toml` text.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::File { path: path.to_owned(), message: e.to_string().trim().to_owned() })
    }

    /// The limits of a node, from its manifest overrides and these defaults.
    pub fn node_limits(&self, memory_mib: Option<u64>, timeout_ms: Option<u64>) -> Limits {
        Limits {
            memory_bytes: memory_mib.unwrap_or(self.limits.memory_mib) << 20,
            timeout: Duration::from_millis(timeout_ms.unwrap_or(self.limits.timeout_ms)),
            output_bytes: self.limits.output_bytes,
            update_bytes: self.limits.update_bytes,
            ..Limits::default()
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

/// The opened data dir: `wtb.db`, `blobs/`, `workspaces/`, `cache/`.
#[derive(Debug)]
pub struct DataDir {
    /// The root, as given.
    pub root: PathBuf,
    /// The SQLite database file.
    pub db_path: PathBuf,
    /// The CAS root.
    pub blobs: Dir,
    /// Parent of every execution's workspace.
    pub workspaces: Dir,
    /// `workspaces` as a path (WASI preopens take paths).
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
        Ok(Self { db_path: root.join("wtb.db"), root: root.to_owned(), blobs, workspaces, workspaces_path, cache, config })
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
    }
}
