//! The policy language: what a Warden YAML policy file may contain.
//!
//! These types are the single source of truth for the language. The JSON Schema that editors use
//! (`warden schema`) is derived from them, the validator checks documents against that schema, and
//! the compiler reads them. See `docs/policy-language.md` for the prose reference.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Number, Value};

/// One policy file. Several files compose: the same tenant, agent or tool may appear in many.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    /// Language version. Must be `1`.
    pub warden: u32,
    /// The tenant this file governs (e.g. `acme`).
    pub tenant: String,
    /// Human description of the file.
    #[serde(default)]
    pub description: Option<String>,
    /// How security teams split policies. `override` files may hold `overrides`.
    #[serde(default)]
    pub category: Category,
    /// `enforce` (default) or `shadow`: shadow rules are evaluated and reported as `would_deny`
    /// but never block.
    #[serde(default)]
    pub mode: Mode,
    /// Tool catalog: the tools that exist, their actions and argument shapes.
    #[serde(default)]
    pub tools: BTreeMap<String, ToolDecl>,
    /// Tenant-wide defaults that apply to every agent of the tenant.
    #[serde(default)]
    pub defaults: Option<Defaults>,
    /// Per-agent grants, rules and limits.
    #[serde(default)]
    pub agents: BTreeMap<String, AgentPolicy>,
    /// Workflow limits per agent scope (matched against `agent.scope`).
    #[serde(default)]
    pub scopes: BTreeMap<String, WorkflowLimits>,
    /// Data classes and where they may go.
    #[serde(default)]
    pub data_classes: BTreeMap<String, DataClass>,
    /// Exceptions that waive violations of lower-priority rules. Only in `category: override`.
    #[serde(default)]
    pub overrides: Vec<Override>,
}

/// Policy category, as security teams split them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Who the agents are and what they may be.
    Identity,
    /// What agents may do with tools (the default).
    #[default]
    Resource,
    /// Turn, token and session limits.
    Workflow,
    /// Regulatory rules: data classes, regions.
    Compliance,
    /// Small, justified exceptions.
    Override,
}

/// Enforcement mode of a file or a rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Violations change the outcome.
    #[default]
    Enforce,
    /// Violations are reported in `would_deny` only.
    Shadow,
}

/// A tool (an API, an MCP server) and the actions it exposes.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolDecl {
    /// Human description.
    #[serde(default)]
    pub description: Option<String>,
    /// Actions (operations, MCP tool names) keyed by name.
    pub actions: BTreeMap<String, ActionDecl>,
}

/// One action of a tool.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionDecl {
    /// Human description.
    #[serde(default)]
    pub description: Option<String>,
    /// `read` or `write` (default). Writes always fail closed.
    #[serde(default)]
    pub class: ActionClass,
    /// Declared arguments and their types. When present, conditions on undeclared arguments are
    /// reported as rules that can never match.
    #[serde(default)]
    pub args: Option<BTreeMap<String, ArgType>>,
}

/// Whether an action changes the world.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActionClass {
    /// Reads; may be declared fail-open.
    Read,
    /// Writes; always fail closed.
    #[default]
    Write,
}

/// Type of a declared argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ArgType {
    /// A JSON string.
    String,
    /// A JSON number.
    Number,
    /// A whole number.
    Integer,
    /// `true` or `false`.
    Boolean,
    /// A JSON object (any sub-path may be used).
    Object,
    /// A JSON array.
    Array,
    /// Anything.
    Any,
}

/// Tenant-wide defaults.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// What an enforcement point does when it cannot decide. `write` is always `closed`.
    #[serde(default)]
    pub fail_mode: Option<FailModes>,
    /// Where a denied caller can appeal (URL or text), reported in `metadata.appeal_path`.
    #[serde(default)]
    pub appeal_path: Option<String>,
    /// Tools and actions every agent of the tenant may call: `tool: { action: {…} }`;
    /// the action `"*"` means every action of the tool.
    #[serde(default)]
    pub tools: BTreeMap<String, BTreeMap<String, ActionPolicy>>,
    /// Rules for every call of every agent of the tenant (narrow them with `tools`/`actions`).
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Rate limits and budgets for every agent of the tenant.
    #[serde(default)]
    pub limits: Vec<Limit>,
}

/// Fail modes per action class.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FailModes {
    /// `open` or `closed` (default) for read actions.
    #[serde(default)]
    pub read: FailMode,
    /// Must be `closed`: writes always fail closed.
    #[serde(default)]
    pub write: FailMode,
}

/// What to do when no decision can be made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FailMode {
    /// Let the call through.
    Open,
    /// Block the call.
    #[default]
    Closed,
}

/// What one agent may do.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentPolicy {
    /// Human description.
    #[serde(default)]
    pub description: Option<String>,
    /// Owning team, for reports.
    #[serde(default)]
    pub owner_team: Option<String>,
    /// Granted tools: `tool: { action: {rules, limits} }`; `"*"` means every action.
    #[serde(default)]
    pub tools: BTreeMap<String, BTreeMap<String, ActionPolicy>>,
    /// Rules for every call of this agent (narrow them with `tools`/`actions`).
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Rate limits and budgets for this agent.
    #[serde(default)]
    pub limits: Vec<Limit>,
    /// Workflow limits for this agent.
    #[serde(default)]
    pub workflow: Option<WorkflowLimits>,
}

/// Grant of one action, with the rules and limits that apply to it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionPolicy {
    /// Human description.
    #[serde(default)]
    pub description: Option<String>,
    /// Forbid this action for this agent even when tenant defaults grant it (narrowing).
    #[serde(default)]
    pub forbid: bool,
    /// Rules that apply to calls of this action.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Rate limits and budgets for calls of this action.
    #[serde(default)]
    pub limits: Vec<Limit>,
}

/// A rule: conditions that must hold, and what happens when they do not.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Short id, unique where it is declared; the stable id is
    /// `tenant/agent/tool/action/id` (see the language reference).
    pub id: String,
    /// Human description.
    #[serde(default)]
    pub description: Option<String>,
    /// Only for rules in `defaults.rules` or `agents.X.rules`: the tools this rule covers.
    #[serde(default)]
    pub tools: Option<Vec<String>>,
    /// Only for rules in `defaults.rules` or `agents.X.rules`: the actions this rule covers.
    #[serde(default)]
    pub actions: Option<Vec<String>>,
    /// The rule applies only when all of these hold: `path: condition`.
    #[serde(default)]
    pub when: BTreeMap<String, Condition>,
    /// What must hold: `path: condition`. Any failing condition is a violation.
    #[serde(default)]
    pub require: BTreeMap<String, Condition>,
    /// Redact matching content instead of blocking (outcome `sanitize`).
    #[serde(default)]
    pub redact: Option<Redact>,
    /// Outcome of a violation: `deny` (default) or `approval_needed`.
    #[serde(default)]
    pub on_violation: Option<ViolationOutcome>,
    /// Stable reason code (snake_case), e.g. `amount_exceeds_limit`.
    pub reason: String,
    /// Human message describing the violation.
    #[serde(default)]
    pub message: Option<String>,
    /// What the caller can do about it.
    #[serde(default)]
    pub remediation: Option<String>,
    /// `enforce` or `shadow`; defaults to the file's mode.
    #[serde(default)]
    pub mode: Option<Mode>,
    /// Overrides waive violations only of rules with a lower priority. Default 0.
    #[serde(default)]
    pub priority: Option<i64>,
}

/// Outcome of a rule violation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ViolationOutcome {
    /// Block the call.
    #[default]
    Deny,
    /// Hold the call until a person approves it.
    ApprovalNeeded,
}

/// Conditions on one value. Every field that is set must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// Missing (or null) values satisfy the condition. Without it, a missing value fails positive
    /// checks (equals, in, min, max, matches, lengths, domains, path_prefixes, contains, type,
    /// within, subset_of) and satisfies negative ones (not_equals, not_in, not_matches,
    /// deny_path_prefixes).
    #[serde(default)]
    pub optional: bool,
    /// Must equal this value.
    #[serde(default)]
    pub equals: Option<Value>,
    /// Must not equal this value.
    #[serde(default)]
    pub not_equals: Option<Value>,
    /// Must be one of these values.
    #[serde(default, rename = "in")]
    pub one_of: Option<Vec<Value>>,
    /// Must be none of these values.
    #[serde(default)]
    pub not_in: Option<Vec<Value>>,
    /// Must be a number ≥ this.
    #[serde(default)]
    pub min: Option<Number>,
    /// Must be a number ≤ this.
    #[serde(default)]
    pub max: Option<Number>,
    /// Must be a number within `[min, max]`.
    #[serde(default)]
    pub range: Option<[Number; 2]>,
    /// Must be a string matching this regular expression (RE2 syntax, unanchored).
    #[serde(default)]
    pub matches: Option<String>,
    /// Must not be a string matching this regular expression.
    #[serde(default)]
    pub not_matches: Option<String>,
    /// String (characters) or array length must be ≥ this.
    #[serde(default)]
    pub min_length: Option<u64>,
    /// String (characters) or array length must be ≤ this.
    #[serde(default)]
    pub max_length: Option<u64>,
    /// A URL or host whose host is one of, or under, these domains.
    #[serde(default)]
    pub domains: Option<Vec<String>>,
    /// A file path starting with one of these prefixes (and free of `..` segments).
    #[serde(default)]
    pub path_prefixes: Option<Vec<String>>,
    /// A file path starting with none of these prefixes (and free of `..` segments).
    #[serde(default)]
    pub deny_path_prefixes: Option<Vec<String>>,
    /// An array containing this value.
    #[serde(default)]
    pub contains: Option<Value>,
    /// An array whose elements all appear in this list.
    #[serde(default)]
    pub subset_of: Option<Vec<Value>>,
    /// An array whose elements all appear in the array at this input path.
    #[serde(default)]
    pub subset_of_path: Option<String>,
    /// The JSON type the value must have.
    #[serde(default, rename = "type")]
    pub value_type: Option<ArgType>,
    /// An RFC 3339 timestamp within this time window.
    #[serde(default)]
    pub within: Option<TimeWindow>,
}

/// A weekly time window in an IANA time zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeWindow {
    /// Days of the week: `mon`…`sun`. Default: every day.
    #[serde(default)]
    pub days: Option<Vec<String>>,
    /// Hours as `HH:MM-HH:MM` (end exclusive), e.g. `09:00-18:00`. Default: all day.
    #[serde(default)]
    pub hours: Option<String>,
    /// IANA time zone, e.g. `America/New_York`. Default `UTC`.
    #[serde(default)]
    pub timezone: Option<String>,
}

/// Redaction of matching content (outcome `sanitize`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Redact {
    /// Input paths to scan, e.g. `args.payload.body`, `args.messages[*].text`.
    pub paths: Vec<String>,
    /// Patterns to find: a built-in name (`ssn`, `mrn`, `email`, `phone`, `credit_card`,
    /// `iban`, `aws_access_key`) or `{name, regex}`. Empty: redact the whole field.
    #[serde(default)]
    pub patterns: Vec<PatternRef>,
    /// Replace the whole field (not only the matched text) when a pattern matches.
    #[serde(default)]
    pub whole_field: bool,
    /// Replacement text; `{name}` is replaced by the pattern name. Default `[REDACTED:{name}]`.
    #[serde(default)]
    pub replacement: Option<String>,
}

/// A redaction pattern: a built-in name or a named regex.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum PatternRef {
    /// A built-in pattern name.
    Builtin(String),
    /// A custom pattern.
    Custom(CustomPattern),
}

/// A named regular expression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomPattern {
    /// Name used in the replacement and in reports.
    pub name: String,
    /// RE2-syntax regular expression.
    pub regex: String,
}

/// A rate limit (calls per window) or a budget (running sum of an argument per window).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    /// Short id, unique where it is declared.
    pub id: String,
    /// Human description.
    #[serde(default)]
    pub description: Option<String>,
    /// For budgets: the input path summed, e.g. `args.amount`. Without it, the limit counts calls.
    #[serde(default)]
    pub budget: Option<String>,
    /// Most calls (or the largest sum) per window.
    pub max: Number,
    /// Window length: `30s`, `15m`, `1h`, `1d`, `7d`.
    pub window: String,
    /// Who shares the counter: `agent` (default), `agent_tool` or `tenant`.
    #[serde(default)]
    pub per: Option<LimitScope>,
    /// Only for limits in `defaults.limits` or `agents.X.limits`: the tools counted.
    #[serde(default)]
    pub tools: Option<Vec<String>>,
    /// Reason code when exceeded. Default `rate_limit_exceeded` / `budget_exceeded`.
    #[serde(default)]
    pub reason: Option<String>,
    /// What the caller can do.
    #[serde(default)]
    pub remediation: Option<String>,
    /// `enforce` or `shadow`; defaults to the file's mode.
    #[serde(default)]
    pub mode: Option<Mode>,
}

/// Who shares a limit's counter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LimitScope {
    /// One counter per agent.
    #[default]
    Agent,
    /// One counter per agent and tool.
    AgentTool,
    /// One counter for the whole tenant.
    Tenant,
}

/// Workflow limits on a session.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkflowLimits {
    /// Most turns (`context.turn_count`).
    #[serde(default)]
    pub max_turns: Option<u64>,
    /// Most tokens (`context.cumulative_tokens`).
    #[serde(default)]
    pub max_tokens: Option<u64>,
    /// Oldest session in seconds (`context.session_age_seconds`).
    #[serde(default)]
    pub max_session_age_seconds: Option<u64>,
    /// `enforce` or `shadow`; defaults to the file's mode.
    #[serde(default)]
    pub mode: Option<Mode>,
}

/// A data class and where it may go.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataClass {
    /// Human description.
    #[serde(default)]
    pub description: Option<String>,
    /// Regions (`environment.region`) where the class may be processed.
    #[serde(default)]
    pub regions: Option<Vec<String>>,
    /// Tools the class may be sent to.
    #[serde(default)]
    pub tools: Option<Vec<String>>,
    /// Models (`args.model`) the class may be sent to.
    #[serde(default)]
    pub models: Option<Vec<String>>,
}

/// An exception that waives violations of lower-priority rules.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Override {
    /// Short id.
    pub id: String,
    /// Why this exception exists (required: overrides must be justified).
    pub justification: String,
    /// Rules with a priority below this are waived. Default 10.
    #[serde(default)]
    pub priority: Option<i64>,
    /// Agents covered (`"*"` for all).
    pub agents: Vec<String>,
    /// Tools covered; default all.
    #[serde(default)]
    pub tools: Option<Vec<String>>,
    /// Actions covered; default all.
    #[serde(default)]
    pub actions: Option<Vec<String>>,
    /// Reason codes or rule ids waived.
    pub waive: Vec<String>,
    /// The override applies only when these hold.
    #[serde(default)]
    pub when: BTreeMap<String, Condition>,
    /// RFC 3339 time after which the override no longer applies.
    #[serde(default)]
    pub expires: Option<String>,
}
