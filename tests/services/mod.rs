//! Real services the suite runs against, started by the tests themselves, once per test
//! process: PostgreSQL ([`postgres`]: one fresh database per [`Harness`](crate::Harness), or a
//! test's own restartable server, [`OwnPostgres`]), an S3-compatible server ([`s3`]) and NATS
//! ([`nats`]); and tools from PyPI in venvs of their own ([`pypi`]). Under `CI` a service that cannot be had fails the test (see
//! [`crate::skipped`]).
//!
//! Which database backend the suite runs on is `WTB_TEST_BACKEND` (`sqlite`, the default, or
//! `postgres`): the same tests, parameterised. Every server dies with the test process (a
//! parent-death signal), so a killed run leaves nothing behind.

mod nats;
mod postgres;
pub mod pypi;
mod s3;

pub use nats::{Nats, nats};
pub use postgres::{OwnPostgres, Postgres, postgres};
pub use s3::{S3, s3};

use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The database backend the suite runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The data dir's SQLite file.
    Sqlite,
    /// A PostgreSQL server this process started.
    Postgres,
}

/// `WTB_TEST_BACKEND`: `postgres` runs every harness on PostgreSQL.
pub fn backend() -> Backend {
    match std::env::var("WTB_TEST_BACKEND").as_deref() {
        Ok("postgres") => Backend::Postgres,
        Ok("sqlite") | Ok("") | Err(_) => Backend::Sqlite,
        Ok(other) => panic!("WTB_TEST_BACKEND={other}: expected `sqlite` or `postgres`"),
    }
}

/// Installs Debian `packages`, when this process may (root, apt-get present).
///
/// One install at a time per test process, each waiting up to 10 minutes for dpkg's lock: on a
/// fresh machine the browser tests and the NATS tests both install at once, and the second
/// `apt-get` otherwise failed at once on the lock the first held.
pub(crate) fn apt_install(packages: &[&str]) -> Result<(), String> {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    if !is_root() || Command::new("apt-get").arg("--version").output().is_err() {
        return Err(format!("{packages:?} missing, and apt-get is not available to root here: install them"));
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let install = |args: &[&str]| {
        Command::new("apt-get")
            .args(["-o", "DPkg::Lock::Timeout=600"])
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let mut args = vec!["install", "-y", "-q"];
    args.extend_from_slice(packages);
    if install(&args) || (install(&["update", "-q"]) && install(&args)) {
        Ok(())
    } else {
        Err(format!("apt-get install {packages:?} failed: install them"))
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// A TCP port nothing listens on now.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a probe port");
    l.local_addr().expect("probe port").port()
}

/// Starts `cmd` from a thread that lives as long as the process, with a parent-death signal
/// (`SIGINT`: a server's fast shutdown), so the server ends with the test process; its
/// `dir` is removed once both have ended ([`remove_at_exit`]).
fn spawn_kept(mut cmd: Command, dir: Option<&std::path::Path>) -> Result<(), String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let dir = dir.map(std::path::Path::to_path_buf);
    cmd.stdin(Stdio::null()).stdout(Stdio::null());
    // SAFETY: the closure only calls prctl, which is async-signal-safe.
    unsafe {
        use std::os::unix::process::CommandExt as _;
        cmd.pre_exec(|| {
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::INT))
                .map_err(std::io::Error::from)
        });
    }
    std::thread::Builder::new()
        .name("service-keeper".into())
        .spawn(move || match cmd.spawn() {
            Ok(mut child) => {
                let removal = match &dir {
                    Some(dir) => remove_at_exit(dir, &format!("kill -0 {} 2>/dev/null", child.id())),
                    None => Ok(()),
                };
                let _ = tx.send(removal);
                let _ = child.wait();
                // The thread that started the child must outlive it (the signal is tied to
                // this thread), so it never ends.
                loop {
                    std::thread::park();
                }
            }
            Err(e) => {
                let _ = tx.send(Err(format!("starting {cmd:?}: {e}")));
            }
        })
        .map_err(|e| e.to_string())?;
    rx.recv().map_err(|e| e.to_string())?
}

/// Removes `dir` after this test process has ended, however it ends (a panic, `SIGKILL`):
/// a detached shell waits for the end of a pipe this process holds open until it exits,
/// then for the shell test `busy` (over `$1` = `dir`) to turn false, at most a minute, so a
/// server's files are not deleted under it. Statics never drop, so this is what keeps a
/// suite's servers (gigabytes of data) from piling up in the temp dir.
pub fn remove_at_exit(dir: &std::path::Path, busy: &str) -> Result<(), String> {
    let script = format!(
        "trap '' INT HUP TERM; read _; i=0; while {busy} && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; rm -rf \"$1\""
    );
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &script, "sh"])
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: the closure only calls setsid, which is async-signal-safe.
    unsafe {
        use std::os::unix::process::CommandExt as _;
        cmd.pre_exec(|| rustix::process::setsid().map(drop).map_err(std::io::Error::from));
    }
    let mut reaper = cmd.spawn().map_err(|e| format!("starting the temp dir's reaper: {e}"))?;
    // The write end stays open (close-on-exec, so no other child holds it) until this process
    // ends; the reaper's `read` returns then.
    std::mem::forget(reaper.stdin.take());
    std::mem::forget(reaper);
    Ok(())
}

/// The first `name` on `PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}
