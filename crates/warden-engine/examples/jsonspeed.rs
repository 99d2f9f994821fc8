fn main() {
    let text = r#"{"tenant":"acme","agent":{"id":"finance-agent","scope":"payments"},"user":{"id":"u1","groups":["finance"]},"action":{"type":"create_payment","tool":"stripe-payments","args":{"amount":120,"currency":"USD","recipient":"acct_1"}},"context":{"turn_count":3},"environment":{"region":"us-east","time":"2026-11-23T15:00:00Z","is_production":true}}"#;
    let n = 200_000;
    let t = std::time::Instant::now();
    for _ in 0..n {
        let v: serde_json::Value = serde_json::from_str(std::hint::black_box(text)).unwrap();
        std::hint::black_box(v);
    }
    println!(
        "serde_json parse: {:.3} µs",
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    );
    let t = std::time::Instant::now();
    for _ in 0..n {
        let v = regorus::Value::from_json_str(std::hint::black_box(text)).unwrap();
        std::hint::black_box(v);
    }
    println!(
        "regorus parse: {:.3} µs",
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    );
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
    let engine = warden_engine::Engine::new(warden_engine::Prepared::from_compiled(&c).unwrap());
    let v: serde_json::Value = serde_json::from_str(text).unwrap();
    let time = |name: &str, f: &mut dyn FnMut()| {
        let t = std::time::Instant::now();
        for _ in 0..n {
            f();
        }
        println!(
            "{name:<28} {:.3} µs",
            t.elapsed().as_secs_f64() * 1e6 / n as f64
        );
    };
    time("validate (DecisionInput)", &mut || {
        std::hint::black_box(
            <warden_core::DecisionInput as serde::Deserialize>::deserialize(&v).unwrap(),
        );
    });
    time("convert to regorus (clone)", &mut || {
        std::hint::black_box(regorus::Value::from(v.clone()));
    });
    time("decision_input (check + convert)", &mut || {
        std::hint::black_box(warden_engine::decision_input(&v).unwrap());
    });
    let input = warden_engine::decision_input(&v).unwrap();
    time("eval (RVM)", &mut || {
        std::hint::black_box(
            engine
                .eval(warden_core::DECISION_QUERY, input.clone())
                .unwrap(),
        );
    });
    let out = engine
        .eval(warden_core::DECISION_QUERY, input.clone())
        .unwrap();
    time("decision from value", &mut || {
        std::hint::black_box(warden_engine::decision_from_value(&out).unwrap());
    });
    time("end to end", &mut || {
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        std::hint::black_box(engine.decide(&v).unwrap());
    });
}

#[allow(dead_code)]
fn unused() {}
