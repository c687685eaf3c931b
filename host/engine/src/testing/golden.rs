//! Golden snapshots of `wtb test`: written from a run with `--update`, read back to compare.

use crate::executor::{ExecError, Executor};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use wtb_core::model::CheckpointId;
use wtb_core::testing::golden::Golden;

impl Executor {
    /// Writes `state.json` and `files/` (exactly the checkpoint's files) under `dir`.
    pub(super) async fn write_golden(
        &self,
        dir: &Path,
        state: &Value,
        checkpoint: CheckpointId,
    ) -> Result<(), ExecError> {
        let io = |what: String| move |source| ExecError::Io { what, source };
        std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
        let text = serde_json::to_string_pretty(state).unwrap_or_default() + "\n";
        let path = dir.join("state.json");
        std::fs::write(&path, text).map_err(io(format!("writing {}", path.display())))?;
        self.inspect().export(checkpoint, &dir.join("files"), true).await.map(|_| ())
    }
}

/// A golden snapshot from its directory: `state.json`, and every regular file under `files/`
/// (a link or any other kind of entry is refused, never followed).
pub(super) fn read_golden(dir: &Path) -> std::io::Result<Golden> {
    fn walk(root: &Path, rel: &str, out: &mut BTreeMap<String, Vec<u8>>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(root.join(rel))? {
            let entry = entry?;
            let name = entry
                .file_name()
                .into_string()
                .map_err(|n| std::io::Error::other(format!("{n:?}: not UTF-8")))?;
            let path = if rel.is_empty() { name } else { format!("{rel}/{name}") };
            let kind = entry.file_type()?;
            if kind.is_dir() {
                walk(root, &path, out)?;
            } else if kind.is_file() {
                out.insert(path.clone(), std::fs::read(root.join(&path))?);
            } else {
                return Err(std::io::Error::other(format!("files/{path}: not a regular file or directory")));
            }
        }
        Ok(())
    }
    let text = std::fs::read_to_string(dir.join("state.json"))?;
    let state = serde_json::from_str(&text).map_err(|e| std::io::Error::other(format!("state.json: {e}")))?;
    let mut files = BTreeMap::new();
    if dir.join("files").is_dir() {
        walk(&dir.join("files"), "", &mut files)?;
    }
    Ok(Golden { state, files })
}
