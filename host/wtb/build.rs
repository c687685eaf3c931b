//! Embeds the example nodes, compiled from source, so
//! `wtb demo` and `wtb bench` work from a single binary.

#[path = "build_support/guests.rs"]
mod guests;

use std::path::PathBuf;

const EXAMPLES: &[(&str, &str)] = &[
    ("wtb-example-generate", "wtb_example_generate"),
    ("wtb-example-transform", "wtb_example_transform"),
    ("wtb-example-report", "wtb_example_report"),
    ("wtb-example-counter", "wtb_example_counter"),
    ("wtb-example-hello", "wtb_example_hello"),
    ("wtb-example-router", "wtb_example_router"),
    ("wtb-example-stub", "wtb_example_stub"),
];

fn main() {
    println!("cargo:rerun-if-changed=build_support");
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir.ancestors().nth(2).expect("host/wtb/ is two levels down").to_owned();
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    guests::rerun_if_changed(&workspace, &["examples/nodes"]);
    let packages: Vec<&str> = EXAMPLES.iter().map(|(p, _)| *p).collect();
    let artifacts: Vec<&str> = EXAMPLES.iter().map(|(_, a)| *a).collect();
    guests::build(&workspace, &packages, &artifacts, &out_dir.join("guests"));
}
