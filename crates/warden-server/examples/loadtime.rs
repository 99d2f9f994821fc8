//! Times each stage of loading a bundle file: read + unpack, verify/parse, merge + prepare.
//! usage: loadtime BUNDLE.tar.gz (with `PACED=1`, paced as the server's loader paces itself
//! while it serves: see `warden_server::pace`)
use std::time::Instant;

fn main() {
    let path = std::env::args().nth(1).expect("bundle path");
    if std::env::var_os("PACED").is_some() {
        warden_server::pace::enable();
    }
    let t = Instant::now();
    let (files, _) = warden_server::BundleSource::File(path.into())
        .read()
        .expect("read");
    println!("read+unpack {:?}", t.elapsed());
    let t = Instant::now();
    let part = warden_server::bundle::load(&files, None).expect("load");
    println!("parse {:?}", t.elapsed());
    let t = Instant::now();
    let set =
        warden_server::policy_set::merge(&[("main".to_string(), part)].into()).expect("merge");
    println!("merge+prepare {:?}; RSS {}", t.elapsed(), rss());
    let t = Instant::now();
    let e = warden_engine::Engine::new(set);
    let input = serde_json::json!({"tenant":"acme","agent":{"id":"agent-1"},"action":{"tool":"stripe-payments","type":"create_payment","args":{"amount":10,"currency":"USD"}}});
    e.decide(&input).expect("decide");
    println!("first decision (VM load) {:?}", t.elapsed());
    let t = Instant::now();
    e.decide(&input).expect("decide");
    println!("second decision {:?}", t.elapsed());
    let t = Instant::now();
    let mut vm = regorus::rvm::vm::RegoVM::new();
    let set = e.current();
    vm.load_program(set.program(warden_core::DECISION_QUERY).unwrap());
    println!("vm load_program {:?}", t.elapsed());
    let t = Instant::now();
    vm.set_data(set.data().clone()).unwrap();
    println!("vm set_data {:?}", t.elapsed());
    let t = Instant::now();
    drop(e);
    println!("drop {:?}", t.elapsed());
}

/// Resident set size of this process, from /proc.
fn rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS"))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("").to_string())
        })
        .map(|kb| format!("{:.1} MB", kb.parse::<f64>().unwrap_or(0.0) / 1024.0))
        .unwrap_or_default()
}
