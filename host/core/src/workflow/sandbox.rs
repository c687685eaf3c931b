//! What a node may use, as the manifest declares it: limits, arguments and read-only
//! fixture directories. Pure validation; the runtime enforces them.

use serde::{Deserialize, Serialize};

/// Per-node limits; unset fields take the runtime config's `[limits]` defaults.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeLimits {
    /// Largest linear memory, in MiB (1–4096).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mib: Option<u64>,
    /// Wall-time limit of one attempt, in milliseconds (1 ms – 24 h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Fuel budget: stops the same work on every machine (≥ 1; unset: unlimited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
    /// MiB by which one attempt may grow its workspace (0: it may not write).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_mib: Option<u64>,
    /// New files, directories and links one attempt may create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_files: Option<u64>,
    /// Bytes of stdout, and of stderr, kept; writing more ends the attempt (≤ 1 GiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_bytes: Option<u64>,
    /// Largest state update, in bytes of JSON (2 – 1 GiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_bytes: Option<u64>,
    /// Bytes of `emit` payloads (and kinds) one attempt may send in total; the call past it
    /// ends the attempt (≤ 1 GiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_bytes: Option<u64>,
    /// Bytes of `log` messages one attempt may write in total; the call past it ends the
    /// attempt (≤ 1 GiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_bytes: Option<u64>,
}

/// Longest wall-time limit: a day.
pub const MAX_TIMEOUT_MS: u64 = 86_400_000;
/// Largest memory limit: all a wasm32 memory can address.
pub const MAX_MEMORY_MIB: u64 = 4096;
/// Largest output or update limit.
const MAX_BUFFER_BYTES: u64 = 1 << 30;

/// A limit set to a value that makes no sense.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitProblem {
    /// The limit's name, e.g. `memory_mib`.
    pub limit: &'static str,
    /// The value given.
    pub value: u64,
    /// What is allowed.
    pub allowed: &'static str,
}

impl std::fmt::Display for LimitProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` = {} makes no sense: it must be {}", self.limit, self.value, self.allowed)
    }
}

impl std::fmt::Display for CeilingProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let value = if self.limit == "fuel" && self.value == u64::MAX {
            "unlimited".to_owned()
        } else {
            self.value.to_string()
        };
        write!(
            f,
            "limit `{}` = {value} is above the operator's ceiling of {} ([limits.max] in wtb.toml)",
            self.limit, self.ceiling
        )
    }
}

impl std::error::Error for CeilingProblem {}

impl NodeLimits {
    /// Checks every limit that is set.
    pub fn validate(&self) -> Result<(), LimitProblem> {
        let rules: [(&'static str, Option<u64>, u64, u64, &'static str); 8] = [
            ("memory_mib", self.memory_mib, 1, MAX_MEMORY_MIB, "between 1 and 4096 (MiB)"),
            ("timeout_ms", self.timeout_ms, 1, MAX_TIMEOUT_MS, "between 1 and 86400000 (ms, one day)"),
            ("fuel", self.fuel, 1, u64::MAX, "at least 1"),
            ("disk_mib", self.disk_mib, 0, 1 << 40, "at most 2^40 (MiB)"),
            ("output_bytes", self.output_bytes, 0, MAX_BUFFER_BYTES, "at most 1073741824 (1 GiB)"),
            ("update_bytes", self.update_bytes, 2, MAX_BUFFER_BYTES, "between 2 and 1073741824 (1 GiB)"),
            ("event_bytes", self.event_bytes, 0, MAX_BUFFER_BYTES, "at most 1073741824 (1 GiB)"),
            ("log_bytes", self.log_bytes, 0, MAX_BUFFER_BYTES, "at most 1073741824 (1 GiB)"),
        ];
        for (limit, value, min, max, allowed) in rules {
            if let Some(value) = value
                && !(min..=max).contains(&value)
            {
                return Err(LimitProblem { limit, value, allowed });
            }
        }
        Ok(())
    }

    /// These limits, with `defaults` filling what is unset.
    pub fn or(&self, defaults: &NodeLimits) -> NodeLimits {
        NodeLimits {
            memory_mib: self.memory_mib.or(defaults.memory_mib),
            timeout_ms: self.timeout_ms.or(defaults.timeout_ms),
            fuel: self.fuel.or(defaults.fuel),
            disk_mib: self.disk_mib.or(defaults.disk_mib),
            max_files: self.max_files.or(defaults.max_files),
            output_bytes: self.output_bytes.or(defaults.output_bytes),
            update_bytes: self.update_bytes.or(defaults.update_bytes),
            event_bytes: self.event_bytes.or(defaults.event_bytes),
            log_bytes: self.log_bytes.or(defaults.log_bytes),
        }
    }

    /// Each limit paired with its name, for checks that treat them alike.
    pub fn named(&self) -> [(&'static str, Option<u64>); 9] {
        [
            ("memory_mib", self.memory_mib),
            ("timeout_ms", self.timeout_ms),
            ("fuel", self.fuel),
            ("disk_mib", self.disk_mib),
            ("max_files", self.max_files),
            ("output_bytes", self.output_bytes),
            ("update_bytes", self.update_bytes),
            ("event_bytes", self.event_bytes),
            ("log_bytes", self.log_bytes),
        ]
    }

    /// These limits, each lowered to its ceiling where one is set (an unset limit takes the
    /// ceiling: unlimited fuel under a fuel ceiling gets the ceiling).
    pub fn held_to(&self, ceilings: &NodeLimits) -> NodeLimits {
        let cap = |v: Option<u64>, c: Option<u64>| match (v, c) {
            (Some(v), Some(c)) => Some(v.min(c)),
            (v, c) => v.or(c),
        };
        NodeLimits {
            memory_mib: cap(self.memory_mib, ceilings.memory_mib),
            timeout_ms: cap(self.timeout_ms, ceilings.timeout_ms),
            fuel: cap(self.fuel, ceilings.fuel),
            disk_mib: cap(self.disk_mib, ceilings.disk_mib),
            max_files: cap(self.max_files, ceilings.max_files),
            output_bytes: cap(self.output_bytes, ceilings.output_bytes),
            update_bytes: cap(self.update_bytes, ceilings.update_bytes),
            event_bytes: cap(self.event_bytes, ceilings.event_bytes),
            log_bytes: cap(self.log_bytes, ceilings.log_bytes),
        }
    }

    /// The first limit above the operator's `ceilings` (`[limits.max]` in `wtb.toml`): a
    /// tenant may ask for less than the operator allows, never more. Unset ceilings allow
    /// anything; an unset fuel means "unlimited", which a fuel ceiling refuses.
    pub fn above(&self, ceilings: &NodeLimits) -> Option<CeilingProblem> {
        self.named().into_iter().zip(ceilings.named()).find_map(|((limit, value), (_, ceiling))| {
            let ceiling = ceiling?;
            let value = match value {
                Some(v) => v,
                None if limit == "fuel" => u64::MAX,
                None => return None,
            };
            (value > ceiling).then_some(CeilingProblem { limit, value, ceiling })
        })
    }
}

/// A limit above the operator's ceiling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CeilingProblem {
    /// The limit's name, e.g. `memory_mib`.
    pub limit: &'static str,
    /// What was asked (after defaults).
    pub value: u64,
    /// The operator's ceiling.
    pub ceiling: u64,
}

/// Whether `wasi:sockets` is linked for a node. There is no network either way.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Network {
    /// Not linked: a component importing `wasi:sockets` is refused when it is loaded.
    #[default]
    None,
    /// Linked, with every socket, connection and name lookup refused at the call (an error
    /// the guest sees, never a connection): for toolchains that import sockets whether or
    /// not the node uses them, such as componentize-py.
    Deny,
}

impl Network {
    /// Whether this is the default (left out of stored definitions).
    pub fn is_none(&self) -> bool {
        *self == Self::None
    }
}

/// A host directory a node sees, read-only, at an absolute path beside its workspace.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Fixture {
    /// Where the guest sees it: absolute, normalized, not `/` (e.g. `/data`).
    pub guest: String,
    /// The host directory: relative to the manifest as written; absolute once loaded.
    pub host: String,
}

/// Checks a fixture's guest path: `/name[/name...]`, no `.`/`..`/empty parts, not `/` itself
/// (that is the workspace).
pub fn check_mount_point(guest: &str) -> Result<(), String> {
    let Some(rest) = guest.strip_prefix('/') else {
        return Err(format!("mount point `{guest}` must be an absolute path such as `/data`"));
    };
    if rest.is_empty() {
        return Err("`/` is the workspace; mount a fixture below it, e.g. at `/data`".into());
    }
    if rest.split('/').any(|p| p.is_empty() || p == "." || p == ".." || p.contains('\0')) {
        return Err(format!("mount point `{guest}` must be normalized (no empty, `.` or `..` parts)"));
    }
    Ok(())
}

/// Checks one env var: a non-empty name without `=`, and neither part with NUL.
pub fn check_env(key: &str, value: &str) -> Result<(), String> {
    match key.is_empty() || key.contains('=') || key.contains('\0') || value.contains('\0') {
        true => Err("env names must be non-empty without `=`, and values without NUL".into()),
        false => Ok(()),
    }
}

/// Checks one argument or env value: WASI strings cannot hold NUL.
pub fn check_arg(arg: &str) -> Result<(), String> {
    match arg.contains('\0') {
        true => Err("arguments must not contain NUL".into()),
        false => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonsense_limits_name_the_limit_and_value() {
        let bad = |l: NodeLimits| l.validate().unwrap_err().to_string();
        assert_eq!(
            bad(NodeLimits { memory_mib: Some(0), ..Default::default() }),
            "`memory_mib` = 0 makes no sense: it must be between 1 and 4096 (MiB)"
        );
        assert!(
            bad(NodeLimits { timeout_ms: Some(MAX_TIMEOUT_MS + 1), ..Default::default() })
                .starts_with("`timeout_ms` = 86400001")
        );
        assert!(bad(NodeLimits { fuel: Some(0), ..Default::default() }).starts_with("`fuel` = 0"));
        assert!(
            bad(NodeLimits { update_bytes: Some(1), ..Default::default() }).starts_with("`update_bytes` = 1")
        );
        assert!(
            NodeLimits { disk_mib: Some(0), max_files: Some(0), output_bytes: Some(0), ..Default::default() }
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn limits_above_the_operators_ceilings_are_named() {
        let max = NodeLimits { memory_mib: Some(512), fuel: Some(1_000), ..Default::default() };
        let asked = NodeLimits { memory_mib: Some(4096), fuel: Some(10), ..Default::default() };
        assert_eq!(
            asked.above(&max).unwrap().to_string(),
            "limit `memory_mib` = 4096 is above the operator's ceiling of 512 ([limits.max] in wtb.toml)"
        );
        let unlimited_fuel = NodeLimits { memory_mib: Some(512), ..Default::default() };
        assert_eq!(
            unlimited_fuel.above(&max).unwrap().to_string(),
            "limit `fuel` = unlimited is above the operator's ceiling of 1000 ([limits.max] in wtb.toml)"
        );
        assert_eq!(
            NodeLimits { memory_mib: Some(512), fuel: Some(1_000), ..Default::default() }.above(&max),
            None
        );
        assert_eq!(asked.above(&NodeLimits::default()), None, "no ceilings, no refusal");
    }

    #[test]
    fn mount_points_are_absolute_normalized_and_not_the_root() {
        assert!(check_mount_point("/data").is_ok() && check_mount_point("/a/b").is_ok());
        for bad in ["data", "/", "/a/../b", "/a//b", "/a/", "/./a"] {
            assert!(check_mount_point(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unset_limits_take_the_defaults() {
        let d = NodeLimits { memory_mib: Some(64), fuel: Some(9), ..Default::default() };
        let l = NodeLimits { memory_mib: Some(8), ..Default::default() }.or(&d);
        assert_eq!((l.memory_mib, l.fuel, l.timeout_ms), (Some(8), Some(9), None));
    }
}
