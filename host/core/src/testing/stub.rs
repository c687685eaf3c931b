//! Stub nodes: a case's `[case.stub.NODE]` replaces a node by a fixed update, route label,
//! files and events, so routing and joins can be tested without the real component. The
//! engine runs a stub as the `stub` node component with the [`Stub`] as its config, so a
//! stubbed run is an ordinary recorded execution. Pure: the format and its checks.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Most bytes of a stub's files and events together: a stub is a test double, not a data
/// set (fixtures bring large inputs).
pub const MAX_STUB_BYTES: usize = 1 << 20;

/// What a stubbed node does instead of running its component: the config of the stub
/// component.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stub {
    /// The update it returns.
    #[serde(default)]
    pub update: Map<String, Value>,
    /// The route label it returns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// Files it writes: workspace path → text.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub files: BTreeMap<String, String>,
    /// Events it emits, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<StubEvent>,
}

/// One event a stub emits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StubEvent {
    /// Its kind, as a guest names it (stored as `guest.KIND`).
    pub kind: String,
    /// Its payload.
    #[serde(default)]
    pub payload: Value,
}

impl Stub {
    /// Refuses what the stub component could not do: a file path that is not relative and
    /// normalized, an event kind a guest may not emit, or more than [`MAX_STUB_BYTES`].
    pub fn check(&self) -> Result<(), String> {
        let mut bytes = 0usize;
        for (path, text) in &self.files {
            if path.is_empty()
                || path.starts_with('/')
                || path.split('/').any(|p| p.is_empty() || p == "." || p == ".." || p.contains('\0'))
            {
                return Err(format!(
                    "file `{path}`: a workspace path is relative and normalized (no empty, `.` or `..` parts)"
                ));
            }
            bytes = bytes.saturating_add(path.len() + text.len());
        }
        for e in &self.events {
            let kind_ok = (1..=128).contains(&e.kind.len())
                && e.kind.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
            if !kind_ok {
                return Err(format!("event kind `{}` is not 1-128 of A-Z a-z 0-9 . _ -", e.kind));
            }
            bytes = bytes.saturating_add(e.kind.len() + e.payload.to_string().len());
        }
        if bytes > MAX_STUB_BYTES {
            return Err(format!("{bytes} bytes of files and events, over {MAX_STUB_BYTES}"));
        }
        Ok(())
    }

    /// The stub component's config.
    pub fn config(&self) -> Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_kinds_and_sizes_are_checked() {
        let stub = |files: &[(&str, &str)], kind: &str| Stub {
            files: files.iter().map(|(p, t)| (p.to_string(), t.to_string())).collect(),
            events: vec![StubEvent { kind: kind.into(), payload: json!({ "a": 1 }) }],
            ..Stub::default()
        };
        assert_eq!(stub(&[("out/a.txt", "x")], "ok.done").check(), Ok(()));
        for bad in ["/etc/passwd", "../x", "a//b", "a/./b", ""] {
            let e = stub(&[(bad, "x")], "k").check().unwrap_err();
            assert!(e.contains("relative and normalized"), "{bad}: {e}");
        }
        assert!(stub(&[], "has space").check().unwrap_err().contains("event kind"));
        let big = "x".repeat(MAX_STUB_BYTES / 2 + 1);
        let e = stub(&[("a", &big), ("b", &big)], "k").check().unwrap_err();
        assert!(e.contains("over 1048576"), "{e}");
    }

    #[test]
    fn the_config_is_what_the_stub_component_reads() {
        let s = Stub { route: Some("left".into()), ..Stub::default() };
        assert_eq!(s.config(), json!({ "update": {}, "route": "left" }));
    }
}
