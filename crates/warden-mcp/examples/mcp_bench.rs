//! Added latency of the MCP gateway over stdio: the same `tools/call` sent to a trivial MCP
//! server (examples/echo_server.rs) directly, and through `warden mcp` (policy decision, limit
//! reservation and audit record on every call), at a fixed rate, one call in flight at a time.
//!
//! usage: mcp_bench WARDEN ECHO_SERVER CONFIG RATE SECONDS
//! CONFIG is a `warden mcp` configuration whose server runs ECHO_SERVER.
//! Prints p50/p99 for both and the difference, then the gateway's throughput with 64 calls in flight.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

struct Peer {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
    next: u64,
}

impl Peer {
    fn start(cmd: &str, args: &[&str]) -> Peer {
        let mut child = Command::new(cmd)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let input = child.stdin.take().expect("stdin");
        let output = BufReader::new(child.stdout.take().expect("stdout"));
        let mut p = Peer {
            child,
            input,
            output,
            next: 0,
        };
        p.request(
            "initialize",
            serde_json::json!({"protocolVersion": "2025-06-18",
            "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}),
        );
        p.send(&serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        p
    }

    fn send(&mut self, v: &serde_json::Value) {
        writeln!(self.input, "{v}").expect("write");
        self.input.flush().expect("flush");
    }

    fn request(&mut self, method: &str, params: serde_json::Value) -> serde_json::Value {
        self.next += 1;
        let id = self.next;
        self.send(
            &serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}),
        );
        loop {
            let mut line = String::new();
            self.output.read_line(&mut line).expect("read");
            let v: serde_json::Value = serde_json::from_str(&line).expect("json");
            if v.get("id") == Some(&serde_json::json!(id)) {
                return v;
            }
        }
    }

    fn call(&mut self) -> serde_json::Value {
        self.request(
            "tools/call",
            serde_json::json!({"name": "echo", "arguments": {"text": "hello"}}),
        )
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

fn paced(peer: &mut Peer, rate: f64, secs: f64) -> Vec<u64> {
    let n = (rate * secs) as usize;
    let interval = Duration::from_secs_f64(1.0 / rate);
    let start = Instant::now();
    let mut lat = Vec::with_capacity(n);
    for i in 0..n {
        let at = start + interval * i as u32;
        if let Some(wait) = at.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let t = Instant::now();
        let r = peer.call();
        assert!(r.get("result").is_some(), "call failed: {r}");
        lat.push(t.elapsed().as_micros() as u64);
    }
    lat.sort_unstable();
    lat
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    assert!(
        a.len() >= 6,
        "usage: mcp_bench WARDEN ECHO_SERVER CONFIG RATE SECONDS"
    );
    let (warden, echo, config) = (&a[1], &a[2], &a[3]);
    let rate: f64 = a[4].parse().expect("rate");
    let secs: f64 = a[5].parse().expect("seconds");
    let mut direct = Peer::start(echo, &[]);
    paced(&mut direct, rate, 1.0);
    let d = paced(&mut direct, rate, secs);
    let mut gw = Peer::start(warden, &["mcp", "--config", config]);
    paced(&mut gw, rate, 1.0);
    let g = paced(&mut gw, rate, secs);
    common::report(&d, &g, rate);
    // Throughput: keep 64 calls in flight through the gateway for `secs`.
    let t = Instant::now();
    let mut sent = 0u64;
    let mut done = 0u64;
    while t.elapsed().as_secs_f64() < secs {
        while sent - done < 64 {
            sent += 1;
            gw.next += 1;
            let id = gw.next;
            gw.send(
                &serde_json::json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                "params": {"name": "echo", "arguments": {"text": "hello"}}}),
            );
        }
        let mut line = String::new();
        gw.output.read_line(&mut line).expect("read");
        done += 1;
    }
    println!(
        "gateway throughput: {:.0} calls/s with 64 in flight",
        done as f64 / t.elapsed().as_secs_f64()
    );
}
