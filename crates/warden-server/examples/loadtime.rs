//! Times each stage of loading a bundle file: read + unpack, verify/parse, merge + prepare.
//! usage: loadtime BUNDLE.tar.gz
use std::time::Instant;

fn main() {
    let path = std::env::args().nth(1).expect("bundle path");
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
    println!("merge+prepare {:?}", t.elapsed());
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
