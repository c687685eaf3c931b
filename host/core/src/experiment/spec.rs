//! The experiment file (TOML): a workflow, optionally a checkpoint every cell forks from,
//! variants (node → another component and/or config), environments (env vars, seed, fixed
//! clock, limits, fixtures) and repetitions. Pure: parsed and validated with the manifest's
//! error quality (file, line, column, field); checks against the workflow itself (unknown
//! nodes, fixtures clashing with a node's own) are in [`ExperimentSpec::check_against`].

use crate::workflow::{Fixture, Manifest, ManifestError, NodeLimits, Position, check_env, check_mount_point};
use raw::{Raw, RawBaseline};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::ops::Range;

mod raw;

/// Most cells one experiment may have.
pub const MAX_CELLS: usize = 10_000;

/// A validated experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExperimentSpec {
    /// Its name.
    pub name: String,
    /// The workflow manifest, as written (relative to the experiment file).
    pub workflow: String,
    /// A checkpoint (id) every cell forks from, so the nodes before it run once.
    pub from: Option<String>,
    /// Runs per variant × environment (≥ 2 detects nondeterminism).
    pub repetitions: u32,
    /// The variants; at least one (`base`, changing nothing, when the file names none).
    pub variants: Vec<Variant>,
    /// The environments; at least one (`default`, changing nothing, when the file names none).
    pub environments: Vec<EnvironmentSpec>,
    /// The cell others are compared with: (variant, environment); default the first of each.
    pub baseline: (String, String),
}

/// One variant: nodes with another component and/or config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Variant {
    /// Its name.
    pub name: String,
    /// The changed nodes, by id.
    pub nodes: BTreeMap<String, NodeChange>,
    /// Where it is written.
    #[serde(skip)]
    pub at: Position,
}

/// What a variant changes in one node.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeChange {
    /// Another component (`.wasm`, relative to the experiment file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    /// Another config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Value>,
}

/// One environment: what every node of a cell runs with.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EnvironmentSpec {
    /// Its name.
    pub name: String,
    /// Env vars added to every node's (replacing a node's own of the same name).
    pub env: BTreeMap<String, String>,
    /// Deterministic mode with this seed.
    pub seed: Option<u64>,
    /// Deterministic mode with the wall clock starting here (seconds since the Unix epoch).
    pub clock: Option<u64>,
    /// Limits for every node (replacing the manifest's).
    pub limits: NodeLimits,
    /// Read-only fixtures for every node (host paths relative to the experiment file).
    pub fixtures: Vec<Fixture>,
    /// Where it is written.
    #[serde(skip)]
    pub at: Position,
}

/// An environment's fields as written, before validation: shared by an experiment's
/// `[[environments]]` and a test case, so both accept and refuse the same things.
pub(crate) struct RawEnvironmentFields<'a> {
    /// Env vars.
    pub(crate) env: &'a BTreeMap<String, String>,
    /// RFC 3339 start of the wall clock.
    pub(crate) clock: Option<&'a toml::Spanned<String>>,
    /// Limits for every node.
    pub(crate) limits: Option<&'a toml::Spanned<NodeLimits>>,
    /// Guest mount point → host directory.
    pub(crate) fixtures: &'a BTreeMap<String, String>,
}

impl RawEnvironmentFields<'_> {
    /// The validated environment named `name` with `seed`. `prefix` leads each field in
    /// errors (`environments[0].`, `case[2].`); `at` is where errors without a span of their
    /// own point.
    pub(crate) fn check(
        self,
        file: &str,
        text: &str,
        prefix: &str,
        at: usize,
        name: String,
        seed: Option<u64>,
    ) -> Result<EnvironmentSpec, ManifestError> {
        let err = |offset: usize, f: &str, message: String| {
            ManifestError::at_offset(file, text, offset, &format!("{prefix}{f}"), message)
        };
        let clock = match self.clock {
            Some(c) => Some(
                crate::model::Timestamp::parse_instant(c.get_ref())
                    .and_then(|t| u64::try_from(t.micros().div_euclid(1_000_000)).ok())
                    .ok_or_else(|| {
                        let message =
                            format!("`{}` is not an RFC 3339 time such as 2024-01-01T00:00:00Z", c.get_ref());
                        err(c.span().start, "clock", message)
                    })?,
            ),
            None => None,
        };
        let limits = match self.limits {
            Some(l) => {
                l.get_ref()
                    .validate()
                    .map_err(|p| err(l.span().start, &format!("limits.{}", p.limit), p.to_string()))?;
                *l.get_ref()
            }
            None => NodeLimits::default(),
        };
        let mut fixtures = Vec::new();
        for (guest, host) in self.fixtures {
            check_mount_point(guest).map_err(|m| err(at, &format!("fixtures.\"{guest}\""), m))?;
            fixtures.push(Fixture { guest: guest.clone(), host: host.clone() });
        }
        for (k, v) in self.env {
            check_env(k, v).map_err(|m| err(at, &format!("env.{k}"), m))?;
        }
        Ok(EnvironmentSpec {
            name,
            env: self.env.clone(),
            seed,
            clock,
            limits,
            fixtures,
            at: Position::of_offset(text, at),
        })
    }
}

impl EnvironmentSpec {
    /// Refuses a fixture at a mount point a node of `manifest` already has; `field` names the
    /// fixtures in the error.
    pub fn check_fixtures_against(
        &self,
        file: &str,
        manifest: &Manifest,
        field: String,
    ) -> Result<(), ManifestError> {
        for f in &self.fixtures {
            if let Some(n) = manifest.nodes.iter().find(|n| n.fixtures.iter().any(|nf| nf.guest == f.guest)) {
                return Err(ManifestError {
                    file: file.to_owned(),
                    at: self.at,
                    field: Some(field),
                    message: format!(
                        "conflicting overrides: node `{}` already mounts a fixture at `{}`",
                        n.id, f.guest
                    ),
                });
            }
        }
        Ok(())
    }
}

fn valid_name(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

impl ExperimentSpec {
    /// Parses and validates `text`; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Self, ManifestError> {
        let err = |span: Range<usize>, field: &str, message: String| {
            ManifestError::at_offset(file, text, span.start, field, message)
        };
        let raw: Raw = ManifestError::from_toml(file, text)?;
        if !valid_name(raw.name.get_ref()) {
            return Err(err(raw.name.span(), "name", "must be 1-64 of A-Z a-z 0-9 . _ -".into()));
        }
        if raw.workflow.get_ref().trim().is_empty() {
            return Err(err(raw.workflow.span(), "workflow", "must name the workflow manifest".into()));
        }
        let repetitions = match &raw.repetitions {
            Some(r) if !(1..=1000).contains(r.get_ref()) => {
                return Err(err(r.span(), "repetitions", "must be between 1 and 1000".into()));
            }
            Some(r) => *r.get_ref(),
            None => 1,
        };
        if let Some(from) = &raw.from
            && from.get_ref().parse::<crate::model::CheckpointId>().is_err()
        {
            return Err(err(
                from.span(),
                "from",
                format!("`{}` is not a checkpoint id (see `wtb history`)", from.get_ref()),
            ));
        }
        let variants = match (&raw.variants, &raw.alternatives) {
            (Some(_), Some(a)) => {
                return Err(err(
                    a.span(),
                    "alternatives",
                    "conflicts with [[variants]]: use one or the other".into(),
                ));
            }
            (Some(v), None) if v.get_ref().is_empty() => {
                return Err(err(
                    v.span(),
                    "variants",
                    "an empty matrix: name at least one variant, or leave `variants` out".into(),
                ));
            }
            (Some(v), None) => v
                .get_ref()
                .iter()
                .map(|r| Variant {
                    name: r.name.get_ref().clone(),
                    nodes: r.nodes.clone(),
                    at: Position::of_offset(text, r.name.span().start),
                })
                .collect(),
            (None, Some(a)) => {
                let at = Position::of_offset(text, a.span().start);
                let mut out = Vec::new();
                for (node, components) in a.get_ref() {
                    if components.is_empty() {
                        return Err(err(
                            a.span(),
                            &format!("alternatives.{node}"),
                            "an empty matrix: list at least one component".into(),
                        ));
                    }
                    for c in components {
                        let stem = std::path::Path::new(c)
                            .file_stem()
                            .map(|s| s.to_string_lossy().into_owned())
                            .unwrap_or_else(|| c.clone());
                        let change = NodeChange { component: Some(c.clone()), config: None };
                        out.push(Variant { name: stem, nodes: BTreeMap::from([(node.clone(), change)]), at });
                    }
                }
                out
            }
            (None, None) => {
                vec![Variant { name: "base".into(), nodes: BTreeMap::new(), at: Position::default() }]
            }
        };
        let mut environments = Vec::new();
        match &raw.environments {
            Some(e) if e.get_ref().is_empty() => {
                return Err(err(
                    e.span(),
                    "environments",
                    "an empty matrix: name at least one environment, or leave `environments` out".into(),
                ));
            }
            Some(e) => {
                for (i, r) in e.get_ref().iter().enumerate() {
                    let fields = RawEnvironmentFields {
                        env: &r.env,
                        clock: r.clock.as_ref(),
                        limits: r.limits.as_ref(),
                        fixtures: &r.fixtures,
                    };
                    let prefix = format!("environments[{i}].");
                    let (at, name) = (r.name.span().start, r.name.get_ref().clone());
                    environments.push(fields.check(file, text, &prefix, at, name, r.seed)?);
                }
            }
            None => {
                environments.push(EnvironmentSpec { name: "default".into(), ..EnvironmentSpec::default() })
            }
        }
        for (kind, names) in [
            ("variants", variants.iter().map(|v| (&v.name, v.at)).collect::<Vec<_>>()),
            ("environments", environments.iter().map(|e| (&e.name, e.at)).collect()),
        ] {
            let mut seen = BTreeMap::new();
            for (name, at) in names {
                if !valid_name(name) {
                    return Err(ManifestError {
                        file: file.to_owned(),
                        at,
                        field: Some(kind.into()),
                        message: format!("`{name}` is not a valid name (1-64 of A-Z a-z 0-9 . _ -)"),
                    });
                }
                if seen.insert(name.clone(), at).is_some() {
                    return Err(ManifestError {
                        file: file.to_owned(),
                        at,
                        field: Some(kind.into()),
                        message: format!("two {kind} are named `{name}`"),
                    });
                }
            }
        }
        let cells = variants.len() * environments.len() * repetitions as usize;
        if cells > MAX_CELLS {
            return Err(err(
                0..0,
                "",
                format!(
                    "{cells} cells (variants × environments × repetitions) is over the limit of {MAX_CELLS}"
                ),
            ));
        }
        let baseline = match &raw.baseline {
            Some(b) => {
                let RawBaseline { variant, environment } = b.get_ref();
                if !variants.iter().any(|v| v.name == *variant)
                    || !environments.iter().any(|e| e.name == *environment)
                {
                    return Err(err(
                        b.span(),
                        "baseline",
                        format!(
                            "no cell ({variant}, {environment}): name a variant and an environment of this experiment"
                        ),
                    ));
                }
                (variant.clone(), environment.clone())
            }
            None => (variants[0].name.clone(), environments[0].name.clone()),
        };
        Ok(Self {
            name: raw.name.get_ref().clone(),
            workflow: raw.workflow.get_ref().clone(),
            from: raw.from.map(|f| f.get_ref().clone()),
            repetitions,
            variants,
            environments,
            baseline,
        })
    }

    /// Checks the variants and environments against the workflow they change: every node a
    /// variant names exists, and no fixture of an environment takes a mount point a node
    /// already has. `file` names the experiment in errors.
    pub fn check_against(&self, file: &str, manifest: &Manifest) -> Result<(), ManifestError> {
        for v in &self.variants {
            for node in v.nodes.keys() {
                if manifest.graph.node(node).is_none() {
                    let known: Vec<&str> = manifest.nodes.iter().map(|n| n.id.as_str()).collect();
                    return Err(ManifestError {
                        file: file.to_owned(),
                        at: v.at,
                        field: Some(format!("variants.{}.nodes.{node}", v.name)),
                        message: format!(
                            "the workflow `{}` has no node `{node}` (it has: {})",
                            manifest.name,
                            known.join(", ")
                        ),
                    });
                }
            }
        }
        for e in &self.environments {
            e.check_fixtures_against(file, manifest, format!("environments.{}.fixtures", e.name))?;
        }
        Ok(())
    }

    /// Every cell, in report order: variant, environment, repetition (from 1).
    pub fn cells(&self) -> Vec<(String, String, u32)> {
        let mut out = Vec::new();
        for v in &self.variants {
            for e in &self.environments {
                for r in 1..=self.repetitions {
                    out.push((v.name.clone(), e.name.clone(), r));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
