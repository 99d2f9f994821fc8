//! The aggregated endpoint over an MCP server that does not answer a call in time: the client
//! gets the timeout code (-32005, as from a single upstream) with the reason, and the metrics
//! count it as that server's timeout.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::response::IntoResponse;
use serde_json::{json, Value};
use warden_mcp::{Denials, Unlisted};

#[allow(dead_code)] // each test file uses part of the shared helpers
mod common;

/// An upstream that initializes, accepts notifications and never answers a call in time.
async fn hanging_upstream() -> String {
    let app = axum::Router::new().route(
        "/mcp",
        axum::routing::post(|body: Bytes| async move {
            let msg: Value = serde_json::from_slice(&body).unwrap();
            match msg["method"].as_str() {
                Some("initialize") => (
                    [("mcp-session-id", "up-1")],
                    axum::Json(json!({"jsonrpc": "2.0", "id": msg["id"], "result": {
                        "protocolVersion": "2025-06-18", "capabilities": {"tools": {}},
                        "serverInfo": {"name": "hang", "version": "0"}}})),
                )
                    .into_response(),
                Some("tools/call") => {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    axum::http::StatusCode::ACCEPTED.into_response()
                }
                _ => axum::http::StatusCode::ACCEPTED.into_response(),
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    url
}

#[tokio::test]
async fn a_call_the_server_does_not_answer_in_time_is_a_counted_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (gate, _) = common::gate(dir.path(), Denials::Error, Unlisted::Hide).await;
    let svc = gate.svc.clone();
    let upstream = warden_mcp::aggregate::Upstream {
        gate: Arc::new(gate),
        url: hanging_upstream().await,
    };
    let agg = warden_mcp::aggregate::Aggregate::new(
        vec![upstream],
        Arc::new(Default::default()),
        Duration::from_millis(300),
        Default::default(),
        ("acme".into(), "test-agent".into()),
    )
    .unwrap();
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/mcp", l.local_addr().unwrap());
    let app = warden_mcp::aggregate::router(agg.worker(), 1 << 20);
    tokio::spawn(async move { axum::serve(l, app).await });
    let client = reqwest::Client::new();
    let post = |msg: Value, session: Option<String>| {
        let mut req = client
            .post(&base)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(msg.to_string());
        if let Some(s) = session {
            req = req.header("mcp-session-id", s);
        }
        req.send()
    };
    let init = post(
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "test", "version": "0"}}}),
        None,
    )
    .await
    .unwrap();
    let session = init.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_string();
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "name": "testsrv__read_file", "arguments": {"path": "/srv/data/a.txt"}}});
    let text = post(call, Some(session))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let answer: Value = text
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .map_or_else(|| serde_json::from_str(&text), serde_json::from_str)
        .unwrap();
    assert_eq!(answer["error"]["code"], -32005, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("`testsrv` did not answer in time"),
        "{answer}"
    );
    let metrics = svc.metrics_text();
    for line in [
        "warden_mcp_forwarded_calls_total{server=\"testsrv\"} 1",
        "warden_mcp_upstream_errors_total{server=\"testsrv\",error=\"timeout\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
}
