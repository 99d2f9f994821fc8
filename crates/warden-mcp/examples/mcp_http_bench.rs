//! Added latency of the MCP gateway over Streamable HTTP, the HTTP twin of `mcp_bench`.
//!
//! usage:
//!   mcp_http_bench serve PORT                            a trivial Streamable HTTP MCP server
//!                                                        (JSON answers; `echo` tool)
//!   mcp_http_bench run DIRECT_URL GATEWAY_URL RATE SECS  the same `tools/call` at a fixed rate,
//!                                                        one in flight, directly and through
//!                                                        Warden; then 64 in flight via Warden
//! bench/mcp_http.sh runs both with `warden mcp` in between.

mod common;

use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde_json::{json, Value};

async fn echo_server(port: u16) {
    async fn mcp(headers: HeaderMap, body: axum::body::Bytes) -> axum::response::Response {
        let Ok(msg) = serde_json::from_slice::<Value>(&body) else {
            return StatusCode::BAD_REQUEST.into_response();
        };
        let Some(id) = msg.get("id").cloned() else {
            return StatusCode::ACCEPTED.into_response();
        };
        let result = match msg["method"].as_str().unwrap_or("") {
            "initialize" => json!({"protocolVersion": "2025-06-18", "capabilities": {"tools": {}},
                                   "serverInfo": {"name": "echo", "version": "1"}}),
            "tools/list" => json!({"tools": [{"name": "echo", "inputSchema": {"type": "object"}}]}),
            "tools/call" => {
                json!({"content": [{"type": "text", "text": msg["params"]["arguments"]["text"]}]})
            }
            _ => json!({}),
        };
        let session = headers
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("s-1")
            .to_string();
        (
            [
                ("content-type", "application/json"),
                ("mcp-session-id", session.as_str()),
            ],
            json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string(),
        )
            .into_response()
    }
    let app = axum::Router::new().route("/mcp", axum::routing::post(mcp));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind");
    axum::serve(listener, app).await.expect("serve");
}

struct Client {
    http: reqwest::Client,
    url: String,
    session: Option<String>,
    next: u64,
}

impl Client {
    async fn start(url: &str) -> Client {
        let mut c = Client {
            http: reqwest::Client::new(),
            url: url.to_string(),
            session: None,
            next: 0,
        };
        c.request(
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "bench", "version": "1"}}),
        )
        .await;
        c.post(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        c
    }

    async fn post(&mut self, msg: Value) -> Option<Value> {
        let mut req = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(msg.to_string());
        if let Some(s) = &self.session {
            req = req.header("mcp-session-id", s);
        }
        let resp = req.send().await.expect("send");
        if let Some(s) = resp.headers().get("mcp-session-id") {
            self.session = s.to_str().ok().map(str::to_string);
        }
        let body = resp.bytes().await.expect("body");
        serde_json::from_slice(&body).ok()
    }

    async fn request(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let msg = json!({"jsonrpc": "2.0", "id": self.next, "method": method, "params": params});
        self.post(msg).await.expect("a JSON answer")
    }

    async fn call(&mut self) -> Value {
        self.request(
            "tools/call",
            json!({"name": "echo", "arguments": {"text": "hello"}}),
        )
        .await
    }
}

async fn paced(c: &mut Client, rate: f64, secs: f64) -> Vec<u64> {
    let n = (rate * secs) as usize;
    let interval = Duration::from_secs_f64(1.0 / rate);
    let start = tokio::time::Instant::now();
    let mut lat = Vec::with_capacity(n);
    for i in 0..n {
        tokio::time::sleep_until(start + interval * i as u32).await;
        let t = Instant::now();
        let r = c.call().await;
        assert!(r.get("result").is_some(), "call failed: {r}");
        lat.push(t.elapsed().as_micros() as u64);
    }
    lat.sort_unstable();
    lat
}

async fn run(direct: &str, gateway: &str, rate: f64, secs: f64) {
    let mut d = Client::start(direct).await;
    paced(&mut d, rate, 1.0).await;
    let dl = paced(&mut d, rate, secs).await;
    let mut g = Client::start(gateway).await;
    paced(&mut g, rate, 1.0).await;
    let gl = paced(&mut g, rate, secs).await;
    common::report(&dl, &gl, rate);
    // Throughput: 64 clients on the same session, each one call in flight, for `secs`.
    let session = g.session.clone();
    let t = Instant::now();
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let mut c = Client {
                http: g.http.clone(),
                url: gateway.to_string(),
                session: session.clone(),
                next: 0,
            };
            tokio::spawn(async move {
                let mut n = 0u64;
                while t.elapsed().as_secs_f64() < secs {
                    let r = c.call().await;
                    if r.get("result").is_some() {
                        n += 1;
                    }
                }
                n
            })
        })
        .collect();
    let mut done = 0;
    for t in tasks {
        done += t.await.unwrap_or(0);
    }
    println!(
        "gateway throughput: {:.0} calls/s with 64 in flight",
        done as f64 / t.elapsed().as_secs_f64()
    );
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    match a.get(1).map(String::as_str) {
        Some("serve") if a.len() >= 3 => rt.block_on(echo_server(a[2].parse().expect("port"))),
        Some("run") if a.len() >= 6 => rt.block_on(run(
            &a[2],
            &a[3],
            a[4].parse().expect("rate"),
            a[5].parse().expect("seconds"),
        )),
        _ => eprintln!("usage: mcp_http_bench serve PORT | run DIRECT_URL GATEWAY_URL RATE SECS"),
    }
}
