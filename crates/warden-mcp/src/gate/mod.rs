//! The policy gate for MCP traffic: turns a `tools/call` into a decision input, decides it with
//! the shared [`DecisionService`], charges limits exactly, audits, and says what to do with the
//! call (forward it, possibly with redacted arguments, or answer it with a readable error). It
//! also decides which tools an agent may see in `tools/list`. Transport-free: the stdio proxy
//! (and later the HTTP one) are thin adapters over it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Value};
use warden_core::contract::{Consume, Decision};
use warden_server::audit::{Auditor, Call};
use warden_server::{DecideError, DecisionService};

use crate::limits::LimitStore;

mod approval;
use warden_server::approvals::{Approvals, Step, TOKEN_REJECTED_REMEDIATION};

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

/// How a denied call is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Denials {
    /// A JSON-RPC error with a stable code and the decision in `error.data.warden`.
    #[default]
    Error,
    /// A tool result with `isError: true` whose text the model can read and explain.
    Result,
}

/// What `tools/list` shows of tools the agent may never call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Unlisted {
    /// Removed from the list.
    #[default]
    Hide,
    /// Listed; calling them is denied.
    Show,
}

/// Who is calling, through which server, and how to answer.
pub struct Gate {
    /// The decision service (hot-reloaded bundles).
    pub svc: Arc<DecisionService>,
    /// The tenant of callers without a credential (stdio; HTTP without `api_keys`).
    pub tenant: String,
    /// Their agent id.
    pub agent: String,
    /// The MCP server's name: the `tool` in policies; MCP tool names are the actions.
    pub server: String,
    /// Counters for rate limits and budgets.
    pub limits: Arc<dyn LimitStore>,
    /// The decision log.
    pub audit: Option<Auditor>,
    /// How denials are answered.
    pub denials: Denials,
    /// What tools/list shows.
    pub unlisted: Unlisted,
    /// Human approvals for `approval_needed` calls; without it they are refused.
    pub approvals: Option<Arc<Approvals>>,
}

/// `params._meta` key carrying an override token on the retried call.
pub const TOKEN_META: &str = "warden/approval_token";

/// One client session (stdio: the process; HTTP: `Mcp-Session-Id`), and who it belongs to.
pub struct Session {
    /// Session id, reported as `context.conversation_id`.
    pub id: String,
    /// The caller's tenant (from its credential, or the gateway's configuration).
    pub tenant: String,
    /// The caller's agent id: limits and approvals are keyed on it, not on the session.
    pub agent: String,
    started: Instant,
    turns: AtomicU64,
    /// Seconds after `started` of the last request (idle sessions are evicted).
    seen: AtomicU64,
}

impl Session {
    /// A new session of `agent` in `tenant`.
    pub fn new(tenant: &str, agent: &str) -> Self {
        Self::with_id(&uuid::Uuid::new_v4().to_string(), tenant, agent)
    }

    /// A session named by its transport (HTTP: the upstream's `Mcp-Session-Id`).
    pub fn with_id(id: &str, tenant: &str, agent: &str) -> Self {
        Session {
            id: id.to_string(),
            tenant: tenant.to_string(),
            agent: agent.to_string(),
            started: Instant::now(),
            turns: AtomicU64::new(0),
            seen: AtomicU64::new(0),
        }
    }

    /// Notes a request in this session.
    pub fn touch(&self) {
        self.seen
            .store(self.started.elapsed().as_secs(), Ordering::Relaxed);
    }

    /// How long since the session's last request.
    pub fn idle(&self) -> std::time::Duration {
        let last = std::time::Duration::from_secs(self.seen.load(Ordering::Relaxed));
        self.started.elapsed().saturating_sub(last)
    }
}

/// What to do with a `tools/call`.
pub enum Verdict {
    /// Send it upstream with these params; settle the reservation when the answer comes back.
    Forward {
        /// The params to send (arguments redacted when the decision said `sanitize`).
        params: Value,
        /// Charges held for the call, if any.
        reservation: Option<String>,
        /// The call's decision input (as forwarded), for deciding on its result.
        input: Value,
        /// The call's audit record, when it is committed while the call is upstream.
        record: Record,
    },
    /// Answer the client with this JSON-RPC response; the call never reaches the server.
    Reply(Value),
}

/// The audit record of a forwarded call. A call whose decision fails closed (every write, and
/// reads unless the tenant declares `fail_mode: { read: open }`) is recorded before it is
/// forwarded: it is never made unrecorded. A fail-open read would be forwarded even if its record
/// could not be written, so its record is committed while the call is upstream instead, and the
/// transport answers the client only once both are done: the client still never sees an answer
/// whose decision is not on disk, and the commit's latency hides behind the upstream's.
pub struct Record(Option<Box<(Auditor, warden_audit::Entry)>>);

impl Record {
    /// Nothing left to commit.
    pub fn done() -> Self {
        Record(None)
    }

    /// Commits the record now, if it is still to be written. A failure is logged (only
    /// fail-open calls are recorded this way).
    pub async fn commit(mut self) {
        if let Some(pending) = self.0.take() {
            // Cancellation-safe: the first poll commits or queues the record.
            Self::write(*pending).await;
        }
    }

    /// [`Record::commit`] while the forwarded request is on its way: it first yields once, so
    /// that the connection task (on this thread, on a worker's single-threaded runtime) writes
    /// the request before the commit takes the thread.
    pub async fn commit_beside_send(self) {
        if self.0.is_some() {
            // Dropped here (the client went away), the record is still written: see `Drop`.
            tokio::task::yield_now().await;
        }
        self.commit().await;
    }

    async fn write((audit, entry): (Auditor, warden_audit::Entry)) {
        if let Err(e) = audit.record(entry).await {
            tracing::error!(
                error = e,
                "a fail-open MCP call's audit record could not be written"
            );
        }
    }
}

impl Drop for Record {
    /// A record dropped before it was committed (its call abandoned while it was upstream) is
    /// still written: the call may have reached the server.
    fn drop(&mut self) {
        let Some(pending) = self.0.take() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(Self::write(*pending));
            }
            Err(_) => tracing::error!("an MCP call's audit record was dropped outside a runtime"),
        }
    }
}

/// The list methods whose answers are filtered ([`Gate::filter_list`]): the method, where its
/// answer keeps its entries, the field that names each, and the policy's action prefix for them.
const LISTS: [(&str, &str, &str, &str); 3] = [
    ("tools/list", "tools", "name", ""),
    ("prompts/list", "prompts", "name", "prompt:"),
    ("resources/list", "resources", "uri", "resource:"),
];

/// The list method `method` is, if its answer is filtered ([`Gate::filter_list`]).
pub fn listed(method: &str) -> Option<&'static str> {
    LISTS.iter().find(|l| l.0 == method).map(|l| l.0)
}

/// Where a list answer keeps its entries and what names each: `(key, field, action prefix)`
/// (see [`LISTS`]).
pub(crate) fn list_shape(method: &str) -> Option<(&'static str, &'static str, &'static str)> {
    LISTS
        .iter()
        .find(|l| l.0 == method)
        .map(|l| (l.1, l.2, l.3))
}

/// Whether `method` is a request Warden decides (`tools/call`, and `prompts/get` and
/// `resources/read` when the policy names them). Sent without an `id`, as a notification, it is
/// never forwarded: Warden cannot answer a refusal to it, and a server that acted on it would act
/// undecided.
pub fn decided_method(method: &str) -> bool {
    matches!(method, "tools/call" | "prompts/get" | "resources/read")
}

/// The params without Warden's override token (it is not for the MCP server).
fn without_token(params: &Value) -> Value {
    let mut p = params.clone();
    if let Some(Value::Object(m)) = p.get_mut("_meta") {
        m.remove(TOKEN_META);
        if m.is_empty() {
            if let Some(o) = p.as_object_mut() {
                o.remove("_meta");
            }
        }
    }
    p
}

/// A tool result that replaces one Warden will not pass on.
fn withheld(text: &str) -> Value {
    json!({"content": [{"type": "text", "text": text}], "isError": true})
}

/// A JSON-RPC error response.
pub fn error(id: &Value, code: i64, message: impl Into<String>, data: Option<Value>) -> Value {
    let mut e = json!({"code": code, "message": message.into()});
    if let Some(d) = data {
        e["data"] = d;
    }
    json!({"jsonrpc": "2.0", "id": id, "error": e})
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
    /// Whether `tools/list` should show `tool` to the session's agent.
    pub fn visible(&self, session: &Session, tool: &str) -> bool {
        self.unlisted == Unlisted::Show
            || self
                .svc
                .granted(&session.tenant, &session.agent, &self.server, tool)
                .unwrap_or(true)
    }

    /// Removes tools the session's agent may never call from a `tools/list` result.
    pub fn filter_tools(&self, session: &Session, result: &mut Value) {
        self.filter_list("tools/list", session, result);
    }

    /// Whether the policy names `action` of this server for the session's tenant (some agent
    /// has a plan for it).
    fn named(&self, session: &Session, action: &str) -> bool {
        self.svc
            .named(&session.tenant, &self.server, action)
            .unwrap_or(false)
    }

    /// Filters the answer to a list request: `tools/list` hides tools the agent may never call;
    /// `prompts/list` and `resources/list` hide prompts (`prompt:NAME`) and resources
    /// (`resource:URI`) that the policy names but does not grant this agent. Prompts and
    /// resources the policy does not name pass unchanged.
    pub fn filter_list(&self, method: &str, session: &Session, result: &mut Value) {
        let Some((key, field, prefix)) = list_shape(method) else {
            return;
        };
        if let Some(items) = result.get_mut(key).and_then(Value::as_array_mut) {
            items.retain(|t| {
                let Some(n) = t.get(field).and_then(Value::as_str) else {
                    return false;
                };
                if prefix.is_empty() {
                    return self.visible(session, n);
                }
                let action = format!("{prefix}{n}");
                !self.named(session, &action) || self.visible(session, &action)
            });
        }
    }

    /// The request as a tool call to decide, if it is one: `tools/call` itself; `prompts/get` of
    /// a prompt the policy names (action `prompt:NAME`, its arguments as the call's); and
    /// `resources/read` of a resource the policy names (action `resource:URI`, arguments
    /// `{"uri"}`). Other requests (and unnamed prompts and resources) pass through.
    pub fn as_call(&self, session: &Session, method: &str, params: &Value) -> Option<Value> {
        let meta = params.get("_meta").cloned();
        let (action, arguments) = match method {
            "tools/call" => return Some(params.clone()),
            "prompts/get" => {
                let name = params.get("name")?.as_str()?;
                let args = params.get("arguments").cloned().unwrap_or(json!({}));
                (format!("prompt:{name}"), args)
            }
            "resources/read" => {
                let uri = params.get("uri")?.as_str()?;
                (format!("resource:{uri}"), json!({"uri": uri}))
            }
            _ => return None,
        };
        if !self.named(session, &action) {
            return None;
        }
        let mut call = json!({"name": action, "arguments": arguments});
        if let Some(m) = meta {
            call["_meta"] = m;
        }
        Some(call)
    }

    /// The params to forward for a request decided through [`Gate::as_call`]: a tool call's
    /// (possibly redacted) params; a prompt's original params with the redacted arguments; a
    /// resource read's original params. Warden's token never goes upstream.
    pub fn forwarded(method: &str, original: &Value, decided: &Value) -> Value {
        match method {
            "tools/call" => decided.clone(),
            "prompts/get" => {
                let mut p = without_token(original);
                if let Some(a) = decided
                    .get("arguments")
                    .filter(|_| original.get("arguments").is_some())
                {
                    p["arguments"] = a.clone();
                }
                p
            }
            _ => without_token(original),
        }
    }

    fn input(&self, session: &Session, id: &Value, tool: &str, args: Value) -> Value {
        let turn = session.turns.fetch_add(1, Ordering::Relaxed) + 1;
        json!({
            "tenant": session.tenant,
            "agent": {"id": session.agent},
            "action": {"tool": self.server, "type": tool, "args": args},
            "context": {
                "conversation_id": session.id,
                "turn_count": turn,
                "session_age_seconds": session.started.elapsed().as_secs(),
            },
            "environment": {"time": warden_engine::now_rfc3339()},
            "mcp": {"server": self.server, "session": session.id, "jsonrpc_id": id},
        })
    }

    /// Decides one `tools/call` (request `id`, its `params`).
    pub async fn call(&self, session: &Session, id: &Value, params: &Value) -> Verdict {
        let Some(tool) = params.get("name").and_then(Value::as_str) else {
            return Verdict::Reply(error(
                id,
                codes::INVALID_PARAMS,
                "tools/call needs params.name (a string)",
                None,
            ));
        };
        let args = match params.get("arguments") {
            None | Some(Value::Null) => json!({}),
            Some(a @ Value::Object(_)) => a.clone(),
            Some(_) => {
                return Verdict::Reply(error(
                    id,
                    codes::INVALID_PARAMS,
                    "tools/call params.arguments must be an object",
                    None,
                ))
            }
        };
        let mut input = self.input(session, id, tool, args);
        let started = Instant::now();
        let (decided, reservation) = match self.decide_and_reserve(&mut input) {
            Ok(d) => d,
            Err(why) => {
                return Verdict::Reply(error(
                    id,
                    codes::UNAVAILABLE,
                    format!("Warden could not decide this call, so it was not made: {why}"),
                    None,
                ))
            }
        };
        let decision_id = uuid::Uuid::new_v4().to_string();
        let d = &decided.decision;
        let mut outcome = d.outcome.as_str().to_string();
        let mut reservation = reservation;
        let mut approval = None;
        if outcome == "approval_needed" {
            match self.approval(session, &decision_id, &input, params, d) {
                Step::Granted(note) => {
                    let rid = uuid::Uuid::new_v4().to_string();
                    match self
                        .limits
                        .reserve(&rid, &d.consume, warden_engine::now_unix())
                    {
                        Ok(Ok(())) => {
                            reservation = Some(rid);
                            outcome = "allow".into();
                        }
                        _ => outcome = "rate_limited".into(),
                    }
                    approval = Some(note);
                }
                Step::Pending(note) => approval = Some(note),
                Step::Refused(why) => {
                    return Verdict::Reply(error(
                        id,
                        codes::DENIED,
                        format!(
                            "The call to {}/{tool} needs a person's approval and {why}",
                            self.server
                        ),
                        Some(
                            json!({"warden": {"decision_id": decision_id, "outcome": "deny", "reasons": ["approval_token_rejected"], "remediation": TOKEN_REJECTED_REMEDIATION}}),
                        ),
                    ));
                }
            }
        }
        let mut record = Record::done();
        if let Some(audit) = &self.audit {
            let mut result = serde_json::to_value(d).unwrap_or(Value::Null);
            if let Some(a) = &approval {
                result["approval"] = a.clone();
            }
            let entry = audit.entry(Call {
                decision_id: &decision_id,
                input: input.clone(),
                result,
                set: &decided.set,
                latency_us: started.elapsed().as_micros() as u64,
                trace_id: None,
                path: None,
            });
            if d.fail_mode == "open" && matches!(outcome.as_str(), "allow" | "sanitize") {
                record = Record(Some(Box::new((audit.clone(), entry))));
            } else if let Err(e) = audit.record(entry).await {
                if d.fail_mode != "open" {
                    self.settle(reservation.as_deref(), false);
                    return Verdict::Reply(error(
                        id,
                        codes::UNAVAILABLE,
                        format!(
                            "the decision could not be recorded, so the call was not made: {e}"
                        ),
                        None,
                    ));
                }
                // Fail-open calls that go ahead are recorded by the transport (`Record`): this
                // one is answered by Warden and never reaches the server.
                tracing::error!(
                    error = e,
                    "an MCP call refused by policy could not be recorded (fail open)"
                );
            }
        }
        let verdict = match outcome.as_str() {
            "allow" => Verdict::Forward {
                params: without_token(params),
                reservation,
                input,
                record,
            },
            "sanitize" => match warden_core::redact::apply(&mut input, &d.redactions) {
                Ok(_) => {
                    let mut p = params.clone();
                    p["arguments"] = input["action"]["args"].clone();
                    Verdict::Forward {
                        params: p,
                        reservation,
                        input,
                        record,
                    }
                }
                Err(e) => {
                    self.settle(reservation.as_deref(), false);
                    record.commit().await;
                    Verdict::Reply(error(
                        id,
                        codes::UNAVAILABLE,
                        format!("a redaction could not be applied, so the call was not made: {e}"),
                        None,
                    ))
                }
            },
            _ => {
                self.settle(reservation.as_deref(), false);
                let mut r = self.refusal(id, tool, d, &decision_id);
                if let Some(a) = approval {
                    let at = if r.get("error").is_some() {
                        "/error/data/warden"
                    } else {
                        "/result/_meta/warden"
                    };
                    if let Some(Value::Object(w)) = r.pointer_mut(at) {
                        if let Some(aid) = a.get("approval_id") {
                            w.insert("approval_id".into(), aid.clone());
                        }
                        w.insert("approval".into(), a);
                    }
                }
                Verdict::Reply(r)
            }
        };
        if matches!(verdict, Verdict::Forward { .. }) {
            self.svc.count_forwarded(&self.server);
        }
        verdict
    }

    /// The error a client gets for a call this gate's MCP server failed (`code`:
    /// [`codes::UPSTREAM_TIMEOUT`] when it did not answer in time, else
    /// [`codes::UPSTREAM_FAILED`]); counted in the metrics under the server's name.
    pub fn upstream_error(&self, id: &Value, code: i64, why: impl Into<String>) -> Value {
        self.svc
            .count_upstream_error(&self.server, code == codes::UPSTREAM_TIMEOUT);
        error(id, code, why, None)
    }

    /// Decides with the current counters and, for a call that may go ahead, reserves its charges
    /// atomically. A reservation that no longer fits (a concurrent call took the room) is
    /// re-decided with fresh counters, so the answer is the policy's own `rate_limited`.
    fn decide_and_reserve(
        &self,
        input: &mut Value,
    ) -> Result<(warden_server::service::Decided, Option<String>), String> {
        let decide = |input: &Value| {
            self.svc.decide_with_set(input).map_err(|e| match e {
                DecideError::NoBundle => "no policy bundle is loaded".to_string(),
                other => other.to_string(),
            })
        };
        let mut decided = decide(input)?;
        if decided.decision.consume.is_empty() {
            return Ok((decided, None));
        }
        for _ in 0..8 {
            let now = warden_engine::now_unix();
            let counters: Vec<(String, u64)> = decided
                .decision
                .consume
                .iter()
                .map(|c| (c.key.clone(), c.window_seconds))
                .collect();
            let used = self
                .limits
                .usage(&counters, now)
                .map_err(|e| e.to_string())?;
            let usage: serde_json::Map<String, Value> = counters
                .iter()
                .zip(used)
                .map(|((k, _), u)| (k.clone(), json!(u)))
                .collect();
            input["state"] = json!({"usage": usage});
            decided = decide(input)?;
            if !matches!(decided.decision.outcome.as_str(), "allow" | "sanitize") {
                return Ok((decided, None));
            }
            let id = uuid::Uuid::new_v4().to_string();
            match self
                .limits
                .reserve(&id, &decided.decision.consume, now)
                .map_err(|e| e.to_string())?
            {
                Ok(()) => return Ok((decided, Some(id))),
                Err(_) => continue,
            }
        }
        Err("limit counters kept changing under concurrent calls; try again".into())
    }

    /// The answer to a forwarded call (`msg`, a JSON-RPC response) came back: keeps the call's
    /// charges if it succeeded (a result without `isError`) and releases them otherwise, turns a
    /// result that is not an object into a -32006 error, and masks the result as policy says.
    /// Returns whether `msg` changed.
    pub fn answered(&self, reservation: Option<&str>, input: &Value, msg: &mut Value) -> bool {
        let ok = msg.get("result").is_some_and(|r| {
            r.is_object() && r.get("isError").and_then(Value::as_bool) != Some(true)
        });
        self.settle(reservation, ok);
        match msg.get_mut("result") {
            Some(r) if r.is_object() => self.on_result(input, r),
            Some(_) => {
                let id = msg.get("id").cloned().unwrap_or(Value::Null);
                *msg = error(
                    &id,
                    codes::UPSTREAM_FAILED,
                    "the MCP server answered with a malformed tool result",
                    None,
                );
                true
            }
            None => false,
        }
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
        let redactions: Vec<_> = match self.svc.decide(&probe) {
            Ok(d) => d
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

    /// The answer to a call the policy did not let through.
    fn refusal(&self, id: &Value, tool: &str, d: &Decision, decision_id: &str) -> Value {
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
