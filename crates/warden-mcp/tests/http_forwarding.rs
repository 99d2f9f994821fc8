//! What the Streamable HTTP proxy sends upstream: the message Warden decided, serialized by
//! Warden, never the client's bytes. A body that gives a key twice reads differently to parsers
//! that keep the first occurrence and to serde_json, which keeps the last; the upstream must see
//! the reading Warden decided on.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use serde_json::{json, Value};
use warden_mcp::{Denials, Unlisted};

mod common;

/// An upstream MCP endpoint that records each body it receives and answers every request.
async fn recording_upstream() -> (String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let app = axum::Router::new().route(
        "/mcp",
        axum::routing::post(move |body: Bytes| {
            let log = log.clone();
            async move {
                let text = String::from_utf8_lossy(&body).to_string();
                let id = serde_json::from_str::<Value>(&text)
                    .ok()
                    .and_then(|m| m.get("id").cloned())
                    .unwrap_or(Value::Null);
                log.lock().unwrap().push(text);
                axum::Json(json!({"jsonrpc": "2.0", "id": id, "result": {"content": []}}))
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    (url, seen)
}

/// Serves the HTTP proxy for `gate` in front of `upstream`; returns its endpoint's URL.
async fn serve_proxy(gate: warden_mcp::Gate, upstream: &str) -> String {
    let proxy = warden_mcp::http::HttpProxy::new(
        Arc::new(gate),
        Arc::new(Default::default()),
        upstream,
        Duration::from_secs(5),
    )
    .unwrap();
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/mcp", l.local_addr().unwrap());
    let app = warden_mcp::http::router(proxy, 1 << 20);
    tokio::spawn(async move { axum::serve(l, app).await });
    base
}

#[tokio::test]
async fn a_key_given_twice_reaches_the_upstream_as_warden_read_it() {
    let dir = tempfile::tempdir().unwrap();
    let (gate, _) = common::gate(dir.path(), Denials::Error, Unlisted::Hide).await;
    let (upstream, seen) = recording_upstream().await;
    let base = serve_proxy(gate, &upstream).await;
    let client = reqwest::Client::new();
    let post = |body: &'static str| {
        client
            .post(&base)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body)
            .send()
    };
    // serde_json reads the last `method` (a list); a first-key parser would read a call.
    let r = post(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"/etc/passwd"}},"method":"tools/list"}"#)
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The last `params` is the one decided (allowed); the first must not travel with it.
    let r = post(r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"/etc/passwd"}},"params":{"name":"read_file","arguments":{"path":"/srv/data/a.txt"}}}"#)
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Answered calls are not cancelled afterwards (a cancellation would arrive as a third body).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    for body in &seen {
        assert_eq!(body.matches("\"method\"").count(), 1, "{body}");
        assert_eq!(body.matches("\"params\"").count(), 1, "{body}");
    }
    assert!(seen[0].contains("tools/list") && !seen[0].contains("tools/call"));
    assert!(seen[1].contains("/srv/data/a.txt") && !seen[1].contains("/etc/passwd"));
}

/// A fail-open read's audit record is committed while the call is upstream, but the client gets
/// the answer only once the record is on disk. The argument is large and every commit fsyncs,
/// so the commit is the slower of the two and an answer relayed early would be seen here.
#[tokio::test]
async fn a_fail_open_call_is_answered_only_once_its_record_is_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let text = common::testsrv_policy_with(true);
    let (mut gate, _) = common::gate_over(dir.path(), &text, Denials::Error, Unlisted::Hide).await;
    let db = dir.path().join("audit.db");
    gate.audit = Some(common::auditor(&db));
    let (upstream, seen) = recording_upstream().await;
    let base = serve_proxy(gate, &upstream).await;
    let client = reqwest::Client::new();
    let text = "x".repeat(600_000);
    for i in 1..=5u64 {
        let call = json!({"jsonrpc": "2.0", "id": i, "method": "tools/call",
                          "params": {"name": "echo", "arguments": {"text": text}}});
        let answer = client
            .post(&base)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(call.to_string())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let r: Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(r["id"], i, "{r}");
        assert!(r.get("result").is_some(), "{r}");
        let recorded = warden_audit::entries(&db).unwrap();
        assert_eq!(
            recorded.len() as u64,
            i,
            "answered before its record was written"
        );
        assert_eq!(recorded[i as usize - 1].1.outcome, "allow");
    }
    assert_eq!(
        seen.lock().unwrap().len(),
        5,
        "every call reached the server"
    );
}
