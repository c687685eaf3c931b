//! The example nodes and workflow, compiled from `examples/` at build time and embedded, so
//! `wtb demo` and `wtb bench` need nothing but the binary.

use std::io;
use std::path::{Path, PathBuf};

macro_rules! guest {
    ($file:literal) => {
        include_bytes!(concat!(env!("OUT_DIR"), "/guests/", $file, ".wasm"))
    };
}

/// `examples/nodes/generate`: writes a CSV of readings.
pub const GENERATE: &[u8] = guest!("wtb_example_generate");
/// `examples/nodes/transform`: computes per-sensor statistics.
pub const TRANSFORM: &[u8] = guest!("wtb_example_transform");
/// `examples/nodes/report`: writes a markdown report and emits an event.
pub const REPORT: &[u8] = guest!("wtb_example_report");
/// `examples/nodes/counter`: the benchmark node.
pub const COUNTER: &[u8] = guest!("wtb_example_counter");
/// `examples/nodes/hello`: the smallest node.
pub const HELLO: &[u8] = guest!("wtb_example_hello");
/// `examples/nodes/router`: picks a route label by comparing a state key with a threshold.
pub const ROUTER: &[u8] = guest!("wtb_example_router");
/// `examples/nodes/stub`: what a `wtb test` case's stub node runs (a fixed update, route,
/// files and events, given as its config).
pub const STUB: &[u8] = guest!("wtb_example_stub");
/// `examples/workflows/sensors.toml`.
pub const SENSORS_WORKFLOW: &str = include_str!("../../../examples/workflows/sensors.toml");
/// `examples/workflows/branching.toml`: router, fan-out to two branches, join.
pub const BRANCHING_WORKFLOW: &str = include_str!("../../../examples/workflows/branching.toml");
/// `examples/workflows/loop.toml`: a loop closed by a router.
pub const LOOP_WORKFLOW: &str = include_str!("../../../examples/workflows/loop.toml");
/// `examples/workflows/sensors.test.toml`: `wtb test` cases of the demo workflow.
pub const SENSORS_TESTS: &str = include_str!("../../../examples/workflows/sensors.test.toml");
/// One greeting node (`greeting.toml`), the workflow of the greeting experiment.
pub const GREETING_WORKFLOW: &str = include_str!("../../../examples/workflows/greeting.toml");
/// The greeting experiment: 2 variants × 2 environments × 3 repetitions.
pub const GREETING_EXPERIMENT: &str = include_str!("../../../examples/workflows/greeting-experiment.toml");

/// Writes the example workflows (`sensors.toml` and its tests `sensors.test.toml`,
/// `branching.toml`, `loop.toml`, `greeting.toml` and its experiment `greeting-experiment.toml`)
/// and their
/// components under `dir` (replacing earlier copies) and returns the demo manifest's path.
pub fn materialize(dir: &Path) -> io::Result<PathBuf> {
    let components = dir.join("components");
    std::fs::create_dir_all(&components)?;
    let all = [
        ("generate", GENERATE),
        ("transform", TRANSFORM),
        ("report", REPORT),
        ("counter", COUNTER),
        ("hello", HELLO),
        ("router", ROUTER),
    ];
    for (name, bytes) in all {
        std::fs::write(components.join(format!("{name}.wasm")), bytes)?;
    }
    for (name, text) in [
        ("branching.toml", BRANCHING_WORKFLOW),
        ("loop.toml", LOOP_WORKFLOW),
        ("greeting.toml", GREETING_WORKFLOW),
        ("greeting-experiment.toml", GREETING_EXPERIMENT),
        ("sensors.test.toml", SENSORS_TESTS),
    ] {
        std::fs::write(dir.join(name), text)?;
    }
    let manifest = dir.join("sensors.toml");
    std::fs::write(&manifest, SENSORS_WORKFLOW)?;
    Ok(manifest)
}
