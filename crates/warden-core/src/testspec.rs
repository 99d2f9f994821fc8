//! Policy test files: inputs and the decisions expected for them.
//!
//! ```yaml
//! defaults:
//!   input: { tenant: acme, agent: { id: finance-agent } }   # merged under every test's input
//! tests:
//!   - name: small payment is allowed
//!     input: { action: { type: create_payment, tool: stripe-payments, args: { amount: 10 } } }
//!     expect: { outcome: allow }
//! ```

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::contract::{Decision, Outcome};

/// A test file.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    /// Values shared by every test.
    #[serde(default)]
    pub defaults: Option<TestDefaults>,
    /// The tests.
    pub tests: Vec<TestCase>,
}

/// Values shared by every test of a file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TestDefaults {
    /// Input merged (deeply) under each test's input.
    #[serde(default)]
    pub input: Value,
}

/// One test.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TestCase {
    /// What the test shows.
    pub name: String,
    /// The decision input (merged over the file's default input).
    #[serde(default)]
    pub input: Value,
    /// What the decision must say.
    pub expect: Expect,
}

/// Expectations; only what is set is checked (and at least one thing must be).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The input must be rejected with an error containing this text (no decision is made).
    #[serde(default)]
    pub error: Option<String>,
    /// The outcome.
    #[serde(default)]
    pub outcome: Option<Outcome>,
    /// `allow`.
    #[serde(default)]
    pub allow: Option<bool>,
    /// Exactly these reason codes (any order).
    #[serde(default)]
    pub reasons: Option<Vec<String>>,
    /// At least these reason codes.
    #[serde(default)]
    pub reasons_include: Option<Vec<String>>,
    /// `would_deny`.
    #[serde(default)]
    pub would_deny: Option<bool>,
    /// `fail_mode`.
    #[serde(default)]
    pub fail_mode: Option<String>,
    /// Redactions as `path: name` pairs, e.g. `/action/args/body: ssn`.
    #[serde(default)]
    pub redactions: Option<Vec<String>>,
    /// Rules that must be among `metadata.matched_rules`.
    #[serde(default)]
    pub matched_rules_include: Option<Vec<String>>,
    /// `metadata.rate_limit_remaining`.
    #[serde(default)]
    pub rate_limit_remaining: Option<f64>,
    /// Rules whose violations were waived.
    #[serde(default)]
    pub waived: Option<Vec<String>>,
}

/// Deep-merges `over` onto `base`: objects merge key by key, `null` removes a key, anything else
/// replaces.
pub fn merge(base: &Value, over: &Value) -> Value {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            let mut out = b.clone();
            for (k, v) in o {
                if v.is_null() {
                    out.remove(k);
                    continue;
                }
                let merged = match out.get(k) {
                    Some(existing) => merge(existing, v),
                    None => v.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (_, Value::Null) => base.clone(),
        _ => over.clone(),
    }
}

impl TestFile {
    /// The full input of each test, defaults merged in.
    pub fn inputs(&self) -> Vec<Value> {
        let base = self
            .defaults
            .as_ref()
            .map(|d| d.input.clone())
            .unwrap_or(Value::Null);
        self.tests.iter().map(|t| merge(&base, &t.input)).collect()
    }
}

/// Checks the result of deciding a test input (a decision, or the error that rejected the input)
/// against expectations; returns one line per mismatch.
pub fn check_result(expect: &Expect, result: Result<&Decision, &str>) -> Vec<String> {
    if *expect == Expect::default() {
        // A test that checks nothing would pass whatever the policy decides.
        return vec!["`expect` checks nothing: give at least `outcome` (or `error`)".into()];
    }
    match (result, &expect.error) {
        (Ok(d), None) => check(expect, d),
        (Ok(d), Some(want)) => vec![format!(
            "expected the input to be rejected ({want:?}), got outcome {}",
            d.outcome.as_str()
        )],
        (Err(e), Some(want)) if e.contains(want.as_str()) => vec![],
        (Err(e), Some(want)) => vec![format!("expected an error containing {want:?}, got {e:?}")],
        (Err(e), None) => vec![format!("could not decide: {e}")],
    }
}

/// Checks a decision against expectations; returns one line per mismatch.
pub fn check(expect: &Expect, d: &Decision) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(o) = expect.outcome {
        if o != d.outcome {
            out.push(format!(
                "outcome: expected {}, got {}",
                o.as_str(),
                d.outcome.as_str()
            ));
        }
    }
    if let Some(a) = expect.allow {
        if a != d.allow {
            out.push(format!("allow: expected {a}, got {}", d.allow));
        }
    }
    if let Some(r) = &expect.reasons {
        let mut want = r.clone();
        want.sort();
        want.dedup();
        if want != d.reasons {
            out.push(format!("reasons: expected {want:?}, got {:?}", d.reasons));
        }
    }
    if let Some(r) = &expect.reasons_include {
        for code in r.iter().filter(|c| !d.reasons.contains(c)) {
            out.push(format!(
                "reasons: expected to include {code:?}, got {:?}",
                d.reasons
            ));
        }
    }
    if let Some(w) = expect.would_deny {
        if w != d.would_deny {
            out.push(format!("would_deny: expected {w}, got {}", d.would_deny));
        }
    }
    if let Some(f) = &expect.fail_mode {
        if *f != d.fail_mode {
            out.push(format!("fail_mode: expected {f}, got {}", d.fail_mode));
        }
    }
    if let Some(r) = &expect.redactions {
        let mut got: Vec<String> = d
            .redactions
            .iter()
            .map(|x| format!("{}: {}", x.path, x.name))
            .collect();
        let mut want = r.clone();
        got.sort();
        want.sort();
        if got != want {
            out.push(format!("redactions: expected {want:?}, got {got:?}"));
        }
    }
    if let Some(m) = &expect.matched_rules_include {
        for id in m.iter().filter(|id| !d.metadata.matched_rules.contains(id)) {
            out.push(format!(
                "matched_rules: expected to include {id:?}, got {:?}",
                d.metadata.matched_rules
            ));
        }
    }
    if let Some(n) = expect.rate_limit_remaining {
        if d.metadata.rate_limit_remaining != Some(n) {
            out.push(format!(
                "rate_limit_remaining: expected {n}, got {:?}",
                d.metadata.rate_limit_remaining
            ));
        }
    }
    if let Some(w) = &expect.waived {
        let got: Vec<&str> = d.waived.iter().map(|x| x.rule.as_str()).collect();
        if w.iter().map(String::as_str).collect::<Vec<_>>() != got {
            out.push(format!("waived: expected {w:?}, got {got:?}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `expect: {}` would pass whatever the policy decides: it fails, saying why.
    #[test]
    fn an_expectation_that_checks_nothing_fails() {
        let nothing = check_result(&Expect::default(), Err("rejected"));
        assert_eq!(nothing.len(), 1);
        assert!(nothing[0].contains("checks nothing"), "{nothing:?}");
        let error = Expect {
            error: Some("rejected".into()),
            ..Default::default()
        };
        assert!(check_result(&error, Err("input rejected")).is_empty());
    }
}
