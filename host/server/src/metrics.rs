//! `/metrics` in the Prometheus text format (admin token): nodes run by outcome, a node
//! duration histogram, outbox depth and oldest age per sink, blob bytes, executions by status.
//! Everything is read from the database at each scrape, so it covers every process's runs.

use super::{Admin, AppState, Problem};
use axum::http::header;
use axum::response::IntoResponse;
use std::fmt::Write as _;
use utoipa_axum::{router::OpenApiRouter, routes};
use wtb_core::model::Timestamp;
use wtb_store::db::SinkCounts;
use wtb_store::db::{DURATION_BUCKETS, Snapshot};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(metrics))
}

/// Prometheus metrics of the whole host (all tenants).
#[utoipa::path(get, path = "/metrics", tag = "admin", responses((status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain", body = String), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn metrics(Admin(host): Admin) -> Result<impl IntoResponse, Problem> {
    let snapshot = host.inspect().metrics_snapshot().await?;
    let sinks = wtb_engine::outbox::stats(&host).await?.sinks;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        render(&snapshot, &sinks, host.clock().now()),
    ))
}

/// A label value, escaped as the format requires.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The text exposition of `s` and the sinks' counts at `now` (pure).
pub(super) fn render(s: &Snapshot, sinks: &[SinkCounts], now: Timestamp) -> String {
    let mut out = String::new();
    let mut lines = Vec::new();
    let n = family(&mut out, "wtb_executions", "gauge", "Executions by tenant and status.");
    lines.extend(
        s.executions
            .iter()
            .map(|(t, st, c)| format!("{n}{{tenant=\"{}\",status=\"{}\"}} {c}", label(t), label(st))),
    );
    flush(&mut out, &mut lines);
    let n = family(
        &mut out,
        "wtb_nodes_total",
        "counter",
        "Ended node attempts by outcome (status, or trap kind).",
    );
    lines.extend(s.nodes.iter().map(|(o, c)| format!("{n}{{outcome=\"{}\"}} {c}", label(o))));
    flush(&mut out, &mut lines);
    let n = family(
        &mut out,
        "wtb_node_duration_seconds",
        "histogram",
        "Wall time of ended node attempts, from launch to exit checkpoint.",
    );
    for (b, c) in DURATION_BUCKETS.iter().zip(&s.duration_buckets) {
        lines.push(format!("{n}_bucket{{le=\"{b}\"}} {c}"));
    }
    lines.push(format!("{n}_bucket{{le=\"+Inf\"}} {}", s.duration_count));
    lines.push(format!("{n}_sum {}", s.duration_sum));
    lines.push(format!("{n}_count {}", s.duration_count));
    flush(&mut out, &mut lines);
    let n = family(
        &mut out,
        "wtb_outbox_depth",
        "gauge",
        "Events not yet delivered to the sink (unseen or pending).",
    );
    lines
        .extend(sinks.iter().map(|c| format!("{n}{{sink=\"{}\"}} {}", label(&c.sink), c.unseen + c.pending)));
    flush(&mut out, &mut lines);
    let n = family(
        &mut out,
        "wtb_outbox_dead",
        "gauge",
        "Events the sink refused for good (see `wtb outbox retry`).",
    );
    lines.extend(sinks.iter().map(|c| format!("{n}{{sink=\"{}\"}} {}", label(&c.sink), c.dead)));
    flush(&mut out, &mut lines);
    let n = family(
        &mut out,
        "wtb_outbox_oldest_age_seconds",
        "gauge",
        "Age of the oldest event not yet delivered to the sink (0: none).",
    );
    lines.extend(sinks.iter().map(|c| {
        let age = c.oldest_pending.map_or(0.0, |t| (now.micros() - t.micros()).max(0) as f64 / 1e6);
        format!("{n}{{sink=\"{}\"}} {age}", label(&c.sink))
    }));
    flush(&mut out, &mut lines);
    let n = family(
        &mut out,
        "wtb_blob_bytes",
        "gauge",
        "Bytes of stored file contents and components, by where they are kept.",
    );
    lines.extend(s.blob_bytes.iter().map(|(st, b)| format!("{n}{{storage=\"{}\"}} {b}", label(st))));
    flush(&mut out, &mut lines);
    out
}

/// Writes a metric family's header; returns its name.
fn family(out: &mut String, name: &'static str, kind: &str, help: &str) -> &'static str {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    name
}

fn flush(out: &mut String, lines: &mut Vec<String>) {
    for l in lines.drain(..) {
        out.push_str(&l);
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family_with_escaped_labels_and_a_cumulative_histogram() {
        let s = Snapshot {
            executions: vec![("a\"b".into(), "completed".into(), 3)],
            nodes: vec![("succeeded".into(), 5), ("out_of_fuel".into(), 1)],
            duration_buckets: vec![1, 2, 2, 2, 2, 2, 2, 2, 2, 6, 6, 6, 6, 6],
            duration_sum: 1.5,
            duration_count: 6,
            blob_bytes: vec![("cas".into(), 100)],
        };
        let sinks = [SinkCounts {
            sink: "jsonl".into(),
            unseen: 2,
            pending: 1,
            dead: 0,
            delivered: 9,
            oldest_pending: Some(Timestamp::from_micros(1_000_000)),
        }];
        let text = render(&s, &sinks, Timestamp::from_micros(3_500_000));
        for want in [
            "wtb_executions{tenant=\"a\\\"b\",status=\"completed\"} 3",
            "wtb_nodes_total{outcome=\"out_of_fuel\"} 1",
            "wtb_node_duration_seconds_bucket{le=\"0.001\"} 1",
            "wtb_node_duration_seconds_bucket{le=\"+Inf\"} 6",
            "wtb_node_duration_seconds_count 6",
            "wtb_outbox_depth{sink=\"jsonl\"} 3",
            "wtb_outbox_oldest_age_seconds{sink=\"jsonl\"} 2.5",
            "wtb_blob_bytes{storage=\"cas\"} 100",
            "# TYPE wtb_node_duration_seconds histogram",
        ] {
            assert!(text.lines().any(|l| l == want), "missing `{want}` in\n{text}");
        }
    }
}
