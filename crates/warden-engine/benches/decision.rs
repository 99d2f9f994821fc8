//! `cargo bench -p warden-engine --bench decision`: one decision in-process, from JSON text to the
//! typed decision, on one thread. Reports median and p99 for the FinTech example, and for policies
//! with 10 and with 10,000 agents (evaluation must stay flat: lookups are by key).
//!
//! Latencies are measured per call with `Instant` (about 20 ns of overhead each) after a warm-up.

use std::hint::black_box;
use std::time::Instant;

use warden_engine::{Engine, Prepared};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const FINTECH: &[(&str, &str)] = &[
    (
        "catalog.yaml",
        include_str!("../../../examples/fintech/policies/catalog.yaml"),
    ),
    (
        "finance.yaml",
        include_str!("../../../examples/fintech/policies/finance.yaml"),
    ),
];

fn engine(files: &[(String, String)]) -> Engine {
    let loaded: Vec<_> = files
        .iter()
        .map(|(n, t)| warden_core::load(n, t).expect("valid policy"))
        .collect();
    let compiled = warden_core::compile(&loaded, &[], "bench").expect("compiles");
    let prepared = Prepared::from_compiled(&compiled).expect("prepares");
    assert!(
        prepared
            .rvm_unavailable(warden_core::DECISION_QUERY)
            .is_none(),
        "benchmark must run on the RVM"
    );
    Engine::new(prepared)
}

/// Synthetic tenant with `n` agents, each with the FinTech payment rules.
fn agents_policy(n: usize) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = FINTECH[..1]
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
    let mut s = String::new();
    for i in 0..n {
        if i % 500 == 0 {
            if !s.is_empty() {
                files.push((format!("agents-{i}.yaml"), std::mem::take(&mut s)));
            }
            s.push_str("warden: 1\ntenant: acme\nagents:\n");
        }
        s.push_str(&format!(
            "  agent-{i}:\n    tools:\n      stripe-payments:\n        list_payments: {{}}\n        create_payment:\n          rules:\n            - id: currency\n              require: {{ args.currency: {{ in: [USD] }} }}\n              reason: currency_not_allowed\n            - id: amount\n              require: {{ args.amount: {{ max: 5000 }} }}\n              on_violation: approval_needed\n              reason: amount_requires_approval\n            - id: cap\n              require: {{ args.amount: {{ min: 0.01, max: 20000 }} }}\n              reason: amount_exceeds_limit\n"
        ));
    }
    files.push(("agents-last.yaml".into(), s));
    files
}

fn inputs(agents: usize, count: usize) -> Vec<String> {
    (0..count)
        .map(|i| {
            let agent = if agents == 0 { "finance-agent".to_string() } else { format!("agent-{}", (i * 7919) % agents) };
            let amount = [120, 4999, 7500, 25000][i % 4];
            let currency = if i % 10 == 9 { "EUR" } else { "USD" };
            format!(
                r#"{{"tenant":"acme","agent":{{"id":"{agent}","scope":"payments"}},"user":{{"id":"u{i}","groups":["finance"]}},"action":{{"type":"create_payment","tool":"stripe-payments","args":{{"amount":{amount},"currency":"{currency}","recipient":"acct_{i}"}}}},"context":{{"turn_count":3}},"environment":{{"region":"us-east","time":"2026-11-23T15:00:00Z","is_production":true}}}}"#
            )
        })
        .collect()
}

struct Stats {
    median_us: f64,
    p99_us: f64,
    mean_us: f64,
}

fn measure(engine: &Engine, inputs: &[String], rounds: usize) -> Stats {
    let decide = |text: &str| {
        let v: serde_json::Value = serde_json::from_str(text).expect("json");
        engine.decide(&v).expect("decides")
    };
    for t in inputs.iter().take(2000) {
        black_box(decide(t));
    }
    let mut lat = Vec::with_capacity(inputs.len() * rounds);
    for _ in 0..rounds {
        for t in inputs {
            let start = Instant::now();
            black_box(decide(t));
            lat.push(start.elapsed().as_nanos() as f64 / 1000.0);
        }
    }
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    Stats {
        median_us: pct(0.5),
        p99_us: pct(0.99),
        mean_us: lat.iter().sum::<f64>() / lat.len() as f64,
    }
}

fn report(name: &str, s: &Stats) {
    println!(
        "{name:<34} median {:>6.2} µs   p99 {:>6.2} µs   mean {:>6.2} µs",
        s.median_us, s.p99_us, s.mean_us
    );
}

/// Per-stage cost, on 1,000 inputs repeated 20 times (small enough to stay in cache, like a
/// server's steady state).
fn breakdown(engine: &Engine, inputs: &[String]) {
    let inputs = &inputs[..inputs.len().min(1000)];
    let reps = 20;
    let n = (inputs.len() * reps) as f64;
    let vals: Vec<serde_json::Value> = inputs
        .iter()
        .map(|t| serde_json::from_str(t).expect("json"))
        .collect();
    let rv: Vec<regorus::Value> = vals
        .iter()
        .map(|v| warden_engine::decision_input(v).expect("valid"))
        .collect();
    let outs: Vec<regorus::Value> = rv
        .iter()
        .map(|v| {
            engine
                .eval(warden_core::DECISION_QUERY, v.clone())
                .expect("eval")
        })
        .collect();
    let stage = |name: &str, f: &mut dyn FnMut(usize)| {
        let t = Instant::now();
        for _ in 0..reps {
            for i in 0..inputs.len() {
                f(i);
            }
        }
        println!(
            "  {name:<34} {:>6.2} µs",
            t.elapsed().as_secs_f64() * 1e6 / n
        );
    };
    stage("parse JSON text", &mut |i| {
        black_box(serde_json::from_str::<serde_json::Value>(&inputs[i]).expect("json"));
    });
    stage("check contract + convert", &mut |i| {
        black_box(warden_engine::decision_input(&vals[i]).expect("valid"));
    });
    stage("evaluate (RVM)", &mut |i| {
        black_box(
            engine
                .eval(warden_core::DECISION_QUERY, rv[i].clone())
                .expect("eval"),
        );
    });
    stage("build typed decision", &mut |i| {
        black_box(warden_engine::decision_from_value(&outs[i]).expect("decision"));
    });
}

fn main() {
    let quick = std::env::args().any(|a| a == "--test");
    let rounds = if quick { 1 } else { 10 };
    let files: Vec<(String, String)> = FINTECH
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
    let fintech = engine(&files);
    let fin = measure(&fintech, &inputs(0, 20_000), rounds);
    report("fintech (JSON in, decision out)", &fin);
    let all = inputs(0, 20_000);
    let allowed: Vec<String> = all
        .iter()
        .filter(|t| !t.contains("EUR") && (t.contains(":120,") || t.contains(":4999,")))
        .cloned()
        .collect();
    let violating: Vec<String> = all
        .iter()
        .filter(|t| !allowed.contains(t))
        .cloned()
        .collect();
    report(
        "  of which allowed (fast path)",
        &measure(&fintech, &allowed, rounds),
    );
    report(
        "  of which violating (medium path)",
        &measure(&fintech, &violating, rounds),
    );
    breakdown(&fintech, &inputs(0, 20_000));

    let small = engine(&agents_policy(10));
    let large_n = if quick { 1_000 } else { 10_000 };
    let started = Instant::now();
    let large = engine(&agents_policy(large_n));
    let prep = started.elapsed();
    let s10 = measure(&small, &inputs(10, 20_000), rounds);
    let s10k = measure(&large, &inputs(large_n, 20_000), rounds);
    report("10 agents", &s10);
    report(&format!("{large_n} agents"), &s10k);
    println!(
        "{large_n}-agent policy: validate + compile + prepare took {:.2}s",
        prep.as_secs_f64()
    );
    println!(
        "median ratio {large_n} / 10 agents: {:.2}",
        s10k.median_us / s10.median_us
    );
}
