//! Warden's tamper-evident decision log.
//!
//! Every decision becomes one record `{"seq", "prev", "entry"}` serialized canonically (RFC 8785,
//! written by [`jcs`]; [`verify`] re-serializes with `serde_jcs`) and stored in SQLite (WAL,
//! `synchronous=FULL` unless opened otherwise). Each record's SHA-256 covers the
//! previous record's hash, so changing, deleting or reordering a record breaks the chain from
//! there on. Checkpoints sign `(seq, head hash)` with Ed25519, so cutting records off the end (which
//! a chain alone cannot show) is caught against the last checkpoint. [`verify`] names the first bad
//! record.

pub mod jcs;
mod log;
mod verify;

pub use log::{AuditLog, WalCheckpointer};
pub use verify::{entries, for_each_entry, opa_event, public_pem, verify, Broken, Report};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The hash before the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What is recorded about one decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Decision id (also returned to the caller).
    pub decision_id: String,
    /// RFC 3339 time of the decision.
    pub time: String,
    /// Tenant.
    pub tenant: String,
    /// Agent.
    pub agent: String,
    /// Tool.
    pub tool: String,
    /// Action.
    pub action: String,
    /// The input, with masked paths replaced.
    pub input: Value,
    /// SHA-256 of the canonical input before masking. Left empty,
    /// [`Entry::into_canonical`] fills it in from `input` as written.
    pub input_hash: String,
    /// JSON pointers that were masked.
    #[serde(default)]
    pub masked: Vec<String>,
    /// The decision as returned.
    pub result: Value,
    /// Outcome.
    pub outcome: String,
    /// Reason codes.
    pub reasons: Vec<String>,
    /// Bundle name → revision.
    pub bundles: std::collections::BTreeMap<String, String>,
    /// Policy version.
    pub policy_version: String,
    /// Time to decide, microseconds.
    pub latency_us: u64,
    /// W3C trace id, when the call was traced.
    #[serde(default)]
    pub trace_id: Option<String>,
    /// The Data API path queried (`warden/main/decision` when absent: the decision API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// A candidate bundle's shadow decision for the same call, when one ran
    /// (`{"bundle", "revision", "outcome", "reasons"}`); `warden audit diff` compares them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate: Option<Value>,
}

/// An entry in RFC 8785 canonical form, ready to be chained.
#[derive(Debug, Clone)]
pub struct CanonicalEntry(String);

impl Entry {
    /// Serializes the entry canonically (RFC 8785), once, wherever the caller runs.
    pub fn canonical(&self) -> Result<CanonicalEntry, AuditError> {
        self.clone().into_canonical()
    }

    /// Like [`Entry::canonical`], without copying anything: every field is written straight
    /// into the canonical text in RFC 8785 key order (the tests check the text equals
    /// `serde_jcs` of the entry byte for byte). An empty `input_hash` is filled with the
    /// SHA-256 of `input` as written, which saves serializing the input twice when nothing in
    /// it was masked (with masking, the caller hashes the input before masking it).
    pub fn into_canonical(self) -> Result<CanonicalEntry, AuditError> {
        use jcs::{write, write_str, write_u64};
        let mut out = Vec::with_capacity(2048);
        let strings = |out: &mut Vec<u8>, items: &[String]| {
            jcs::write_array(out, items, |o, s| write_str(o, s))
        };
        // Keys in RFC 8785 order (UTF-16 code units; all ASCII here, so byte order).
        out.extend_from_slice(b"{\"action\":");
        write_str(&mut out, &self.action);
        out.extend_from_slice(b",\"agent\":");
        write_str(&mut out, &self.agent);
        out.extend_from_slice(b",\"bundles\":");
        jcs::write_string_map(&mut out, self.bundles.iter());
        if let Some(c) = &self.candidate {
            out.extend_from_slice(b",\"candidate\":");
            write(&mut out, c);
        }
        out.extend_from_slice(b",\"decision_id\":");
        write_str(&mut out, &self.decision_id);
        out.extend_from_slice(b",\"input\":");
        let at = out.len();
        write(&mut out, &self.input);
        let hash = if self.input_hash.is_empty() {
            hex::encode(Sha256::digest(&out[at..]))
        } else {
            self.input_hash
        };
        out.extend_from_slice(b",\"input_hash\":");
        write_str(&mut out, &hash);
        out.extend_from_slice(b",\"latency_us\":");
        write_u64(&mut out, self.latency_us);
        out.extend_from_slice(b",\"masked\":");
        strings(&mut out, &self.masked);
        out.extend_from_slice(b",\"outcome\":");
        write_str(&mut out, &self.outcome);
        if let Some(p) = &self.path {
            out.extend_from_slice(b",\"path\":");
            write_str(&mut out, p);
        }
        out.extend_from_slice(b",\"policy_version\":");
        write_str(&mut out, &self.policy_version);
        out.extend_from_slice(b",\"reasons\":");
        strings(&mut out, &self.reasons);
        out.extend_from_slice(b",\"result\":");
        write(&mut out, &self.result);
        out.extend_from_slice(b",\"tenant\":");
        write_str(&mut out, &self.tenant);
        out.extend_from_slice(b",\"time\":");
        write_str(&mut out, &self.time);
        out.extend_from_slice(b",\"tool\":");
        write_str(&mut out, &self.tool);
        out.extend_from_slice(b",\"trace_id\":");
        match &self.trace_id {
            Some(t) => write_str(&mut out, t),
            None => out.extend_from_slice(b"null"),
        }
        out.push(b'}');
        String::from_utf8(out)
            .map(CanonicalEntry)
            .map_err(|e| AuditError::Encode(e.to_string()))
    }
}

impl CanonicalEntry {
    /// The entry's canonical text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The record's canonical text: exactly `serde_jcs` of `Record { seq, prev, entry }` (RFC 8785
    /// orders the keys `entry`, `prev`, `seq`; `prev` is lowercase hex and `seq` an integer, so
    /// neither needs escaping), built by concatenation instead of re-serializing the entry.
    /// `verify` re-serializes every record and rejects any that differ.
    fn record(&self, seq: u64, prev: &str) -> String {
        format!("{{\"entry\":{},\"prev\":\"{prev}\",\"seq\":{seq}}}", self.0)
    }
}

#[derive(Serialize, Deserialize)]
struct Record {
    seq: u64,
    prev: String,
    entry: Entry,
}

/// Errors from the log.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// SQLite failed (disk full, read-only, corrupt file).
    #[error("audit store: {0}")]
    Store(#[from] rusqlite::Error),
    /// A record could not be serialized.
    #[error("audit record: {0}")]
    Encode(String),
    /// The signing key could not be read.
    #[error("audit key: {0}")]
    Key(String),
    /// Flushing the log's files failed.
    #[error("audit file: {0}")]
    Io(#[from] std::io::Error),
}

/// SHA-256 hex of canonical JSON (RFC 8785).
pub fn canonical_hash(v: &impl Serialize) -> Result<String, AuditError> {
    let value = serde_json::to_value(v).map_err(|e| AuditError::Encode(e.to_string()))?;
    Ok(value_hash(&value))
}

/// SHA-256 hex of a JSON value's canonical form (RFC 8785), without copying it first.
pub fn value_hash(v: &Value) -> String {
    let mut bytes = Vec::with_capacity(512);
    jcs::write(&mut bytes, v);
    hex::encode(Sha256::digest(&bytes))
}

fn checkpoint_message(seq: u64, head: &str) -> Vec<u8> {
    format!("warden-audit-checkpoint\n{seq}\n{head}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::PAGE_SIZE;
    use rusqlite::Connection;
    use serde_json::json;
    use std::path::Path;

    fn entry() -> Entry {
        Entry {
            decision_id: "d-1".into(),
            time: "2026-12-04T10:00:00Z".into(),
            tenant: "acme".into(),
            agent: "finance-agent".into(),
            tool: "stripe-payments".into(),
            action: "create_payment".into(),
            input: json!({"z": 1, "action": {"args": {"amount": 12.5, "memo": "a\"b\n"}}}),
            input_hash: "h".into(),
            masked: vec!["/action/args/card".into()],
            result: json!({"outcome": "deny", "reasons": ["over_limit"], "n": 1e21}),
            outcome: "deny".into(),
            reasons: vec!["over_limit".into(), "tab\t".into()],
            bundles: [("main", "r1"), ("\u{e000}x", "r2"), ("\u{10000}", "r3")]
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .into(),
            policy_version: "1".into(),
            latency_us: 5,
            trace_id: None,
            candidate: None,
            path: None,
        }
    }

    /// The hand-written serialization is exactly serde_jcs's, whichever optional fields are set.
    #[test]
    fn canonical_entry_matches_serde_jcs() {
        let mut variants = vec![entry()];
        let mut e = entry();
        e.trace_id = Some("4bf92f3577b34da6a3ce929d0e0e4736".into());
        e.path = Some("warden/main/decision".into());
        e.candidate = Some(json!({"bundle": "next", "outcome": "allow", "reasons": []}));
        e.latency_us = u64::MAX;
        e.masked.clear();
        e.reasons.clear();
        e.bundles.clear();
        variants.push(e);
        for e in variants {
            let expected = serde_jcs::to_string(&e).expect("serde_jcs");
            assert_eq!(e.into_canonical().expect("serializes").as_str(), expected);
        }
    }

    /// An empty input hash is filled with the hash of the input as written; a given one is kept.
    #[test]
    fn empty_input_hash_is_computed() {
        let mut e = entry();
        e.input_hash.clear();
        let expected = value_hash(&e.input);
        let text = e.into_canonical().expect("serializes");
        let back: Entry = serde_json::from_str(text.as_str()).expect("parses");
        assert_eq!(back.input_hash, expected);
        let kept: Entry =
            serde_json::from_str(entry().into_canonical().expect("serializes").as_str())
                .expect("parses");
        assert_eq!(kept.input_hash, "h");
    }

    /// A new log has 16 KiB pages; a log made with 4 KiB pages keeps them, takes records and
    /// still verifies.
    #[test]
    fn page_size_of_new_and_old_logs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let page_size = |p: &Path| -> i64 {
            Connection::open(p)
                .and_then(|c| c.query_row("PRAGMA page_size", [], |r| r.get(0)))
                .expect("page size")
        };
        let new = dir.path().join("new.db");
        AuditLog::open(&new, None)
            .and_then(|mut l| l.append(&[entry()]))
            .expect("append");
        assert_eq!(page_size(&new), PAGE_SIZE);
        let old = dir.path().join("old.db");
        Connection::open(&old)
            .and_then(|c| c.execute_batch("PRAGMA page_size=4096; CREATE TABLE t (x);"))
            .expect("old log");
        let mut log = AuditLog::open(&old, None).expect("opens");
        assert_eq!(log.append(&[entry(), entry()]).expect("append"), 2);
        assert_eq!(page_size(&old), 4096);
        let report = verify(&old, None).expect("reads").expect("verifies");
        assert_eq!(report.records, 2);
    }
}
