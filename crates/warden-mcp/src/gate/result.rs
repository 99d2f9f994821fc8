//! What comes back from a forwarded call: its limit charges settled, a malformed result turned
//! into an error, and the policy's redactions on `result.…` paths applied before the client sees it.

use serde_json::{json, Value};

use super::reply::{codes, error, withheld};
use super::Gate;

/// Whether an answer to a call (a JSON-RPC response) says the call succeeded: a result object
/// without `isError`. Its charges are kept then, released otherwise.
pub fn succeeded(msg: &Value) -> bool {
    msg.get("result")
        .is_some_and(|r| r.is_object() && r.get("isError").and_then(Value::as_bool) != Some(true))
}

impl Gate {
    /// The answer to a forwarded call (`msg`, a JSON-RPC response) came back: keeps the call's
    /// charges if it succeeded (a result without `isError`) and releases them otherwise, turns a
    /// result that is not an object into a -32006 error, and masks the result as policy says.
    /// Returns whether `msg` changed.
    pub fn answered(&self, reservation: Option<&str>, input: &Value, msg: &mut Value) -> bool {
        self.settle(reservation, succeeded(msg));
        let is_error =
            msg.get("result").is_none() && msg.get("error").is_some_and(Value::is_object);
        if is_error {
            return msg
                .get_mut("error")
                .is_some_and(|e| self.on_error(input, e));
        }
        match msg.get_mut("result") {
            Some(r) if r.is_object() => self.on_result(input, r),
            _ => {
                let id = msg.get("id").cloned().unwrap_or(Value::Null);
                *msg = error(
                    &id,
                    codes::UPSTREAM_FAILED,
                    "the MCP server answered with a malformed tool result",
                    None,
                );
                true
            }
        }
    }

    /// A `notifications/progress` about a forwarded call (`input` is its decision input): its
    /// `message` is text the model may read before the result, so it is masked as the call's
    /// result would be. Returns whether `note` changed.
    pub fn on_progress(&self, input: &Value, note: &mut Value) -> bool {
        let Some(text) = note.pointer("/params/message").and_then(Value::as_str) else {
            return false;
        };
        let mut as_result = json!({"content": [{"type": "text", "text": text}]});
        if !self.on_result(input, &mut as_result) {
            return false;
        }
        note["params"]["message"] = as_result
            .pointer("/content/0/text")
            .cloned()
            .unwrap_or_else(|| json!("(withheld)"));
        true
    }

    /// An error the MCP server answered a call with: its `message` and `data` are text the model
    /// reads too, so where the policy redacts this call's results they are masked the same way,
    /// as the text content of a result (`data` as its JSON text). Returns whether it changed.
    pub(crate) fn on_error(&self, input: &Value, err: &mut Value) -> bool {
        let Some(e) = err.as_object_mut() else {
            return false;
        };
        let message = e.get("message").and_then(Value::as_str).unwrap_or("");
        let data = e.get("data").map(Value::to_string);
        let mut content = vec![json!({"type": "text", "text": message})];
        content.extend(data.iter().map(|d| json!({"type": "text", "text": d})));
        let mut as_result = json!({"content": content, "isError": true});
        if !self.on_result(input, &mut as_result) {
            return false;
        }
        let text = |i: usize| as_result.pointer(&format!("/content/{i}/text")).cloned();
        e.insert(
            "message".into(),
            text(0).unwrap_or_else(|| json!("the MCP server's error is withheld")),
        );
        match (data.is_some(), text(1)) {
            (true, Some(Value::String(d))) => {
                e.insert(
                    "data".into(),
                    serde_json::from_str(&d).unwrap_or(Value::String(d)),
                );
            }
            _ => {
                e.remove("data");
            }
        }
        true
    }

    /// Applies the policy's `redact` rules on `result.…` paths to what a call returned (`input`
    /// is the call's decision input). Returns whether the result changed. A result that cannot
    /// be checked is withheld (fail closed).
    pub fn on_result(&self, input: &Value, result: &mut Value) -> bool {
        // `get` chains, not `pointer`: this runs on every tool result, and `pointer` allocates
        // for each path segment it unescapes.
        fn text(v: Option<&Value>) -> &str {
            v.and_then(Value::as_str).unwrap_or("")
        }
        let action = input.get("action");
        if !self.svc.redacts_results(
            text(input.get("tenant")),
            text(input.get("agent").and_then(|a| a.get("id"))),
            text(action.and_then(|a| a.get("tool"))),
            text(action.and_then(|a| a.get("type"))),
        ) {
            // Nothing in the policy looks at results: no second decision on the hot path.
            return false;
        }
        let mut probe = input.clone();
        if let Some(o) = probe.as_object_mut() {
            o.remove("state");
            o.insert("result".into(), result.clone());
        }
        // Not counted: the call's decision already was.
        let redactions: Vec<_> = match self.svc.decide_uncounted(&probe) {
            Ok(d) => d
                .decision
                .redactions
                .into_iter()
                .filter(|r| r.path == "/result" || r.path.starts_with("/result/"))
                .collect(),
            Err(e) => {
                *result = withheld(&format!(
                    "Warden could not check this result ({e}), so it is withheld."
                ));
                return true;
            }
        };
        if redactions.is_empty() {
            return false;
        }
        let mut doc = json!({"result": result.take()});
        match warden_core::redact::apply(&mut doc, &redactions) {
            Ok(_) => *result = doc["result"].take(),
            Err(e) => {
                *result = withheld(&format!(
                    "a redaction could not be applied ({e}), so the result is withheld"
                ))
            }
        }
        true
    }

    /// Settles a reservation: committed when the call succeeded, released otherwise.
    pub fn settle(&self, reservation: Option<&str>, succeeded: bool) {
        let Some(id) = reservation else { return };
        let r = if succeeded {
            self.limits.commit(id)
        } else {
            self.limits.release(id)
        };
        if let Err(e) = r {
            tracing::error!(error = %e, reservation = id, "could not settle a limit reservation");
        }
    }
}
