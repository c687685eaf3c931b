//! WTB's end-to-end tests: one binary, a module per area. Every test uses a real SQLite file,
//! real components compiled from source and a real data dir in a temp directory.

mod api;
mod api_admin;
mod api_contract;
mod api_hostile;
mod api_live;
mod api_schemas;
mod api_testing;
mod batch;
mod bench;
mod bundles;
mod cache;
mod cli;
mod crash;
mod deltas;
mod determinism;
mod engine;
mod experiment;
mod failures;
mod fsck;
mod limits;
mod limits_memory;
mod listing;
mod manifest;
mod nats;
mod node_run;
mod objects;
mod outbox;
mod outbox_processes;
mod pickup;
mod postgres;
mod props;
mod protocol;
mod replay;
mod retention;
mod roundtrip;
mod sandbox;
mod scale;
mod seam;
mod server;
mod tenancy;
mod toolchains;
mod touched;
mod travel;
mod vfs_differential;
mod virtual_workspace;
mod web;
mod web_views;
mod workers;
mod workers_processes;
mod workflow_test_doubles;
mod workflow_tests;
mod writer;

/// The real CLI, run in `h`'s temp dir with `h`'s data dir (a test adds arguments and
/// environment).
fn wtb_command(h: &wtb_tests::Harness) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_wtb-under-test"));
    cmd.env("WTB_DATA_DIR", h.data_dir()).current_dir(h.dir.path());
    cmd
}

/// Runs the real CLI with `args` ([`wtb_command`]) to its end.
fn wtb(h: &wtb_tests::Harness, args: &[&str]) -> std::process::Output {
    wtb_command(h).args(args).output().expect("running wtb")
}

/// Cargo configured as the guests are built (see `host/wtb/build_support/guests.rs`), for the tests
/// that build components from source themselves.
#[allow(dead_code, reason = "the module also holds the build scripts' entry points")]
#[path = "../../host/wtb/build_support/guests.rs"]
mod guests;
