//! The policy gate for MCP traffic: turns a `tools/call` into a decision input, decides it with
//! the shared [`DecisionService`], charges limits exactly, audits, and says what to do with the
//! call (forward it, possibly with redacted arguments, or answer it with a readable error). It
//! also decides which tools an agent may see in `tools/list`. Transport-free: the stdio proxy
//! and the HTTP ones are thin adapters over it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Value};
use warden_server::approvals::{Approvals, Step, TOKEN_REJECTED_REMEDIATION};
use warden_server::audit::{Auditor, Call};
use warden_server::{DecideError, DecisionService};

use crate::limits::LimitStore;

mod approval;
mod charge;
mod list;
mod record;
mod reply;
mod result;

pub(crate) use charge::{Canceller, Charge};
pub(crate) use list::list_shape;
pub use list::listed;
pub use record::Record;
pub use reply::{bad_request_id, cancelled_note, codes, error};
pub use result::succeeded;

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
    /// The scope every call through this gateway runs in (`agent.scope`: the tenant's `scopes`
    /// limits and rules apply to it); none when not configured.
    pub scope: Option<String>,
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

impl Gate {
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
        let agent = match &self.scope {
            Some(s) => json!({"id": session.agent, "scope": s}),
            None => json!({"id": session.agent}),
        };
        json!({
            "tenant": session.tenant,
            "agent": agent,
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
            Ok((mut d, r)) => {
                // One call, one decision in the metrics, however many passes it took.
                self.svc.count(&input, &mut d, started);
                (d, r)
            }
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
                            // Approved: its redactions still apply (then `sanitize`).
                            outcome = warden_server::approvals::granted_outcome(d).into();
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
                    let mut p = without_token(params);
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
        // Each pass is decided uncounted; the caller counts the decision it acts on.
        let decide = |input: &Value| {
            self.svc.decide_uncounted(input).map_err(|e| match e {
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
}
