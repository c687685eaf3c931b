//! Workflow tests (`wtb test`): the test file format and what a case expects. Pure: parsing
//! and validation here, checking a finished run against its expectations in [`check`]; the
//! engine runs the cases.
//!
//! A test file (TOML) holds `[[case]]`s. Each names a workflow (relative to the file), the
//! state it starts from (merged over the manifest's) or a checkpoint to fork (`from`), its
//! environment (the seed of deterministic mode — every case is deterministic unless
//! `deterministic = false` — a fixed clock, env vars, limits, fixtures), stub nodes
//! ([`stub`]), and `[case.expect]`: the final status (or the failing node), a state subset,
//! JSON-pointer equalities, a JSON Schema, files (content, substring, regular expression,
//! digest, absent), guest events in order, the path of nodes taken, and budgets (guest time,
//! peak memory, fuel). Unknown fields are refused with file, line and field.

pub mod check;
pub mod golden;
mod raw;
pub mod report;
pub mod stub;

use crate::experiment::{EnvironmentSpec, RawEnvironmentFields};
use crate::model::{AttemptStatus, CheckpointId, Digest, ExecutionStatus, TrapKind};
use crate::workflow::{ManifestError, Position, SchemaSpec};
use raw::Raw;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::ops::Range;
use stub::Stub;
use toml::Spanned;

/// A parsed, validated test file.
#[derive(Clone, Debug)]
pub struct TestFile {
    /// Its cases, in file order.
    pub cases: Vec<Case>,
}

/// One case.
#[derive(Clone, Debug)]
pub struct Case {
    /// Its name (unique in the file).
    pub name: String,
    /// The workflow manifest, as written (relative to the test file).
    pub workflow: String,
    /// State merged over the manifest's (or over the checkpoint's, with `from`).
    pub state: Map<String, Value>,
    /// What every node runs with: deterministic mode's seed (`None`: real clocks and
    /// randomness), a fixed clock, env vars, limits and fixtures (relative to the test file).
    pub environment: EnvironmentSpec,
    /// Where the case starts instead of the entry node: it forks that checkpoint and resumes.
    pub from: Option<Start>,
    /// Nodes replaced by a stub, by id.
    pub stubs: BTreeMap<String, Stub>,
    /// What the run must show.
    pub expect: Expect,
    /// Where the case starts in the file.
    pub at: Position,
    /// Where `expect.golden` is written (the case's start when it is not).
    pub golden_at: Position,
    /// Where `from` is written (the case's start when it is not).
    pub from_at: Position,
    /// Where each node name the case mentions is written, to name a line for a node the
    /// workflow does not have.
    pub node_refs: Vec<(String, &'static str, Position)>,
}

/// A recorded point a case starts from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Start {
    /// A checkpoint of this data dir.
    Checkpoint(CheckpointId),
    /// A run bundle (a file, relative to the test file) exported from a checkpoint: each run
    /// of the case imports it and forks its point.
    Bundle(String),
}

/// How a failed attempt ended: its status, or (a trap) its kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// `guest_error`, `trapped`, `invalid_output` or `cancelled`.
    Status(AttemptStatus),
    /// A trap of this kind (`timeout`, `out_of_fuel`, `out_of_memory`, …).
    Trap(TrapKind),
}

impl Outcome {
    /// Parses an outcome as a test file writes it.
    pub fn parse(text: &str) -> Result<Self, String> {
        match (text.parse::<AttemptStatus>(), text.parse::<TrapKind>()) {
            (Ok(AttemptStatus::Running | AttemptStatus::Succeeded), _) => {
                Err(format!("`{text}` is not how an attempt fails"))
            }
            (Ok(s), _) => Ok(Self::Status(s)),
            (_, Ok(t)) => Ok(Self::Trap(t)),
            _ => Err(format!(
                "`{text}`: expected guest_error, trapped, invalid_output, cancelled or a trap kind (timeout, out_of_fuel, out_of_memory, …)"
            )),
        }
    }

    /// Whether an attempt that ended with `status` (and `trap`) is this outcome.
    pub fn matches(self, status: AttemptStatus, trap: Option<TrapKind>) -> bool {
        match self {
            Self::Status(s) => s == status,
            Self::Trap(t) => trap == Some(t),
        }
    }

    /// As a test file writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Status(s) => s.as_str(),
            Self::Trap(t) => t.as_str(),
        }
    }
}

/// A case's expectations; unset ones are not checked.
#[derive(Clone, Debug)]
pub struct Expect {
    /// The execution's final status (default: `completed`).
    pub status: ExecutionStatus,
    /// With `status = "failed"`: the node whose attempt failed.
    pub failed_node: Option<String>,
    /// With `status = "failed"`: how that attempt failed.
    pub outcome: Option<Outcome>,
    /// The nodes that completed, in order.
    pub path: Option<Vec<String>>,
    /// Keys the final state must hold with these values (objects compared as subsets).
    pub state: Map<String, Value>,
    /// JSON pointers into the final state and the value each must equal.
    pub pointers: BTreeMap<String, Value>,
    /// A JSON Schema the final state must match (a file relative to the test file until the
    /// engine reads it).
    pub schema: Option<SchemaSpec>,
    /// Per path in the final workspace.
    pub files: BTreeMap<String, FileExpect>,
    /// Guest events that must appear in this order (others may come between).
    pub events: Vec<EventExpect>,
    /// Upper bounds on what the run used.
    pub budgets: Budgets,
    /// A directory (relative to the test file) holding the expected final state
    /// (`state.json`) and workspace (`files/`); `wtb test --update` writes it.
    pub golden: Option<String>,
    /// Globs of workspace paths the golden comparison skips.
    pub ignore: Vec<String>,
}

/// What one file must be.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FileExpect {
    /// Exactly this text.
    pub content: Option<String>,
    /// Text containing this.
    pub contains: Option<String>,
    /// Text matching this regular expression.
    pub regex: Option<String>,
    /// Content with this digest.
    pub digest: Option<Digest>,
    /// The path must not exist.
    pub absent: bool,
}

/// One expected guest event.
#[derive(Clone, Debug, PartialEq)]
pub struct EventExpect {
    /// The kind the guest emitted (`report.ready`; stored as `guest.report.ready`).
    pub kind: String,
    /// A subset its payload must contain.
    pub payload: Option<Value>,
}

/// Budgets, checked as assertions on the whole run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Budgets {
    /// Guest time summed over the attempts, ms.
    pub guest_ms: Option<u64>,
    /// The largest peak memory of any attempt, MiB.
    pub peak_memory_mib: Option<u64>,
    /// Fuel summed over the attempts.
    pub fuel: Option<u64>,
}

impl TestFile {
    /// Parses and validates `text`; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Self, ManifestError> {
        let err = |span: Range<usize>, field: &str, message: String| {
            ManifestError::at_offset(file, text, span.start, field, message)
        };
        let raw: Raw = ManifestError::from_toml(file, text)?;
        if raw.case.is_empty() {
            return Err(err(0..0, "case", "a test file holds at least one [[case]]".into()));
        }
        let mut cases: Vec<Case> = Vec::with_capacity(raw.case.len());
        for (i, spanned) in raw.case.into_iter().enumerate() {
            let start = spanned.span().start;
            let c = spanned.into_inner();
            let field = |f: &str| format!("case[{i}].{f}");
            let name = c.name.get_ref().trim().to_owned();
            if name.is_empty() || name.len() > 200 {
                return Err(err(c.name.span(), &field("name"), "must be 1-200 characters".into()));
            }
            if cases.iter().any(|other| other.name == name) {
                return Err(err(c.name.span(), &field("name"), format!("a second case named `{name}`")));
            }
            if c.workflow.get_ref().trim().is_empty() {
                return Err(err(
                    c.workflow.span(),
                    &field("workflow"),
                    "must name the workflow manifest".into(),
                ));
            }
            if !c.deterministic && (c.seed.is_some() || c.clock.is_some()) {
                let what = if c.seed.is_some() { "seed" } else { "clock" };
                let message =
                    format!("`{what}` makes the case deterministic: drop it or `deterministic = false`");
                return Err(err(start..start, &field(what), message));
            }
            let seed = c.deterministic.then_some(c.seed.unwrap_or(0));
            let fields = RawEnvironmentFields {
                env: &c.env,
                clock: c.clock.as_ref(),
                limits: c.limits.as_ref(),
                fixtures: &c.fixtures,
            };
            let environment = fields.check(file, text, &field(""), start, "test".into(), seed)?;
            let from = match &c.from {
                None => None,
                Some(f) if f.get_ref().trim().is_empty() => {
                    let message = "names a checkpoint id or a bundle file".to_owned();
                    return Err(err(f.span(), &field("from"), message));
                }
                Some(f) => Some(match f.get_ref().parse::<CheckpointId>() {
                    Ok(id) => Start::Checkpoint(id),
                    Err(_) => Start::Bundle(f.get_ref().clone()),
                }),
            };
            let mut node_refs = Vec::new();
            let mut stubs = BTreeMap::new();
            for (node, s) in c.stub {
                let at = Position::of_offset(text, s.span().start);
                s.get_ref().check().map_err(|m| err(s.span(), &field(&format!("stub.{node}")), m))?;
                node_refs.push((node.clone(), "stub", at));
                stubs.insert(node, s.into_inner());
            }
            let e = c.expect;
            let schema = e
                .schema
                .as_ref()
                .map(|raw| SchemaSpec::from_toml(file, text, raw, field("expect.schema")))
                .transpose()?;
            let status = match &e.status {
                None => ExecutionStatus::Completed,
                Some(s) => match s.get_ref().parse::<ExecutionStatus>() {
                    Ok(
                        st @ (ExecutionStatus::Completed | ExecutionStatus::Failed | ExecutionStatus::Paused),
                    ) => st,
                    _ => {
                        let message = format!("`{}`: expected completed, failed or paused", s.get_ref());
                        return Err(err(s.span(), &field("expect.status"), message));
                    }
                },
            };
            if let Some(n) = &e.failed_node {
                if status != ExecutionStatus::Failed {
                    let message = "only with `status = \"failed\"`".to_owned();
                    return Err(err(n.span(), &field("expect.failed_node"), message));
                }
                node_refs.push((
                    n.get_ref().clone(),
                    "expect.failed_node",
                    Position::of_offset(text, n.span().start),
                ));
            }
            let outcome = match &e.outcome {
                None => None,
                Some(_) if status != ExecutionStatus::Failed => {
                    let span = e.outcome.as_ref().map_or(0..0, Spanned::span);
                    return Err(err(
                        span,
                        &field("expect.outcome"),
                        "only with `status = \"failed\"`".into(),
                    ));
                }
                Some(o) => Some(
                    Outcome::parse(o.get_ref()).map_err(|m| err(o.span(), &field("expect.outcome"), m))?,
                ),
            };
            for n in e.path.iter().flatten() {
                node_refs.push((
                    n.get_ref().clone(),
                    "expect.path",
                    Position::of_offset(text, n.span().start),
                ));
            }
            for p in e.pointers.keys() {
                if !(p.is_empty() || p.starts_with('/')) {
                    let message = format!("`{p}` is not a JSON pointer (it starts with `/`)");
                    return Err(err(start..start, &field("expect.pointers"), message));
                }
            }
            let mut files = BTreeMap::new();
            for (path, f) in e.files {
                let span = f.span();
                let f = f.into_inner();
                let digest = match &f.digest {
                    None => None,
                    Some(d) => {
                        Some(d.strip_prefix("sha256:").unwrap_or(d).parse::<Digest>().map_err(|m| {
                            err(
                                span.clone(),
                                &field(&format!("expect.files.\"{path}\".digest")),
                                m.to_string(),
                            )
                        })?)
                    }
                };
                if let Some(r) = &f.regex {
                    regex::Regex::new(r).map_err(|m| {
                        err(span.clone(), &field(&format!("expect.files.\"{path}\".regex")), m.to_string())
                    })?;
                }
                let checks = [f.content.is_some(), f.contains.is_some(), f.regex.is_some(), digest.is_some()];
                if f.absent == checks.contains(&true) {
                    let message =
                        "give `absent = true` alone, or at least one of content, contains, regex, digest";
                    return Err(err(span, &field(&format!("expect.files.\"{path}\"")), message.into()));
                }
                let expect = FileExpect {
                    content: f.content,
                    contains: f.contains,
                    regex: f.regex,
                    digest,
                    absent: f.absent,
                };
                files.insert(path, expect);
            }
            if e.golden.as_ref().is_some_and(|g| g.get_ref().trim().is_empty()) {
                let span = e.golden.as_ref().map_or(0..0, Spanned::span);
                return Err(err(span, &field("expect.golden"), "must name a directory".into()));
            }
            if e.golden.is_none() && !e.ignore.is_empty() {
                return Err(err(e.ignore[0].span(), &field("expect.ignore"), "only with `golden`".into()));
            }
            for g in &e.ignore {
                globset::Glob::new(g.get_ref())
                    .map_err(|m| err(g.span(), &field("expect.ignore"), m.kind().to_string()))?;
            }
            let golden_at = Position::of_offset(text, e.golden.as_ref().map_or(start, |g| g.span().start));
            let events = e
                .events
                .into_iter()
                .map(|ev| {
                    let ev = ev.into_inner();
                    EventExpect {
                        kind: ev.kind.strip_prefix("guest.").unwrap_or(&ev.kind).to_owned(),
                        payload: ev.payload,
                    }
                })
                .collect();
            cases.push(Case {
                name,
                workflow: c.workflow.into_inner(),
                state: c.state,
                environment,
                from_at: Position::of_offset(text, c.from.as_ref().map_or(start, |f| f.span().start)),
                from,
                stubs,
                expect: Expect {
                    status,
                    failed_node: e.failed_node.map(Spanned::into_inner),
                    outcome,
                    path: e.path.map(|p| p.into_iter().map(Spanned::into_inner).collect()),
                    state: e.state,
                    pointers: e.pointers,
                    schema,
                    files,
                    events,
                    budgets: Budgets {
                        guest_ms: e.budgets.guest_ms,
                        peak_memory_mib: e.budgets.peak_memory_mib,
                        fuel: e.budgets.fuel,
                    },
                    golden: e.golden.map(Spanned::into_inner),
                    ignore: e.ignore.into_iter().map(Spanned::into_inner).collect(),
                },
                at: Position::of_offset(text, start),
                golden_at,
                node_refs,
            });
        }
        Ok(Self { cases })
    }
}

#[cfg(test)]
mod tests;
