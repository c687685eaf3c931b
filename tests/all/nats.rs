//! The NATS JetStream sink against a real `nats-server` (started by the tests): every event
//! of a run lands in the stream once, in commit order, with `Nats-Msg-Id` = its idempotency
//! key, so the server drops a redelivery within its duplicate window.

use crate::wtb;
use serde_json::{Value, json};
use wtb_tests::Harness;
use wtb_tests::services;

#[tokio::test(flavor = "multi_thread")]
async fn every_event_is_published_once_in_order_with_its_idempotency_key_as_msg_id() {
    let nats = match services::nats() {
        Ok(nats) => nats,
        Err(why) => return wtb_tests::skipped("every_event_is_published_once_in_order", &why),
    };
    let h = Harness::new();
    // A stream and subject of this test's own: streams on one server may not overlap.
    let unique = h.dir.path().file_name().unwrap().to_string_lossy().replace(['.', '-'], "_");
    let (stream, subject) = (format!("WTB_{unique}"), format!("wtb.{unique}"));
    h.config(format!(
        "[[outbox.sinks]]\nkind = \"nats\"\nname = \"bus\"\nurl = \"{}\"\nsubject = \"{subject}\"\nstream = \"{stream}\"\n",
        nats.url
    ))
    .unwrap();
    let wf =
        h.probe_workflow("emit", &[("a", json!({ "action": "write" })), ("b", json!({ "action": "write" }))]);
    assert!(wtb(&h, &["run", wf.to_str().unwrap()]).status.success());
    let relay = wtb(&h, &["outbox", "relay", "--once"]);
    assert!(relay.status.success(), "{relay:?}");
    let listed = wtb(&h, &["outbox", "list", "--json"]);
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let keys: Vec<String> = listed["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .inspect(|d| assert_eq!(d["status"], "delivered", "{d}"))
        .map(|d| d["idempotency_key"].as_str().unwrap().to_owned())
        .collect();
    assert!(keys.len() >= 4, "a run of two nodes has several events: {keys:?}");

    let client = async_nats::connect(&nats.url).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let mut s = js.get_stream(&stream).await.unwrap();
    assert_eq!(s.info().await.unwrap().state.messages, keys.len() as u64, "each event once");
    let mut published = Vec::new();
    for seq in 1..=keys.len() as u64 {
        let m = s.get_raw_message(seq).await.unwrap();
        assert!(m.subject.starts_with(&format!("{subject}.")), "{}", m.subject);
        let id = m.headers.get("Nats-Msg-Id").map(|v| v.as_str().to_owned()).unwrap();
        let body: Value = serde_json::from_slice(&m.payload).unwrap();
        assert_eq!(body["idempotency_key"].as_str(), Some(id.as_str()), "header and body agree");
        published.push(id);
    }
    assert_eq!(published, keys, "in commit order");

    // A relay that died after publishing redelivers with the same id: the server drops it.
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", keys[0].as_str());
    let ack = js
        .publish_with_headers(format!("{subject}.again"), headers, "{}".into())
        .await
        .unwrap()
        .await
        .unwrap();
    assert!(ack.duplicate, "within the duplicate window a redelivery is dropped");
    assert_eq!(s.info().await.unwrap().state.messages, keys.len() as u64);
}

#[test]
fn a_malformed_nats_sink_fails_at_start_naming_the_sink() {
    let h = Harness::new();
    h.config("[[outbox.sinks]]\nkind = \"nats\"\nname = \"bus\"\nurl = \"http://x\"\nsubject = \"a.*\"\n")
        .unwrap();
    let out = wtb(&h, &["outbox", "relay", "--once"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bus") && err.contains("nats://"), "{err}");
}
