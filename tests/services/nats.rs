//! NATS with JetStream: Debian's `nats-server`, installed with `apt-get` when missing and
//! possible.

use super::{apt_install, free_port, on_path, spawn_kept};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// A running NATS server with JetStream: where to reach it.
pub struct Nats {
    /// `nats://127.0.0.1:<port>`.
    pub url: String,
}

/// The NATS server of this test process (Debian's `nats-server`, installed with `apt-get`
/// when missing and possible), started on first use with JetStream in a temp dir.
pub fn nats() -> Result<&'static Nats, String> {
    static SERVER: OnceLock<Result<Nats, String>> = OnceLock::new();
    SERVER.get_or_init(start_nats).as_ref().map_err(Clone::clone)
}

fn start_nats() -> Result<Nats, String> {
    let bin = match on_path("nats-server") {
        Some(bin) => bin,
        None => {
            apt_install(&["nats-server"])?;
            on_path("nats-server").ok_or("apt-get installed nats-server, but it is not on PATH")?
        }
    };
    let dir = tempfile::Builder::new().prefix("wtb-nats-").tempdir().map_err(|e| e.to_string())?.keep();
    let port = free_port();
    let mut cmd = Command::new(bin);
    cmd.args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"]).arg(&dir).stderr(Stdio::null());
    spawn_kept(cmd, Some(&dir))?;
    for _ in 0..600 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(Nats { url: format!("nats://127.0.0.1:{port}") });
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Err("nats-server did not listen within 60 s".into())
}
