//! Evaluates the FinTech example N times (for profilers): `cargo run --release -p warden-engine --example profile -- 1000`.
use warden_engine::{Engine, Prepared};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let files = [
        (
            "catalog.yaml",
            include_str!("../../../examples/fintech/policies/catalog.yaml"),
        ),
        (
            "finance.yaml",
            include_str!("../../../examples/fintech/policies/finance.yaml"),
        ),
    ];
    let loaded: Vec<_> = files
        .iter()
        .map(|(n, t)| warden_core::load(n, t).unwrap())
        .collect();
    let c = warden_core::compile(&loaded, &[], "p").unwrap();
    let engine = Engine::new(Prepared::from_compiled(&c).unwrap());
    let amount = std::env::var("AMOUNT").unwrap_or_else(|_| "120".into());
    let text = format!(
        r#"{{"tenant":"acme","agent":{{"id":"finance-agent"}},"action":{{"type":"create_payment","tool":"stripe-payments","args":{{"amount":{amount},"currency":"USD"}}}},"environment":{{"time":"2026-11-23T15:00:00Z"}}}}"#
    );
    let text = text.as_str();
    let v: serde_json::Value = serde_json::from_str(text).unwrap();
    let input = warden_engine::decision_input(&v).unwrap();
    for q in std::env::args().skip(2) {
        let t = std::time::Instant::now();
        for _ in 0..n {
            std::hint::black_box(engine.eval(&q, input.clone()).unwrap());
        }
        println!(
            "{q:<40} {:>8.2} µs  (rvm: {})",
            t.elapsed().as_secs_f64() * 1e6 / n as f64,
            engine.current().rvm_unavailable(&q).is_none()
        );
    }
    let mut allows = 0;
    for _ in 0..n {
        let out = engine
            .eval(warden_core::DECISION_QUERY, input.clone())
            .unwrap();
        if out["allow"] == regorus::Value::Bool(true) {
            allows += 1;
        }
    }
    println!("{allows} allows");
}
