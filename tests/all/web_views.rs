//! The execution page's pictures in a real headless Chromium: the workflow graph (every node
//! with its status, labelled edges, the join, the path taken solid, the next node outlined)
//! and the attempts on a time axis (a bar per attempt, parallel branches in lanes of their
//! own) and the checkpoint inspector (state as a folding tree, files, a file's text), and the
//! page redrawing itself from the event stream while a run goes on.
//! Screenshots go to `target/test-output/web/`.

use super::server::{Server, token, wtb};
use super::web::Browser;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use wtb_tests::Harness;

/// `node → class` of every node drawn, and `from→to → taken` of every edge.
async fn drawn(browser: &Browser) -> (BTreeMap<String, String>, BTreeMap<String, bool>) {
    let nodes = browser
        .eval("return [...document.querySelectorAll('#graph .node')].map(n => [n.dataset.node, n.getAttribute('class')]);", json!([]))
        .await;
    let edges = browser
        .eval("return [...document.querySelectorAll('#graph .edge')].map(e => [e.dataset.from + '→' + e.dataset.to, e.classList.contains('taken')]);", json!([]))
        .await;
    let pairs = |v: &Value| v.as_array().cloned().unwrap_or_default();
    (
        pairs(&nodes)
            .iter()
            .map(|p| (p[0].as_str().unwrap().to_owned(), p[1].as_str().unwrap().to_owned()))
            .collect(),
        pairs(&edges).iter().map(|p| (p[0].as_str().unwrap().to_owned(), p[1].as_bool().unwrap())).collect(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_execution_page_draws_the_graph_the_path_taken_and_every_attempt() {
    let Some((chromium, chromedriver)) = Browser::tools("the web page's views in a browser") else { return };
    let h = Harness::new();
    let alpha = token(&h, "alpha");
    wtb::demo::materialize(&h.dir.path().join("demo")).unwrap();
    let run = |extra: &[&str]| {
        let out = wtb(&h, &[&["--tenant", "alpha", "--json", "run", "demo/branching.toml"], extra].concat());
        serde_json::from_slice::<Value>(&out.stdout).unwrap_or_else(|_| panic!("{out:?}"))["execution"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let done = run(&[]);
    let paused = run(&["--break-after", "triage"]);
    let server = Server::start(&h, &[]);
    let browser = Browser::start(&chromium, &chromedriver).await;
    browser.sign_in(&server, &alpha).await;

    // The finished run: the router took `full`, the fan-out ran both branches into the join.
    browser.go(&server.url(&format!("/#/executions/{done}"))).await;
    browser.wait_all("#graph .node", 6).await;
    let (nodes, edges) = drawn(&browser).await;
    for node in ["triage", "generate", "transform", "audit", "report"] {
        assert!(nodes[node].contains("st-succeeded"), "{node}: {nodes:?}");
    }
    assert!(nodes["nothing"].contains("st-unreached"), "{nodes:?}");
    let taken: Vec<&str> = edges.iter().filter(|(_, t)| **t).map(|(e, _)| e.as_str()).collect();
    assert_eq!(
        taken,
        ["audit→report", "generate→audit", "generate→transform", "transform→report", "triage→generate"],
        "{edges:?}"
    );
    assert!(!edges["triage→nothing"]);
    let graph = browser.eval("return document.getElementById('graph').textContent;", json!([])).await;
    let graph = graph.as_str().unwrap_or_default();
    assert!(graph.contains("full") && graph.contains("empty") && graph.contains("join"), "{graph}");
    // One bar per attempt; the two branches of the fan-out in lanes of their own.
    let bars = browser.wait_all("#attempts .bar", 5).await;
    assert_eq!(bars.len(), 5);
    let lanes = browser.eval("return document.querySelectorAll('#attempts .lane').length;", json!([])).await;
    assert!(lanes.as_u64().is_some_and(|n| n >= 2), "{lanes}");
    let title = browser
        .eval(
            "return document.querySelector('#attempts .bar[data-node=report]').getAttribute('title');",
            json!([]),
        )
        .await;
    assert!(title.as_str().is_some_and(|t| t.starts_with("report attempt 1: succeeded, ")), "{title}");
    browser.screenshot("graph-and-attempts").await;

    // The inspector of the last checkpoint (the join's exit): where it is, the state as a
    // tree, the files with sizes, a text file's content on a click.
    let inspect = browser.wait_all("[data-inspect]", 10).await;
    browser.click(inspect.last().unwrap()).await;
    browser.wait("#state-tree").await;
    let header = browser.text("#view p").await;
    assert!(header.contains("exit of report"), "{header}");
    let state = browser.text("#state-tree").await;
    assert!(
        state.contains("report") && state.contains("\"report.md\"") && state.contains("alerts"),
        "{state}"
    );
    let folds =
        browser.eval("return document.querySelectorAll('#state-tree details').length;", json!([])).await;
    assert!(folds.as_u64().is_some_and(|n| n >= 2), "the state and its nested values fold: {folds}");
    let table = browser.text("#files").await;
    assert!(table.contains("report.md") && table.contains("data/stats.json"), "{table}");
    browser.click(&browser.wait("#files [data-path='report.md']").await).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !browser.text("#content").await.contains("# Branching report") {
        assert!(std::time::Instant::now() < deadline, "{}", browser.text("body").await);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    browser.screenshot("inspector").await;

    // A run paused after the router: what ran is green, the next node is outlined.
    browser.go(&server.url(&format!("/#/executions/{paused}"))).await;
    browser.wait(&format!("[data-execution='{paused}']")).await;
    browser.wait_all("#graph .node", 6).await;
    let (nodes, edges) = drawn(&browser).await;
    assert!(nodes["triage"].contains("st-succeeded"), "{nodes:?}");
    assert!(nodes["generate"].contains("current"), "{nodes:?}");
    assert!(nodes["report"].contains("st-unreached"), "{nodes:?}");
    assert!(edges["triage→generate"] && !edges["generate→transform"], "{edges:?}");
    browser.screenshot("graph-paused").await;

    // Live: the open page follows the run's event stream. The server dies (SIGKILL) and comes
    // back on the same address: the page reopens the stream by itself. Resumed from outside
    // the page (no click, no reload), it redraws itself as nodes finish and stops following
    // at the end.
    browser.wait("#live-flag:not([hidden])").await;
    browser.eval("window.notReloaded = true; return null;", json!([])).await;
    let mut server = server;
    server.restart(&h, &[]);
    browser.wait("#live-flag[hidden]").await;
    browser.wait("#live-flag:not([hidden])").await;
    let http = reqwest::Client::new();
    let r =
        server.post_json(&http, &format!("/executions/{paused}/resume"), &alpha, json!({})).await.unwrap();
    assert_eq!(r.status().as_u16(), 202);
    browser.wait("#execution-status .s-completed").await;
    browser.wait_all("#graph .node.st-succeeded", 5).await;
    browser.wait("#live-flag[hidden]").await;
    let (nodes, edges) = drawn(&browser).await;
    for node in ["triage", "generate", "transform", "audit", "report"] {
        assert!(nodes[node].contains("st-succeeded"), "{node}: {nodes:?}");
    }
    assert!(edges["generate→transform"] && edges["audit→report"], "{edges:?}");
    assert_eq!(browser.wait_all("#attempts .bar", 5).await.len(), 5);
    let same_page = browser.eval("return window.notReloaded === true;", json!([])).await;
    assert_eq!(same_page, json!(true), "the page redrew in place, it was not reloaded");
    browser.screenshot("graph-live").await;
}

/// Kills a background CLI process if the test ends early.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_experiment_page_fills_its_matrix_while_cells_run_elsewhere() {
    let Some((chromium, chromedriver)) = Browser::tools("the web page's live experiment view in a browser")
    else {
        return;
    };
    let h = Harness::new();
    let alpha = token(&h, "alpha");
    // Every cell waits at a gate the test holds, in a CLI process the server knows nothing of.
    let gate = h.gate();
    h.probe_workflow("gated", &[("a", gate.node())]);
    h.file(
        "live.toml",
        "name = \"live\"\nworkflow = \"gated.toml\"\nrepetitions = 2\n\
         [[variants]]\nname = \"only\"\n[[environments]]\nname = \"here\"\n",
    );
    let cli = crate::wtb_command(&h)
        .args(["--tenant", "alpha", "experiment", "run", "live.toml", "--parallelism", "1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut cli = Killed(cli);
    let server = Server::start(&h, &[]);
    let http = reqwest::Client::new();
    // The experiment's record exists once the CLI has stored it (a barrier on the API).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let experiment = loop {
        let list = server.get_json(&http, "/experiments", &alpha).await;
        if let Some(id) = list["experiments"][0]["id"].as_str() {
            break id.to_owned();
        }
        assert!(std::time::Instant::now() < deadline, "no experiment recorded: {list}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    // Its progress as JSON: two cells, none ended.
    let p = server.get_json(&http, &format!("/experiments/{experiment}/progress"), &alpha).await;
    assert_eq!((p["cells"].as_array().map(Vec::len), p["finished"].as_u64()), (Some(2), Some(0)), "{p}");

    let browser = Browser::start(&chromium, &chromedriver).await;
    browser.sign_in(&server, &alpha).await;
    browser.go(&server.url(&format!("/#/experiments/{experiment}"))).await;
    browser.wait("#live-flag:not([hidden])").await;
    let status = browser.text("#experiment-status").await;
    assert!(status.contains("0 of 2 cells ended") && status.contains("have not ended"), "{status}");
    let letters = browser
        .eval("return [...document.querySelectorAll('#matrix .outcome')].map(o => o.textContent);", json!([]))
        .await;
    assert_eq!(letters, json!(["-", "-"]), "a cell still running has no outcome yet");
    browser.eval("window.notReloaded = true; return null;", json!([])).await;
    browser.screenshot("experiment-running").await;

    gate.open();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let status = browser.text("#experiment-status").await;
        if !status.contains("running") && status.contains("passed") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{status}; the page: {}", browser.text("body").await);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    browser.wait("#live-flag[hidden]").await;
    let letters = browser
        .eval("return [...document.querySelectorAll('#matrix .outcome')].map(o => o.textContent);", json!([]))
        .await;
    assert_eq!(letters, json!(["A", "A"]), "both repetitions ended alike");
    let same_page = browser.eval("return window.notReloaded === true;", json!([])).await;
    assert_eq!(same_page, json!(true), "the matrix filled in place");
    browser.screenshot("experiment-live").await;
    let out = cli.0.wait().unwrap();
    assert!(out.success(), "the CLI's experiment ended: {out:?}");
}
