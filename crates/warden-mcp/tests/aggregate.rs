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

/// An upstream that initializes, accepts notifications and never answers a call in time, but
/// for a read of `/srv/data/big.txt`, answered at once with more than the 4 MiB a message may
/// hold.
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
                Some("tools/call") if msg["params"]["arguments"]["path"] == "/srv/data/big.txt" => {
                    let text = "x".repeat(5 << 20);
                    axum::Json(json!({"jsonrpc": "2.0", "id": msg["id"], "result": {
                        "content": [{"type": "text", "text": text}]}}))
                    .into_response()
                }
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

/// The aggregated endpoint over one upstream (`testsrv` at `url`): its URL and decision service.
async fn serve(url: String, timeout: Duration) -> (String, Arc<warden_server::DecisionService>) {
    let dir = tempfile::tempdir().unwrap();
    let (gate, _) = common::gate(dir.path(), Denials::Error, Unlisted::Hide).await;
    std::mem::forget(dir); // the limits database lives as long as the test process
    let svc = gate.svc.clone();
    let upstream = warden_mcp::aggregate::Upstream {
        gate: Arc::new(gate),
        url,
    };
    (serve_all(vec![upstream], timeout).await, svc)
}

/// The aggregated endpoint over `upstreams`, for `test-agent` of `acme`; its URL.
async fn serve_all(upstreams: Vec<warden_mcp::aggregate::Upstream>, timeout: Duration) -> String {
    let agg = warden_mcp::aggregate::Aggregate::new(
        upstreams,
        Arc::new(Default::default()),
        timeout,
        Default::default(),
        ("acme".into(), "test-agent".into()),
    )
    .unwrap();
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/mcp", l.local_addr().unwrap());
    let app = warden_mcp::aggregate::router(agg.worker(), 1 << 20);
    tokio::spawn(async move { axum::serve(l, app).await });
    base
}

/// POSTs `msg` (in `session`) and returns the JSON-RPC answer.
async fn post(client: &reqwest::Client, base: &str, msg: Value, session: Option<&str>) -> Value {
    let mut req = client
        .post(base)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(msg.to_string());
    if let Some(s) = session {
        req = req.header("mcp-session-id", s);
    }
    let text = req.send().await.unwrap().text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("data: "))
        .map_or_else(|| serde_json::from_str(&text), serde_json::from_str)
        .unwrap()
}

/// Opens a client session; returns its id.
async fn open(client: &reqwest::Client, base: &str) -> String {
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "test", "version": "0"}}});
    let r = client
        .post(base)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(init.to_string())
        .send()
        .await
        .unwrap();
    r.headers()["mcp-session-id"].to_str().unwrap().to_string()
}

#[tokio::test]
async fn a_call_the_server_does_not_answer_in_time_is_a_counted_timeout() {
    let (base, svc) = serve(hanging_upstream().await, Duration::from_millis(300)).await;
    let client = reqwest::Client::new();
    let session = open(&client, &base).await;
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "name": "testsrv__read_file", "arguments": {"path": "/srv/data/a.txt"}}});
    let answer = post(&client, &base, call, Some(&session)).await;
    assert_eq!(answer["error"]["code"], -32005, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("`testsrv` did not answer in time"),
        "{answer}"
    );
    // An answer over the size limit is not relayed: the call gets the server's failure.
    let call = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
        "name": "testsrv__read_file", "arguments": {"path": "/srv/data/big.txt"}}});
    let answer = post(&client, &base, call, Some(&session)).await;
    assert_eq!(
        answer["error"]["code"],
        -32006,
        "{}",
        &answer.to_string()[..200.min(answer.to_string().len())]
    );
    let message = answer["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("max_message_bytes"), "{answer}");
    let metrics = svc.metrics_text();
    for line in [
        "warden_mcp_forwarded_calls_total{server=\"testsrv\"} 2",
        "warden_mcp_upstream_errors_total{server=\"testsrv\",error=\"timeout\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
}

/// An upstream whose `slow(seconds)` takes that long, recording the cancellations it gets.
async fn slow_upstream() -> (String, Arc<std::sync::Mutex<Vec<Value>>>) {
    let cancelled = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = cancelled.clone();
    let app = axum::Router::new().route(
        "/mcp",
        axum::routing::post(move |body: Bytes| {
            let seen = seen.clone();
            async move {
                let msg: Value = serde_json::from_slice(&body).unwrap();
                let answer = |result: Value| {
                    axum::Json(json!({"jsonrpc": "2.0", "id": msg["id"], "result": result}))
                };
                match msg["method"].as_str() {
                    Some("initialize") => (
                        [("mcp-session-id", "up-1")],
                        answer(
                            json!({"protocolVersion": "2025-06-18", "capabilities": {"tools": {}},
                                      "serverInfo": {"name": "slow", "version": "0"}}),
                        ),
                    )
                        .into_response(),
                    Some("tools/call") => {
                        let secs = msg["params"]["arguments"]["seconds"].as_u64().unwrap_or(0);
                        tokio::time::sleep(Duration::from_secs(secs)).await;
                        answer(json!({"content": [{"type": "text", "text": "done"}]}))
                            .into_response()
                    }
                    Some("notifications/cancelled") => {
                        seen.lock().unwrap().push(msg["params"].clone());
                        axum::http::StatusCode::ACCEPTED.into_response()
                    }
                    _ => axum::http::StatusCode::ACCEPTED.into_response(),
                }
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    (url, cancelled)
}

/// A client that goes away while its call is upstream frees the call's charge at once (the
/// policy allows `slow` twice an hour: two more calls go through) and the server is told to
/// cancel it; and each call counts once in the decision metrics, however many passes its
/// limits took.
#[tokio::test]
async fn an_abandoned_call_releases_its_charge_and_is_cancelled_upstream() {
    let (url, cancelled) = slow_upstream().await;
    let (base, svc) = serve(url, Duration::from_secs(10)).await;
    let client = reqwest::Client::new();
    let session = open(&client, &base).await;
    let slow = |id: u64, seconds: u64| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
            "name": "testsrv__slow", "arguments": {"seconds": seconds}}})
    };
    let gone = client
        .post(&base)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", &session)
        .timeout(Duration::from_millis(300))
        .body(slow(2, 30).to_string())
        .send()
        .await;
    assert!(gone.is_err(), "the client gave up");
    let mut told = false;
    for _ in 0..50 {
        if !cancelled.lock().unwrap().is_empty() {
            told = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(told, "the server was told to cancel the abandoned call");
    assert_eq!(cancelled.lock().unwrap()[0]["requestId"], 2);
    for id in [3, 4] {
        let a = post(&client, &base, slow(id, 0), Some(&session)).await;
        assert_eq!(a["result"]["content"][0]["text"], "done", "call {id}: {a}");
    }
    let a = post(&client, &base, slow(5, 0), Some(&session)).await;
    assert_eq!(a["error"]["code"], -32003, "the limit holds: {a}");
    let metrics = svc.metrics_text();
    for line in [
        "warden_decisions_total{outcome=\"allow\",tenant=\"acme\",",
        "warden_decisions_total{outcome=\"rate_limited\",tenant=\"acme\",",
    ] {
        let n: Vec<&str> = metrics.lines().filter(|l| l.starts_with(line)).collect();
        assert_eq!(n.len(), 1, "{line} in\n{metrics}");
        let want = if line.contains("allow") { " 3" } else { " 1" };
        assert!(n[0].ends_with(want), "{} should end with{want}", n[0]);
    }
}

/// One upstream down does not keep clients from the others: the session opens without it, its
/// calls get -32006 saying what to do, and the other server serves.
#[tokio::test]
async fn a_server_that_is_down_is_left_out_of_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let (up, _) = common::gate(&dir.path().join("a"), Denials::Error, Unlisted::Hide).await;
    let (mut down, _) = common::gate(&dir.path().join("b"), Denials::Error, Unlisted::Hide).await;
    down.server = "mirror".into();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_url = format!("http://{}/mcp", closed.local_addr().unwrap());
    drop(closed); // nothing listens there now
    let (url, _) = slow_upstream().await;
    let upstreams = vec![
        warden_mcp::aggregate::Upstream {
            gate: Arc::new(down),
            url: closed_url,
        },
        warden_mcp::aggregate::Upstream {
            gate: Arc::new(up),
            url,
        },
    ];
    let base = serve_all(upstreams, Duration::from_secs(5)).await;
    let client = reqwest::Client::new();
    let session = open(&client, &base).await;
    let call = |name: &str| {
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
            "name": name, "arguments": {"seconds": 0, "text": "hi"}}})
    };
    let a = post(&client, &base, call("testsrv__slow"), Some(&session)).await;
    assert_eq!(a["result"]["content"][0]["text"], "done", "{a}");
    let e = post(&client, &base, call("mirror__echo"), Some(&session)).await;
    assert_eq!(e["error"]["code"], -32006, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("initialize a new session"),
        "{e}"
    );
}
