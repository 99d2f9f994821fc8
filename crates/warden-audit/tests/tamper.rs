//! The log detects every kind of tampering and names the first bad record: edits, deletions,
//! reordering, truncation after a signed checkpoint, and a forged checkpoint.

use rusqlite::Connection;
use serde_json::json;
use warden_audit::{verify, AuditLog, Entry};

fn entry(i: u64) -> Entry {
    Entry {
        decision_id: format!("d-{i}"),
        time: "2026-11-23T10:00:00Z".into(),
        tenant: "acme".into(),
        agent: "finance-agent".into(),
        tool: "stripe-payments".into(),
        action: "create_payment".into(),
        input: json!({"action": {"args": {"amount": i}}}),
        input_hash: "x".into(),
        masked: vec![],
        result: json!({"outcome": if i.is_multiple_of(2) { "allow" } else { "deny" }}),
        outcome: if i.is_multiple_of(2) {
            "allow".into()
        } else {
            "deny".into()
        },
        reasons: vec![],
        bundles: [("main".to_string(), "r1".to_string())].into(),
        policy_version: "1".into(),
        latency_us: 5,
        trace_id: None,
        candidate: None,
        path: None,
    }
}

fn log(dir: &std::path::Path) -> (std::path::PathBuf, String, String) {
    let (private, public) = key();
    let path = dir.join("audit.db");
    let mut l = AuditLog::open(&path, Some(&private)).unwrap();
    l.append(&(1..=40).map(entry).collect::<Vec<_>>()).unwrap();
    l.checkpoint("2026-11-23T10:00:01Z").unwrap();
    l.append(&(41..=50).map(entry).collect::<Vec<_>>()).unwrap();
    l.checkpoint("2026-11-23T10:00:02Z").unwrap();
    (path, private, public)
}

fn key() -> (String, String) {
    use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey};
    let k = ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng);
    (
        k.to_pkcs8_pem(Default::default()).unwrap().to_string(),
        k.verifying_key()
            .to_public_key_pem(Default::default())
            .unwrap(),
    )
}

fn broken_at(path: &std::path::Path, public: &str) -> (u64, String) {
    let b = verify(path, Some(public)).unwrap().unwrap_err();
    (b.seq, b.what)
}

#[test]
fn an_intact_log_verifies_and_reopening_continues_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let (path, private, public) = log(dir.path());
    let r = verify(&path, Some(&public)).unwrap().unwrap();
    assert_eq!((r.records, r.checkpoints), (50, 2));
    let mut again = AuditLog::open(&path, Some(&private)).unwrap();
    assert_eq!((again.seq(), again.head()), (50, r.head.as_str()));
    again.append(&[entry(51)]).unwrap();
    assert_eq!(verify(&path, Some(&public)).unwrap().unwrap().records, 51);
    assert_eq!(
        warden_audit::entries(&path).unwrap()[50].1.decision_id,
        "d-51"
    );
}

#[test]
fn every_kind_of_tampering_is_caught_at_the_first_bad_record() {
    let cases: Vec<(&str, &str, u64)> = vec![
        ("edit a body", "UPDATE records SET body = replace(body, '\"amount\":7', '\"amount\":9') WHERE seq = 7", 7),
        ("edit a body and fix its hash", "UPDATE records SET body = replace(body, '\"deny\"', '\"allow\"'), hash = 'x' WHERE seq = 9", 9),
        ("delete a record", "DELETE FROM records WHERE seq = 12", 12),
        ("swap two records", "UPDATE records SET seq = -1 WHERE seq = 20; UPDATE records SET seq = 20 WHERE seq = 21; UPDATE records SET seq = 21 WHERE seq = -1", 20),
        ("cut the tail", "DELETE FROM records WHERE seq > 45", 46),
    ];
    for (what, sql, seq) in cases {
        let dir = tempfile::tempdir().unwrap();
        let (path, _, public) = log(dir.path());
        Connection::open(&path).unwrap().execute_batch(sql).unwrap();
        let (at, why) = broken_at(&path, &public);
        assert_eq!(at, seq, "{what}: {why}");
    }
}

#[test]
fn a_forged_checkpoint_or_a_wrong_key_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _, public) = log(dir.path());
    let (_, other) = key();
    assert!(broken_at(&path, &other).1.contains("signature invalid"));
    Connection::open(&path)
        .unwrap()
        .execute_batch(
            "DELETE FROM records WHERE seq > 45; UPDATE checkpoints SET seq = 45 WHERE seq = 50",
        )
        .unwrap();
    assert!(
        broken_at(&path, &public).1.contains("signature invalid"),
        "moving a checkpoint breaks its signature"
    );
}

/// The fast serialization of an entry is byte for byte what `serde_jcs` (which `verify` uses)
/// writes, including keys that sort differently in UTF-16, escapes and every optional field.
#[test]
fn entries_serialize_exactly_like_serde_jcs() {
    let mut e = entry(7);
    e.input =
        json!({"\u{e000}k": 1, "\u{10000}k": [1.5, -0.0, 1e21], "q\"\n": {"z": null, "a": "é😀"}});
    e.result =
        json!({"outcome": "deny", "reasons": ["a\u{1}b"], "metadata": {"n": 9007199254740993u64}});
    e.masked = vec!["/action/args/card".into()];
    e.trace_id = Some("4bf92f3577b34da6a3ce929d0e0e4736".into());
    e.path = Some("warden/main/decision".into());
    e.candidate = Some(json!({"bundle": "next", "outcome": "allow"}));
    for e in [entry(8), e] {
        let fast = e.clone().into_canonical().unwrap();
        let reference = serde_jcs::to_string(&e).unwrap();
        assert_eq!(fast.as_str(), reference);
    }
}

#[test]
fn the_wal_starts_over_under_a_second_connections_checkpoints_and_the_chain_still_verifies() {
    use warden_audit::WalCheckpointer;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let mut l = AuditLog::open_with(&path, None, false).unwrap();
    l.disable_autocheckpoint().unwrap();
    let mut ckpt = WalCheckpointer::open(&path).unwrap();
    let mut longest = 0;
    for i in 1..=1_000 {
        l.append(&[entry(i)]).unwrap();
        if i % 100 == 0 {
            let (frames, copied) = ckpt.run().unwrap();
            assert_eq!(frames, copied, "no reader holds frames back");
            longest = longest.max(frames);
            l.checkpoint_wal().unwrap();
        }
    }
    // One-record commits each write at least one frame; without restarts the WAL would hold
    // every one of the 1,000.
    assert!(
        (100..400).contains(&longest),
        "WAL peaked at {longest} frames"
    );
    let report = verify(&path, None).unwrap().unwrap();
    assert_eq!(report.records, 1_000);
}

/// With a key, a log with records and no signed checkpoint fails (its checkpoints were deleted,
/// so the whole chain could have been recomputed); records after the last signed checkpoint are
/// reported, not rejected.
#[test]
fn with_a_key_a_log_without_checkpoints_fails_and_an_unsigned_tail_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (path, private, public) = log(dir.path());
    let mut l = AuditLog::open(&path, Some(&private)).unwrap();
    l.append(&(51..=53).map(entry).collect::<Vec<_>>()).unwrap();
    let r = verify(&path, Some(&public)).unwrap().unwrap();
    assert_eq!(
        (
            r.records,
            r.checkpoints,
            r.signed_through,
            r.unsigned_tail()
        ),
        (53, 2, 50, 3)
    );

    Connection::open(&path)
        .unwrap()
        .execute_batch("DELETE FROM checkpoints")
        .unwrap();
    let (at, why) = broken_at(&path, &public);
    assert_eq!(at, 1, "{why}");
    assert!(why.contains("no signed checkpoint"), "{why}");
    // Without a key only the chain is checked, and it is intact.
    assert_eq!(verify(&path, None).unwrap().unwrap().records, 53);
    // An empty log has nothing to sign.
    let empty = dir.path().join("empty.db");
    drop(AuditLog::open(&empty, Some(&private)).unwrap());
    assert_eq!(verify(&empty, Some(&public)).unwrap().unwrap().records, 0);
}

/// Record 9 edited and its hash recomputed: the chain breaks at record 10, whose link no longer
/// matches, and the message names both records (it used to say only "record 10: does not follow
/// the previous record (chain broken)", pointing away from the record that was changed).
#[test]
fn an_edit_with_a_recomputed_hash_names_both_the_edited_record_and_the_next() {
    use sha2::{Digest, Sha256};
    let dir = tempfile::tempdir().unwrap();
    let (path, _, public) = log(dir.path());
    let conn = Connection::open(&path).unwrap();
    let body: String = conn
        .query_row("SELECT body FROM records WHERE seq = 9", [], |r| r.get(0))
        .unwrap();
    let edited = body.replace("\"deny\"", "\"allow\"");
    assert_ne!(edited, body);
    let hash = hex::encode(Sha256::digest(edited.as_bytes()));
    conn.execute(
        "UPDATE records SET body = ?1, hash = ?2 WHERE seq = 9",
        [&edited, &hash],
    )
    .unwrap();
    let (at, why) = broken_at(&path, &public);
    assert_eq!(at, 10, "{why}");
    assert_eq!(
        why,
        "its previous-hash does not match record 9's hash: record 9 was modified (its hash \
         recomputed) or record 10's link was changed"
    );
    // Record 1's link can only be compared with the genesis hash.
    conn.execute(
        "UPDATE records SET body = replace(body, '\"prev\":\"0000', '\"prev\":\"1111') WHERE seq = 1",
        [],
    )
    .unwrap();
    let body: String = conn
        .query_row("SELECT body FROM records WHERE seq = 1", [], |r| r.get(0))
        .unwrap();
    let hash = hex::encode(Sha256::digest(body.as_bytes()));
    conn.execute("UPDATE records SET hash = ?1 WHERE seq = 1", [&hash])
        .unwrap();
    let (at, why) = broken_at(&path, &public);
    assert_eq!(at, 1, "{why}");
    assert!(why.contains("genesis"), "{why}");
}
