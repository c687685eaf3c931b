//! Tools from PyPI, each pinned and installed into a virtual environment of its own under the
//! target dir on first use (`target/<name>`), so the suite never touches the system's Python.

use super::{apt_install, on_path};
use std::path::PathBuf;
use std::process::Command;

/// Marks a venv whose install finished; without it the directory is rebuilt.
const DONE: &str = ".wtb-installed";

/// `target/<venv>/bin/<bin>` with `requirement` (e.g. `moto[server]==5.2.1`) installed, made
/// now if missing (`python3 -m venv`, then pip); `Err` says why this machine cannot have it.
/// Callers in one process serialise through their own `OnceLock`.
pub fn tool(venv: &str, requirement: &str, bin: &str) -> Result<PathBuf, String> {
    let dir = crate::target_dir().join(venv);
    let installed = dir.join("bin").join(bin);
    if dir.join(DONE).is_file() && installed.is_file() {
        return Ok(installed);
    }
    // A venv's scripts name its own path, so it is built in place (not renamed into it).
    let _ = std::fs::remove_dir_all(&dir);
    let python = on_path("python3").ok_or("python3 is needed to install tools from PyPI")?;
    let run = |cmd: &mut Command| {
        cmd.output().map_err(|e| e.to_string()).and_then(|o| match o.status.success() {
            true => Ok(()),
            false => Err(String::from_utf8_lossy(&o.stderr).into_owned()),
        })
    };
    let venv_cmd = || {
        let mut c = Command::new(&python);
        c.args(["-m", "venv"]).arg(&dir);
        c
    };
    if run(&mut venv_cmd()).is_err() {
        // Debian splits `venv` (with its pip) into a package of its own.
        let _ = std::fs::remove_dir_all(&dir);
        apt_install(&["python3-venv"])?;
        run(&mut venv_cmd()).map_err(|e| format!("python3 -m venv: {e}"))?;
    }
    run(Command::new(dir.join("bin/pip")).args([
        "install",
        "-q",
        "--disable-pip-version-check",
        requirement,
    ]))
    .map_err(|e| format!("pip install {requirement}: {e}"))?;
    std::fs::write(dir.join(DONE), requirement).map_err(|e| e.to_string())?;
    Ok(installed)
}
