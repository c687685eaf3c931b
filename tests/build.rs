//! Compiles the test guests in `guests/` for wasm32-wasip2 (see `host/wtb/build_support/guests.rs`).

#[path = "../host/wtb/build_support/guests.rs"]
mod guests;

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=../host/wtb/build_support");
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir.parent().expect("tests/ has a parent").to_owned();
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    guests::rerun_if_changed(&workspace, &["tests/guests"]);
    guests::build(
        &workspace,
        &["wtb-test-probe"],
        &["wtb_test_probe", "plain_command", "command_node", "net_command"],
        &out_dir.join("guests"),
    );
}
