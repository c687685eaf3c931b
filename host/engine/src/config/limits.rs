//! `[limits]` in `wtb.toml`: the defaults for nodes that set none, and the operator's
//! ceilings (`[limits.max]`) that no manifest, experiment or request may pass.

use serde::Deserialize;
use wtb_core::workflow::NodeLimits;
use wtb_runtime::Limits;

/// Default limits for nodes that do not set their own (`[limits]` in `wtb.toml`); the same
/// names and ranges as a manifest's `limits` (see [`NodeLimits`]), plus workspace-wide caps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DefaultLimits {
    /// Memory of a node (all its linear memories and tables), MiB.
    pub memory_mib: u64,
    /// Wall time per attempt, ms.
    pub timeout_ms: u64,
    /// Fuel per attempt (unset: unlimited).
    pub fuel: Option<u64>,
    /// MiB one attempt may grow its workspace by.
    pub disk_mib: u64,
    /// New files, directories and links per attempt.
    pub max_files: u64,
    /// Captured stdout and stderr, bytes each.
    pub output_bytes: u64,
    /// Largest state update, bytes.
    pub update_bytes: u64,
    /// Largest single file in a workspace, bytes (checked at capture, from metadata: a huge
    /// sparse file is refused without being read).
    pub max_file_bytes: u64,
    /// Most entries in a workspace.
    pub max_workspace_entries: usize,
    /// Emitted event bytes per attempt, in total.
    pub event_bytes: u64,
    /// Log message bytes per attempt, in total.
    pub log_bytes: u64,
    /// The operator's ceilings (`[limits.max]`): what no manifest, experiment or API request
    /// may ask beyond. Unset: no ceiling beyond the ranges every limit has.
    pub max: NodeLimits,
}

impl Default for DefaultLimits {
    fn default() -> Self {
        let l = Limits::default();
        Self {
            memory_mib: l.memory_bytes >> 20,
            timeout_ms: l.timeout.as_millis() as u64,
            fuel: l.fuel,
            disk_mib: l.disk_bytes >> 20,
            max_files: l.max_files,
            output_bytes: l.output_bytes as u64,
            update_bytes: l.update_bytes as u64,
            max_file_bytes: 1 << 30,
            max_workspace_entries: 100_000,
            event_bytes: l.event_bytes as u64,
            log_bytes: l.log_bytes as u64,
            max: NodeLimits::default(),
        }
    }
}

impl DefaultLimits {
    /// Lowers each built-in default the operator left alone to its ceiling, so setting a
    /// ceiling alone works (`[limits.max] memory_mib = 128` makes the default 128 too). A
    /// default the operator changed is left as written; above its ceiling, the config is
    /// refused.
    pub fn fit_to_ceilings(&mut self) {
        let builtin = Self::default();
        let max = self.max;
        let fit = |value: &mut u64, builtin: u64, ceiling: Option<u64>| {
            if let Some(c) = ceiling
                && *value > c
                && *value == builtin
            {
                *value = c;
            }
        };
        fit(&mut self.memory_mib, builtin.memory_mib, max.memory_mib);
        fit(&mut self.timeout_ms, builtin.timeout_ms, max.timeout_ms);
        fit(&mut self.disk_mib, builtin.disk_mib, max.disk_mib);
        fit(&mut self.max_files, builtin.max_files, max.max_files);
        fit(&mut self.output_bytes, builtin.output_bytes, max.output_bytes);
        fit(&mut self.update_bytes, builtin.update_bytes, max.update_bytes);
        fit(&mut self.event_bytes, builtin.event_bytes, max.event_bytes);
        fit(&mut self.log_bytes, builtin.log_bytes, max.log_bytes);
        // Unlimited fuel is above any fuel ceiling: the ceiling becomes the default budget.
        if self.fuel.is_none() {
            self.fuel = max.fuel;
        }
    }

    /// The per-node part, in a manifest's terms.
    pub fn as_node_limits(&self) -> NodeLimits {
        NodeLimits {
            memory_mib: Some(self.memory_mib),
            timeout_ms: Some(self.timeout_ms),
            fuel: self.fuel,
            disk_mib: Some(self.disk_mib),
            max_files: Some(self.max_files),
            output_bytes: Some(self.output_bytes),
            update_bytes: Some(self.update_bytes),
            event_bytes: Some(self.event_bytes),
            log_bytes: Some(self.log_bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untouched_defaults_follow_their_ceilings_and_changed_ones_stay() {
        let mut l = DefaultLimits {
            timeout_ms: 90_000,
            max: NodeLimits {
                memory_mib: Some(128),
                timeout_ms: Some(60_000),
                fuel: Some(1_000),
                ..Default::default()
            },
            ..Default::default()
        };
        l.fit_to_ceilings();
        assert_eq!((l.memory_mib, l.fuel), (128, Some(1_000)), "built-in defaults follow the ceilings");
        assert_eq!(
            l.timeout_ms, 90_000,
            "a default the operator wrote is kept (and refused above its ceiling)"
        );
        assert!(l.as_node_limits().above(&l.max).is_some());
    }
}
