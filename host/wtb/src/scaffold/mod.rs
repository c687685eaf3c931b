//! `wtb new`: a node project a plugin author can build, try alone and put in a workflow at once:
//! Rust (the SDK crate), Python (componentize-py) or JavaScript (componentize-js), each with a
//! unit test that runs natively, a README of three commands and a one-node workflow.

mod js;
mod python;
mod rust;

use std::path::{Path, PathBuf};

/// Why a project could not be created.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// The name cannot be a crate (and file) name.
    #[error(
        "`{0}`: a node name is a lowercase letter followed by lowercase letters, digits, `-` or `_` (at most 64)"
    )]
    BadName(String),
    /// The target exists and is not empty.
    #[error("{}: already exists and is not empty", .0.display())]
    Exists(PathBuf),
    /// The guest SDK is not where it should be.
    #[error("the WTB guest SDK is not at {}: pass --sdk <the guest-sdk directory of a WTB checkout>", .0.display())]
    NoSdk(PathBuf),
    /// Writing failed.
    #[error("{}: {source}", .path.display())]
    Io {
        /// What was being written.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
}

/// Where this build of `wtb` was built from has the SDK: the default for `--sdk`.
pub fn default_sdk() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../guest-sdk")
}

/// The componentize-py release the Python template and the polyglot example are tested with.
pub const COMPONENTIZE_PY: &str = "0.25.1";
/// The componentize-js release the JavaScript template and the polyglot example are tested with.
pub const COMPONENTIZE_JS: &str = "0.19.3";

/// The WIT package, copied into Python and JavaScript projects (their toolchains read it).
const NODE_WIT: &str = include_str!("../../../../wit/node.wit");

/// The one-node workflow every template has: the node counting its runs, greeting "hello".
fn workflow(name: &str, component: &str, extra: &str) -> String {
    format!(
        "name = \"{name}-demo\"\n\n[state]\ncount = 0\n\n[[nodes]]\nid = \"{name}\"\ncomponent = \"{component}\"\nconfig = {{ greeting = \"hello\" }}\n{extra}"
    )
}

/// The languages there is a template for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    /// A Cargo project using the `wtb-guest` SDK.
    Rust,
    /// componentize-py against the `wtb:node` world.
    Python,
    /// componentize-js against the `wtb:node` world.
    JavaScript,
}

/// Writes a node project named `name` into `dir`; returns the files written. `sdk` is the
/// guest SDK a Rust project depends on (unused for the others).
pub fn new_project(
    language: Language,
    name: &str,
    dir: &Path,
    sdk: &Path,
) -> Result<Vec<PathBuf>, ScaffoldError> {
    let valid = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !valid {
        return Err(ScaffoldError::BadName(name.to_owned()));
    }
    if dir.exists() && std::fs::read_dir(dir).map(|mut d| d.next().is_some()).unwrap_or(true) {
        return Err(ScaffoldError::Exists(dir.to_owned()));
    }
    let files: Vec<(&str, String)> = match language {
        Language::Rust => {
            let sdk = std::fs::canonicalize(sdk)
                .ok()
                .filter(|p| p.join("Cargo.toml").is_file())
                .ok_or_else(|| ScaffoldError::NoSdk(sdk.to_owned()))?;
            rust::files(name, &sdk.display().to_string().replace('\\', "/"))
        }
        Language::Python => python::files(name),
        Language::JavaScript => js::files(name),
    };
    let mut written = Vec::new();
    for (rel, text) in files {
        let path = dir.join(rel);
        let io = |source| ScaffoldError::Io { path: path.clone(), source };
        std::fs::create_dir_all(path.parent().unwrap_or(dir)).map_err(io)?;
        std::fs::write(&path, text).map_err(io)?;
        written.push(path);
    }
    Ok(written)
}
