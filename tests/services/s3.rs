//! An S3-compatible server: moto's `moto_server` (PyPI), found on `PATH` or installed into
//! `target/moto-venv`.

use super::{free_port, on_path, spawn_kept};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// A running S3-compatible server (moto): where to reach it.
pub struct S3 {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    port: u16,
}

impl S3 {
    /// A new, empty bucket; its name.
    pub fn bucket(&self) -> String {
        use std::io::{Read as _, Write as _};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!("wtb-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).expect("connecting to moto");
        write!(
            s,
            "PUT /{name} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )
        .expect("creating a bucket");
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        assert!(answer.starts_with("HTTP/1.1 200"), "creating bucket {name}: {answer}");
        name
    }

    /// The `wtb.toml` lines that put a data dir's blobs into a fresh bucket of this server.
    pub fn blobs_config(&self) -> String {
        format!(
            "[blobs]\nurl = \"s3://{}/wtb\"\nendpoint = \"{}\"\nallow_http = true\n",
            self.bucket(),
            self.endpoint
        )
    }
}

/// The S3-compatible server of this test process (moto's `moto_server`, from PyPI), started
/// on first use: found on `PATH`, else installed into `target/moto-venv`. Credentials are
/// moto's defaults, set in this process's environment for the clients it starts.
pub fn s3() -> Result<&'static S3, String> {
    static SERVER: OnceLock<Result<S3, String>> = OnceLock::new();
    SERVER.get_or_init(start_s3).as_ref().map_err(Clone::clone)
}

fn start_s3() -> Result<S3, String> {
    let bin = match on_path("moto_server") {
        Some(bin) => bin,
        None => super::pypi::tool("moto-venv", "moto[server]==5.2.1", "moto_server")?,
    };
    let port = free_port();
    let mut cmd = Command::new(bin);
    cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()]).stderr(Stdio::null());
    spawn_kept(cmd, None)?;
    for _ in 0..600 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(S3 { endpoint: format!("http://127.0.0.1:{port}"), port });
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Err("moto_server did not listen within 60 s".into())
}
