//! What the Streamable HTTP proxy sends upstream: the message Warden decided, serialized by
//! Warden, never the client's bytes. A body that gives a key twice reads differently to parsers
//! that keep the first occurrence and to serde_json, which keeps the last; the upstream must see
//! the reading Warden decided on.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::response::IntoResponse;
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
    serve_proxy_with(gate, upstream, Duration::from_secs(5)).await
}

/// The largest answer the test proxies relay.
const MAX_ANSWER: usize = 64 << 10;

/// [`serve_proxy`] with a call timeout of `timeout` (and answers up to [`MAX_ANSWER`] bytes).
async fn serve_proxy_with(gate: warden_mcp::Gate, upstream: &str, timeout: Duration) -> String {
    let limits = warden_mcp::http::ProxyLimits {
        max_answer_bytes: MAX_ANSWER,
        ..Default::default()
    };
    let proxy = warden_mcp::http::HttpProxy::with_limits(
        Arc::new(gate),
        Arc::new(Default::default()),
        upstream,
        timeout,
        limits,
    )
    .unwrap();
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/mcp", l.local_addr().unwrap());
    let app = warden_mcp::http::router(proxy, 1 << 20);
    tokio::spawn(async move { axum::serve(l, app).await });
    base
}

/// POSTs one JSON-RPC message to the proxy at `base` as an MCP client does; returns the body.
async fn post(client: &reqwest::Client, base: &str, msg: &Value) -> String {
    client
        .post(base)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(msg.to_string())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
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
        let r: Value = serde_json::from_str(&post(&client, &base, &call).await).unwrap();
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

/// The metrics count each call forwarded to the MCP server and each one it failed: one it did
/// not answer in time, one it answered with something that is not JSON-RPC (the client gets a
/// JSON-RPC error, not the bytes). An answer that is JSON under another content type is still
/// inspected: its result is redacted like any other.
#[tokio::test]
async fn forwarded_calls_and_upstream_failures_are_counted_per_server() {
    let dir = tempfile::tempdir().unwrap();
    let (gate, _) = common::gate(dir.path(), Denials::Error, Unlisted::Hide).await;
    let svc = gate.svc.clone();
    // The upstream answers by request id: 1 at once, 2 never in time, 3 with bytes that are not
    // JSON, 4 with JSON under `text/plain`; anything else (the cancellation Warden sends after
    // the timeout) is accepted.
    let app = axum::Router::new().route(
        "/mcp",
        axum::routing::post(move |body: Bytes| async move {
            let id = serde_json::from_slice::<Value>(&body).unwrap()["id"].clone();
            match id.as_i64() {
                Some(1) => {
                    axum::Json(json!({"jsonrpc": "2.0", "id": id, "result": {"content": []}}))
                        .into_response()
                }
                Some(2) => {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    axum::Json(json!({})).into_response()
                }
                Some(3) => ([("content-type", "application/json")], "not json").into_response(),
                Some(4) => (
                    [("content-type", "text/plain")],
                    json!({"jsonrpc": "2.0", "id": id, "result": {"content": [
                        {"type": "text", "text": "ssn 123-45-6789"}]}})
                    .to_string(),
                )
                    .into_response(),
                _ => axum::http::StatusCode::ACCEPTED.into_response(),
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = format!("http://{}/mcp", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    let base = serve_proxy_with(gate, &upstream, Duration::from_millis(500)).await;
    let client = reqwest::Client::new();
    let (mut codes, mut last) = (Vec::new(), Value::Null);
    for id in 1..=4 {
        let params = if id < 4 {
            json!({"name": "read_file", "arguments": {"path": "/srv/data/a.txt"}})
        } else {
            json!({"name": "lookup", "arguments": {"email": "a@example.com"}})
        };
        let call = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params});
        let r: Value = serde_json::from_str(&post(&client, &base, &call).await).unwrap();
        codes.push(r["error"]["code"].as_i64());
        last = r;
    }
    assert_eq!(codes, [None, Some(-32005), Some(-32006), None]);
    let text = last["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(
        text.starts_with("ssn ") && !text.contains("123-45-6789"),
        "{last}"
    );
    let text = svc.metrics_text();
    for line in [
        "warden_mcp_forwarded_calls_total{server=\"testsrv\"} 4",
        "warden_mcp_upstream_errors_total{server=\"testsrv\",error=\"timeout\"} 1",
        "warden_mcp_upstream_errors_total{server=\"testsrv\",error=\"failed\"} 1",
    ] {
        assert!(text.contains(line), "{line} in\n{text}");
    }
}

/// An answer in an event stream that Warden cannot read is never passed on while it is due: not
/// as an event whose data serde_json refuses (`NaN`, which Python's json module accepts), nor as
/// an event cut off by the end of the stream. The client gets a JSON-RPC error for the call
/// instead, and the SSN in the unread answer never reaches it.
#[tokio::test]
async fn an_unreadable_answer_in_an_event_stream_is_not_passed_on() {
    let dir = tempfile::tempdir().unwrap();
    let (gate, _) = common::gate(dir.path(), Denials::Error, Unlisted::Hide).await;
    let app = axum::Router::new().route(
        "/mcp",
        axum::routing::post(move |body: Bytes| async move {
            let id = serde_json::from_slice::<Value>(&body).unwrap()["id"].clone();
            let answer = format!(
                r#"{{"jsonrpc":"2.0","id":{id},"result":{{"content":[{{"type":"text","text":"ssn 123-45-6789"}}],"score":NaN}}}}"#
            );
            let stream = match id.as_i64() {
                // Keep-alive comment, then the answer with `NaN` in it.
                Some(1) => format!(": ping\n\nevent: message\ndata: {answer}\n\n"),
                // A valid answer cut off by the end of the stream (no blank line after it).
                _ => format!("event: message\ndata: {}", answer.replace("NaN", "1")),
            };
            ([("content-type", "text/event-stream")], stream).into_response()
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = format!("http://{}/mcp", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    let base = serve_proxy(gate, &upstream).await;
    let client = reqwest::Client::new();
    for id in 1..=2 {
        let call = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                          "params": {"name": "lookup", "arguments": {"email": "a@example.com"}}});
        let text = post(&client, &base, &call).await;
        assert!(!text.contains("123-45-6789"), "{text}");
        let answers: Vec<Value> = text
            .split("\n\n")
            .filter_map(|e| e.lines().find_map(|l| l.strip_prefix("data: ")))
            .map(|d| serde_json::from_str(d).unwrap())
            .collect();
        assert_eq!(answers.len(), 1, "{text}");
        assert_eq!(
            (&answers[0]["id"], &answers[0]["error"]["code"]),
            (&json!(id), &json!(-32006)),
            "{text}"
        );
    }
}

/// An upstream answering `lookup` calls (whose results the policy masks) through the framing
/// named by the call's `email` argument, or pushing an answer on the `GET` stream.
async fn framing_upstream() -> String {
    const SSN: &str = "SSN 123-45-6789";
    let app = axum::Router::new().route(
        "/mcp",
        axum::routing::post(move |body: Bytes| async move {
            let msg = serde_json::from_slice::<Value>(&body).unwrap();
            let id = msg["id"].clone();
            let mode = msg["params"]["arguments"]["email"].as_str().unwrap_or("").to_string();
            let answer = |id: &Value, text: &str| {
                json!({"jsonrpc": "2.0", "id": id, "result": {"content": [{"type": "text", "text": text}]}})
            };
            let sse = |events: Vec<Value>| {
                let body: String = events.iter().map(|e| format!("event: message\ndata: {e}\n\n")).collect();
                ([("content-type", "text/event-stream")], body).into_response()
            };
            if msg["method"] == "ping" {
                // An answer to a request that is neither a call nor a list, over the size cap.
                return sse(vec![json!({"jsonrpc": "2.0", "id": id, "result": {"pad": "x".repeat(MAX_ANSWER)}})]);
            }
            match mode.as_str() {
                "strid" => axum::Json(answer(&json!(id.to_string()), SSN)).into_response(),
                "batch" => axum::Json(json!([answer(&id, SSN)])).into_response(),
                "error" => axum::Json(json!({"jsonrpc": "2.0", "id": id,
                    "error": {"code": -1, "message": format!("no customer with {SSN}"), "data": {"why": SSN}}}))
                .into_response(),
                "dup" => sse(vec![answer(&id, "clean"), answer(&id, SSN)]),
                "progress" => sse(vec![
                    json!({"jsonrpc": "2.0", "method": "notifications/progress",
                           "params": {"progressToken": "p", "progress": 1, "message": format!("found {SSN}")}}),
                    answer(&id, "clean"),
                ]),
                "other" => sse(vec![answer(&json!(999), SSN), answer(&id, "clean")]),
                "bom" => {
                    let body = format!("\u{feff}event: message\ndata: {}\n\n", answer(&id, SSN));
                    ([("content-type", "text/event-stream")], body).into_response()
                }
                // An error for no id (as for a message the server could not read), while the
                // call is upstream: with an HTTP error status, and with 200.
                "nullerr" | "nullerr200" => {
                    let status = match mode.as_str() {
                        "nullerr" => axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                        _ => axum::http::StatusCode::OK,
                    };
                    let e = json!({"jsonrpc": "2.0", "id": null,
                        "error": {"code": -32603, "message": format!("failed on {SSN}")}});
                    (status, axum::Json(e)).into_response()
                }
                "wrongid500" => (
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    axum::Json(answer(&json!(999), SSN)),
                )
                    .into_response(),
                "big" => axum::Json(answer(&id, &"x".repeat(MAX_ANSWER))).into_response(),
                "bigsse" => sse(vec![answer(&id, &"x".repeat(MAX_ANSWER))]),
                // A JSON answer whose body starts and never ends.
                "slowbody" => {
                    let s = futures_util::StreamExt::chain(
                        futures_util::stream::once(async {
                            Ok::<_, std::io::Error>(Bytes::from("{\"jsonrpc\":"))
                        }),
                        futures_util::stream::pending(),
                    );
                    ([("content-type", "application/json")], axum::body::Body::from_stream(s)).into_response()
                }
                // Opens the stream, sends a keep-alive, and never answers.
                _ => {
                    let s = futures_util::StreamExt::chain(
                        futures_util::stream::once(async {
                            Ok::<_, std::io::Error>(Bytes::from(": ping\n\n"))
                        }),
                        futures_util::stream::pending(),
                    );
                    ([("content-type", "text/event-stream")], axum::body::Body::from_stream(s)).into_response()
                }
            }
        })
        .get(|| async {
            let note = json!({"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info", "data": "hello"}});
            let stray = json!({"jsonrpc": "2.0", "id": 7, "result": {"content": [{"type": "text", "text": SSN}]}});
            let body = format!("event: message\ndata: {note}\n\nevent: message\ndata: {stray}\n\n");
            ([("content-type", "text/event-stream")], body).into_response()
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    url
}

/// The JSON-RPC messages in a JSON or event-stream body.
fn messages(text: &str) -> Vec<Value> {
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        return match v {
            Value::Array(a) => a,
            v => vec![v],
        };
    }
    text.split("\n\n")
        .filter_map(|e| e.lines().find_map(|l| l.strip_prefix("data: ")))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

/// Only the answer to the request posted is relayed, once, and inspected: an answer with the id
/// in another JSON type, a second answer, an answer to another id, one inside a batch or behind
/// a byte-order mark, an error carrying the SSN, an answer on the `GET` stream — none gets an
/// unmasked result to the client. A stream that never answers ends with -32005 in time.
#[tokio::test]
async fn only_the_posted_requests_answer_is_relayed_and_always_inspected() {
    let dir = tempfile::tempdir().unwrap();
    let (gate, _) = common::gate(dir.path(), Denials::Error, Unlisted::Hide).await;
    let upstream = framing_upstream().await;
    let base = serve_proxy_with(gate, &upstream, Duration::from_secs(1)).await;
    let client = reqwest::Client::new();
    for (id, mode, want) in [
        (1, "strid", "error -32006"),
        (2, "batch", "masked"),
        (3, "error", "masked error"),
        (4, "dup", "clean"),
        (5, "other", "clean"),
        (6, "bom", "masked"),
        (7, "hang", "error -32005"),
        (9, "nullerr200", "error -32006"),
        (10, "big", "error -32006"),
        (11, "bigsse", "error -32006"),
        (12, "slowbody", "error -32005"),
        (13, "wrongid500", "error -32006"),
    ] {
        let call = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                          "params": {"name": "lookup", "arguments": {"email": mode}}});
        let started = std::time::Instant::now();
        let full = post(&client, &base, &call).await;
        assert!(!full.contains("123-45-6789"), "{mode}: {full}");
        let text = &full[..full.len().min(400)]; // for the messages below
        let answers = messages(&full);
        assert_eq!(answers.len(), 1, "{mode}: {text}");
        let a = &answers[0];
        assert_eq!(a["id"], json!(id), "{mode}: {text}");
        match want {
            "error -32006" => assert_eq!(a["error"]["code"], -32006, "{mode}: {text}"),
            "error -32005" => {
                assert_eq!(a["error"]["code"], -32005, "{mode}: {text}");
                assert!(
                    started.elapsed() < Duration::from_secs(4),
                    "{mode}: not in time"
                );
            }
            "masked error" => assert!(
                a["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("no customer with"),
                "{text}"
            ),
            "clean" => assert_eq!(a["result"]["content"][0]["text"], "clean", "{mode}: {text}"),
            _ => assert!(
                a["result"]["content"][0]["text"]
                    .as_str()
                    .unwrap()
                    .starts_with("SSN "),
                "{mode}: {text}"
            ),
        }
    }
    // An error for no id while the call is upstream is masked like the call's own error; with
    // an HTTP error status it is relayed with it (and any answer that cannot be relayed becomes
    // the call's error, with that status).
    let call = json!({"jsonrpc": "2.0", "id": 14, "method": "tools/call",
                      "params": {"name": "lookup", "arguments": {"email": "nullerr"}}});
    let r = client
        .post(&base)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(call.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    let e: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    let message = e["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("failed on SSN ") && !message.contains("123-45-6789"),
        "{e}"
    );
    // An oversized event answering any other request gets that request an error too.
    let ping = json!({"jsonrpc": "2.0", "id": 15, "method": "ping"});
    let text = post(&client, &base, &ping).await;
    let m = messages(&text[..text.len().min(400)]);
    assert_eq!(m.len(), 1, "{}", &text[..text.len().min(400)]);
    assert_eq!(
        (m[0]["id"].clone(), m[0]["error"]["code"].clone()),
        (json!(15), json!(-32006))
    );
    // Progress about a call is masked like its result.
    let call = json!({"jsonrpc": "2.0", "id": 8, "method": "tools/call",
                      "params": {"name": "lookup", "arguments": {"email": "progress"}}});
    let text = post(&client, &base, &call).await;
    assert!(!text.contains("123-45-6789"), "{text}");
    let m = messages(&text);
    assert_eq!(m.len(), 2, "{text}");
    assert!(
        m[0]["params"]["message"]
            .as_str()
            .unwrap()
            .contains("[REDACTED"),
        "{text}"
    );
    let text = client
        .get(&base)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let pushed = messages(&text);
    assert_eq!(pushed.len(), 1, "{text}");
    assert_eq!(pushed[0]["method"], "notifications/message", "{text}");
}

/// A body over the limit is a JSON-RPC error (413, -32600), and so is a request whose id MCP
/// does not allow (400); neither reaches the upstream.
#[tokio::test]
async fn oversized_bodies_and_bad_ids_get_json_rpc_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (gate, _) = common::gate(dir.path(), Denials::Error, Unlisted::Hide).await;
    let (upstream, seen) = recording_upstream().await;
    let base = serve_proxy(gate, &upstream).await;
    let client = reqwest::Client::new();
    let big = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                     "params": {"name": "echo", "arguments": {"text": "x".repeat(2 << 20)}}});
    let r = client
        .post(&base)
        .header("content-type", "application/json")
        .body(big.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let e: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(e["error"]["code"], -32600, "{e}");
    for id in [Value::Null, json!(1.5), json!(true), json!({"a": 1})] {
        let call = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                          "params": {"name": "echo", "arguments": {"text": "hi"}}});
        let e: Value = serde_json::from_str(&post(&client, &base, &call).await).unwrap();
        assert_eq!(e["error"]["code"], -32600, "{id}: {e}");
    }
    assert!(seen.lock().unwrap().is_empty());
}
