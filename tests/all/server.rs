//! A real `wtb serve` process on 127.0.0.1 for the API and web-page tests, and the CLI calls
//! that set its data dir up.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use wtb_tests::Harness;

/// Runs the CLI on `h`'s data dir (no tenant or token from the environment).
pub fn wtb(h: &Harness, args: &[&str]) -> std::process::Output {
    crate::wtb_command(h)
        .args(args)
        .env_remove("WTB_TENANT")
        .env_remove("WTB_TOKEN")
        .current_dir(h.dir.path())
        .output()
        .unwrap()
}

/// Creates tenant `tenant` and returns a new token of it.
pub fn token(h: &Harness, tenant: &str) -> String {
    assert!(wtb(h, &["tenant", "create", tenant]).status.success());
    let out = wtb(h, &["--tenant", tenant, "token", "create"]);
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// `wtb serve --listen 127.0.0.1:0`; killed on drop unless stopped.
pub struct Server {
    /// The process.
    pub child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
}

impl Server {
    /// Starts a server on `h`'s data dir with extra environment `env`, once it listens.
    pub fn start(h: &Harness, env: &[(&str, &str)]) -> Self {
        Self::start_at(h, env, "127.0.0.1:0")
    }

    /// SIGKILLs the server and starts another on the same address (clients see the same
    /// origin go away and come back).
    pub fn restart(&mut self, h: &Harness, env: &[(&str, &str)]) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let address = self.base.trim_start_matches("http://").to_owned();
        *self = Self::start_at(h, env, &address);
    }

    /// As [`Server::start`], listening on `address`.
    fn start_at(h: &Harness, env: &[(&str, &str)], address: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wtb-under-test"))
            .args(["serve", "--listen", address])
            .env("WTB_DATA_DIR", h.data_dir())
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let base = line.trim().rsplit(' ').next().unwrap().to_owned();
        assert!(base.starts_with("http://127.0.0.1:"), "{line}");
        Self { child, base }
    }

    /// The URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `POST path` with `body` as JSON, as `token`'s tenant.
    pub fn post_json(
        &self,
        http: &reqwest::Client,
        path: &str,
        token: &str,
        body: serde_json::Value,
    ) -> impl std::future::Future<Output = reqwest::Result<reqwest::Response>> + use<> {
        http.post(self.url(path)).bearer_auth(token).json(&body).send()
    }

    /// `GET path` as `token`'s tenant: the body as JSON.
    pub async fn get_json(&self, http: &reqwest::Client, path: &str, token: &str) -> serde_json::Value {
        http.get(self.url(path)).bearer_auth(token).send().await.unwrap().json().await.unwrap()
    }

    /// Uploads the probe component for `token`'s tenant; returns how a manifest names it.
    pub async fn upload_probe(&self, http: &reqwest::Client, token: &str) -> String {
        let r: serde_json::Value = http
            .post(self.url("/components"))
            .bearer_auth(token)
            .body(wtb_tests::PROBE.to_vec())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["component"].as_str().unwrap_or_else(|| panic!("upload refused: {r}")).to_owned()
    }

    /// SIGTERM, then the exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
