//! Evaluates a query on a bundle directory with both regorus paths (RVM and interpreter).
use warden_engine::{Prepared, Source};
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (dir, query, input) = (&a[1], &a[2], &a[3]);
    let mut mods = vec![];
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "rego") {
            mods.push(Source {
                path: p.display().to_string(),
                text: std::fs::read_to_string(&p).unwrap(),
            });
        }
    }
    let p = Prepared::new(&mods, regorus::Value::new_object(), &[query], "").unwrap();
    let input = regorus::Value::from_json_str(input).unwrap();
    println!("rvm unavailable: {:?}", p.rvm_unavailable(query));
    let e = warden_engine::Engine::new(p);
    println!(
        "RVM:    {:?}",
        e.eval(query, input.clone())
            .map(|v| v.to_json_str().unwrap_or_default())
    );
    println!(
        "interp: {:?}",
        e.current()
            .interpret(query, input)
            .map(|v| v.to_json_str().unwrap_or_default())
    );
}
