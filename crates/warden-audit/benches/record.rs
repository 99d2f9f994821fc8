//! `cargo bench -p warden-audit --bench record`: the audit log's per-decision work on one thread,
//! for a record shaped like the MCP gateway's (a `tools/call` input and its decision):
//! serializing the entry canonically (RFC 8785, with the input hash), and appending it to a
//! SQLite log (`synchronous=NORMAL`, as `audit_sync: normal` runs it) one record per commit and in
//! group commits of 64, without WAL checkpoints (the server runs those on a thread of their own).
//! Reports median and p99 per record.
//!
//! Latencies are measured per operation with `Instant` after a warm-up.

use std::time::Instant;

use serde_json::{json, Value};
use warden_audit::{AuditLog, Entry};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn input(i: u64) -> Value {
    json!({
        "tenant": "acme",
        "agent": {"id": "bench-agent"},
        "action": {"tool": "bench", "type": "echo", "args": {"text": format!("hello {i}"), "count": i}},
        "context": {"conversation_id": "3f0c1e9a-7d2b-4c55-9a61-0b3e2f4d5c6a", "turn_count": i, "session_age_seconds": 12},
        "environment": {"time": "2026-12-04T17:00:00.123456Z"},
        "mcp": {"server": "bench", "session": "3f0c1e9a-7d2b-4c55-9a61-0b3e2f4d5c6a", "jsonrpc_id": i},
    })
}

fn result() -> Value {
    json!({
        "allow": true, "outcome": "allow", "reasons": [], "remediation": null, "violations": [],
        "waived": [], "redactions": [], "consume": [], "would_deny": false,
        "shadow_violations": [], "fail_mode": "closed",
        "metadata": {"policy_version": "2026.12.04", "bundle_revision": "sha256:1f2e3d4c5b6a",
            "library_version": "1.3.1", "matched_rules": ["acme/bench-agent/bench/echo"],
            "rate_limit_remaining": null, "audit_required": true, "appeal_path": null},
    })
}

fn entry(i: u64) -> Entry {
    let input = input(i);
    Entry {
        decision_id: format!("0b9c6f1e-4a2d-4f3b-8e7c-{i:012}"),
        time: "2026-12-04T17:00:00.123456Z".into(),
        tenant: "acme".into(),
        agent: "bench-agent".into(),
        tool: "bench".into(),
        action: "echo".into(),
        input_hash: warden_audit::value_hash(&input),
        input,
        masked: vec![],
        result: result(),
        outcome: "allow".into(),
        reasons: vec![],
        bundles: [("main".to_string(), "sha256:1f2e3d4c5b6a".to_string())].into(),
        policy_version: "2026.12.04".into(),
        latency_us: 42,
        trace_id: None,
        path: None,
        candidate: None,
    }
}

fn report(name: &str, mut ns: Vec<u64>) {
    ns.sort_unstable();
    let at = |q: f64| ns[((ns.len() - 1) as f64 * q) as usize] as f64 / 1000.0;
    println!(
        "{name:<44} p50 {:>7.2} µs   p99 {:>7.2} µs   ({} samples)",
        at(0.5),
        at(0.99),
        ns.len()
    );
}

fn main() {
    const N: u64 = 20_000;
    // Building the record's parts as the gateway does: hashing the input, then serializing.
    let mut hash = Vec::new();
    let mut canon = Vec::new();
    for i in 0..N + 2_000 {
        let input = input(i);
        let t = Instant::now();
        std::hint::black_box(warden_audit::value_hash(&input));
        let h = t.elapsed().as_nanos() as u64;
        let e = entry(i);
        let t = Instant::now();
        std::hint::black_box(e.into_canonical().expect("serializes"));
        let c = t.elapsed().as_nanos() as u64;
        if i >= 2_000 {
            hash.push(h);
            canon.push(c);
        }
    }
    report("input hash (RFC 8785 + SHA-256)", hash);
    report("entry → canonical text", canon);

    let dir = tempfile::tempdir().expect("temp dir");
    let mut log = AuditLog::open_with(&dir.path().join("a.db"), None, false).expect("opens");
    // As in the server, commits carry no WAL checkpoint (a thread of its own does them there).
    log.disable_autocheckpoint().expect("pragma");
    let records: Vec<_> = (0..N)
        .map(|i| entry(i).into_canonical().expect("serializes"))
        .collect();
    let mut one = Vec::new();
    for (i, r) in records.iter().enumerate() {
        // Untimed, now and then: copy the WAL back so it starts over, as the server's WAL thread
        // makes it do (a WAL growing without end would time the kernel zeroing new pages).
        if i % 500 == 0 {
            log.checkpoint_wal().expect("checkpoint");
        }
        let t = Instant::now();
        log.append_canonical(std::slice::from_ref(r))
            .expect("appends");
        if i >= 2_000 {
            one.push(t.elapsed().as_nanos() as u64);
        }
    }
    report("append, one record per commit", one);
    // At 1,000 decisions/s one at a time, each commit finds caches colder.
    let mut spaced = Vec::new();
    for (i, r) in records.iter().take(3_000).enumerate() {
        if i % 500 == 0 {
            log.checkpoint_wal().expect("checkpoint");
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
        let t = Instant::now();
        log.append_canonical(std::slice::from_ref(r))
            .expect("appends");
        spaced.push(t.elapsed().as_nanos() as u64);
    }
    report("append, one record per commit, 1 ms apart", spaced);
    let mut group = Vec::new();
    for chunk in records.chunks(64) {
        log.checkpoint_wal().expect("checkpoint");
        let t = Instant::now();
        log.append_canonical(chunk).expect("appends");
        let per = t.elapsed().as_nanos() as u64 / chunk.len() as u64;
        group.extend(std::iter::repeat_n(per, chunk.len()));
    }
    report("append, 64 records per commit (per record)", group);
}
