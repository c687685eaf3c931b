//! PostgreSQL from the machine's packages: `initdb` + `postgres` in a temp dir (as `nobody`
//! when the tests run as root), installed with `apt-get` when missing and possible.

use super::{apt_install, free_port, is_root, remove_at_exit, spawn_kept};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// A running PostgreSQL server: where to reach it.
pub struct Postgres {
    /// `postgres://wtb@127.0.0.1:<port>`, without a database.
    pub base_url: String,
    port: u16,
    bin: PathBuf,
}

impl Postgres {
    /// A new, empty database on the server; its URL.
    pub fn database(&self) -> String {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!("t{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let out = Command::new(tool(&self.bin, "createdb"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "wtb", "-T", "template0", &name])
            .output()
            .expect("running createdb");
        assert!(out.status.success(), "createdb {name}: {}", String::from_utf8_lossy(&out.stderr));
        format!("{}/{name}", self.base_url)
    }
}

/// The PostgreSQL server of this test process, started on first use. `Err` says why this
/// machine cannot run one (the caller skips, or fails under `CI`).
pub fn postgres() -> Result<&'static Postgres, String> {
    static SERVER: OnceLock<Result<Postgres, String>> = OnceLock::new();
    SERVER.get_or_init(start_postgres).as_ref().map_err(Clone::clone)
}

/// The directory holding `initdb` and `postgres`: on `PATH`, or Debian's versioned one.
fn postgres_bin() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let on_path =
        std::env::split_paths(&path).find(|d| d.join("initdb").is_file() && d.join("postgres").is_file());
    on_path.or_else(|| {
        let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join("bin"))
            .filter(|d| d.join("initdb").is_file())
            .collect();
        versions.sort();
        versions.pop()
    })
}

/// `name` from the server's directory, else from `PATH` (Debian puts the client tools in
/// `/usr/bin`).
fn tool(bin: &Path, name: &str) -> PathBuf {
    let own = bin.join(name);
    if own.is_file() { own } else { PathBuf::from(name) }
}

/// Runs `cmd` as `nobody` when this process is root (`initdb` and `postgres` refuse root).
fn as_server_user(cmd: &mut Command, root: bool) -> &mut Command {
    use std::os::unix::process::CommandExt as _;
    if root {
        // nobody:nogroup on Debian.
        cmd.uid(65534).gid(65534);
    }
    cmd
}

/// `apt-get install postgresql` (Debian), when this process may (root, apt-get present).
fn install_postgres() -> Result<(), String> {
    apt_install(&["postgresql", "postgresql-client"])
}

/// `initdb`, `postgres` and whether they must run as `nobody`.
fn postgres_tools() -> Result<(PathBuf, bool), String> {
    let bin = match postgres_bin() {
        Some(bin) => bin,
        None => {
            install_postgres()?;
            postgres_bin().ok_or("apt-get installed postgresql, but no initdb appeared")?
        }
    };
    Ok((bin, is_root()))
}

/// A fresh cluster in a temp dir (owned by the server's user): the dir and its data dir.
fn init_cluster(bin: &Path, root: bool) -> Result<(PathBuf, PathBuf), String> {
    // Kept for the process's life (the server runs in it); removed after it, once the server
    // has shut down (its pid file gone).
    let dir = tempfile::Builder::new().prefix("wtb-pg-").tempdir().map_err(|e| e.to_string())?.keep();
    remove_at_exit(&dir, "[ -e \"$1/data/postmaster.pid\" ]")?;
    if root {
        std::os::unix::fs::chown(&dir, Some(65534), Some(65534))
            .map_err(|e| format!("chown {}: {e}", dir.display()))?;
    }
    let data = dir.join("data");
    let out = as_server_user(&mut Command::new(bin.join("initdb")), root)
        .args(["-D"])
        .arg(&data)
        .args(["-U", "wtb", "--auth=trust", "-E", "UTF8", "--no-sync"])
        .current_dir(&dir)
        .output()
        .map_err(|e| format!("running initdb: {e}"))?;
    if !out.status.success() {
        return Err(format!("initdb failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok((dir, data))
}

fn start_postgres() -> Result<Postgres, String> {
    let (bin, root) = postgres_tools()?;
    let (dir, data) = init_cluster(&bin, root)?;
    let port = free_port();
    spawn_kept(server_command(&bin, &dir, &data, port, root)?, None)?;
    wait_ready(&bin, port, &dir)?;
    Ok(Postgres { base_url: format!("postgres://wtb@127.0.0.1:{port}"), port, bin })
}

/// A PostgreSQL server of one test's own, which it can stop and start again (a restart under
/// load). Stopped when dropped, and with the process (a parent-death signal).
pub struct OwnPostgres {
    /// `postgres://wtb@127.0.0.1:<port>/postgres`.
    pub url: String,
    bin: PathBuf,
    dir: PathBuf,
    data: PathBuf,
    port: u16,
    root: bool,
    child: Option<std::process::Child>,
}

impl OwnPostgres {
    /// Initialises a cluster and starts its server.
    pub fn start() -> Result<Self, String> {
        let (bin, root) = postgres_tools()?;
        let (dir, data) = init_cluster(&bin, root)?;
        let port = free_port();
        let url = format!("postgres://wtb@127.0.0.1:{port}/postgres");
        let mut server = Self { url, bin, dir, data, port, root, child: None };
        server.restart()?;
        Ok(server)
    }

    /// Stops the server (fast shutdown: sessions are cut) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = rustix::process::kill_process(
                rustix::process::Pid::from_child(&child),
                rustix::process::Signal::INT,
            );
            let _ = child.wait();
        }
    }

    /// Starts the server (again) on the same port and data, and waits until it accepts.
    pub fn restart(&mut self) -> Result<(), String> {
        self.stop();
        let mut cmd = server_command(&self.bin, &self.dir, &self.data, self.port, self.root)?;
        cmd.stdin(Stdio::null()).stdout(Stdio::null());
        // SAFETY: the closure only calls prctl, which is async-signal-safe.
        unsafe {
            use std::os::unix::process::CommandExt as _;
            cmd.pre_exec(|| {
                rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::INT))
                    .map_err(std::io::Error::from)
            });
        }
        self.child = Some(cmd.spawn().map_err(|e| format!("starting postgres: {e}"))?);
        wait_ready(&self.bin, self.port, &self.dir)
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The command that runs a cluster's server on `port` (test settings: no fsync).
fn server_command(bin: &Path, dir: &Path, data: &Path, port: u16, root: bool) -> Result<Command, String> {
    let mut cmd = Command::new(bin.join("postgres"));
    as_server_user(&mut cmd, root)
        .arg("-D")
        .arg(data)
        .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=400"])
        .args(["-c", "fsync=off", "-c", "full_page_writes=off", "-c", "shared_buffers=64MB"])
        // A suite writes gigabytes of WAL; keep little of it on disk.
        .args(["-c", "max_wal_size=128MB", "-c", "min_wal_size=32MB"])
        .arg("-k")
        .arg(dir)
        .current_dir(dir)
        .stderr(
            std::fs::File::options()
                .create(true)
                .append(true)
                .open(dir.join("server.log"))
                .map_err(|e| e.to_string())?,
        );
    Ok(cmd)
}

/// Waits until the server accepts connections (`pg_isready`), up to a minute.
fn wait_ready(bin: &Path, port: u16, dir: &Path) -> Result<(), String> {
    for _ in 0..600 {
        let ok = Command::new(tool(bin, "pg_isready"))
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "wtb", "-q"])
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
    Err(format!("postgres did not become ready in 60 s:\n{log}"))
}
