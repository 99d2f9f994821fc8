//! The engine is shared across threads and replaced atomically: while one thread swaps policy
//! sets back and forth, readers never fail and every decision comes wholly from one set.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::json;
use warden_engine::{Engine, Prepared};

fn prepared(max: u32, version: &str) -> Prepared {
    let yaml = format!(
        "warden: 1\ntenant: t\nagents:\n  a:\n    tools:\n      pay:\n        create:\n          rules:\n            - id: cap\n              require: {{ args.amount: {{ max: {max} }} }}\n              reason: too_much\n"
    );
    let f = warden_core::load("p.yaml", &yaml).unwrap();
    Prepared::from_compiled(&warden_core::compile(&[f], &[], version).unwrap()).unwrap()
}

#[test]
fn readers_see_one_complete_policy_set_while_it_is_swapped() {
    let engine = Arc::new(Engine::new(prepared(100, "v1")));
    let stop = Arc::new(AtomicBool::new(false));
    let input = json!({"tenant": "t", "agent": {"id": "a"}, "action": {"tool": "pay", "type": "create", "args": {"amount": 500}},
                       "environment": {"time": "2026-11-23T10:00:00Z"}});
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (engine, stop, input) = (engine.clone(), stop.clone(), input.clone());
            std::thread::spawn(move || {
                let (mut v1, mut v2) = (0, 0);
                while !stop.load(Ordering::Relaxed) || v1 + v2 < 200 {
                    let d = engine
                        .decide(&input)
                        .expect("no decision fails during a swap");
                    // v1 caps at 100 (500 is denied), v2 at 1000 (allowed): outcome and version agree.
                    match (d.metadata.policy_version.as_str(), d.outcome.as_str()) {
                        ("v1", "deny") => v1 += 1,
                        ("v2", "allow") => v2 += 1,
                        other => panic!("mixed decision: {other:?}"),
                    }
                }
                (v1, v2)
            })
        })
        .collect();
    for i in 0..200 {
        engine.swap(if i % 2 == 0 {
            prepared(1000, "v2")
        } else {
            prepared(100, "v1")
        });
    }
    stop.store(true, Ordering::Relaxed);
    let mut total = (0, 0);
    for r in readers {
        let (a, b) = r.join().unwrap();
        total = (total.0 + a, total.1 + b);
    }
    assert!(
        total.0 > 0 && total.1 > 0,
        "both policy sets served: {total:?}"
    );
}
