//! The experiment file as written, before validation: spans kept for located errors.

use super::NodeChange;
use crate::workflow::NodeLimits;
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Raw {
    pub(super) name: Spanned<String>,
    pub(super) workflow: Spanned<String>,
    #[serde(default)]
    pub(super) from: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) repetitions: Option<Spanned<u32>>,
    #[serde(default)]
    pub(super) variants: Option<Spanned<Vec<RawVariant>>>,
    /// Shorthand: node → components, one variant per component (named by file stem).
    #[serde(default)]
    pub(super) alternatives: Option<Spanned<BTreeMap<String, Vec<String>>>>,
    #[serde(default)]
    pub(super) environments: Option<Spanned<Vec<RawEnvironment>>>,
    #[serde(default)]
    pub(super) baseline: Option<Spanned<RawBaseline>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawVariant {
    pub(super) name: Spanned<String>,
    #[serde(default)]
    pub(super) nodes: BTreeMap<String, NodeChange>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEnvironment {
    pub(super) name: Spanned<String>,
    #[serde(default)]
    pub(super) env: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) seed: Option<u64>,
    #[serde(default)]
    pub(super) clock: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) limits: Option<Spanned<NodeLimits>>,
    #[serde(default)]
    pub(super) fixtures: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBaseline {
    pub(super) variant: String,
    pub(super) environment: String,
}
