//! Human approvals: when policy says `approval_needed`, a person decides, and the approval
//! authorizes exactly that call, once.
//!
//! - [`digest`]: the action digest, SHA-256 over the RFC 8785 canonical JSON of tenant, agent,
//!   tool, action and arguments. An approval and its token are bound to it.
//! - [`Store`]: durable approval records in SQLite (pending → approved | denied | expired |
//!   consumed), with joining of identical pending requests, a cap on pending requests per agent,
//!   authorized approvers, no self-approval, and expiry that fails closed.
//! - [`Tokens`]: one-time override tokens (HMAC-SHA256, bound to the approval and the digest,
//!   expiring); single use is enforced by the store's atomic `approved → consumed` step.
//! - [`notify`]: the Slack and Teams messages, and Slack's signed interaction callback.

pub mod notify;
mod store;
mod token;

pub use store::{Approvers, Event, Requested, Store};
pub use token::{Claims, Tokens};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Where an approval is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Waiting for a person.
    Pending,
    /// Approved: the call may be made once.
    Approved,
    /// Denied by a person.
    Denied,
    /// Nobody decided in time (denied).
    Expired,
    /// Approved and used.
    Consumed,
}

impl State {
    /// The state's name.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Approved => "approved",
            State::Denied => "denied",
            State::Expired => "expired",
            State::Consumed => "consumed",
        }
    }

    fn parse(s: &str) -> State {
        match s {
            "pending" => State::Pending,
            "approved" => State::Approved,
            "denied" => State::Denied,
            "consumed" => State::Consumed,
            // Anything unreadable counts as expired: fail closed.
            _ => State::Expired,
        }
    }
}

/// The call an approval is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Call {
    /// Tenant.
    pub tenant: String,
    /// Agent.
    pub agent: String,
    /// Tool (for MCP: the server).
    pub tool: String,
    /// Action (for MCP: the tool name).
    pub action: String,
    /// The call's arguments.
    pub arguments: Value,
}

/// SHA-256 (hex) over the RFC 8785 canonical JSON of the call: the action digest.
pub fn digest(call: &Call) -> String {
    let doc = json!({"tenant": call.tenant, "agent": call.agent, "tool": call.tool,
                     "action": call.action, "arguments": call.arguments});
    let bytes = serde_jcs::to_vec(&doc).unwrap_or_default();
    hex::encode(Sha256::digest(bytes))
}

/// One approval record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    /// Its id.
    pub id: String,
    /// The call.
    pub call: Call,
    /// The call's action digest.
    pub digest: String,
    /// Policy version that required it.
    pub policy_version: String,
    /// Rule that required it.
    pub rule: String,
    /// Reason codes.
    pub reasons: Vec<String>,
    /// Who asked, and in what context (session, conversation, decision id).
    pub requester: Value,
    /// Created (Unix seconds).
    pub created: u64,
    /// Pending until (Unix seconds); afterwards it is expired.
    pub expires: u64,
    /// State.
    pub state: State,
    /// Who decided.
    pub decided_by: Option<String>,
    /// When (Unix seconds).
    pub decided_at: Option<u64>,
    /// Why (the approver's note).
    pub note: Option<String>,
}

impl Approval {
    /// When the approved call must have been retried by (Unix seconds): `token_ttl_seconds`
    /// after the decision. Its override token expires then, however often it is minted.
    pub fn use_by(&self, token_ttl_seconds: u64) -> u64 {
        self.decided_at
            .unwrap_or(self.created)
            .saturating_add(token_ttl_seconds)
    }
}

/// Why an approval step was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ApprovalError {
    /// No such approval.
    #[error("no approval `{0}`")]
    NotFound(String),
    /// It is no longer pending (or no longer approved, for a token).
    #[error("approval `{0}` is {1}, not {2}")]
    WrongState(String, &'static str, &'static str),
    /// The agent has too many approvals waiting.
    #[error("agent `{0}` already has {1} approvals waiting (the most allowed)")]
    TooManyPending(String, usize),
    /// The requester tried to approve its own request.
    #[error("`{0}` asked for this approval and cannot decide it")]
    SelfApproval(String),
    /// The approver is not allowed to decide for this tenant or rule.
    #[error("`{0}` may not decide approvals for tenant `{1}`")]
    NotAuthorized(String, String),
    /// A token that is malformed, forged, expired, or for another call.
    #[error("override token rejected: {0}")]
    BadToken(String),
    /// The store failed: callers deny.
    #[error("approval store: {0}")]
    Store(String),
}

impl From<rusqlite::Error> for ApprovalError {
    fn from(e: rusqlite::Error) -> Self {
        ApprovalError::Store(e.to_string())
    }
}

/// An approval of a `t/pay` call with `arguments`, in `state` (decided by alice at 5 when not
/// pending), for the unit tests.
#[cfg(test)]
pub(crate) fn test_approval(arguments: Value, state: State) -> Approval {
    let call = Call {
        tenant: "acme".into(),
        agent: "a".into(),
        tool: "t".into(),
        action: "pay".into(),
        arguments,
    };
    let decided = state != State::Pending;
    Approval {
        id: "apr_1".into(),
        digest: digest(&call),
        call,
        policy_version: "1".into(),
        rule: "r".into(),
        reasons: vec![],
        requester: json!({}),
        created: 0,
        expires: 100,
        state,
        decided_by: decided.then(|| "alice".into()),
        decided_at: decided.then_some(5),
        note: None,
    }
}
