//! Regressions found in review: each decision is checked on the RVM (what Warden serves), against
//! the interpreter and against the library's full path.

use serde_json::{json, Value};
use warden_core::{compile, load, RegoModule};
use warden_engine::{decision_input, Engine, Prepared};

fn engine(policy: &str, rego: &[(&str, &str)]) -> Engine {
    let f = load("p.yaml", policy).unwrap_or_else(|d| panic!("{d:#?}"));
    let custom: Vec<RegoModule> = rego
        .iter()
        .map(|(f, t)| RegoModule {
            file: f.to_string(),
            text: t.to_string(),
        })
        .collect();
    let c = compile(&[f], &custom, "t").unwrap_or_else(|d| panic!("{d:#?}"));
    Engine::new(Prepared::from_compiled(&c).unwrap())
}

/// The decision, after checking that every evaluation path agrees on it.
fn decide(e: &Engine, input: Value) -> Value {
    let v = decision_input(&input).unwrap();
    let rvm = e.eval(warden_core::DECISION_QUERY, v.clone()).unwrap();
    let interp = e
        .current()
        .interpret(warden_core::DECISION_QUERY, v.clone())
        .unwrap();
    let full = e.eval("data.warden.main.full_decision", v).unwrap();
    assert_eq!(rvm, interp, "RVM and interpreter differ");
    assert_eq!(rvm, full, "fast/medium path and full path differ");
    serde_json::to_value(&rvm).unwrap()
}

fn call(args: Value) -> Value {
    json!({"tenant": "t", "agent": {"id": "a"}, "action": {"tool": "x", "type": "do", "args": args},
           "environment": {"time": "2026-11-23T10:00:00Z"}})
}

#[test]
fn custom_rego_without_reason_or_with_unknown_outcome_denies() {
    let policy = "warden: 1\ntenant: t\nagents:\n  a:\n    tools:\n      x:\n        do: {}\n";
    let rego = "package warden.custom.c\n\nviolations contains {\"outcome\": \"block\", \"message\": \"no\"} if input.action.args.bad\n";
    let e = engine(policy, &[("c.rego", rego)]);
    assert_eq!(decide(&e, call(json!({})))["outcome"], "allow");
    let d = decide(&e, call(json!({"bad": true})));
    assert_eq!(d["outcome"], "deny");
    assert_eq!(d["reasons"], json!(["custom_violation"]));
}

#[test]
fn a_custom_violation_that_is_not_an_object_denies() {
    let policy = "warden: 1\ntenant: t\nagents:\n  a:\n    tools:\n      x:\n        do: {}\n";
    let rego =
        "package warden.custom.c\n\nviolations contains \"blocked\" if input.action.args.bad\n";
    let e = engine(policy, &[("c.rego", rego)]);
    assert_eq!(decide(&e, call(json!({})))["outcome"], "allow");
    let d = decide(&e, call(json!({"bad": true})));
    assert_eq!(d["outcome"], "deny", "{d}");
    assert_eq!(d["reasons"], json!(["custom_violation"]));
    assert_eq!(d["violations"][0]["rule"], "custom/c");
}

#[test]
fn an_optional_and_a_required_condition_on_one_path_agree_on_every_path() {
    let policy = r#"warden: 1
tenant: t
agents:
  a:
    tools:
      x:
        do:
          rules:
            - id: soft
              require: { args.n: { optional: true, max: 5 } }
              on_violation: approval_needed
              reason: big
            - id: hard
              require: { args.n: { min: 0 } }
              reason: needs_n
"#;
    let e = engine(policy, &[]);
    assert_eq!(decide(&e, call(json!({"n": 1})))["outcome"], "allow");
    assert_eq!(
        decide(&e, call(json!({"n": 9})))["outcome"],
        "approval_needed"
    );
    let missing = decide(&e, call(json!({})));
    assert_eq!(
        missing["reasons"],
        json!(["needs_n"]),
        "the optional rule holds when n is missing"
    );
}

#[test]
fn an_override_for_an_action_reached_through_a_star_grant_applies() {
    let policy = r#"warden: 1
tenant: t
category: override
agents:
  a:
    tools:
      x:
        "*":
          rules:
            - id: no-export
              require: { args.ok: { equals: true } }
              reason: not_ok
overrides:
  - id: export-ok
    justification: reviewed
    agents: [a]
    actions: [export]
    waive: [not_ok]
"#;
    let e = engine(policy, &[]);
    let mut input = call(json!({}));
    input["action"]["type"] = json!("export");
    let d = decide(&e, input);
    assert_eq!(d["outcome"], "allow");
    assert_eq!(d["waived"][0]["by"], "t/override/export-ok");
    assert_eq!(decide(&e, call(json!({})))["reasons"], json!(["not_ok"]));
}

#[test]
fn malformed_inputs_are_rejected_with_the_field_named() {
    let e = engine("warden: 1\ntenant: t\nagents:\n  a: {}\n", &[]);
    for (input, field) in [
        (
            json!({"tenant": "t", "agent": {"id": "a"}, "action": {"tool": "x", "type": "do"}, "context": {"turn_count": "7"}}),
            "context.turn_count",
        ),
        (
            json!({"tenant": "t", "agent": {"id": "a"}, "action": {"tool": "x", "type": "do"}, "environment": {"time": "2026-11-23 10:00:00Z"}}),
            "environment.time",
        ),
        // What OPA's time builtins refuse: a leap second, lower-case `t` or `z`.
        (
            json!({"tenant": "t", "agent": {"id": "a"}, "action": {"tool": "x", "type": "do"}, "environment": {"time": "2026-11-23T08:59:60-05:00"}}),
            "environment.time",
        ),
        (
            json!({"tenant": "t", "agent": {"id": "a"}, "action": {"tool": "x", "type": "do"}, "environment": {"time": "2026-11-23t10:00:00Z"}}),
            "environment.time",
        ),
        (
            json!({"tenant": "t", "agent": {"id": "a"}, "action": {"tool": "x", "type": "do"}, "environment": {"time": "2026-11-23T10:00:00z"}}),
            "environment.time",
        ),
        (
            json!({"tenant": "t", "agent": {"id": 5}, "action": {"tool": "x", "type": "do"}}),
            "agent.id",
        ),
        (
            json!({"tenant": "t", "action": {"tool": "x", "type": "do"}}),
            "agent",
        ),
        // serde reads a struct from an array of its fields; the contract does not.
        (
            json!(["t", {"id": "a"}, {}, {"type": "do", "tool": "x"}]),
            "must be a JSON object",
        ),
        (
            json!({"tenant": "t", "agent": ["a"], "action": {"tool": "x", "type": "do"}}),
            "agent: expected an object, not an array",
        ),
        (
            json!({"tenant": "t", "agent": {"id": "a"}, "action": ["do", "x"]}),
            "action: expected an object",
        ),
    ] {
        let err = e.decide(&input).unwrap_err().to_string();
        assert!(err.contains(field), "{err} should name {field}");
    }
}
