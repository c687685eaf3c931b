//! The web page of `wtb serve` in a real headless Chromium, driven through chromedriver
//! (W3C WebDriver over HTTP): sign in with a token, list and filter executions, open a
//! timeline, diff two checkpoints, fork and resume with the page's buttons; screenshots are
//! saved under `target/test-output/web/`.

use super::server::{Server, token, wtb};
use serde_json::{Value, json};
use std::os::unix::process::CommandExt as _;
use std::time::{Duration, Instant};
use wtb_tests::Harness;

/// The W3C element reference key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process and one browser session in it.
pub(crate) struct Browser {
    driver: std::process::Child,
    http: reqwest::Client,
    session: String,
}

impl Browser {
    /// Chromium and chromedriver, or `None` once `what` is reported skipped (under `CI`, a
    /// failure).
    pub(crate) fn tools(what: &str) -> Option<(std::path::PathBuf, std::path::PathBuf)> {
        match (wtb_tests::chromium(), wtb_tests::chromedriver()) {
            (Ok(c), Ok(d)) => Some((c, d)),
            (Err(why), _) | (_, Err(why)) => {
                wtb_tests::skipped(what, &why);
                None
            }
        }
    }

    pub(crate) async fn start(chromium: &std::path::Path, chromedriver: &std::path::Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        // In a process group of its own, so the browser it starts goes with it (see `Drop`).
        let driver = std::process::Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while http.get(format!("{base}/status")).send().await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--window-size=1280,900",
        ];
        let caps = json!({ "capabilities": { "alwaysMatch": { "browserName": "chrome", "goog:chromeOptions": { "binary": chromium, "args": args } } } });
        let r: Value =
            http.post(format!("{base}/session")).json(&caps).send().await.unwrap().json().await.unwrap();
        let session = format!(
            "{base}/session/{}",
            r["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {r}"))
        );
        Self { driver, http, session }
    }

    pub(crate) async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut r = self.http.request(method, format!("{}{path}", self.session));
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send().await.unwrap().json::<Value>().await.unwrap()["value"].take()
    }

    pub(crate) async fn go(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url }))).await;
    }

    /// The elements matching `css` once at least `min` exist (waits up to 20 s).
    pub(crate) async fn wait_all(&self, css: &str, min: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let found = self
                .call(
                    reqwest::Method::POST,
                    "/elements",
                    Some(json!({ "using": "css selector", "value": css })),
                )
                .await;
            let ids: Vec<String> = found
                .as_array()
                .map(|a| a.iter().filter_map(|e| e[ELEMENT].as_str().map(str::to_owned)).collect())
                .unwrap_or_default();
            if ids.len() >= min {
                return ids;
            }
            assert!(
                Instant::now() < deadline,
                "no {min} element(s) `{css}` ({found}); the page says: {}",
                self.text("body").await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub(crate) async fn wait(&self, css: &str) -> String {
        self.wait_all(css, 1).await.remove(0)
    }

    pub(crate) async fn click(&self, element: &str) {
        self.call(reqwest::Method::POST, &format!("/element/{element}/click"), Some(json!({}))).await;
    }

    pub(crate) async fn type_into(&self, element: &str, text: &str) {
        self.call(reqwest::Method::POST, &format!("/element/{element}/value"), Some(json!({ "text": text })))
            .await;
    }

    pub(crate) async fn text(&self, css: &str) -> String {
        self.call(reqwest::Method::POST, "/execute/sync", Some(json!({ "script": "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';", "args": [css] }))).await.as_str().unwrap_or_default().to_owned()
    }

    /// Saves a PNG of the page to `target/test-output/web/<name>.png`.
    pub(crate) async fn screenshot(&self, name: &str) -> std::path::PathBuf {
        use base64::Engine as _;
        let b64 = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD.decode(b64.as_str().unwrap()).unwrap();
        assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "a real picture of the page");
        let dir = wtb_tests::target_dir().join("test-output/web");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }
}

impl Browser {
    /// Opens the page and signs in with `token`.
    pub(crate) async fn sign_in(&self, server: &Server, token: &str) {
        self.go(&server.url("/")).await;
        let field = self.wait("#token").await;
        self.type_into(&field, token).await;
        self.click(&self.wait("#login button").await).await;
        self.wait("#executions").await;
    }

    /// Runs `script` in the page (its arguments `args`) and returns what it returns.
    pub(crate) async fn eval(&self, script: &str, args: Value) -> Value {
        self.call(reqwest::Method::POST, "/execute/sync", Some(json!({ "script": script, "args": args })))
            .await
    }
}

impl Drop for Browser {
    /// Kills chromedriver's whole process group: killing chromedriver alone left each run's
    /// Chromium (a dozen processes) behind.
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = std::process::Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.driver.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_web_page_lists_executions_shows_a_timeline_and_a_diff_in_chromium() {
    let Some((chromium, chromedriver)) = Browser::tools("the web page in a browser") else { return };
    let h = Harness::new();
    let alpha = token(&h, "alpha");
    let wf = h.probe_workflow("web", &[("one", json!({ "action": "write", "files": { "a.txt": "first\n" } })), ("two", json!({ "action": "write", "files": { "a.txt": "second\n", "b.txt": "b\n" }, "update": { "n": 2 } }))]);
    let run = |extra: &[&str]| {
        let mut args = vec!["--tenant", "alpha", "run", wf.to_str().unwrap(), "--json"];
        args.extend_from_slice(extra);
        let out = wtb(&h, &args);
        serde_json::from_slice::<Value>(&out.stdout).unwrap_or_else(|_| panic!("{out:?}"))["execution"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let completed = run(&[]);
    let paused = run(&["--break-after", "one"]);
    let server = Server::start(&h, &[]);
    let browser = Browser::start(&chromium, &chromedriver).await;

    // Sign in once; the list shows both executions.
    browser.go(&server.url("/")).await;
    let field = browser.wait("#token").await;
    browser.type_into(&field, &alpha).await;
    browser.click(&browser.wait("#login button").await).await;
    browser.wait_all("#executions tbody tr a", 2).await;
    let listed = browser.text("#executions").await;
    assert!(listed.contains(&completed) && listed.contains(&paused), "{listed}");
    browser.screenshot("executions").await;

    // The filter narrows it (and the token survives a reload).
    browser.go(&server.url("/#/?status=paused")).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while browser.wait_all("#executions tbody tr", 1).await.len() != 1
        || !browser.text("#executions").await.contains(&paused)
    {
        assert!(Instant::now() < deadline, "{}", browser.text("body").await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!browser.text("#executions").await.contains(&completed));

    // The completed execution's timeline: a row per checkpoint with node, kind, status, duration.
    browser.go(&server.url(&format!("/#/executions/{completed}"))).await;
    let rows = browser.wait_all("#timeline tbody tr", 4).await;
    assert_eq!(rows.len(), 4, "entry and exit checkpoints of two nodes");
    let timeline = browser.text("#timeline").await;
    assert!(
        timeline.contains("one")
            && timeline.contains("two")
            && timeline.contains("exit")
            && timeline.contains("succeeded")
            && timeline.contains(" ms"),
        "{timeline}"
    );
    browser.screenshot("timeline").await;

    // Diff the first and the last checkpoint: the state and both files.
    let picks = browser.wait_all("#timeline .pick", 4).await;
    browser.click(&picks[0]).await;
    browser.click(&picks[3]).await;
    browser.click(&browser.wait("#diff-selected").await).await;
    browser.wait("#file-diff").await;
    let files = browser.text("#file-diff").await;
    assert!(files.contains("a.txt") && files.contains("b.txt"), "{files}");
    // Side by side: a.txt is new since the first checkpoint, so its line is on the right only.
    let (removed, added) =
        (browser.text("#file-diff td.diff-del").await, browser.text("#file-diff td.diff-add").await);
    assert_eq!((removed.as_str(), added.as_str()), ("", "second"), "{files}");
    assert!(browser.text("#state-diff").await.contains("n"), "{}", browser.text("body").await);
    browser.screenshot("diff").await;

    // Between the two exits a.txt changed: the old line on the left beside the new one.
    let history: Value =
        serde_json::from_slice(&wtb(&h, &["--tenant", "alpha", "--json", "history", &completed]).stdout)
            .unwrap();
    let (one, two) = (
        history["checkpoints"][1]["id"].as_str().unwrap(),
        history["checkpoints"][3]["id"].as_str().unwrap(),
    );
    browser.go(&server.url(&format!("/#/diff/{one}/{two}"))).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while browser.text("#file-diff td.diff-del").await != "first" {
        assert!(Instant::now() < deadline, "{}", browser.text("body").await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(browser.text("#file-diff td.diff-add").await, "second");
    browser.screenshot("diff-side-by-side").await;

    // Fork from the timeline: the page moves to the new execution.
    browser.go(&server.url(&format!("/#/executions/{completed}"))).await;
    let fork = browser.wait("[data-fork]").await;
    browser.click(&fork).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let url =
            browser.call(reqwest::Method::GET, "/url", None).await.as_str().unwrap_or_default().to_owned();
        if url.contains("#/executions/") && !url.contains(&completed) {
            break;
        }
        assert!(Instant::now() < deadline, "the fork did not open: {url}; {}", browser.text("body").await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    browser.wait("#timeline").await;

    // Resume the paused one with its button; it completes in the server. (Wait for *its* view:
    // the fork's, still on screen while the page loads the next, has a Resume button too.)
    browser.go(&server.url(&format!("/#/executions/{paused}"))).await;
    browser.click(&browser.wait(&format!("[data-execution='{paused}'] [data-do=resume]")).await).await;
    let http = reqwest::Client::new();
    let done = super::api_admin::wait_final(&http, &server, &alpha, &paused).await;
    assert_eq!(done["execution"]["status"], "completed");

    // An experiment: listed, and its report rendered in the page.
    wtb::demo::materialize(&h.dir.path().join("demo")).unwrap();
    let ran = wtb(&h, &["--tenant", "alpha", "experiment", "run", "demo/greeting-experiment.toml", "--json"]);
    let exp =
        serde_json::from_slice::<Value>(&ran.stdout).unwrap_or_else(|_| panic!("{ran:?}"))["experiment"]
            .as_str()
            .unwrap()
            .to_owned();
    browser.go(&server.url("/#/experiments")).await;
    browser.click(&browser.wait("#experiments tbody a").await).await;
    browser.wait("#report").await;
    let script = "const f = document.getElementById('report'); return f && f.contentDocument ? f.contentDocument.body.innerText : '';";
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let shown = browser
            .call(reqwest::Method::POST, "/execute/sync", Some(json!({ "script": script, "args": [] })))
            .await;
        if shown.as_str().is_some_and(|t| t.contains("greeting-ab") && t.contains("passed")) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the report did not render: {shown}; {}",
            browser.text("#view").await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(browser.text("h2").await.contains(&exp));
    // The matrix: a letter per repetition of each variant × environment, the baseline marked;
    // a letter opens that cell's diff from the baseline.
    let letters = browser.wait_all("#matrix .outcome", 12).await;
    assert_eq!(letters.len(), 12, "2 variants × 2 environments × 3 repetitions");
    let matrix = browser.text("#matrix").await.to_lowercase();
    assert!(matrix.contains("plain") && matrix.contains("stamped"), "{matrix}");
    assert_eq!(browser.wait_all("#matrix .outcome.baseline", 1).await.len(), 1);
    browser.screenshot("experiment").await;
    let stamped = browser.wait("#matrix td[data-cell^='stamped/'] a.outcome").await;
    browser.click(&stamped).await;
    browser.wait("#state-diff").await;
    let diff = browser.text("#state-diff").await;
    assert!(!diff.contains("The state is the same"), "a stamped greeting differs from the plain one: {diff}");
}
