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

use std::path::Path;

use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use rusqlite::{params, Connection, OptionalExtension};
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

/// SQLite page size of a new log.
const PAGE_SIZE: i64 = 16 * 1024;

/// WAL pages after which a commit checkpoints the WAL into the database.
const WAL_AUTOCHECKPOINT_PAGES: i64 = 64;

/// An open log that appends records.
pub struct AuditLog {
    conn: Connection,
    seq: u64,
    head: String,
    key: Option<SigningKey>,
}

impl AuditLog {
    /// Opens (or creates) the log at `path`; `key_pem` (Ed25519 PKCS#8) signs checkpoints. Every
    /// commit is fsynced (`synchronous=FULL`): records survive a power loss.
    pub fn open(path: &Path, key_pem: Option<&str>) -> Result<AuditLog, AuditError> {
        Self::open_with(path, key_pem, true)
    }

    /// Like [`AuditLog::open`]; with `fsync_each_commit = false` (WAL `synchronous=NORMAL`),
    /// committed records survive a process crash (SIGKILL) but the last ones may be lost if the
    /// machine loses power. Faster.
    pub fn open_with(
        path: &Path,
        key_pem: Option<&str>,
        fsync_each_commit: bool,
    ) -> Result<AuditLog, AuditError> {
        let conn = Connection::open(path)?;
        // Before the first table is created (a database that exists keeps its page size). A
        // record is ~2 KB, so a 4 KiB page held one (the second did not fit): every record cost
        // a page, and two pwrites in the WAL. 16 KiB pages hold ~7 (bench: `wrk -c32` on
        // `/v1/decide`, fsync every commit, 3 interleaved runs each on 2026-12-05: 18.0–19.0k
        // decisions/s with 4 KiB, 20.4–20.9k with 16 KiB, 18.3–20.6k with 32 KiB; 3.7× fewer
        // pwrites; p99 at 5,000/s unchanged). The cost is bytes: at 5,000/s a commit holds 2–3
        // records and rewrites its page, ~26.5 KB written per decision (WAL and database)
        // against ~19.8 KB with 4 KiB pages. 8 KiB pages (3 records) wrote ~20 KB but gained
        // less and less steadily (15.9–19.0k/s against 18.2–18.5k for 16 KiB, same runs).
        conn.pragma_update(None, "page_size", PAGE_SIZE)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(
            None,
            "synchronous",
            if fsync_each_commit { "FULL" } else { "NORMAL" },
        )?;
        // The writer checkpoints the WAL inside a commit, stalling every decision waiting on it.
        // Small, frequent checkpoints keep that stall short: with SQLite's default (1,000 pages)
        // p99 at 5,000 decisions/s was 3–6 ms, with 64 pages 1.3–2.7 ms (bench/load.sh).
        conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS records (seq INTEGER PRIMARY KEY, body TEXT NOT NULL, hash TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS checkpoints (seq INTEGER NOT NULL, head TEXT NOT NULL, signature TEXT NOT NULL, time TEXT NOT NULL);",
        )?;
        let last: Option<(i64, String)> = conn
            .query_row(
                "SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let (seq, head) = last
            .map(|(s, h)| (s.max(0) as u64, h))
            .unwrap_or((0, GENESIS.to_string()));
        let key = key_pem
            .map(SigningKey::from_pkcs8_pem)
            .transpose()
            .map_err(|e| AuditError::Key(e.to_string()))?;
        Ok(AuditLog {
            conn,
            seq,
            head,
            key,
        })
    }

    /// Sequence number of the last record.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Hash of the last record (the chain head).
    pub fn head(&self) -> &str {
        &self.head
    }

    /// Appends `entries` in one transaction (group commit); returns when they are durable.
    pub fn append(&mut self, entries: &[Entry]) -> Result<u64, AuditError> {
        let canonical = entries
            .iter()
            .map(Entry::canonical)
            .collect::<Result<Vec<_>, _>>()?;
        self.append_canonical(&canonical)
    }

    /// Appends entries already serialized with [`Entry::canonical`] (so the expensive part runs
    /// on the callers' threads and the single writer only chains, hashes and inserts).
    pub fn append_canonical(&mut self, entries: &[CanonicalEntry]) -> Result<u64, AuditError> {
        let tx = self.conn.transaction()?;
        let (mut seq, mut head) = (self.seq, self.head.clone());
        {
            let mut insert =
                tx.prepare_cached("INSERT INTO records (seq, body, hash) VALUES (?1, ?2, ?3)")?;
            for e in entries {
                seq += 1;
                let body = e.record(seq, &head);
                head = hex::encode(Sha256::digest(body.as_bytes()));
                insert.execute(params![seq as i64, body, head])?;
            }
        }
        tx.commit()?;
        self.seq = seq;
        self.head = head;
        Ok(seq)
    }

    /// Stops SQLite from checkpointing the WAL inside this log's commits; a
    /// [`WalCheckpointer`] on another thread must then do it (so no commit waits for one).
    pub fn disable_autocheckpoint(&self) -> Result<(), AuditError> {
        self.conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        Ok(())
    }

    /// A passive WAL checkpoint on the writer's own connection, between commits: it copies
    /// everything, so the next commit starts the WAL over.
    pub fn checkpoint_wal(&self) -> Result<(), AuditError> {
        passive_checkpoint(&self.conn).map(|_| ())
    }

    /// Signs and stores a checkpoint of the current head; `None` without a key or records.
    pub fn checkpoint(&mut self, time: &str) -> Result<Option<u64>, AuditError> {
        let Some(key) = &self.key else {
            return Ok(None);
        };
        if self.seq == 0 {
            return Ok(None);
        }
        let sig = key.sign(&checkpoint_message(self.seq, &self.head));
        self.conn.execute(
            "INSERT INTO checkpoints (seq, head, signature, time) VALUES (?1, ?2, ?3, ?4)",
            params![
                self.seq as i64,
                self.head,
                hex::encode(sig.to_bytes()),
                time
            ],
        )?;
        Ok(Some(self.seq))
    }
}

/// What verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Records checked.
    pub records: u64,
    /// Checkpoints whose signature and head matched.
    pub checkpoints: u64,
    /// Head hash.
    pub head: String,
}

/// The first problem verification found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("record {seq}: {what}")]
pub struct Broken {
    /// The first bad record (for a truncation, the first missing one).
    pub seq: u64,
    /// What is wrong.
    pub what: String,
}

/// Verifies the chain and, with `public_pem`, every checkpoint.
pub fn verify(path: &Path, public_pem: Option<&str>) -> Result<Result<Report, Broken>, AuditError> {
    let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut stmt = conn.prepare("SELECT seq, body, hash FROM records ORDER BY seq")?;
    let mut rows = stmt.query([])?;
    let (mut expected, mut prev) = (1u64, GENESIS.to_string());
    let mut hashes = std::collections::BTreeMap::new();
    while let Some(row) = rows.next()? {
        let (seq, body, hash): (i64, String, String) = (row.get(0)?, row.get(1)?, row.get(2)?);
        let seq = seq.max(0) as u64;
        if seq != expected {
            return Ok(Err(Broken {
                seq: expected,
                what: format!("missing (the next record is {seq})"),
            }));
        }
        let rec: Record = match serde_json::from_str(&body) {
            Ok(r) => r,
            Err(e) => {
                return Ok(Err(Broken {
                    seq,
                    what: format!("unreadable: {e}"),
                }))
            }
        };
        if rec.seq != seq {
            return Ok(Err(Broken {
                seq,
                what: format!("says it is record {} (moved)", rec.seq),
            }));
        }
        if serde_jcs::to_string(&rec).ok().as_deref() != Some(body.as_str()) {
            return Ok(Err(Broken {
                seq,
                what: "not in canonical form (edited)".into(),
            }));
        }
        if rec.prev != prev {
            return Ok(Err(Broken {
                seq,
                what: "does not follow the previous record (chain broken)".into(),
            }));
        }
        let actual = hex::encode(Sha256::digest(body.as_bytes()));
        if actual != hash {
            return Ok(Err(Broken {
                seq,
                what: "hash mismatch (modified)".into(),
            }));
        }
        hashes.insert(seq, actual.clone());
        prev = actual;
        expected += 1;
    }
    let last = expected - 1;
    let mut checkpoints = 0;
    if let Some(pem) = public_pem {
        let key =
            VerifyingKey::from_public_key_pem(pem).map_err(|e| AuditError::Key(e.to_string()))?;
        let mut stmt =
            conn.prepare("SELECT seq, head, signature FROM checkpoints ORDER BY rowid")?;
        let cps: Vec<(i64, String, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        for (seq, head, sig) in cps {
            let seq = seq.max(0) as u64;
            let sig = hex::decode(&sig)
                .ok()
                .and_then(|b| Signature::from_slice(&b).ok());
            if sig.is_none_or(|s| key.verify(&checkpoint_message(seq, &head), &s).is_err()) {
                return Ok(Err(Broken {
                    seq,
                    what: "checkpoint signature invalid (wrong key or forged checkpoint)".into(),
                }));
            }
            match hashes.get(&seq) {
                None if seq > last => {
                    return Ok(Err(Broken { seq: last + 1, what: format!("truncated: a signed checkpoint covers records up to {seq}, the log ends at {last}") }))
                }
                Some(h) if *h == head => checkpoints += 1,
                _ => return Ok(Err(Broken { seq, what: "differs from the signed checkpoint".into() })),
            }
        }
    }
    Ok(Ok(Report {
        records: last,
        checkpoints,
        head: prev,
    }))
}

/// Every entry, in order (for queries and exports).
pub fn entries(path: &Path) -> Result<Vec<(u64, Entry)>, AuditError> {
    let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut stmt = conn.prepare("SELECT body FROM records ORDER BY seq")?;
    let bodies: Vec<String> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    bodies
        .iter()
        .map(|b| {
            serde_json::from_str::<Record>(b)
                .map(|r| (r.seq, r.entry))
                .map_err(|e| AuditError::Encode(e.to_string()))
        })
        .collect()
}

/// An entry in OPA's decision-log event shape, so existing OPA log sinks can read it.
pub fn opa_event(e: &Entry) -> Value {
    let bundles: serde_json::Map<String, Value> = e
        .bundles
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::json!({"revision": v})))
        .collect();
    serde_json::json!({
        "decision_id": e.decision_id,
        "bundles": bundles,
        "path": e.path.as_deref().unwrap_or("warden/main/decision"),
        "input": e.input,
        "result": e.result,
        "timestamp": e.time,
        "masked": e.masked,
        "trace_id": e.trace_id,
        "metrics": {"timer_server_handler_ns": e.latency_us * 1000},
    })
}

/// Public key PEM of an Ed25519 private key PEM (to hand to verifiers).
pub fn public_pem(private_pem: &str) -> Result<String, AuditError> {
    use ed25519_dalek::pkcs8::EncodePublicKey;
    let key =
        SigningKey::from_pkcs8_pem(private_pem).map_err(|e| AuditError::Key(e.to_string()))?;
    key.verifying_key()
        .to_public_key_pem(Default::default())
        .map_err(|e| AuditError::Key(e.to_string()))
}

/// Copies the WAL back into the database from its own connection, so the writer's commits never
/// carry a checkpoint (and, with `synchronous=NORMAL`, its fsync): a checkpoint inside a commit
/// stalls every decision waiting on that commit.
pub struct WalCheckpointer {
    conn: Connection,
    /// The database file, flushed after each checkpoint (see [`WalCheckpointer::run`]).
    db: std::fs::File,
    /// The WAL's path, and the file once it exists.
    wal: (std::path::PathBuf, Option<std::fs::File>),
    /// What the last checkpoint reported: unchanged means nothing new to flush (an idle log).
    last: (i64, i64),
}

impl WalCheckpointer {
    /// Opens a second connection to the log at `path`.
    pub fn open(path: &Path) -> Result<WalCheckpointer, AuditError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_millis(100))?;
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        Ok(WalCheckpointer {
            conn,
            db: std::fs::File::open(path)?,
            wal: (wal.into(), None),
            last: (-1, -1),
        })
    }

    /// One passive checkpoint (never blocks the writer); returns the WAL's length in frames
    /// and how many of them are now in the database. Then flushes the database and the WAL to
    /// disk: SQLite syncs the database only when a checkpoint copied the whole WAL, so under
    /// steady load the fsyncs of [`AuditLog::checkpoint_wal`] (which decisions wait for) would
    /// otherwise flush everything copied since the WAL last started over. When the WAL has not
    /// changed since the last call there is nothing to flush, and nothing is.
    pub fn run(&mut self) -> Result<(i64, i64), AuditError> {
        let counts = passive_checkpoint(&self.conn)?;
        if counts == self.last {
            return Ok(counts);
        }
        self.db.sync_data()?;
        if self.wal.1.is_none() {
            self.wal.1 = std::fs::File::open(&self.wal.0).ok();
        }
        if let Some(wal) = &self.wal.1 {
            wal.sync_data()?;
        }
        self.last = counts;
        Ok(counts)
    }
}

fn passive_checkpoint(conn: &Connection) -> Result<(i64, i64), AuditError> {
    let (_, frames, copied): (i64, i64, i64) =
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    Ok((frames, copied))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
