//! Warden's decision engine.
//!
//! Policies (Warden's compiled output or any OPA-style set of Rego modules plus data) are parsed and
//! compiled once into a [`Prepared`] policy set: regorus RVM bytecode for each query, with the
//! interpreter kept as a fallback for queries the RVM compiler cannot take. An [`Engine`] holds the
//! active set behind an atomic pointer: readers never block, a swap is one store, and requests in
//! flight finish on the set they started with. A set keeps the VMs that run its queries (loaded
//! with its program and data, taken for one evaluation and put back), so once the evaluations in
//! flight are done nothing outside the set holds it.

mod builtins;
mod prepared;
pub mod share;
mod value_de;

use std::sync::Arc;

use arc_swap::ArcSwap;
use regorus::Value;
use warden_core::contract::{Decision, DecisionInput};

pub use prepared::{Evaluator, Prepared, Source};

/// Most RVM instructions one evaluation may execute before it is stopped.
pub const MAX_INSTRUCTIONS: usize = 5_000_000;

/// Errors from preparing or evaluating policies.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The Rego or data could not be loaded.
    #[error("cannot load policies: {0}")]
    Load(String),
    /// The input does not follow the decision contract.
    #[error("invalid input: {0}")]
    Input(String),
    /// Evaluation failed.
    #[error("evaluation failed: {0}")]
    Eval(String),
    /// The policy produced something that is not a decision.
    #[error("policy returned no decision for `{0}` (is the query right?)")]
    Undefined(String),
}

/// A hot-swappable, thread-safe evaluator.
pub struct Engine {
    active: ArcSwap<Prepared>,
}

impl Engine {
    /// An engine serving `prepared`.
    pub fn new(prepared: Prepared) -> Self {
        Engine {
            active: ArcSwap::from_pointee(prepared),
        }
    }

    /// The active policy set.
    pub fn current(&self) -> Arc<Prepared> {
        self.active.load_full()
    }

    /// Atomically replaces the active policy set; evaluations in flight finish on the old one.
    pub fn swap(&self, prepared: Prepared) -> Arc<Prepared> {
        self.active.swap(Arc::new(prepared))
    }

    /// Evaluates `query` against `input` and returns its value (`Value::Undefined` when undefined).
    pub fn eval(&self, query: &str, input: Value) -> Result<Value, EngineError> {
        self.eval_on(&self.active.load(), query, input)
    }

    /// Evaluates `query` on a given snapshot of this engine's policy set (from [`Engine::current`]).
    pub fn eval_on(
        &self,
        prepared: &Prepared,
        query: &str,
        input: Value,
    ) -> Result<Value, EngineError> {
        prepared.eval(query, input)
    }

    /// Decides one call: validates the input against the contract, fills `environment.time` when
    /// absent, evaluates the compiled policies and returns the structured decision.
    pub fn decide(&self, input: &serde_json::Value) -> Result<Decision, EngineError> {
        let value = decision_input(input)?;
        let out = self.eval(warden_core::DECISION_QUERY, value)?;
        decision_from_value(&out)
    }

    /// Like [`Engine::decide`], also returning the policy set that decided (for its bundle
    /// revisions: a reload between the decision and reading them cannot misattribute it).
    pub fn decide_with_set(
        &self,
        input: &serde_json::Value,
    ) -> Result<(Decision, Arc<Prepared>), EngineError> {
        let value = decision_input(input)?;
        let prepared = self.active.load_full();
        let out = self.eval_on(&prepared, warden_core::DECISION_QUERY, value)?;
        Ok((decision_from_value(&out)?, prepared))
    }
}

/// Parses one Rego module on its own, so a syntax error names the file it is in.
pub fn check_module(path: &str, text: &str) -> Result<(), String> {
    let mut engine = regorus::Engine::new();
    builtins::register(&mut engine).map_err(|e| e.to_string())?;
    engine
        .add_policy(path.to_string(), text.to_string())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Checks `input` against the decision contract and converts it for evaluation, filling
/// `environment.time` with the current time when the caller did not send one.
pub fn decision_input(input: &serde_json::Value) -> Result<Value, EngineError> {
    objects_where_the_contract_has_them(input)?;
    // Tracking the path costs on every field; only a failed check needs it, for the message.
    if <DecisionInput as serde::Deserialize>::deserialize(input).is_err() {
        if let Err(e) = serde_path_to_error::deserialize::<_, DecisionInput>(input) {
            let path = e.path().to_string();
            return Err(EngineError::Input(format!("{path}: {}", e.inner())));
        }
    }
    match input.get("environment").and_then(|e| e.get("time")) {
        None | Some(serde_json::Value::Null) => {}
        Some(serde_json::Value::String(t)) => {
            // chrono also accepts a space or a lower-case `t` for `T`, a lower-case `z`, and a
            // leap second (`:60`); OPA's time builtins (Go's RFC 3339 layout) refuse them all.
            let b = t.as_bytes();
            if chrono::DateTime::parse_from_rfc3339(t).is_err()
                || b.get(10) != Some(&b'T')
                || b.get(17..19) == Some(b"60")
                || b.last() == Some(&b'z')
            {
                return Err(EngineError::Input(format!(
                    "environment.time: `{t}` is not an RFC 3339 time (e.g. 2026-11-23T15:00:00Z)"
                )));
            }
            return to_value(input);
        }
        Some(_) => {
            return Err(EngineError::Input(
                "environment.time: expected an RFC 3339 string".into(),
            ))
        }
    }
    let mut filled = input.clone();
    if let Some(obj) = filled.as_object_mut() {
        let env = obj
            .entry("environment")
            .or_insert_with(|| serde_json::json!({}));
        if let Some(env) = env.as_object_mut() {
            env.insert("time".into(), serde_json::Value::String(now_rfc3339()));
        }
    }
    to_value(&filled)
}

/// The input and its parts that the contract declares as objects must be JSON objects: serde
/// would also read a struct from an array of its fields in order, and the policy would then be
/// asked about an array, which no rule matches.
fn objects_where_the_contract_has_them(input: &serde_json::Value) -> Result<(), EngineError> {
    let Some(obj) = input.as_object() else {
        return Err(EngineError::Input(format!(
            "the decision input must be a JSON object with tenant, agent and action, not {}",
            json_kind(input)
        )));
    };
    for part in ["agent", "user", "action", "context", "environment", "state"] {
        match obj.get(part) {
            None | Some(serde_json::Value::Object(_)) => {}
            Some(v) => {
                return Err(EngineError::Input(format!(
                    "{part}: expected an object, not {}",
                    json_kind(v)
                )))
            }
        }
    }
    Ok(())
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    use serde_json::Value as J;
    match v {
        J::Null => "null",
        J::Bool(_) => "a boolean",
        J::Number(_) => "a number",
        J::String(_) => "a string",
        J::Array(_) => "an array",
        J::Object(_) => "an object",
    }
}

/// Converts JSON to a regorus value without copying the JSON first.
///
/// Walked directly rather than through regorus's `Deserialize` (as this did before): the serde
/// visitor inserts an object's keys one by one into a `BTreeMap` and then copies the map into
/// regorus's compact object storage, where a `serde_json` map is already sorted and becomes
/// that storage in one pass; on every decision that was about a fifth of the engine's
/// instructions. The result is the same value, number for number (`tests` compare the
/// two on the contract's inputs).
pub fn to_value(v: &serde_json::Value) -> Result<Value, EngineError> {
    use serde_json::Value as J;
    Ok(match v {
        J::Null => Value::Null,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => {
            if let Some(u) = n.as_u64() {
                Value::from(u)
            } else if let Some(i) = n.as_i64() {
                Value::from(i)
            } else {
                match n.as_f64() {
                    Some(f) if f.is_finite() => Value::from(f),
                    _ => return Err(EngineError::Input(format!("invalid number {n}"))),
                }
            }
        }
        J::String(s) => Value::String(s.as_str().into()),
        J::Array(a) => Value::from(a.iter().map(to_value).collect::<Result<Vec<_>, _>>()?),
        J::Object(m) => {
            let mut entries = Vec::with_capacity(m.len());
            for (k, v) in m {
                entries.push((Value::String(k.as_str().into()), to_value(v)?));
            }
            regorus::value::Object::from_entries(entries).into_value()
        }
    })
}

/// Converts the library's decision value into the typed decision. Not inlined, so that
/// profiles (`bench/decision-instructions.sh`) show this stage on its own.
#[inline(never)]
pub fn decision_from_value(v: &Value) -> Result<Decision, EngineError> {
    if *v == Value::Undefined {
        return Err(EngineError::Undefined(warden_core::DECISION_QUERY.into()));
    }
    value_de::from_value(v).map_err(|e| EngineError::Eval(format!("malformed decision: {e}")))
}

/// The current time in seconds since the Unix epoch.
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The current time as RFC 3339 UTC, to the second.
pub fn now_rfc3339() -> String {
    rfc3339_utc(now_unix())
}

/// Formats seconds since the epoch as RFC 3339 UTC (`2026-11-23T14:05:09Z`).
pub fn rfc3339_utc(secs: u64) -> String {
    let secs = i64::try_from(secs).unwrap_or(i64::MAX);
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Object::from_entries` (the vendored regorus patch `to_value` uses) orders entries that
    /// come out of order and keeps the last of a repeated key, as inserting them one by one does.
    #[test]
    fn objects_from_entries_in_any_order() {
        let s = |x: &str| Value::from(x);
        let unsorted = vec![(s("b"), s("1")), (s("a"), s("2")), (s("b"), s("3"))];
        let v = regorus::value::Object::from_entries(unsorted).into_value();
        let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, [s("a"), s("b")]);
        assert_eq!(v[&s("b")], s("3"));
        let empty = regorus::value::Object::from_entries(Vec::new()).into_value();
        assert_eq!(empty, Value::new_object());
    }

    /// The direct conversion gives what regorus's own `Deserialize` gives.
    #[test]
    fn to_value_matches_regorus_deserialize() {
        let docs = [
            r#"null"#,
            r#"[true, false, 0, -1, 1.5, -2.25e10, 18446744073709551615, -9223372036854775808]"#,
            r#"{"z": 1, "a": {"b": [1, "x", {"c": null}], "": {}}, "é": [], "A": "ü\n"}"#,
            r#"{"tenant": "acme", "agent": {"id": "a"}, "action": {"tool": "pay",
                "type": "send", "args": {"amount": 12.5, "to": ["x@y.z"], "n": 3}},
                "context": {"turn_count": 2}, "environment": {"time": "2026-11-23T15:00:00Z"}}"#,
            r#"1e308"#,
            r#"0.1"#,
            r#"123456789012345678901234567890"#,
        ];
        for d in docs {
            let j: serde_json::Value = serde_json::from_str(d).unwrap();
            let via_serde = <Value as serde::Deserialize>::deserialize(&j).unwrap();
            assert_eq!(to_value(&j).unwrap(), via_serde, "{d}");
            assert_eq!(
                to_value(&j).unwrap().to_json_str().unwrap(),
                via_serde.to_json_str().unwrap()
            );
        }
    }

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(1_795_442_709), "2026-11-23T14:05:09Z");
        assert_eq!(rfc3339_utc(951_782_400), "2000-02-29T00:00:00Z");
    }

    /// Once the evaluations on a replaced set are done, nothing outside it holds it or its data
    /// (its VMs are its own), so the thread that retires it frees all of it; no request thread
    /// that evaluated on it is left holding the data until its next call.
    #[test]
    fn a_replaced_set_is_held_by_nothing_once_its_evaluations_are_done() {
        let module = Source {
            path: "p.rego".into(),
            text: "package p\nx := data.d.n".into(),
        };
        let data = Value::from_json_str(r#"{"d": {"n": 1}}"#).unwrap();
        let engine = Engine::new(
            Prepared::new(std::slice::from_ref(&module), data, &["data.p.x"], "r1").unwrap(),
        );
        // Evaluations on several threads at once, so several VMs are made.
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    for _ in 0..200 {
                        assert_eq!(engine.eval("data.p.x", Value::Null).unwrap(), 1u64.into());
                    }
                });
            }
        });
        // A thread that evaluated on the set stays alive, idle, until the end (as a quiet worker
        // thread does) while the set is replaced.
        let (evaluated, finish) = (std::sync::Barrier::new(2), std::sync::Barrier::new(2));
        std::thread::scope(|s| {
            s.spawn(|| {
                assert_eq!(engine.eval("data.p.x", Value::Null).unwrap(), 1u64.into());
                evaluated.wait();
                finish.wait();
            });
            evaluated.wait();
            let next = Value::from_json_str(r#"{"d": {"n": 2}}"#).unwrap();
            let old = engine.swap(Prepared::new(&[module], next, &["data.p.x"], "r2").unwrap());
            assert_eq!(engine.eval("data.p.x", Value::Null).unwrap(), 2u64.into());
            let old = Arc::try_unwrap(old).ok();
            let held = match old.map(Prepared::into_data) {
                Some(Value::Object(root)) => regorus::Rc::strong_count(&root),
                _ => 0,
            };
            finish.wait();
            assert_eq!(held, 1, "nothing but the replaced set held it and its data");
        });
    }

    /// VMs readied by `warm` are the ones evaluations use; an evaluation error leaves the VM
    /// usable for the next call.
    #[test]
    fn warmed_and_reused_vms_evaluate_like_new_ones() {
        let module = Source {
            path: "p.rego".into(),
            text: "package p\nx := input.a + data.d.n".into(),
        };
        let data = Value::from_json_str(r#"{"d": {"n": 1}}"#).unwrap();
        let set = Prepared::new(&[module], data, &["data.p.x"], "r1").unwrap();
        set.warm("data.p.x", 3).unwrap();
        for a in 0..10u64 {
            let input = Value::from_json_str(&format!(r#"{{"a": {a}}}"#)).unwrap();
            assert_eq!(set.eval("data.p.x", input).unwrap(), Value::from(a + 1));
            // A string plus a number is an error (or undefined), never a stale answer.
            let bad = Value::from_json_str(r#"{"a": "s"}"#).unwrap();
            assert!(set
                .eval("data.p.x", bad)
                .map_or(true, |v| v == Value::Undefined));
        }
    }
}
