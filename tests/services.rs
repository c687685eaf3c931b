//! Real services the suite runs against, started by the tests themselves: a PostgreSQL
//! server from the machine's packages (`initdb` + `postgres` in a temp dir), once per test
//! process, one fresh database per [`Harness`](crate::Harness).
//!
//! Which database backend the suite runs on is `WTB_TEST_BACKEND` (`sqlite`, the default, or
//! `postgres`): the same tests, parameterised. The server dies with the test process (a
//! parent-death signal), so a killed run leaves nothing behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

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

/// Installs Debian `packages`, when this process may (root, apt-get present).
fn apt_install(packages: &[&str]) -> Result<(), String> {
    if !is_root() || Command::new("apt-get").arg("--version").output().is_err() {
        return Err(format!("{packages:?} missing, and apt-get is not available to root here: install them"));
    }
    let install = |args: &[&str]| {
        Command::new("apt-get")
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

fn start_postgres() -> Result<Postgres, String> {
    let bin = match postgres_bin() {
        Some(bin) => bin,
        None => {
            install_postgres()?;
            postgres_bin().ok_or("apt-get installed postgresql, but no initdb appeared")?
        }
    };
    let root = is_root();
    // Kept for the process's life (the server runs in it); removed by the OS's temp cleaning.
    let dir = tempfile::Builder::new().prefix("wtb-pg-").tempdir().map_err(|e| e.to_string())?.keep();
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
    let port = free_port();
    spawn_server(&bin, &dir, &data, port, root)?;
    wait_ready(&bin, port, &dir)?;
    Ok(Postgres { base_url: format!("postgres://wtb@127.0.0.1:{port}"), port, bin })
}

/// A TCP port nothing listens on now.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a probe port");
    l.local_addr().expect("probe port").port()
}

/// Starts `postgres` (see [`spawn_kept`]).
fn spawn_server(bin: &Path, dir: &Path, data: &Path, port: u16, root: bool) -> Result<(), String> {
    let mut cmd = Command::new(bin.join("postgres"));
    as_server_user(&mut cmd, root)
        .arg("-D")
        .arg(data)
        .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=400"])
        .args(["-c", "fsync=off", "-c", "full_page_writes=off", "-c", "shared_buffers=64MB"])
        .arg("-k")
        .arg(dir)
        .current_dir(dir)
        .stderr(std::fs::File::create(dir.join("server.log")).map_err(|e| e.to_string())?);
    spawn_kept(cmd)
}

/// Starts `cmd` from a thread that lives as long as the process, with a parent-death signal
/// (`SIGINT`: a server's fast shutdown), so the server ends with the test process.
fn spawn_kept(mut cmd: Command) -> Result<(), String> {
    let (tx, rx) = std::sync::mpsc::channel();
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
                let _ = tx.send(Ok(()));
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
    let venv = crate::target_dir().join("moto-venv");
    let bin = match on_path("moto_server") {
        Some(bin) => bin,
        None => {
            let installed = venv.join("bin/moto_server");
            if !installed.is_file() {
                let python = on_path("python3").ok_or("no python3 to install moto with")?;
                let run = |cmd: &mut Command| {
                    cmd.output().map_err(|e| e.to_string()).and_then(|o| match o.status.success() {
                        true => Ok(()),
                        false => Err(String::from_utf8_lossy(&o.stderr).into_owned()),
                    })
                };
                run(Command::new(python).args(["-m", "venv"]).arg(&venv))
                    .map_err(|e| format!("python3 -m venv: {e}"))?;
                run(Command::new(venv.join("bin/pip")).args(["install", "-q", "moto[server]==5.2.1"]))
                    .map_err(|e| format!("pip install moto[server]: {e}"))?;
            }
            installed
        }
    };
    let port = free_port();
    let mut cmd = Command::new(bin);
    cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()]).stderr(Stdio::null());
    spawn_kept(cmd)?;
    for _ in 0..600 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(S3 { endpoint: format!("http://127.0.0.1:{port}"), port });
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Err("moto_server did not listen within 60 s".into())
}

/// The first `name` on `PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

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
    spawn_kept(cmd)?;
    for _ in 0..600 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(Nats { url: format!("nats://127.0.0.1:{port}") });
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Err("nats-server did not listen within 60 s".into())
}
