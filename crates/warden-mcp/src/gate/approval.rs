//! Human approval inside the gate: the approval step of an `approval_needed` call (an override
//! token that authorizes exactly this call is consumed, or an approval is requested), and waiting
//! mode, where the call is held until a person decides and then retried with the minted token.

use serde_json::{json, Value};
use warden_core::contract::Decision;
use warden_server::approvals::{Step, Waited};

use super::{codes, error, Gate, Session, Verdict, TOKEN_META};

impl Gate {
    /// The approval step for an `approval_needed` call: a token in `params._meta` that
    /// authorizes exactly this call is consumed; otherwise an approval is requested (or the
    /// identical pending one joined).
    pub(super) fn approval(
        &self,
        session: &Session,
        decision_id: &str,
        input: &Value,
        params: &Value,
        d: &Decision,
    ) -> Step {
        let Some(ap) = &self.approvals else {
            return Step::Pending(json!({"approval_id": decision_id, "state": "not_configured"}));
        };
        let call = warden_server::approvals::call_of(input);
        let token = params
            .pointer("/_meta")
            .and_then(|m| m.get(TOKEN_META))
            .and_then(Value::as_str);
        let requester =
            json!({"session": session.id, "decision_id": decision_id, "server": self.server});
        match ap.step(call, d, token, requester) {
            Step::Pending(mut note) => {
                note["token_meta_key"] = json!(TOKEN_META);
                Step::Pending(note)
            }
            other => other,
        }
    }

    /// The approval a reply is waiting on, when waiting mode is on: its id.
    pub fn waits_on(&self, reply: &Value) -> Option<String> {
        self.approvals.as_ref()?.wait?;
        let w = reply.pointer("/error/data/warden")?;
        (w.pointer("/approval/state")?.as_str()? == "pending")
            .then(|| w.get("approval_id")?.as_str().map(str::to_string))
            .flatten()
    }

    /// Decides a `tools/call` like [`Gate::call`]; in waiting mode an `approval_needed` call is
    /// held until a person decides (a call with a `progressToken` gets a
    /// `notifications/progress` message passed to `notify` about every two seconds), then
    /// retried once with the minted override token, or answered with a denial when it is denied
    /// or nobody decides in time.
    pub async fn call_waiting(
        &self,
        session: &Session,
        id: &Value,
        params: &Value,
        notify: impl FnMut(Value),
    ) -> Verdict {
        self.call_waiting_until(session, id, params, notify, std::future::pending())
            .await
            .unwrap_or_else(|| Verdict::Reply(Value::Null))
    }

    /// [`Gate::call_waiting`] that stops waiting for a person when `stop` resolves (the client
    /// cancelled the call or went away): `None`, and the call is not made nor the approval used.
    /// Only the wait is given up: deciding, reserving and recording run to their end.
    pub async fn call_waiting_until(
        &self,
        session: &Session,
        id: &Value,
        params: &Value,
        notify: impl FnMut(Value),
        stop: impl std::future::Future<Output = ()>,
    ) -> Option<Verdict> {
        let v = self.call(session, id, params).await;
        let Verdict::Reply(r) = &v else {
            return Some(v);
        };
        let Some(aid) = self.waits_on(r) else {
            return Some(v);
        };
        self.resume_until(session, id, params, &aid, notify, stop)
            .await
    }

    /// Waiting mode, after [`Gate::call`] answered that the call waits on approval `aid`
    /// ([`Gate::waits_on`]): waits for the decision (progress notifications to `notify`, as in
    /// [`Gate::call_waiting`]), then retries the call with the override token, or answers with
    /// the denial.
    pub async fn resume(
        &self,
        session: &Session,
        id: &Value,
        params: &Value,
        aid: &str,
        notify: impl FnMut(Value),
    ) -> Verdict {
        self.resume_until(session, id, params, aid, notify, std::future::pending())
            .await
            .unwrap_or_else(|| Verdict::Reply(Value::Null))
    }

    /// [`Gate::resume`] that gives up the wait when `stop` resolves first (`None`): the call is
    /// not made and the approval is left unused. Once the person has decided, the retry runs
    /// to its end whatever `stop` does, so no charge or approval is left half-spent.
    pub async fn resume_until(
        &self,
        session: &Session,
        id: &Value,
        params: &Value,
        aid: &str,
        mut notify: impl FnMut(Value),
        stop: impl std::future::Future<Output = ()>,
    ) -> Option<Verdict> {
        let token = params.pointer("/_meta/progressToken").cloned();
        let mut ticks = 0u64;
        let wait = self.wait_for_approval(aid, |secs| {
            if let Some(t) = &token {
                ticks += 1;
                notify(json!({"jsonrpc": "2.0", "method": "notifications/progress",
                    "params": {"progressToken": t, "progress": ticks,
                               "message": format!("waiting for a person to approve {aid} ({secs} s so far)")}}));
            }
        });
        let waited = tokio::select! {
            w = wait => w,
            () = stop => return None,
        };
        Some(match waited {
            Waited::Approved(token) => {
                let mut retry = params.clone();
                if !retry.get("_meta").is_some_and(Value::is_object) {
                    retry["_meta"] = json!({});
                }
                retry["_meta"][TOKEN_META] = Value::String(token);
                self.call(session, id, &retry).await
            }
            Waited::Denied(a) => Verdict::Reply(error(
                id,
                codes::DENIED,
                format!(
                    "{} denied the call to {}/{}{}",
                    a.decided_by.as_deref().unwrap_or("an approver"),
                    a.call.tool,
                    a.call.action,
                    a.note.map(|n| format!(": {n}")).unwrap_or_default()
                ),
                Some(
                    json!({"warden": {"outcome": "deny", "reasons": ["approval_denied"], "approval_id": a.id}}),
                ),
            )),
            Waited::Pending | Waited::Ended(_) => {
                let why = match waited {
                    Waited::Ended(w) => w,
                    _ => "nobody decided in time".into(),
                };
                Verdict::Reply(error(
                    id,
                    codes::DENIED,
                    format!("the call needed a person's approval and {why}; it was not made"),
                    Some(
                        json!({"warden": {"outcome": "deny", "reasons": ["approval_not_given"], "approval_id": aid}}),
                    ),
                ))
            }
        })
    }

    /// Waiting mode: waits for a person to decide approval `id` (up to the configured wait);
    /// `progress(seconds waited)` is called about every two seconds meanwhile.
    pub async fn wait_for_approval(&self, id: &str, progress: impl FnMut(u64)) -> Waited {
        let Some(ap) = &self.approvals else {
            return Waited::Ended("approvals are not configured".into());
        };
        let limit = ap.wait.unwrap_or_default();
        match ap.wait(id, limit, progress).await {
            Waited::Pending => {
                Waited::Ended(format!("nobody decided within {} s", limit.as_secs()))
            }
            done => done,
        }
    }
}
