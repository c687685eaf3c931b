//! What the probe observes and attempts on its own filesystem and stack: recursion, the values
//! deterministic mode must fix, escape attempts, and the helpers that write through WASI.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use wtb_guest::NodeError;

/// Recursion the optimizer cannot turn into a loop.
pub(crate) fn recurse(depth: u64) -> u64 {
    if std::hint::black_box(depth) == u64::MAX {
        return depth;
    }
    recurse(depth + 1) + std::hint::black_box(1)
}

/// What a node could read that changes between runs unless deterministic mode fixes it.
#[expect(
    clippy::disallowed_methods,
    reason = "reading the real clock is the point: deterministic mode must fix it"
)]
pub(crate) fn observe() -> Value {
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let started = std::time::Instant::now();
    let elapsed = started.elapsed().as_nanos() as u64;
    let mut hashed = std::collections::HashMap::new();
    hashed.insert("k", 1);
    #[cfg(target_os = "wasi")]
    let (random, insecure) =
        (wasi::random::random::get_random_bytes(16), wasi::random::insecure::get_insecure_random_bytes(16));
    #[cfg(not(target_os = "wasi"))]
    let (random, insecure) = (Vec::<u8>::new(), Vec::<u8>::new());
    json!({ "wall_nanos": wall, "elapsed_nanos": elapsed, "random": random, "insecure": insecure })
}

pub(crate) fn write(path: &str, bytes: &[u8]) -> Result<(), NodeError> {
    if let Some(dir) = std::path::Path::new(path).parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, bytes)?;
    Ok(())
}

/// Each attempt maps to "denied: <error>" or "ALLOWED".
pub(crate) fn escape_attempts() -> BTreeMap<&'static str, String> {
    fn verdict<T>(r: std::io::Result<T>) -> String {
        match r {
            Ok(_) => "ALLOWED".into(),
            Err(e) => format!("denied: {e}"),
        }
    }
    let mut out = BTreeMap::new();
    out.insert("write_dotdot", verdict(std::fs::write("../escaped.txt", "x")));
    out.insert("write_deep_dotdot", verdict(std::fs::write("a/../../../escaped.txt", "x")));
    out.insert("read_etc_passwd", verdict(std::fs::read("/etc/passwd")));
    out.insert("read_abs_dotdot", verdict(std::fs::read("/../../../../etc/passwd")));
    out.insert("list_parent", verdict(std::fs::read_dir("..").map(|d| d.count())));
    // A link pointing out may be created (wasmtime allows it), but following it must fail.
    out.insert("create_outward_symlink", verdict(symlink("../../../../etc", "out-link")));
    out.insert("read_through_symlink", verdict(std::fs::read("out-link/passwd")));
    out.insert("write_through_symlink", verdict(std::fs::write("out-link/escaped.txt", "x")));
    out.insert("hard_link_out", verdict(std::fs::hard_link("../../../../etc/passwd", "pw-link")));
    out.insert("hard_link_abs", verdict(std::fs::hard_link("/etc/passwd", "pw-link2")));
    out.insert(
        "rename_out",
        verdict(
            std::fs::write("inside.txt", "x").and_then(|()| std::fs::rename("inside.txt", "../moved.txt")),
        ),
    );
    out.insert("env_home", std::env::var("HOME").map_or("denied: absent".into(), |_| "ALLOWED".into()));
    out.insert(
        "env_any",
        if std::env::vars().next().is_none() { "denied: empty".into() } else { "ALLOWED".into() },
    );
    out
}

/// Creates a symlink through raw WASI (std has no stable API for it on WASI).
pub(crate) fn symlink(target: &str, link: &str) -> std::io::Result<()> {
    #[cfg(target_os = "wasi")]
    {
        let dirs = wasi::filesystem::preopens::get_directories();
        let (root, _) = dirs.first().ok_or_else(|| std::io::Error::other("no preopen"))?;
        root.symlink_at(target, link).map_err(|e| std::io::Error::other(format!("{e:?}")))
    }
    #[cfg(not(target_os = "wasi"))]
    {
        let _ = (target, link);
        Err(std::io::Error::other("only meaningful under WASI"))
    }
}

/// A positional `descriptor.write` through raw WASI (std always uses streams).
pub(crate) fn write_at(path: &str, at: u64, text: &str) -> std::io::Result<()> {
    #[cfg(target_os = "wasi")]
    {
        use wasi::filesystem::types::{DescriptorFlags, OpenFlags, PathFlags};
        let dirs = wasi::filesystem::preopens::get_directories();
        let (root, _) = dirs.first().ok_or_else(|| std::io::Error::other("no preopen"))?;
        let err = |e| std::io::Error::other(format!("{e:?}"));
        let file = root
            .open_at(PathFlags::empty(), path, OpenFlags::empty(), DescriptorFlags::WRITE)
            .map_err(err)?;
        file.write(text.as_bytes(), at).map_err(err)?;
        Ok(())
    }
    #[cfg(not(target_os = "wasi"))]
    {
        let _ = (path, at, text);
        Err(std::io::Error::other("only meaningful under WASI"))
    }
}
