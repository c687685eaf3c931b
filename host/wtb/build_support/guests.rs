//! Builds guest components from source for `wasm32-wasip2`, the way wasmtime builds its test
//! programs: a nested `cargo build` with its own target dir, run from a build script.
//! Shared by `host/build.rs` (example nodes) and `tests/build.rs` (test guests).

use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";

/// Builds `packages` in release mode and copies each artifact named in `artifacts` to
/// `out_dir`; returns the copied paths in the order of `artifacts`.
pub fn build(workspace: &Path, packages: &[&str], artifacts: &[&str], out_dir: &Path) -> Vec<PathBuf> {
    ensure_target();
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"))
        .join("wasm-guests");
    let mut cmd = guest_cargo(workspace, &target_dir);
    cmd.args(["build", "--release", "--target", TARGET]);
    for p in packages {
        cmd.args(["-p", p]);
    }
    let status = cmd.status().expect("running cargo to build wasm guests");
    assert!(status.success(), "building wasm guests {packages:?} failed (see the output above)");
    std::fs::create_dir_all(out_dir).expect("creating the guest output dir");
    artifacts
        .iter()
        .map(|name| {
            let from = target_dir.join(TARGET).join("release").join(format!("{name}.wasm"));
            let to = out_dir.join(format!("{name}.wasm"));
            std::fs::copy(&from, &to).unwrap_or_else(|e| panic!("copying {}: {e}", from.display()));
            to
        })
        .collect()
}

/// A nested `cargo` in `dir` with `target_dir`, configured as guests are built: without the
/// outer build's host settings, and with the release profile the guests use (so another guest
/// project built this way into the same target dir reuses their compiled dependencies).
pub fn guest_cargo(dir: &Path, target_dir: &Path) -> Command {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(dir);
    guest_env(&mut cmd, target_dir);
    cmd
}

/// The environment of [`guest_cargo`], for a command (a script) that runs cargo itself.
pub fn guest_env(cmd: &mut Command, target_dir: &Path) {
    // The outer build's settings are for the host, not for wasm guests.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_BUILD_RUSTFLAGS",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("CARGO_TARGET_DIR", target_dir);
    cmd.env("CARGO_PROFILE_RELEASE_DEBUG", "false").env("CARGO_PROFILE_RELEASE_STRIP", "debuginfo");
    // The guests' proc macros (wit-bindgen and its wit-parser / wit-component stack) run once
    // per build: compiling them unoptimised saves a minute or more of a clean build on 2 cores.
    cmd.env("CARGO_PROFILE_RELEASE_BUILD_OVERRIDE_OPT_LEVEL", "0");
}

/// Fails the build with instructions when the `wasm32-wasip2` standard library is missing.
fn ensure_target() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out =
        Command::new(rustc).args(["--print", "sysroot"]).output().expect("running rustc --print sysroot");
    let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if !sysroot.join("lib/rustlib").join(TARGET).exists() {
        panic!(
            "the {TARGET} target is not installed; run `rustup target add {TARGET}` (the README's commands do this)"
        );
    }
}

/// Tells cargo to rerun the build script when anything guests are built from changes.
pub fn rerun_if_changed(workspace: &Path, dirs: &[&str]) {
    for d in ["wit", "guest-sdk/src", "guest-sdk/Cargo.toml", "Cargo.lock"].iter().chain(dirs) {
        println!("cargo:rerun-if-changed={}", workspace.join(d).display());
    }
}
