//! Durable approval records in SQLite. Every transition is one conditional `UPDATE`, so two
//! approvers, or two retries with one token, cannot both win.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::Value;

use crate::{digest, Approval, ApprovalError, Call, State};

/// Who may decide: approver identities per tenant, and optionally per rule (`tenant/…/rule id`).
#[derive(Debug, Clone, Default)]
pub struct Approvers {
    /// Tenant → approvers for any of its rules.
    pub tenants: BTreeMap<String, Vec<String>>,
    /// Rule id → approvers for that rule only (checked in addition to the tenant's).
    pub rules: BTreeMap<String, Vec<String>>,
}

impl Approvers {
    /// Whether `who` may decide `a` (and so see it).
    pub fn allows(&self, who: &str, a: &Approval) -> bool {
        let listed = |l: Option<&Vec<String>>| l.is_some_and(|l| l.iter().any(|x| x == who));
        listed(self.tenants.get(&a.call.tenant)) || listed(self.rules.get(&a.rule))
    }
}

/// What asking for an approval gave.
#[derive(Debug, Clone, PartialEq)]
pub struct Requested {
    /// The approval (new, or the identical one already pending).
    pub approval: Approval,
    /// Whether an identical pending request was joined instead of creating a new one.
    pub joined: bool,
}

/// The approval store.
pub struct Store {
    conn: Mutex<Connection>,
}

const COLUMNS: &str = "id, tenant, agent, tool, action, arguments, digest, policy_version, rule, reasons, requester, created, expires, state, decided_by, decided_at, note";

fn row(r: &Row<'_>) -> rusqlite::Result<Approval> {
    let json = |i: usize| -> rusqlite::Result<Value> {
        let s: String = r.get(i)?;
        Ok(serde_json::from_str(&s).unwrap_or(Value::Null))
    };
    let state: String = r.get(13)?;
    Ok(Approval {
        id: r.get(0)?,
        call: Call {
            tenant: r.get(1)?,
            agent: r.get(2)?,
            tool: r.get(3)?,
            action: r.get(4)?,
            arguments: json(5)?,
        },
        digest: r.get(6)?,
        policy_version: r.get(7)?,
        rule: r.get(8)?,
        reasons: serde_json::from_value(json(9)?).unwrap_or_default(),
        requester: json(10)?,
        created: r.get::<_, i64>(11)?.max(0) as u64,
        expires: r.get::<_, i64>(12)?.max(0) as u64,
        state: State::parse(&state),
        decided_by: r.get(14)?,
        decided_at: r.get::<_, Option<i64>>(15)?.map(|v| v.max(0) as u64),
        note: r.get(16)?,
    })
}

/// One step in an approval's life, as recorded: `requested`, `notified`, `decided`,
/// `consumed` or `expired`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Event {
    /// Position in the store's event sequence.
    pub seq: u64,
    /// The approval.
    pub approval_id: String,
    /// The step.
    pub step: String,
    /// Who: the agent (requested, consumed), the channel (notified), the approver (decided),
    /// or `warden` (expired).
    pub actor: String,
    /// When (Unix seconds).
    pub time: u64,
    /// Step details (decided: `decision` and `note`; notified: `ok`, `status` or `error`).
    pub detail: Value,
}

fn event_row(r: &Row<'_>) -> rusqlite::Result<Event> {
    let detail: String = r.get(5)?;
    Ok(Event {
        seq: r.get::<_, i64>(0)?.max(0) as u64,
        approval_id: r.get(1)?,
        step: r.get(2)?,
        actor: r.get(3)?,
        time: r.get::<_, i64>(4)?.max(0) as u64,
        detail: serde_json::from_str(&detail).unwrap_or(Value::Null),
    })
}

impl Store {
    /// Opens or creates the store (it can share the limits database file).
    pub fn open(path: &Path) -> Result<Store, ApprovalError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS approvals (
                 id TEXT PRIMARY KEY, tenant TEXT NOT NULL, agent TEXT NOT NULL, tool TEXT NOT NULL,
                 action TEXT NOT NULL, arguments TEXT NOT NULL, digest TEXT NOT NULL,
                 policy_version TEXT NOT NULL, rule TEXT NOT NULL, reasons TEXT NOT NULL,
                 requester TEXT NOT NULL, created INTEGER NOT NULL, expires INTEGER NOT NULL,
                 state TEXT NOT NULL, decided_by TEXT, decided_at INTEGER, note TEXT);
             CREATE INDEX IF NOT EXISTS approvals_pending ON approvals (agent, state);
             CREATE INDEX IF NOT EXISTS approvals_digest ON approvals (digest, state);
             CREATE TABLE IF NOT EXISTS approval_events (
                 seq INTEGER PRIMARY KEY AUTOINCREMENT, approval_id TEXT NOT NULL,
                 step TEXT NOT NULL, actor TEXT NOT NULL, time INTEGER NOT NULL,
                 detail TEXT NOT NULL, audited INTEGER NOT NULL DEFAULT 0);
             CREATE INDEX IF NOT EXISTS approval_events_unaudited ON approval_events (audited, seq);
             CREATE INDEX IF NOT EXISTS approval_events_by_id ON approval_events (approval_id, seq);",
        )?;
        Ok(Store {
            conn: Mutex::new(conn),
        })
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Connection>, ApprovalError> {
        self.conn
            .lock()
            .map_err(|_| ApprovalError::Store("poisoned lock".into()))
    }

    /// Marks pending approvals whose time is up as expired (with an `expired` event each).
    fn expire(conn: &Connection, now: u64) -> Result<(), ApprovalError> {
        conn.execute(
            "INSERT INTO approval_events (approval_id, step, actor, time, detail)
             SELECT id, 'expired', 'warden', ?1, '{}' FROM approvals
             WHERE state = 'pending' AND expires <= ?1",
            params![now as i64],
        )?;
        conn.execute(
            "UPDATE approvals SET state = 'expired' WHERE state = 'pending' AND expires <= ?1",
            params![now as i64],
        )?;
        Ok(())
    }

    fn event(
        conn: &Connection,
        id: &str,
        step: &str,
        actor: &str,
        now: u64,
        detail: &Value,
    ) -> Result<(), ApprovalError> {
        conn.execute(
            "INSERT INTO approval_events (approval_id, step, actor, time, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, step, actor, now as i64, detail.to_string()],
        )?;
        Ok(())
    }

    /// Records that people were told about approval `id` (`channel`: slack, teams), and whether
    /// the message was accepted.
    pub fn notified(
        &self,
        id: &str,
        channel: &str,
        detail: &Value,
        now: u64,
    ) -> Result<(), ApprovalError> {
        let conn = self.lock()?;
        Self::event(&conn, id, "notified", channel, now, detail)
    }

    /// Approval `id`'s history, oldest first.
    pub fn history(&self, id: &str) -> Result<Vec<Event>, ApprovalError> {
        let conn = self.lock()?;
        let mut stmt = conn.prepare(
            "SELECT seq, approval_id, step, actor, time, detail FROM approval_events WHERE approval_id = ?1 ORDER BY seq",
        )?;
        let rows = stmt.query_map(params![id], event_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Up to `limit` events not yet copied to the audit log, oldest first (the outbox the
    /// gateway drains into its tamper-evident log; see [`Store::mark_audited`]).
    pub fn unaudited(&self, limit: usize) -> Result<Vec<Event>, ApprovalError> {
        let conn = self.lock()?;
        let mut stmt = conn.prepare(
            "SELECT seq, approval_id, step, actor, time, detail FROM approval_events WHERE audited = 0 ORDER BY seq LIMIT ?1",
        )?;
        let rows = stmt.query_map(params![limit as i64], event_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Marks events as copied to the audit log.
    pub fn mark_audited(&self, seqs: &[u64]) -> Result<(), ApprovalError> {
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        for s in seqs {
            tx.execute(
                "UPDATE approval_events SET audited = 1 WHERE seq = ?1",
                params![*s as i64],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Asks for an approval of `call`. An identical call already pending is joined; an agent
    /// with `max_pending` approvals waiting gets [`ApprovalError::TooManyPending`].
    #[allow(clippy::too_many_arguments)]
    pub fn request(
        &self,
        call: Call,
        policy_version: &str,
        rule: &str,
        reasons: &[String],
        requester: Value,
        ttl_seconds: u64,
        max_pending: usize,
        now: u64,
    ) -> Result<Requested, ApprovalError> {
        let d = digest(&call);
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        Self::expire(&tx, now)?;
        let existing = tx
            .query_row(
                &format!("SELECT {COLUMNS} FROM approvals WHERE digest = ?1 AND state = 'pending'"),
                params![d],
                row,
            )
            .optional()?;
        if let Some(approval) = existing {
            tx.commit()?;
            return Ok(Requested {
                approval,
                joined: true,
            });
        }
        let pending: i64 = tx.query_row(
            "SELECT COUNT(*) FROM approvals WHERE tenant = ?1 AND agent = ?2 AND state = 'pending'",
            params![call.tenant, call.agent],
            |r| r.get(0),
        )?;
        if pending as usize >= max_pending {
            return Err(ApprovalError::TooManyPending(call.agent, max_pending));
        }
        let a = Approval {
            id: format!("apr_{}", uuid::Uuid::new_v4().simple()),
            digest: d,
            call,
            policy_version: policy_version.into(),
            rule: rule.into(),
            reasons: reasons.to_vec(),
            requester,
            created: now,
            expires: now + ttl_seconds,
            state: State::Pending,
            decided_by: None,
            decided_at: None,
            note: None,
        };
        tx.execute(
            &format!("INSERT INTO approvals ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, 'pending', NULL, NULL, NULL)"),
            params![
                a.id, a.call.tenant, a.call.agent, a.call.tool, a.call.action,
                a.call.arguments.to_string(), a.digest, a.policy_version, a.rule,
                serde_json::to_string(&a.reasons).unwrap_or_default(), a.requester.to_string(),
                a.created as i64, a.expires as i64
            ],
        )?;
        Self::event(
            &tx,
            &a.id,
            "requested",
            &a.call.agent,
            now,
            &serde_json::json!({"rule": a.rule, "reasons": a.reasons, "digest": a.digest, "requester": a.requester}),
        )?;
        tx.commit()?;
        Ok(Requested {
            approval: a,
            joined: false,
        })
    }

    /// One approval (pending ones past their time read as expired).
    pub fn get(&self, id: &str, now: u64) -> Result<Approval, ApprovalError> {
        let conn = self.lock()?;
        Self::expire(&conn, now)?;
        conn.query_row(
            &format!("SELECT {COLUMNS} FROM approvals WHERE id = ?1"),
            params![id],
            row,
        )
        .optional()?
        .ok_or_else(|| ApprovalError::NotFound(id.into()))
    }

    /// Approvals, newest first, optionally only one tenant's or one state's.
    pub fn list(
        &self,
        tenant: Option<&str>,
        state: Option<State>,
        now: u64,
    ) -> Result<Vec<Approval>, ApprovalError> {
        let conn = self.lock()?;
        Self::expire(&conn, now)?;
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM approvals WHERE (?1 IS NULL OR tenant = ?1) AND (?2 IS NULL OR state = ?2) ORDER BY created DESC, id"
        ))?;
        let rows = stmt.query_map(params![tenant, state.map(State::as_str)], row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// A person decides: only a configured approver, never the requesting agent, and only while
    /// it is pending.
    pub fn decide(
        &self,
        id: &str,
        approver: &str,
        approve: bool,
        note: Option<&str>,
        approvers: &Approvers,
        now: u64,
    ) -> Result<Approval, ApprovalError> {
        let a = self.get(id, now)?;
        if approver == a.call.agent {
            return Err(ApprovalError::SelfApproval(approver.into()));
        }
        if !approvers.allows(approver, &a) {
            return Err(ApprovalError::NotAuthorized(approver.into(), a.call.tenant));
        }
        let to = if approve { "approved" } else { "denied" };
        let n = {
            let mut conn = self.lock()?;
            let tx = conn.transaction()?;
            let n = tx.execute(
                "UPDATE approvals SET state = ?2, decided_by = ?3, decided_at = ?4, note = ?5 WHERE id = ?1 AND state = 'pending' AND expires > ?4",
                params![id, to, approver, now as i64, note],
            )?;
            if n == 1 {
                Self::event(
                    &tx,
                    id,
                    "decided",
                    approver,
                    now,
                    &serde_json::json!({"decision": to, "note": note}),
                )?;
            }
            tx.commit()?;
            n
        };
        if n != 1 {
            let now_state = self.get(id, now)?.state;
            return Err(ApprovalError::WrongState(
                id.into(),
                now_state.as_str(),
                "pending",
            ));
        }
        self.get(id, now)
    }

    /// Uses an approved approval for the call with `digest`, once: `approved → consumed` in one
    /// conditional update, so concurrent retries cannot both succeed.
    pub fn consume(&self, id: &str, digest: &str, now: u64) -> Result<Approval, ApprovalError> {
        let n = {
            let mut conn = self.lock()?;
            let tx = conn.transaction()?;
            let n = tx.execute(
                "UPDATE approvals SET state = 'consumed' WHERE id = ?1 AND digest = ?2 AND state = 'approved'",
                params![id, digest],
            )?;
            if n == 1 {
                let agent: String = tx.query_row(
                    "SELECT agent FROM approvals WHERE id = ?1",
                    params![id],
                    |r| r.get(0),
                )?;
                Self::event(
                    &tx,
                    id,
                    "consumed",
                    &agent,
                    now,
                    &serde_json::json!({"digest": digest}),
                )?;
            }
            tx.commit()?;
            n
        };
        if n == 1 {
            return self.get(id, now);
        }
        let a = self.get(id, now)?;
        if a.digest != digest {
            return Err(ApprovalError::BadToken(
                "it was issued for a different call (agent, tool or arguments differ)".into(),
            ));
        }
        Err(ApprovalError::WrongState(
            id.into(),
            a.state.as_str(),
            "approved",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(amount: u64) -> Call {
        Call {
            tenant: "acme".into(),
            agent: "finance-agent".into(),
            tool: "stripe".into(),
            action: "pay".into(),
            arguments: json!({"amount": amount}),
        }
    }

    fn approvers() -> Approvers {
        Approvers {
            tenants: [("acme".to_string(), vec!["alice".to_string()])].into(),
            rules: Default::default(),
        }
    }

    fn ask(s: &Store, amount: u64, now: u64) -> Result<Requested, ApprovalError> {
        s.request(
            call(amount),
            "1.0",
            "acme/r",
            &["big".into()],
            json!({}),
            600,
            2,
            now,
        )
    }

    #[test]
    fn lifecycle_joining_caps_and_who_may_decide() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("a.db")).unwrap();
        let a = ask(&s, 9000, 100).unwrap();
        assert!(!a.joined);
        let again = ask(&s, 9000, 101).unwrap();
        assert!(
            again.joined && again.approval.id == a.approval.id,
            "identical pending requests join"
        );
        ask(&s, 9001, 102).unwrap();
        assert_eq!(
            ask(&s, 9002, 103).unwrap_err(),
            ApprovalError::TooManyPending("finance-agent".into(), 2)
        );
        let id = &a.approval.id;
        assert!(matches!(
            s.decide(id, "finance-agent", true, None, &approvers(), 110),
            Err(ApprovalError::SelfApproval(_))
        ));
        assert!(matches!(
            s.decide(id, "mallory", true, None, &approvers(), 110),
            Err(ApprovalError::NotAuthorized(..))
        ));
        let ok = s
            .decide(
                id,
                "alice",
                true,
                Some("invoice checked"),
                &approvers(),
                110,
            )
            .unwrap();
        assert_eq!(
            (ok.state, ok.decided_by.as_deref()),
            (State::Approved, Some("alice"))
        );
        assert!(matches!(
            s.decide(id, "alice", false, None, &approvers(), 111),
            Err(ApprovalError::WrongState(..))
        ));
        // Used once for exactly its call.
        assert!(matches!(
            s.consume(id, "other-digest", 120),
            Err(ApprovalError::BadToken(_))
        ));
        assert_eq!(
            s.consume(id, &ok.digest, 120).unwrap().state,
            State::Consumed
        );
        assert!(matches!(
            s.consume(id, &ok.digest, 121),
            Err(ApprovalError::WrongState(..))
        ));
        s.notified(id, "slack", &json!({"ok": true}), 105).unwrap();
        let steps: Vec<(String, String)> = s
            .history(id)
            .unwrap()
            .into_iter()
            .map(|e| (e.step, e.actor))
            .collect();
        let want = [
            ("requested", "finance-agent"),
            ("decided", "alice"),
            ("consumed", "finance-agent"),
            ("notified", "slack"),
        ];
        assert_eq!(
            steps,
            want.map(|(a, b)| (a.to_string(), b.to_string())).to_vec(),
            "refused attempts leave no event; each step names who took it"
        );
        let outbox = s.unaudited(100).unwrap();
        assert_eq!(
            outbox.len(),
            5,
            "two requests, then decided, consumed, notified"
        );
        s.mark_audited(&[outbox[0].seq, outbox[1].seq]).unwrap();
        assert_eq!(s.unaudited(100).unwrap().len(), 3);
    }

    #[test]
    fn pending_approvals_expire_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        let id = {
            let s = Store::open(&path).unwrap();
            ask(&s, 1, 1000).unwrap().approval.id
        };
        let s = Store::open(&path).unwrap();
        assert_eq!(
            s.get(&id, 1100).unwrap().state,
            State::Pending,
            "still pending after a restart"
        );
        assert_eq!(
            s.get(&id, 1600).unwrap().state,
            State::Expired,
            "expired after its ttl"
        );
        let last = s.history(&id).unwrap().pop().unwrap();
        assert_eq!((last.step.as_str(), last.time), ("expired", 1600));
        assert!(matches!(
            s.decide(&id, "alice", true, None, &approvers(), 1601),
            Err(ApprovalError::WrongState(_, "expired", _))
        ));
    }

    #[test]
    fn concurrent_uses_of_one_approval_succeed_once() {
        let dir = tempfile::tempdir().unwrap();
        let s = std::sync::Arc::new(Store::open(&dir.path().join("a.db")).unwrap());
        let a = ask(&s, 5, 10).unwrap().approval;
        s.decide(&a.id, "alice", true, None, &approvers(), 11)
            .unwrap();
        let wins: usize = (0..16)
            .map(|_| {
                let (s, id, d) = (s.clone(), a.id.clone(), a.digest.clone());
                std::thread::spawn(move || s.consume(&id, &d, 12).is_ok())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| usize::from(h.join().unwrap()))
            .sum();
        assert_eq!(wins, 1);
    }
}
