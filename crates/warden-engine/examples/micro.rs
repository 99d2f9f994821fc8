//! Micro-benchmarks of RVM primitives, to guide how the shared library is written.
use warden_engine::{Engine, Prepared, Source};

const REGO: &str = r#"
package m
base := input.x
f(a) := a + 1
calls := f(f(f(f(f(f(f(f(f(f(input.x))))))))))
g(c, v) if { c == "a"; v > 0 }
g(c, v) if { c == "b"; v > 0 }
g(c, v) if { c == "c"; v > 0 }
g(c, v) if { c == "d"; v > 0 }
g(c, v) if { c == "e"; v > 0 }
g(c, v) if { c == "f"; v > 0 }
g(c, v) if { c == "g"; v > 0 }
g(c, v) if { c == "h"; v > 0 }
g(c, v) if { c == "i"; v > 0 }
g(c, v) if { c == "z"; v > 0 }
dispatch10 := [1 | some i in numbers.range(1, 10); g("z", input.x)]
single(c, v) if { c == "z"; v > 0 }
single10 := [1 | some i in numbers.range(1, 10); single("z", input.x)]
inline10 := [1 | some i in numbers.range(1, 10); input.x > 0]
objget10 := [v | some i in numbers.range(1, 10); v := object.get(input, ["a", "b", "c"], null)]
ref10 := [v | some i in numbers.range(1, 10); v := input.a.b.c]
conds := [{"op": "max", "path": ["a", "b", "c"], "value": 5}, {"op": "min", "path": ["a", "b", "c"], "value": 0}, {"op": "in", "path": ["a", "b", "c"], "value": {"3": true}}]
fails contains i if { some i, c in conds; c.op == "max"; v := object.get(input, c.path, null); v > c.value }
fails contains i if { some i, c in conds; c.op == "min"; v := object.get(input, c.path, null); v < c.value }
objrule[k] := v if { some k in ["a", "b", "c"]; v := 1 }
r := input.x
refs10 := [1 | some i in numbers.range(1, 10); r > 0]
local10 := [1 | y := input.x; some i in numbers.range(1, 10); y > 0]
bodies10 contains 1 if r > 0
bodies10 contains 2 if r > 0
bodies10 contains 3 if r > 0
bodies10 contains 4 if r > 0
bodies10 contains 5 if r > 0
bodies10 contains 6 if r > 0
bodies10 contains 7 if r > 0
bodies10 contains 8 if r > 0
bodies10 contains 9 if r > 0
bodies10 contains 10 if r > 0
big := {"allow": true, "reasons": [], "x": [], "y": [], "z": {"a": 1, "b": [], "c": null, "d": "s"}}
"#;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20000);
    let rules = [
        "base",
        "calls",
        "dispatch10",
        "single10",
        "inline10",
        "objget10",
        "ref10",
        "fails",
        "objrule",
        "big",
        "refs10",
        "local10",
        "bodies10",
    ];
    let queries: Vec<String> = rules.iter().map(|r| format!("data.m.{r}")).collect();
    let qs: Vec<&str> = queries.iter().map(String::as_str).collect();
    let p = Prepared::new(
        &[Source {
            path: "m.rego".into(),
            text: REGO.into(),
        }],
        regorus::Value::new_object(),
        &qs,
        "",
    )
    .unwrap();
    let engine = Engine::new(p);
    let input = regorus::Value::from(serde_json::json!({"x": 3, "a": {"b": {"c": 3}}}));
    for q in &qs {
        let t = std::time::Instant::now();
        for _ in 0..n {
            std::hint::black_box(engine.eval(q, input.clone()).unwrap());
        }
        println!(
            "{q:<20} {:>7.3} µs (rvm {})",
            t.elapsed().as_secs_f64() * 1e6 / n as f64,
            engine.current().rvm_unavailable(q).is_none()
        );
    }
}
