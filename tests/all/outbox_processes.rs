//! Outbox relays as separate processes: two at once never hold the same event, and one
//! SIGKILLed mid-delivery redelivers with the same idempotency key.

use super::outbox::{SECRET, all_events, assert_in_order_per_execution, count, run_some, webhook_config};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use wtb::executor::Executor;
use wtb_tests::Harness;
use wtb_tests::receiver::{Behaviour, Receiver};

/// A `wtb outbox relay` process.
fn spawn_relay(h: &Harness) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_wtb-under-test"))
        .args(["outbox", "relay"])
        .env("WTB_DATA_DIR", h.data_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn wait_delivered(exec: &Executor, n: usize, what: &str) {
    let start = Instant::now();
    while count(exec, "delivered").await < n as i64 {
        assert!(start.elapsed() < Duration::from_secs(60), "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn sigterm(child: &mut std::process::Child) {
    let _ = Command::new("sh").args(["-c", &format!("kill -TERM {}", child.id())]).status();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread")]
async fn two_relay_processes_never_hold_the_same_event_at_once() {
    let h = Harness::new();
    let rx =
        Receiver::start(SECRET, Behaviour { delay: Duration::from_millis(5), ..Behaviour::default() }).await;
    webhook_config(&h, &rx.url, "per_execution = 4\nbatch = 8\npoll_interval_ms = 20");
    let exec = h.executor().await;
    run_some(&h, &exec, 6).await;
    let events = all_events(&exec).await;
    let (mut a, mut b) = (spawn_relay(&h), spawn_relay(&h));
    wait_delivered(&exec, events.len(), "two relays to deliver everything").await;
    sigterm(&mut a);
    sigterm(&mut b);
    rx.seen(|s| {
        assert_eq!(s.accepted.len(), events.len());
        assert!(s.duplicates.is_empty(), "a leased event is delivered by one relay only: {:?}", s.duplicates);
        assert_eq!(s.max_in_flight_per_key, 1);
        assert_in_order_per_execution(&s.accepted);
    });
    let owners: i64 = wtb_tests::fetch_one::<(_,)>(
        &exec,
        wtb::db::sql::query("SELECT COUNT(*) FROM outbox_deliveries WHERE lease_owner IS NOT NULL"),
    )
    .await
    .0;
    assert_eq!(owners, 0, "leases are released when settled");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_relay_killed_mid_delivery_redelivers_with_the_same_key_and_the_receiver_dedupes() {
    let h = Harness::new();
    // The 4th request is accepted but never answered: the relay is stuck inside its delivery.
    let rx =
        Receiver::start(SECRET, Behaviour { stall_after_accepting: Some(4), ..Behaviour::default() }).await;
    webhook_config(&h, &rx.url, "lease_seconds = 1\npoll_interval_ms = 20");
    // (The lease is stretched to twice the 2 s webhook timeout: the restarted relay takes the
    // killed one's events over after 4 s.)
    let exec = h.executor().await;
    run_some(&h, &exec, 2).await;
    let events = all_events(&exec).await;
    let mut relay = spawn_relay(&h);
    let start = Instant::now();
    while rx.seen(|s| s.stalled.is_none()) {
        assert!(start.elapsed() < Duration::from_secs(30), "the relay never reached the stalling request");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    relay.kill().unwrap(); // SIGKILL
    relay.wait().unwrap();
    let stalled = rx.seen(|s| s.stalled.clone()).unwrap();
    let mut again = spawn_relay(&h);
    wait_delivered(&exec, events.len(), "the restarted relay").await;
    sigterm(&mut again);
    rx.seen(|s| {
        assert_eq!(s.accepted.len(), events.len(), "one accepted delivery per key");
        assert!(
            s.duplicates.contains(&stalled),
            "the interrupted delivery came again with the same key: {:?}",
            s.duplicates
        );
        assert_in_order_per_execution(&s.accepted);
    });
}
