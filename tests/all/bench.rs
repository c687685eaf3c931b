//! `wtb bench` at tiny sizes, so it cannot rot: every section runs end to end through the real
//! binary and reports figures that make sense (the speed targets are checked with full sizes
//! on an optimised build, never here).

use serde_json::Value;
use std::process::Command;
use wtb_tests::Harness;

fn bench(h: &Harness, args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_wtb-under-test"))
        .args(["--json", "bench"])
        .args(args)
        .env("WTB_DATA_DIR", h.data_dir())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn positive(v: &Value, field: &str) -> f64 {
    let n = v[field].as_f64().unwrap_or_else(|| panic!("`{field}` is not a number in {v}"));
    assert!(n > 0.0, "`{field}` is {n} in {v}");
    n
}

#[test]
fn every_bench_section_runs_at_tiny_sizes_and_reports_sane_figures() {
    let h = Harness::new();
    let all = bench(
        &h,
        &["--nodes", "3", "--runs", "1", "--executions", "4", "--in-flight", "2", "--travel-files", "100"],
    );
    let linear = all["linear"].as_array().unwrap();
    assert_eq!(linear.len(), 2, "durable and normal: {all}");
    let modes: Vec<&str> = linear.iter().map(|m| m["mode"].as_str().unwrap()).collect();
    assert!(modes[0].starts_with("durable") && modes[1].starts_with("normal"), "{modes:?}");
    for mode in linear {
        assert_eq!((mode["nodes"].as_u64(), mode["runs"].as_u64()), (Some(3), Some(1)), "{mode}");
        assert!(positive(mode, "best_us_per_node") <= positive(mode, "median_us_per_node"), "{mode}");
    }
    let engine = all["engine"].as_array().unwrap();
    assert_eq!(engine.len(), 2, "fan-out and short executions: {all}");
    assert!(engine.iter().all(|s| positive(s, "nodes_per_second") > 0.0));
    assert_eq!(engine[1]["nodes"].as_u64(), Some(12), "4 executions × 3 nodes");
    let limits = all["limits"].as_array().unwrap();
    assert_eq!(limits.len(), 3, "{all}");
    assert!(limits.iter().all(|m| positive(m, "us_per_node") > 0.0));
    assert_eq!(all["experiment"]["cells"], 100, "{all}");
    positive(&all["experiment"], "cells_per_second");
    let travel = &all["time_travel"];
    for field in ["rollback_ms", "fork_ms", "unchanged_capture_ms", "one_file_capture_ms", "lane_restore_ms"]
    {
        positive(travel, field);
    }
    assert_eq!(travel["workspace_files"], 100, "{all}");
    let outbox = all["outbox"].as_array().unwrap();
    assert!(!outbox.is_empty() && outbox.iter().all(|s| positive(s, "events_per_second") > 0.0), "{all}");
    assert!(all["api"].is_null(), "the API load test runs only when asked for");

    let api = bench(&h, &["--only", "api", "--clients", "2", "--api-seconds", "1"]);
    let api = &api["api"];
    assert_eq!((api["errors"].as_u64(), api["lost"].as_u64()), (Some(0), Some(0)), "{api}");
    assert!(positive(api, "completed") > 0.0 && positive(api, "requests_per_second") > 0.0, "{api}");

    let bad = Command::new(env!("CARGO_BIN_EXE_wtb-under-test"))
        .args(["bench", "--nodes", "0"])
        .env("WTB_DATA_DIR", h.data_dir())
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--nodes and --runs must be at least 1"));
    let bad = Command::new(env!("CARGO_BIN_EXE_wtb-under-test"))
        .args(["bench", "--travel-files", "100001"])
        .env("WTB_DATA_DIR", h.data_dir())
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2), "a usage error");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("100001 is not in 100..=100000"), "{bad:?}");
}
