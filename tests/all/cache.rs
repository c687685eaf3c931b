//! Compiled components are cached on disk: a second process does not recompile.

use serde_json::json;
use wtb_tests::Harness;

#[tokio::test(flavor = "multi_thread")]
async fn a_second_executor_loads_the_compiled_component_from_disk() {
    let h = Harness::with_own_cache();
    let path = h.probe_workflow(
        "cached",
        &[("a", json!({ "action": "write" })), ("b", json!({ "action": "write" }))],
    );
    let first = h.executor().await;
    first.load_workflow(&path).await.unwrap();
    let stats = first.runtime().cache_stats();
    assert_eq!(
        (stats.compiled, stats.disk_hits, stats.memory_hits),
        (1, 0, 0),
        "one component named by two nodes: prepared once"
    );
    first.load_workflow(&path).await.unwrap();
    let stats = first.runtime().cache_stats();
    assert_eq!((stats.compiled, stats.disk_hits, stats.memory_hits), (1, 0, 1), "loaded again: from memory");
    first.close().await;

    let second = h.executor().await;
    second.load_workflow(&path).await.unwrap();
    let stats = second.runtime().cache_stats();
    assert_eq!((stats.compiled, stats.disk_hits), (0, 1));
}
