//! The test file as written, before validation: spans kept for located errors.

use super::stub::Stub;
use crate::workflow::NodeLimits;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Raw {
    pub(super) case: Vec<Spanned<RawCase>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCase {
    pub(super) name: Spanned<String>,
    pub(super) workflow: Spanned<String>,
    #[serde(default)]
    pub(super) state: Map<String, Value>,
    #[serde(default)]
    pub(super) seed: Option<u64>,
    #[serde(default = "yes")]
    pub(super) deterministic: bool,
    #[serde(default)]
    pub(super) clock: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) env: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) limits: Option<Spanned<NodeLimits>>,
    #[serde(default)]
    pub(super) fixtures: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) from: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) stub: BTreeMap<String, Spanned<Stub>>,
    #[serde(default)]
    pub(super) expect: RawExpect,
}

fn yes() -> bool {
    true
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawExpect {
    pub(super) status: Option<Spanned<String>>,
    pub(super) failed_node: Option<Spanned<String>>,
    pub(super) outcome: Option<Spanned<String>>,
    pub(super) path: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    pub(super) state: Map<String, Value>,
    #[serde(default)]
    pub(super) pointers: BTreeMap<String, Value>,
    pub(super) schema: Option<Spanned<toml::Value>>,
    #[serde(default)]
    pub(super) files: BTreeMap<String, Spanned<RawFile>>,
    #[serde(default)]
    pub(super) events: Vec<Spanned<RawEvent>>,
    #[serde(default)]
    pub(super) budgets: RawBudgets,
    pub(super) golden: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) ignore: Vec<Spanned<String>>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    pub(super) content: Option<String>,
    pub(super) contains: Option<String>,
    pub(super) regex: Option<String>,
    pub(super) digest: Option<String>,
    #[serde(default)]
    pub(super) absent: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEvent {
    pub(super) kind: String,
    pub(super) payload: Option<Value>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBudgets {
    pub(super) guest_ms: Option<u64>,
    pub(super) peak_memory_mib: Option<u64>,
    pub(super) fuel: Option<u64>,
}
