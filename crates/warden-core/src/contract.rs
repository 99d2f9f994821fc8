//! The decision contract: what an enforcement point sends (`DecisionInput`) and what it gets back
//! (`Decision`). JSON Schemas for both are generated from these types into `schemas/`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One tool call to decide.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DecisionInput {
    /// Tenant id (e.g. `acme`).
    pub tenant: String,
    /// The calling agent.
    pub agent: Agent,
    /// The user on whose behalf the agent acts.
    #[serde(default)]
    pub user: User,
    /// The call.
    pub action: Action,
    /// Conversation state.
    #[serde(default)]
    pub context: Context,
    /// Where and when.
    #[serde(default)]
    pub environment: Environment,
    /// Current counters of stateful limits, supplied by the enforcement point.
    #[serde(default)]
    pub state: State,
    /// What the tool returned, when an enforcement point decides on a call's result (the MCP
    /// gateway does, to apply `redact` rules on `result.…` paths before the model sees it).
    /// Absent when the call itself is decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
}

/// The calling agent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Agent {
    /// Agent id (e.g. `finance-agent`).
    pub id: String,
    /// Domain scope (e.g. `payments`), used by workflow limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Owning team.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_team: Option<String>,
}

/// The user on whose behalf the agent acts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct User {
    /// User id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Groups the user belongs to.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Data classes the user may handle.
    #[serde(default)]
    pub data_classifications_authorized: Vec<String>,
}

/// The call being decided.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Action {
    /// The operation on the tool (e.g. `create_payment`; for MCP, the tool name).
    #[serde(rename = "type")]
    pub action_type: String,
    /// The tool (e.g. `stripe-payments`; for MCP, the server name).
    pub tool: String,
    /// Call arguments.
    #[serde(default)]
    pub args: Map<String, Value>,
    /// Data classes the call carries.
    #[serde(default)]
    pub data_classes_referenced: Vec<String>,
}

/// Conversation state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Context {
    /// Conversation id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    /// Turns so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn_count: Option<u64>,
    /// Tokens so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cumulative_tokens: Option<u64>,
    /// Session age in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_age_seconds: Option<u64>,
}

/// Where and when.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Environment {
    /// Region (e.g. `us-east`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// RFC 3339 time of the call. Filled with the current time when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// Whether this is production.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_production: Option<bool>,
}

/// Counters of stateful limits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct State {
    /// Amount already used per limit key (see `Consume.key`).
    #[serde(default)]
    pub usage: BTreeMap<String, f64>,
}

/// The outcome of a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Forward the call.
    Allow,
    /// Block the call.
    Deny,
    /// Forward the call after applying `redactions`.
    Sanitize,
    /// Hold the call until a person approves it.
    ApprovalNeeded,
    /// Block the call until a limit's window has room.
    RateLimited,
}

impl Outcome {
    /// The snake_case name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allow => "allow",
            Outcome::Deny => "deny",
            Outcome::Sanitize => "sanitize",
            Outcome::ApprovalNeeded => "approval_needed",
            Outcome::RateLimited => "rate_limited",
        }
    }
}

/// The structured decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Decision {
    /// Whether the call may proceed (`allow` or `sanitize`).
    pub allow: bool,
    /// The outcome.
    pub outcome: Outcome,
    /// Reason codes of the violations in force, sorted.
    pub reasons: Vec<String>,
    /// What the caller can do about the most severe violation.
    pub remediation: Option<String>,
    /// Every violation in force, most severe first.
    pub violations: Vec<Violation>,
    /// Violations waived by overrides.
    pub waived: Vec<Waived>,
    /// Redactions to apply before forwarding (outcome `sanitize`).
    pub redactions: Vec<Redaction>,
    /// Limits the enforcement point must charge atomically.
    pub consume: Vec<Consume>,
    /// Shadow rules would have blocked this call.
    pub would_deny: bool,
    /// Violations of shadow rules.
    pub shadow_violations: Vec<Violation>,
    /// What to do if this call cannot be decided: `open` or `closed`.
    pub fail_mode: String,
    /// Metadata for audit and explanation.
    pub metadata: Metadata,
}

/// One violated rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Violation {
    /// Stable rule id.
    pub rule: String,
    /// Stable reason code.
    pub reason: String,
    /// Outcome this violation calls for.
    pub outcome: Outcome,
    /// Human message.
    pub message: String,
    /// Human remediation.
    pub remediation: Option<String>,
}

/// A violation waived by an override.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Waived {
    /// Rule whose violation was waived.
    pub rule: String,
    /// Its reason code.
    pub reason: String,
    /// The override that waived it.
    pub by: String,
}

/// One redaction to apply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Redaction {
    /// JSON pointer into the input (e.g. `/action/args/payload/body`).
    pub path: String,
    /// Pattern name (e.g. `ssn`), or `field` for a whole-field redaction.
    pub name: String,
    /// Regex whose matches are replaced; null replaces the whole field.
    pub pattern: Option<String>,
    /// Replacement text.
    pub replacement: String,
    /// Rule that asked for it.
    pub rule: String,
}

/// A limit to charge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Consume {
    /// Counter key, shared by every call that counts against the same limit and subject.
    pub key: String,
    /// Stable limit id.
    pub limit: String,
    /// `rate` (calls) or `budget` (sum of an argument).
    pub kind: String,
    /// Amount this call adds.
    pub cost: f64,
    /// Most allowed per window.
    pub max: f64,
    /// Window length in seconds.
    pub window_seconds: u64,
    /// Amount used before this call (from `input.state.usage`).
    pub used: f64,
    /// A shadow limit: count it, never block on it.
    pub shadow: bool,
}

/// Decision metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Metadata {
    /// Version of the policies (from the project).
    pub policy_version: String,
    /// Content revision of the compiled bundle.
    pub bundle_revision: String,
    /// Version of the shared Rego library.
    pub library_version: String,
    /// Rules that applied to this call, sorted.
    pub matched_rules: Vec<String>,
    /// Smallest room left in any limit after this call; null without limits.
    pub rate_limit_remaining: Option<f64>,
    /// Whether this decision must be kept in the audit log.
    pub audit_required: bool,
    /// Where to appeal.
    pub appeal_path: Option<String>,
}
