//! Human approvals at the enforcement points: what an `approval_needed` decision turns into
//! (a durable approval request, or the one-time use of an override token for exactly this call),
//! waiting for a person, and copying every approval step into the audit log.
//!
//! Transport-free: the decision API (`POST /v1/decide` + long-poll), the MCP proxies (stdio and
//! Streamable HTTP) and the approver-facing endpoints in [`http`] all go through [`Approvals`].

pub mod http;
mod web;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use warden_approvals::{Approval, Call, State, Store, Tokens};
use warden_core::contract::Decision;

/// Approval settings of an enforcement point.
pub struct Approvals {
    /// The durable records.
    pub store: Arc<Store>,
    /// Override tokens.
    pub tokens: Tokens,
    /// How long a request waits for a person (seconds).
    pub ttl_seconds: u64,
    /// At most this many pending approvals per agent.
    pub max_pending: usize,
    /// Announces new approvals (Slack, Teams).
    pub notifier: Option<Arc<http::Notifier>>,
    /// Waiting mode: hold an `approval_needed` call open this long for a person to decide
    /// (forwarding it the moment it is approved); `None` answers at once (token mode).
    pub wait: Option<Duration>,
    /// Lifetime of minted override tokens (seconds).
    pub token_ttl_seconds: u64,
}

/// What a refused override token tells the agent to do.
pub const TOKEN_REJECTED_REMEDIATION: &str =
    "Retry with the token minted for this exact call, or ask for a new approval.";

/// The outcome of an `approval_needed` call once a person approved it: the approval waives the
/// approval rules, not the policy's redactions, so a call that still has redactions in force is
/// `sanitize` (its arguments rewritten before it goes out), otherwise `allow`.
pub fn granted_outcome(d: &warden_core::contract::Decision) -> &'static str {
    if d.redactions.is_empty() {
        "allow"
    } else {
        "sanitize"
    }
}

/// The call a decision input describes (tenant, agent, tool, action and arguments; missing
/// arguments count as `{}`), as approvals and their action digests see it.
pub fn call_of(input: &Value) -> Call {
    let text = |p: &str| {
        input
            .pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    Call {
        tenant: text("/tenant"),
        agent: text("/agent/id"),
        tool: text("/action/tool"),
        action: text("/action/type"),
        arguments: input
            .pointer("/action/args")
            .cloned()
            .filter(|a| !a.is_null())
            .unwrap_or_else(|| json!({})),
    }
}

/// What the approval step made of an `approval_needed` call.
pub enum Step {
    /// A valid token for this exact call: it may go ahead, once. The value describes the
    /// consumed approval (for the call's audit record).
    Granted(Value),
    /// Waiting for a person (a new request, or the identical pending one joined).
    Pending(Value),
    /// A token that does not authorize this call, or no request could be made.
    Refused(String),
}

/// How waiting for an approval ended.
pub enum Waited {
    /// Approved: retry the call with this override token.
    Approved(String),
    /// A person denied it.
    Denied(Box<Approval>),
    /// Still pending when the wait ended.
    Pending,
    /// The approval can no longer be used (expired, consumed, unknown, store unreadable).
    Ended(String),
}

impl Approvals {
    /// The approval step for an `approval_needed` decision `d` on `call`: a `token` that
    /// authorizes exactly this call is consumed (once); without one an approval is requested,
    /// or the identical pending one joined. `requester` is stored as context for approvers.
    pub fn step(&self, call: Call, d: &Decision, token: Option<&str>, requester: Value) -> Step {
        let digest = warden_approvals::digest(&call);
        let now = warden_engine::now_unix();
        if let Some(token) = token {
            let used = self
                .tokens
                .check(token, &digest, now)
                .and_then(|c| self.store.consume(&c.aid, &digest, now));
            return match used {
                Ok(a) => Step::Granted(
                    json!({"approval_id": a.id, "state": "consumed", "approved_by": a.decided_by}),
                ),
                Err(e) => Step::Refused(format!("the override token was rejected: {e}")),
            };
        }
        let rule = d
            .violations
            .iter()
            .find(|v| v.outcome.as_str() == "approval_needed")
            .map(|v| v.rule.clone())
            .unwrap_or_default();
        match self.store.request(
            call,
            &d.metadata.policy_version,
            &rule,
            &d.reasons,
            requester,
            self.ttl_seconds,
            self.max_pending,
            now,
        ) {
            Ok(r) => {
                if let (false, Some(n)) = (r.joined, &self.notifier) {
                    n.requested(&r.approval, &self.store);
                }
                Step::Pending(json!({
                    "approval_id": r.approval.id,
                    "state": "pending",
                    "joined": r.joined,
                    "expires": r.approval.expires,
                }))
            }
            Err(e) => Step::Refused(format!("no approval could be requested: {e}")),
        }
    }

    /// Where approval `id` stands now; an approved one comes with its override token until
    /// the time to retry the call has passed ([`warden_approvals::Approval::use_by`]).
    pub fn check(&self, id: &str) -> Waited {
        let now = warden_engine::now_unix();
        match self.store.get(id, now) {
            Ok(a) => match a.state {
                State::Approved if now >= a.use_by(self.token_ttl_seconds) => {
                    Waited::Ended(format!(
                        "the approval's time to retry the call ended {} s after it was \
                         approved; ask for a new approval",
                        self.token_ttl_seconds
                    ))
                }
                State::Approved => Waited::Approved(self.tokens.mint(&a, self.token_ttl_seconds)),
                State::Denied => Waited::Denied(Box::new(a)),
                State::Pending => Waited::Pending,
                other => Waited::Ended(format!("the approval is {}", other.as_str())),
            },
            Err(e) => Waited::Ended(e.to_string()),
        }
    }

    /// Polls approval `id` until a person decides, it ends, or `limit` passes (then
    /// [`Waited::Pending`]); `progress(seconds waited)` is called about every two seconds.
    pub async fn wait(&self, id: &str, limit: Duration, mut progress: impl FnMut(u64)) -> Waited {
        let started = Instant::now();
        let mut last = 0;
        loop {
            match self.check(id) {
                Waited::Pending => {}
                done => return done,
            }
            let waited = started.elapsed();
            if waited >= limit {
                return Waited::Pending;
            }
            if waited.as_secs() >= last + 2 {
                last = waited.as_secs();
                progress(last);
            }
            tokio::time::sleep(Duration::from_millis(200).min(limit - waited)).await;
        }
    }
}

/// Copies approval steps (requested, notified, decided, consumed, expired) from the store's
/// outbox into the tamper-evident audit log, linked by approval id, about twice a second.
/// Steps taken by other processes (`warden approvals approve` on the CLI) arrive the same way.
/// An event is marked copied only after its record is committed, so none is lost; a crash in
/// between copies it again on the next start (at least once).
pub fn spawn_relay(store: Arc<Store>, audit: crate::audit::Auditor) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            relay_once(&store, &audit).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
}

/// Copies the waiting approval events into the audit log once; returns how many were copied.
pub async fn relay_once(store: &Store, audit: &crate::audit::Auditor) -> usize {
    let events = match store.unaudited(256) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(error = %e, "approval events could not be read for the audit log");
            return 0;
        }
    };
    let mut done = Vec::with_capacity(events.len());
    for ev in events {
        let approval = store.get(&ev.approval_id, warden_engine::now_unix()).ok();
        let entry = event_entry(&ev, approval.as_ref());
        match audit.record(entry).await {
            Ok(_) => done.push(ev.seq),
            Err(e) => {
                tracing::error!(error = e, "approval event not recorded in the audit log");
                break;
            }
        }
    }
    if let Err(e) = store.mark_audited(&done) {
        tracing::warn!(error = %e, "approval events recorded but not marked");
    }
    done.len()
}

/// The approval without the call's arguments: the call's own decision record holds them
/// (masked as configured), and the digest links the two.
fn without_arguments(a: &Approval) -> Value {
    let mut v = serde_json::to_value(a).unwrap_or(Value::Null);
    if let Some(Value::Object(call)) = v.get_mut("call") {
        call.remove("arguments");
    }
    v
}

/// The audit record of one approval step: outcome `approval_<step>`, path `warden/approvals`,
/// the event as input and the approval as it stands as result.
fn event_entry(ev: &warden_approvals::Event, a: Option<&Approval>) -> warden_audit::Entry {
    let input = serde_json::to_value(ev).unwrap_or(Value::Null);
    let field = |f: fn(&Approval) -> &str| a.map(f).unwrap_or("").to_string();
    warden_audit::Entry {
        decision_id: format!("{}#{}", ev.approval_id, ev.seq),
        time: warden_engine::rfc3339_utc(ev.time),
        tenant: field(|a| &a.call.tenant),
        agent: field(|a| &a.call.agent),
        tool: field(|a| &a.call.tool),
        action: field(|a| &a.call.action),
        input_hash: warden_audit::canonical_hash(&input).unwrap_or_default(),
        input,
        masked: vec![],
        result: a.map(without_arguments).unwrap_or(Value::Null),
        outcome: format!("approval_{}", ev.step),
        reasons: a.map(|a| a.reasons.clone()).unwrap_or_default(),
        bundles: Default::default(),
        policy_version: field(|a| &a.policy_version),
        latency_us: 0,
        trace_id: None,
        path: Some("warden/approvals".into()),
        candidate: None,
    }
}
