//! The blob store on S3-compatible object storage, against a real server (moto, started by
//! the tests): what the store promises on its own, a workflow whose large files live in the
//! bucket (with either database backend), and a bucket that cannot be reached.

use std::process::Output;
use std::time::{Duration, SystemTime};
use wtb::cas::{BlobStore, ObjectCas, ObjectStoreOptions, PutOutcome};
use wtb::model::{Digest, TenantId};
use wtb_tests::Harness;
use wtb_tests::services;

fn wtb(h: &Harness, args: &[&str]) -> Output {
    crate::wtb_command(h)
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .current_dir(h.dir.path())
        .output()
        .expect("running wtb")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_bucket_store_writes_once_checks_digests_lists_and_removes_only_stale_objects() {
    let s3 = match services::s3() {
        Ok(s3) => s3,
        Err(why) => return wtb_tests::skipped("the_bucket_store_writes_once", &why),
    };
    let options = ObjectStoreOptions {
        url: format!("s3://{}/some/prefix", s3.bucket()),
        endpoint: Some(s3.endpoint.clone()),
        region: Some("us-east-1".into()),
        allow_http: true,
        credentials: Some(("test".into(), "test".into())),
    };
    let clock = std::sync::Arc::new(wtb::clock::SystemClock);
    let cas = ObjectCas::open(&options, Duration::from_secs(1800), clock).await.unwrap();
    let t = TenantId::DEFAULT;
    tokio::task::spawn_blocking(move || {
        let hello = Digest::of(b"hello");
        let wrong = cas.put(t, &hello, &mut &b"jello"[..]).unwrap_err();
        assert_eq!(wrong.kind(), std::io::ErrorKind::InvalidData, "{wrong}");
        assert!(cas.list_objects(t).unwrap().is_empty(), "a mismatch stores nothing");
        assert_eq!(cas.put(t, &hello, &mut &b"hello"[..]).unwrap(), PutOutcome::Written);
        assert_eq!(cas.put(t, &hello, &mut &b"hello"[..]).unwrap(), PutOutcome::AlreadyPresent);
        assert_eq!(cas.read(t, &hello).unwrap(), b"hello");
        assert!(cas.locate(t, &hello).starts_with(&options.url), "{}", cas.locate(t, &hello));

        // Larger than one part: a multipart upload, checked before it completes.
        let big: Vec<u8> = (0..(17u32 << 20)).map(|i| (i % 251) as u8).collect();
        let big_digest = Digest::of(&big);
        let bad = cas.put(t, &Digest::of(b"other"), &mut &big[..]).unwrap_err();
        assert_eq!(bad.kind(), std::io::ErrorKind::InvalidData, "{bad}");
        assert_eq!(cas.put(t, &big_digest, &mut &big[..]).unwrap(), PutOutcome::Written);
        assert_eq!(Digest::of(&cas.read(t, &big_digest).unwrap()), big_digest);

        let mut listed: Vec<(Digest, u64)> =
            cas.list_objects(t).unwrap().iter().map(|o| (o.digest, o.size)).collect();
        listed.sort();
        let mut want = vec![(hello, 5), (big_digest, big.len() as u64)];
        want.sort();
        assert_eq!(listed, want);
        assert!(cas.list_objects(TenantId::from_uuid(uuid::Uuid::nil())).unwrap().is_empty(), "per tenant");

        let past = SystemTime::UNIX_EPOCH;
        assert!(!cas.remove_if_stale(t, &hello, past).unwrap(), "written after the cutoff: kept");
        let future = SystemTime::UNIX_EPOCH + Duration::from_secs(4_000_000_000);
        assert!(cas.remove_if_stale(t, &hello, future).unwrap());
        assert_eq!(cas.open(t, &hello).err().map(|e| e.kind()), Some(std::io::ErrorKind::NotFound));
        assert!(!cas.remove_if_stale(t, &hello, future).unwrap(), "already gone");
    })
    .await
    .unwrap();
}

#[test]
fn a_workflow_s_large_files_live_in_the_bucket_and_read_back() {
    let s3 = match services::s3() {
        Ok(s3) => s3,
        Err(why) => return wtb_tests::skipped("a_workflow_s_large_files_live_in_the_bucket", &why),
    };
    let h = Harness::new();
    h.config(s3.blobs_config()).unwrap();
    let wf = h.probe_workflow(
        "big",
        &[
            ("w", serde_json::json!({ "action": "write", "sized": { "big.bin": 200000 } })),
            ("s", serde_json::json!({ "action": "write", "files": { "small.txt": "x" } })),
        ],
    );
    let run = wtb(&h, &["--json", "run", wf.to_str().unwrap()]);
    assert!(run.status.success(), "{run:?}");
    let id = serde_json::from_slice::<serde_json::Value>(&run.stdout).unwrap()["execution"]
        .as_str()
        .unwrap()
        .to_owned();
    let history: serde_json::Value =
        serde_json::from_slice(&wtb(&h, &["--json", "history", &id]).stdout).unwrap();
    let exit = history["checkpoints"][1]["id"].as_str().unwrap().to_owned();
    let cat = wtb(&h, &["cat", &exit, "big.bin"]);
    assert!(cat.status.success(), "{cat:?}");
    let want: Vec<u8> = (0..200000u32).map(|i| (i % 251) as u8).collect();
    assert!(cat.stdout == want, "the file reads back from the bucket");
    assert!(
        wtb_tests::files_under(&h.data_dir().join("blobs")).is_empty(),
        "nothing in the local blob store"
    );
    let fsck = wtb(&h, &["fsck"]);
    assert!(
        fsck.status.success() && String::from_utf8_lossy(&fsck.stdout).contains("no problems"),
        "{fsck:?}"
    );
    let orphans = wtb(&h, &["gc", "orphans", "--grace-seconds", "0"]);
    assert!(orphans.status.success(), "{orphans:?}");
    assert!(wtb(&h, &["cat", &exit, "big.bin"]).stdout == want, "a referenced object is never an orphan");
    // A fork from `w`'s exit runs `s` in a workspace rebuilt from the bucket.
    let fork = wtb(&h, &["--json", "fork", &exit]);
    assert!(fork.status.success(), "{fork:?}");
    let fork = serde_json::from_slice::<serde_json::Value>(&fork.stdout).unwrap()["execution"]
        .as_str()
        .unwrap()
        .to_owned();
    let resumed = wtb(&h, &["resume", &fork]);
    assert!(resumed.status.success(), "{resumed:?}");
    let history: serde_json::Value =
        serde_json::from_slice(&wtb(&h, &["--json", "history", &fork]).stdout).unwrap();
    let last = history["checkpoints"].as_array().unwrap().last().unwrap()["id"].as_str().unwrap().to_owned();
    assert!(wtb(&h, &["cat", &last, "big.bin"]).stdout == want, "the fork carries the bucket's file");
}

#[test]
fn an_unreachable_bucket_stops_the_command_with_one_line_naming_it() {
    let h = Harness::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    h.config(format!(
        "[blobs]\nurl = \"s3://nowhere/wtb\"\nendpoint = \"http://127.0.0.1:{port}\"\nallow_http = true\n"
    ))
    .unwrap();
    let out = wtb(&h, &["list"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.contains("s3://nowhere/wtb"), "names the bucket: {err}");
}
