//! An experiment's report: the data (filled by the executor) and its renderings — a table for
//! terminals, JSON, Markdown, and one self-contained HTML file. Pure.

use super::compare::Divergence;
use crate::history::FileDiff;
use crate::history::TextChange;
use crate::model::{ExecutionId, ExecutionStatus, ExperimentId, Timestamp};
use serde::Serialize;
use std::fmt::Write as _;

/// Everything the report says.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ExperimentReport {
    /// The experiment.
    pub id: ExperimentId,
    /// Its name.
    pub name: String,
    /// The workflow's name.
    pub workflow: String,
    /// When it was created.
    pub created_at: Timestamp,
    /// The cell others are compared with: variant, environment (repetition 1).
    pub baseline: (String, String),
    /// Every cell, in matrix order.
    pub cells: Vec<CellReport>,
    /// Variant × environment: how its repetitions ended.
    pub matrix: Vec<MatrixEntry>,
    /// Repetitions of one cell that differ.
    pub nondeterminism: Vec<Finding>,
    /// False when a cell has not run yet, or a deterministic cell's repetitions differ.
    pub passed: bool,
    /// Why it did not pass.
    pub problems: Vec<String>,
}

/// One cell.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CellReport {
    /// Its variant.
    pub variant: String,
    /// Its environment.
    pub environment: String,
    /// Its repetition, from 1.
    pub repetition: u32,
    /// Its execution (`None`: not run yet).
    pub execution: Option<ExecutionId>,
    /// The execution's status (`pending` when not run yet).
    pub status: ExecutionStatus,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// Whether it ran in deterministic mode.
    pub deterministic: bool,
    /// Time inside its guests, summed over nodes.
    pub guest_ms: f64,
    /// The largest memory any of its nodes reached.
    pub peak_memory_bytes: u64,
    /// Fuel burned, summed over nodes.
    pub fuel: Option<u64>,
    /// A label shared by the cells that ended alike (status, state and files).
    pub outcome: String,
    /// How its end differs from the baseline's (`None` for the baseline and unrun cells).
    pub vs_baseline: Option<BaselineDiff>,
}

/// How a cell's final checkpoint differs from the baseline's.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct BaselineDiff {
    /// The state change, a line per JSON-patch operation.
    pub state: Vec<String>,
    /// The files added, removed or changed (text diffs for small text files).
    pub files: Vec<FileDiff>,
}

impl BaselineDiff {
    /// Whether it ended exactly as the baseline.
    pub fn is_empty(&self) -> bool {
        self.state.is_empty() && self.files.is_empty()
    }
}

/// One variant × environment of the matrix.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct MatrixEntry {
    /// The variant.
    pub variant: String,
    /// The environment.
    pub environment: String,
    /// The outcome label of each repetition.
    pub outcomes: Vec<String>,
}

/// Repetitions of one cell that ended differently.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Finding {
    /// The variant.
    pub variant: String,
    /// The environment.
    pub environment: String,
    /// The repetitions compared (the first, and the one that differs).
    pub repetitions: (u32, u32),
    /// Where they first differ.
    pub divergence: Divergence,
    /// In deterministic mode, which makes it a failure of the experiment.
    pub deterministic: bool,
}

/// The report as text for a terminal.
pub fn table(r: &ExperimentReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "experiment {} `{}` (workflow `{}`), baseline {} × {}: {}",
        r.id,
        r.name,
        r.workflow,
        r.baseline.0,
        r.baseline.1,
        verdict(r)
    );
    let _ = writeln!(
        out,
        "\n  {:<14} {:<14} {:>4}  {:<10} {:>9} {:>10} {:>12}  {:<7} vs baseline",
        "variant", "environment", "rep", "status", "guest ms", "peak mem", "fuel", "outcome"
    );
    for c in &r.cells {
        let fuel = c.fuel.map_or_else(|| "-".into(), |f| f.to_string());
        let _ = writeln!(
            out,
            "  {:<14} {:<14} {:>4}  {:<10} {:>9.1} {:>10} {:>12}  {:<7} {}",
            c.variant,
            c.environment,
            c.repetition,
            c.status,
            c.guest_ms,
            crate::units::bytes(c.peak_memory_bytes),
            fuel,
            c.outcome,
            baseline_summary(c)
        );
    }
    let _ = writeln!(out, "\nmatrix (outcome of each repetition; equal letters ended alike):");
    for m in &r.matrix {
        let _ = writeln!(out, "  {:<14} × {:<14} {}", m.variant, m.environment, m.outcomes.join(" "));
    }
    if !r.nondeterminism.is_empty() {
        let _ = writeln!(out, "\nnondeterminism:");
        for f in &r.nondeterminism {
            let _ = writeln!(out, "  {}", finding(f));
        }
    }
    for p in &r.problems {
        let _ = writeln!(out, "\nproblem: {p}");
    }
    out
}

fn verdict(r: &ExperimentReport) -> &'static str {
    if r.passed { "passed" } else { "FAILED" }
}

fn baseline_summary(c: &CellReport) -> String {
    match &c.vs_baseline {
        None if c.execution.is_none() => "not run".into(),
        None => "(baseline)".into(),
        Some(d) if d.is_empty() => "same".into(),
        Some(d) => format!("{} state change(s), {} file(s)", d.state.len(), d.files.len()),
    }
}

fn finding(f: &Finding) -> String {
    format!(
        "{} × {}: repetitions {} and {} differ first at node `{}`, {}{}",
        f.variant,
        f.environment,
        f.repetitions.0,
        f.repetitions.1,
        f.divergence.node,
        f.divergence.what,
        if f.deterministic { " — in deterministic mode: a failure" } else { "" }
    )
}

/// The report as Markdown.
pub fn markdown(r: &ExperimentReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Experiment `{}` — {}\n", r.name, verdict(r));
    let _ = writeln!(
        out,
        "Workflow `{}`; id `{}`; baseline **{} × {}**.\n",
        r.workflow, r.id, r.baseline.0, r.baseline.1
    );
    let _ = writeln!(
        out,
        "| variant | environment | rep | status | guest ms | peak memory | fuel | outcome | vs baseline |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    for c in &r.cells {
        let fuel = c.fuel.map_or_else(|| "-".into(), |f| f.to_string());
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.1} | {} | {} | {} | {} |",
            c.variant,
            c.environment,
            c.repetition,
            c.status,
            c.guest_ms,
            crate::units::bytes(c.peak_memory_bytes),
            fuel,
            c.outcome,
            baseline_summary(c)
        );
    }
    let _ = writeln!(out, "\n## Matrix\n\n| variant | environment | outcomes |\n| --- | --- | --- |");
    for m in &r.matrix {
        let _ = writeln!(out, "| {} | {} | {} |", m.variant, m.environment, m.outcomes.join(" "));
    }
    if !r.nondeterminism.is_empty() {
        let _ = writeln!(out, "\n## Nondeterminism\n");
        for f in &r.nondeterminism {
            let _ = writeln!(out, "- {}", finding(f));
        }
    }
    let _ = writeln!(out, "\n## Differences from the baseline");
    for c in r.cells.iter().filter(|c| c.vs_baseline.as_ref().is_some_and(|d| !d.is_empty())) {
        let d = c.vs_baseline.as_ref().expect("filtered");
        let _ = writeln!(out, "\n### {} × {} #{}\n", c.variant, c.environment, c.repetition);
        for line in &d.state {
            let _ = writeln!(out, "- state `{line}`");
        }
        for f in &d.files {
            let _ = writeln!(out, "- file `{}` {}", f.path, f.change.as_str());
            if let Some(TextChange::Text { unified }) = &f.content {
                let _ = writeln!(out, "\n```diff\n{}```", unified);
            }
        }
    }
    for p in &r.problems {
        let _ = writeln!(out, "\n**Problem:** {p}");
    }
    out
}

/// The report as one self-contained HTML page (no scripts, no external resources).
pub fn html(r: &ExperimentReport) -> String {
    let e = crate::markup::escape;
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Experiment {name}</title>\n<style>\
         body{{font:14px system-ui,sans-serif;margin:2em;color:#222}} table{{border-collapse:collapse;margin:1em 0}} \
         th,td{{border:1px solid #ccc;padding:.3em .6em;text-align:left}} th{{background:#f3f3f3}} \
         .passed{{color:#176b2c}} .failed{{color:#a31515}} .o{{font-family:monospace;font-weight:bold}} \
         pre{{background:#f7f7f7;padding:.6em;overflow:auto}} .add{{color:#176b2c}} .del{{color:#a31515}}</style></head><body>\n\
         <h1>Experiment <code>{name}</code> — <span id=\"verdict\" class=\"{class}\">{verdict}</span></h1>\n\
         <p>Workflow <code>{wf}</code>; id <code>{id}</code>; baseline <b>{bv} × {be}</b>.</p>\n",
        name = e(&r.name),
        class = if r.passed { "passed" } else { "failed" },
        verdict = verdict(r),
        wf = e(&r.workflow),
        id = r.id,
        bv = e(&r.baseline.0),
        be = e(&r.baseline.1),
    );
    out.push_str("<h2>Cells</h2>\n<table id=\"cells\"><tr><th>variant</th><th>environment</th><th>rep</th><th>status</th><th>guest ms</th><th>peak memory</th><th>fuel</th><th>outcome</th><th>vs baseline</th></tr>\n");
    for c in &r.cells {
        let fuel = c.fuel.map_or_else(|| "-".into(), |f| f.to_string());
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{}</td><td>{}</td><td class=\"o\">{}</td><td>{}</td></tr>",
            e(&c.variant),
            e(&c.environment),
            c.repetition,
            e(c.status.as_str()),
            c.guest_ms,
            crate::units::bytes(c.peak_memory_bytes),
            fuel,
            e(&c.outcome),
            e(&baseline_summary(c))
        );
    }
    out.push_str("</table>\n<h2>Matrix</h2>\n<table id=\"matrix\"><tr><th>variant</th><th>environment</th><th>outcomes</th></tr>\n");
    for m in &r.matrix {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td class=\"o\">{}</td></tr>",
            e(&m.variant),
            e(&m.environment),
            e(&m.outcomes.join(" "))
        );
    }
    out.push_str("</table>\n");
    if !r.nondeterminism.is_empty() {
        out.push_str("<h2>Nondeterminism</h2>\n<ul id=\"nondeterminism\">\n");
        for f in &r.nondeterminism {
            let _ = writeln!(out, "<li>{}</li>", e(&finding(f)));
        }
        out.push_str("</ul>\n");
    }
    out.push_str("<h2>Differences from the baseline</h2>\n");
    for c in r.cells.iter().filter(|c| c.vs_baseline.as_ref().is_some_and(|d| !d.is_empty())) {
        let d = c.vs_baseline.as_ref().expect("filtered");
        let _ = writeln!(out, "<h3>{} × {} #{}</h3>\n<ul>", e(&c.variant), e(&c.environment), c.repetition);
        for line in &d.state {
            let _ = writeln!(out, "<li>state <code>{}</code></li>", e(line));
        }
        for f in &d.files {
            let _ = write!(out, "<li>file <code>{}</code> {}", e(&f.path), f.change.as_str());
            if let Some(TextChange::Text { unified }) = &f.content {
                out.push_str("<pre>");
                for line in unified.lines() {
                    let class = if line.starts_with('+') && !line.starts_with("+++") {
                        "add"
                    } else if line.starts_with('-') && !line.starts_with("---") {
                        "del"
                    } else {
                        ""
                    };
                    let _ = writeln!(out, "<span class=\"{class}\">{}</span>", e(line));
                }
                out.push_str("</pre>");
            }
            out.push_str("</li>\n");
        }
        out.push_str("</ul>\n");
    }
    for p in &r.problems {
        let _ = writeln!(out, "<p class=\"failed\">Problem: {}</p>", e(p));
    }
    out.push_str("</body></html>\n");
    out
}
