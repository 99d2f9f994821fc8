//! Every decision is recorded before it is returned; when the audit database cannot be written,
//! writes fail closed (503) and reads declared fail-open still answer, marked `warden-audit: failed`.

mod support;

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use warden_server::audit::{AuditConfig, Auditor};
use warden_server::{BundleSource, ServerConfig};

const POLICY: &str = "warden: 1
tenant: acme
tools:
  ledger:
    actions:
      post: { class: write }
      read: { class: read }
defaults:
  fail_mode: { read: open }
agents:
  a:
    tools:
      ledger:
        post: {}
        read: {}
";

/// Serves POLICY with the audit log at `db`, masking the JSON pointers `mask`; returns the base
/// URL.
async fn serve(dir: &std::path::Path, db: &std::path::Path, mask: &[&str]) -> String {
    support::write_policy(dir, POLICY);
    let cfg = ServerConfig::single(
        "127.0.0.1:0".parse().unwrap(),
        "main",
        BundleSource::Dir(dir.to_path_buf()),
    );
    let auditor = Auditor::start(AuditConfig {
        path: db.to_path_buf(),
        key_pem: None,
        checkpoint_every: 100,
        checkpoint_interval: Duration::from_secs(60),
        mask: mask.iter().map(|p| p.to_string()).collect(),
        fsync_each_commit: true,
    })
    .unwrap();
    let (svc, _) = warden_server::start(&cfg).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(
            listener,
            warden_server::http::router(svc, 1 << 20, Arc::new(Default::default()), Some(auditor)),
        )
        .await
    });
    base
}

/// `POST /v1/decide` for `action` of the ledger.
async fn decide(client: &reqwest::Client, base: &str, action: &str) -> reqwest::Response {
    client
        .post(format!("{base}/v1/decide"))
        .json(&call(action))
        .send()
        .await
        .unwrap()
}

fn call(action: &str) -> serde_json::Value {
    json!({"tenant": "acme", "agent": {"id": "a"}, "action": {"tool": "ledger", "type": action}, "environment": {"time": "2026-11-23T10:00:00Z"}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_audit_log_fails_writes_closed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    let base = serve(&dir.path().join("bundle"), &db, &[]).await;
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{base}/v1/decide"))
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .json(&call("post"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let id = r.headers()["x-warden-decision-id"]
        .to_str()
        .unwrap()
        .to_string();
    let logged = warden_audit::entries(&db).unwrap();
    assert_eq!(
        (logged.len(), logged[0].1.decision_id.as_str()),
        (1, id.as_str()),
        "recorded before it was returned"
    );
    assert_eq!(
        logged[0].1.trace_id.as_deref(),
        Some("4bf92f3577b34da6a3ce929d0e0e4736"),
        "the caller's W3C trace id is recorded"
    );

    // OPA's Data API is recorded too, with its path (OPA decision-log shape on export).
    let r: serde_json::Value = client
        .post(format!("{base}/v1/data/warden/main/decision"))
        .json(&json!({"input": call("read")}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let logged = warden_audit::entries(&db).unwrap();
    let e = &logged[1].1;
    assert_eq!(e.decision_id, r["decision_id"].as_str().unwrap());
    assert_eq!(e.outcome, r["result"]["outcome"].as_str().unwrap());
    assert_eq!(warden_audit::opa_event(e)["path"], "warden/main/decision");

    // Break the database under the running server.
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("DROP TABLE records")
        .unwrap();
    let w = decide(&client, &base, "post").await;
    assert_eq!(w.status().as_u16(), 503);
    let body: serde_json::Value = w.json().await.unwrap();
    assert_eq!(
        (body["error"]["code"].as_str(), body["fail_mode"].as_str()),
        (Some("audit_unavailable"), Some("closed"))
    );
    let r = decide(&client, &base, "read").await;
    assert_eq!(
        r.status().as_u16(),
        200,
        "reads declared fail-open still answer"
    );
    assert_eq!(r.headers()["warden-audit"], "failed");
}

/// The recorded input hash is of the input as received: for a masked input, of the value before
/// masking; for an unmasked one, of the input as stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_input_hash_covers_the_input_before_masking() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    let base = serve(&dir.path().join("bundle"), &db, &["/action/args/card"]).await;
    let client = reqwest::Client::new();
    let mut masked = call("post");
    masked["action"]["args"] = json!({"card": "4111 1111 1111 1111", "amount": 5});
    for body in [call("post"), masked] {
        let r = client
            .post(format!("{base}/v1/decide"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
    }
    let logged = warden_audit::entries(&db).unwrap();
    let (plain, masked) = (&logged[0].1, &logged[1].1);
    assert!(plain.masked.is_empty());
    assert_eq!(plain.input_hash, warden_audit::value_hash(&plain.input));
    assert_eq!(masked.masked, vec!["/action/args/card".to_string()]);
    assert_eq!(masked.input["action"]["args"]["card"], "**MASKED**");
    assert_ne!(masked.input_hash, warden_audit::value_hash(&masked.input));
    let mut original = masked.input.clone();
    original["action"]["args"]["card"] = json!("4111 1111 1111 1111");
    assert_eq!(masked.input_hash, warden_audit::value_hash(&original));
}

/// A tmpfs mounted for the test's life (the test runs as root, as CI does).
struct Tmpfs(std::path::PathBuf);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazily: the server task may still hold the log open when the test ends.
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_writes_closed_and_recovers_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&mnt)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "this test mounts a 1 MB tmpfs to fill it: run it as root (CI does)"
    );
    let _guard = Tmpfs(mnt.clone());
    let db = mnt.join("audit.db");
    let base = serve(&dir.path().join("bundle"), &db, &[]).await;
    let client = reqwest::Client::new();
    let post = || async {
        let r = decide(&client, &base, "post").await;
        let status = r.status().as_u16();
        (status, r.text().await.unwrap())
    };
    assert_eq!(post().await.0, 200);
    // Fill the disk, leaving the log no room.
    let filler = mnt.join("filler");
    let free = 1024 * 1024 - std::fs::metadata(&db).unwrap().len() as usize;
    let _ = std::fs::write(&filler, vec![0u8; free]);
    let mut refused = None;
    for _ in 0..2000 {
        let (status, body) = post().await;
        if status != 200 {
            refused = Some((status, body));
            break;
        }
    }
    let (status, body) = refused.expect("a full disk must stop unrecorded writes");
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("audit_unavailable") && body.contains("full"),
        "the error says why: {body}"
    );
    let r = decide(&client, &base, "read").await;
    assert_eq!(r.status().as_u16(), 200, "fail-open reads still answer");
    // Its record may fit after all: once a checkpoint lets the WAL start over, commits reuse
    // blocks the file already has. When it did not fit, the answer says so (the unwritable-log
    // test above checks that header).
    let audit = r.headers().get("warden-audit").map(|v| v.as_bytes());
    assert!(
        matches!(audit, None | Some(b"failed")),
        "warden-audit: {audit:?}"
    );
    // Space returns: writes are recorded and answered again, and the chain is intact.
    std::fs::remove_file(&filler).unwrap();
    assert_eq!(post().await.0, 200);
    let report = warden_audit::verify(&db, None).unwrap();
    assert!(report.is_ok(), "{report:?}");
}

/// An Ed25519 signing key for the tests (PKCS#8 PEM).
const SIGNING_KEY: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIHNUSsmhM1kbBBOzNd2zw2jU1OIlvayWkMYtC5ya4B7H
-----END PRIVATE KEY-----
";

fn entry(i: u64) -> warden_audit::Entry {
    warden_audit::Entry {
        decision_id: format!("d-{i}"),
        time: "2026-11-23T10:00:00Z".into(),
        tenant: "acme".into(),
        agent: "a".into(),
        tool: "ledger".into(),
        action: "post".into(),
        input: call("post"),
        input_hash: String::new(),
        masked: vec![],
        result: json!({"outcome": "allow"}),
        outcome: "allow".into(),
        reasons: vec![],
        bundles: [("main".to_string(), "r1".to_string())].into(),
        policy_version: "1".into(),
        latency_us: 5,
        trace_id: None,
        path: None,
        candidate: None,
    }
}

/// A log that goes quiet gets its head signed within about one checkpoint interval (checkpoints
/// used to be written only by an append, so the last records of a quiet log stayed unsigned),
/// and a restarted server signs what a killed one left unsigned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_head_of_an_idle_log_is_signed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    let public = warden_audit::public_pem(SIGNING_KEY).unwrap();
    let signed_through = || {
        let r = warden_audit::verify(&db, Some(&public)).unwrap().unwrap();
        (r.records, r.signed_through)
    };
    // A previous run that was killed before it signed its two records.
    let mut killed = warden_audit::AuditLog::open(&db, Some(SIGNING_KEY)).unwrap();
    killed.append(&[entry(1), entry(2)]).unwrap();
    drop(killed);
    let auditor = Auditor::start(AuditConfig {
        path: db.clone(),
        key_pem: Some(SIGNING_KEY.into()),
        checkpoint_every: 1000,
        checkpoint_interval: Duration::from_millis(300),
        mask: vec![],
        fsync_each_commit: false,
    })
    .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(
        signed_through(),
        (2, 2),
        "the unsigned tail is signed at start"
    );
    for i in 3..=6 {
        auditor.record(entry(i)).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(signed_through(), (6, 6), "the idle log's head is signed");
}
