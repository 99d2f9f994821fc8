//! Reading a log back: chain and checkpoint verification, entries, OPA decision-log events.

use std::path::Path;

use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey};
use ed25519_dalek::{Signature, SigningKey, Verifier, VerifyingKey};
use rusqlite::Connection;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::{checkpoint_message, AuditError, Entry, Record, GENESIS};

/// What verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Records checked.
    pub records: u64,
    /// Checkpoints whose signature and head matched.
    pub checkpoints: u64,
    /// The last record a matching signed checkpoint covers (0 when none does, or when no key was
    /// given).
    pub signed_through: u64,
    /// Head hash.
    pub head: String,
}

impl Report {
    /// Records after the last matching signed checkpoint: no signature covers them, so they
    /// could have been rewritten (with a recomputed chain) or appended by anyone who can write
    /// the file. Verification with a key still succeeds with such a tail; see [`verify`].
    pub fn unsigned_tail(&self) -> u64 {
        self.records.saturating_sub(self.signed_through)
    }
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
///
/// With a key, a log that has records but no checkpoint signed by it is broken (at record 1):
/// a server given a signing key signs its first record's commit and then the head at least once
/// every checkpoint interval, even when idle, so a log without any signed checkpoint had its
/// checkpoints deleted (and could have been rewritten whole with a recomputed chain) or was never
/// signed by this key. Records after the last matching checkpoint are *not* an error: checkpoints
/// are written periodically, so a live log (or one whose server was killed) normally ends with a
/// few unsigned records. They are reported in [`Report::unsigned_tail`] for the caller to show,
/// since nothing but the chain vouches for them.
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
        let actual = hex::encode(Sha256::digest(body.as_bytes()));
        if actual != hash {
            return Ok(Err(Broken {
                seq,
                what: "hash mismatch (modified)".into(),
            }));
        }
        // This record matches its own stored hash, so a link that does not match cannot tell
        // which side was changed: the previous record edited and its hash recomputed, or this
        // record's link rewritten (and its hash recomputed). Both are named.
        if rec.prev != prev {
            let what = match seq {
                1 => "its previous-hash is not the genesis hash: record 1's link was changed"
                    .to_string(),
                _ => format!(
                    "its previous-hash does not match record {p}'s hash: record {p} was modified \
                     (its hash recomputed) or record {seq}'s link was changed",
                    p = seq - 1
                ),
            };
            return Ok(Err(Broken { seq, what }));
        }
        hashes.insert(seq, actual.clone());
        prev = actual;
        expected += 1;
    }
    let last = expected - 1;
    let (mut checkpoints, mut signed_through) = (0, 0);
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
                Some(h) if *h == head => {
                    checkpoints += 1;
                    signed_through = signed_through.max(seq);
                }
                _ => return Ok(Err(Broken { seq, what: "differs from the signed checkpoint".into() })),
            }
        }
        if checkpoints == 0 && last > 0 {
            return Ok(Err(Broken {
                seq: 1,
                what: format!(
                    "no signed checkpoint: none of the log's {last} record(s) is covered by a \
                     checkpoint signed by this key (the checkpoints table holds none: deleted, \
                     or the log was never signed with this key), so the whole chain may have \
                     been rewritten"
                ),
            }));
        }
    }
    Ok(Ok(Report {
        records: last,
        checkpoints,
        signed_through,
        head: prev,
    }))
}

/// Every entry, in order, in memory (see [`for_each_entry`] for a log of any size).
pub fn entries(path: &Path) -> Result<Vec<(u64, Entry)>, AuditError> {
    let mut all = Vec::new();
    for_each_entry(path, |seq, e| {
        all.push((seq, e));
        Ok(())
    })?;
    Ok(all)
}

/// Hands every entry to `f` in order, one at a time, so a log of millions of records is read in
/// constant memory; an error from `f` stops the reading and is returned.
pub fn for_each_entry(
    path: &Path,
    mut f: impl FnMut(u64, Entry) -> Result<(), AuditError>,
) -> Result<(), AuditError> {
    let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut stmt = conn.prepare("SELECT body FROM records ORDER BY seq")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let body: String = row.get(0)?;
        let r: Record =
            serde_json::from_str(&body).map_err(|e| AuditError::Encode(e.to_string()))?;
        f(r.seq, r.entry)?;
    }
    Ok(())
}

/// An entry in OPA's decision-log event shape, so existing OPA log sinks can read it. As in
/// OPA's decision log, `result` is left out when the query's result was undefined (recorded as a
/// null result) and `input` when the query had none (a null input), rather than written as
/// `null`.
pub fn opa_event(e: &Entry) -> Value {
    let bundles: serde_json::Map<String, Value> = e
        .bundles
        .iter()
        .map(|(k, v)| (k.clone(), json!({"revision": v})))
        .collect();
    let mut event = json!({
        // OPA always labels its events with the instance's id and version; Warden's log does not
        // record which instance decided, so the id names the product.
        "labels": {"id": "warden", "version": env!("CARGO_PKG_VERSION")},
        "decision_id": e.decision_id,
        "bundles": bundles,
        "path": e.path.as_deref().unwrap_or("warden/main/decision"),
        "timestamp": e.time,
        "masked": e.masked,
        "metrics": {"timer_server_handler_ns": e.latency_us * 1000},
    });
    if let Value::Object(m) = &mut event {
        if let Some(t) = &e.trace_id {
            m.insert("trace_id".into(), json!(t));
        }
        if !e.input.is_null() {
            m.insert("input".into(), e.input.clone());
        }
        if !e.result.is_null() {
            m.insert("result".into(), e.result.clone());
        }
    }
    event
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
