//! How Warden answers a call itself: its stable JSON-RPC error codes, the error and withheld-result
//! shapes, and the readable refusal (reasons, remediation, `retry_after`) a denied call gets.

use serde_json::{json, Value};
use warden_core::contract::{Consume, Decision};

use super::{Denials, Gate};

/// Stable JSON-RPC error codes (server-defined range) for calls Warden answers itself.
pub mod codes {
    /// The policy denied the call.
    pub const DENIED: i64 = -32001;
    /// The call needs a person's approval first.
    pub const APPROVAL_NEEDED: i64 = -32002;
    /// A rate limit or budget is used up.
    pub const RATE_LIMITED: i64 = -32003;
    /// Warden could not decide or record the call (no policy, store or audit failure): fail closed.
    pub const UNAVAILABLE: i64 = -32004;
    /// The MCP server did not answer in time.
    pub const UPSTREAM_TIMEOUT: i64 = -32005;
    /// The MCP server is gone or answered something that is not JSON-RPC.
    pub const UPSTREAM_FAILED: i64 = -32006;
    /// JSON-RPC: the message is not JSON.
    pub const PARSE_ERROR: i64 = -32700;
    /// JSON-RPC: not a valid request (e.g. too large).
    pub const INVALID_REQUEST: i64 = -32600;
    /// JSON-RPC: bad parameters.
    pub const INVALID_PARAMS: i64 = -32602;
}

/// Why a request's id is not one MCP allows (a string or an integer; not null, a fraction, a
/// boolean or a structure), if it is not.
pub fn bad_request_id(id: &Value) -> Option<String> {
    if id.is_string() || id.is_i64() || id.is_u64() {
        return None;
    }
    Some(format!(
        "request id {id} is not a string or an integer, as MCP requires"
    ))
}

/// The `notifications/cancelled` Warden sends an MCP server for call `id` it abandoned.
pub fn cancelled_note(id: &Value, reason: &str) -> Value {
    json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
           "params": {"requestId": id, "reason": reason}})
}

/// A JSON-RPC error response.
pub fn error(id: &Value, code: i64, message: impl Into<String>, data: Option<Value>) -> Value {
    let mut e = json!({"code": code, "message": message.into()});
    if let Some(d) = data {
        e["data"] = d;
    }
    json!({"jsonrpc": "2.0", "id": id, "error": e})
}

/// A tool result that replaces one Warden will not pass on.
pub(super) fn withheld(text: &str) -> Value {
    json!({"content": [{"type": "text", "text": text}], "isError": true})
}

/// Seconds until the first exceeded enforced limit's window ends.
fn retry_after(consume: &[Consume], now: u64) -> Option<u64> {
    consume
        .iter()
        .filter(|c| !c.shadow && c.used + c.cost > c.max)
        .map(|c| {
            let s = c.window_seconds.max(1);
            (now / s + 1) * s - now
        })
        .max()
}

impl Gate {
    /// The answer to a call the policy did not let through.
    pub(super) fn refusal(&self, id: &Value, tool: &str, d: &Decision, decision_id: &str) -> Value {
        let outcome = d.outcome.as_str();
        let first = d.violations.first();
        let why = first
            .map(|v| v.message.clone())
            .unwrap_or_else(|| d.reasons.join(", "));
        let remediation = d
            .remediation
            .clone()
            .or_else(|| first.and_then(|v| v.remediation.clone()));
        let retry = retry_after(&d.consume, warden_engine::now_unix());
        let mut data = json!({
            "decision_id": decision_id,
            "outcome": outcome,
            "reasons": d.reasons,
            "remediation": remediation,
            "violations": d.violations,
            "policy_version": d.metadata.policy_version,
            "rate_limit_remaining": d.metadata.rate_limit_remaining,
        });
        if outcome == "approval_needed" {
            // Replaced by the approval record's id when approvals are configured.
            data["approval_id"] = json!(decision_id);
        }
        if let Some(r) = retry {
            data["retry_after"] = json!(r);
        }
        let (code, lead) = match outcome {
            "approval_needed" => (codes::APPROVAL_NEEDED, "needs a person's approval"),
            "rate_limited" => (codes::RATE_LIMITED, "is over a limit"),
            _ => (codes::DENIED, "was blocked by policy"),
        };
        let mut text = format!(
            "The call to {}/{} {lead} ({}): {why}",
            self.server,
            tool,
            d.reasons.join(", ")
        );
        if let Some(r) = &remediation {
            text.push_str(&format!(" What to do: {r}"));
        }
        if let Some(r) = retry {
            text.push_str(&format!(" Retry after {r} s."));
        }
        match self.denials {
            Denials::Error => error(id, code, text, Some(json!({"warden": data}))),
            Denials::Result => json!({"jsonrpc": "2.0", "id": id, "result": {
                "content": [{"type": "text", "text": text}],
                "isError": true,
                "_meta": {"warden": data},
            }}),
        }
    }
}
