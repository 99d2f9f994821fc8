//! `warden audit query`, `export` and `verify` on a real log: every filter, times in any RFC 3339
//! offset, JSON output, a clear error for a bad time, a reader that goes away (`| head`) is not
//! an error, and `verify --public-key` on unsigned records.

use std::process::Command;

use serde_json::json;
use warden_audit::{AuditLog, Entry};

mod support;

fn entry(i: u64, tenant: &str, time: &str, outcome: &str) -> Entry {
    Entry {
        decision_id: format!("d-{i}"),
        time: time.into(),
        tenant: tenant.into(),
        agent: format!("agent-{}", i % 2),
        tool: "stripe-payments".into(),
        action: "create_payment".into(),
        input: json!({"action": {"args": {"amount": i}}}),
        input_hash: "x".into(),
        masked: vec![],
        result: json!({"outcome": outcome}),
        outcome: outcome.into(),
        reasons: if outcome == "deny" {
            vec!["amount_too_high".into()]
        } else {
            vec![]
        },
        bundles: [("main".to_string(), "r1".to_string())].into(),
        policy_version: "1".into(),
        latency_us: 5,
        trace_id: None,
        candidate: None,
        path: None,
    }
}

fn warden(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn query_filters_by_every_field_and_compares_times_as_times() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    let mut log = AuditLog::open(&db, None).unwrap();
    log.append(&[
        entry(1, "acme", "2026-11-23T08:59:59Z", "allow"),
        entry(2, "acme", "2026-11-23T09:00:00Z", "deny"),
        entry(3, "globex", "2026-11-23T10:30:00.5Z", "deny"),
        entry(4, "acme", "2026-11-23T11:00:00+01:00", "allow"), // 10:00 UTC
    ])
    .unwrap();
    drop(log);
    let db = db.to_str().unwrap();
    let ids = |args: &[&str]| -> Vec<String> {
        let (code, out, err) = warden(&[&["audit", "query", db], args].concat());
        assert_eq!(code, 0, "{err}");
        out.lines()
            .map(|l| l.split('\t').nth(2).unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&[]), ["d-1", "d-2", "d-3", "d-4"]);
    assert_eq!(ids(&["--tenant", "globex"]), ["d-3"]);
    assert_eq!(ids(&["--agent", "agent-0"]), ["d-2", "d-4"]);
    assert_eq!(ids(&["--outcome", "deny", "--tenant", "acme"]), ["d-2"]);
    assert_eq!(ids(&["--reason", "amount_too_high"]), ["d-2", "d-3"]);
    // 10:00+01:00 is 09:00 UTC: compared as instants, not as text.
    assert_eq!(
        ids(&["--since", "2026-11-23T10:00:00+01:00"]),
        ["d-2", "d-3", "d-4"]
    );
    assert_eq!(ids(&["--until", "2026-11-23T10:00:00Z"]), ["d-1", "d-2"]);
    assert_eq!(
        ids(&[
            "--since",
            "2026-11-23T10:00:00Z",
            "--until",
            "2026-11-23T10:30:00.6Z"
        ]),
        ["d-3", "d-4"]
    );

    let (code, out, _) = warden(&["audit", "query", db, "--json", "--tenant", "globex"]);
    assert_eq!(code, 0);
    let line: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (line["seq"].as_u64(), &line["entry"]["decision_id"]),
        (Some(3), &json!("d-3"))
    );

    let (code, _, err) = warden(&["audit", "query", db, "--since", "yesterday"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("--since: `yesterday` is not an RFC 3339 time"),
        "{err}"
    );
}

/// `warden audit export | head -1` on a log larger than a pipe's buffer: the export stops when
/// the reader goes away, without a panic or an error.
#[test]
fn export_stops_quietly_when_its_reader_goes_away() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    let mut log = AuditLog::open(&db, None).unwrap();
    let many: Vec<Entry> = (0..3000)
        .map(|i| entry(i, "acme", "2026-11-23T09:00:00Z", "allow"))
        .collect();
    log.append(&many).unwrap();
    drop(log);
    support::stops_quietly_when_its_reader_goes_away(
        Command::new(env!("CARGO_BIN_EXE_warden")).args(["audit", "export", db.to_str().unwrap()]),
    );
}

/// An Ed25519 signing key for the tests (PKCS#8 PEM).
const SIGNING_KEY: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIHNUSsmhM1kbBBOzNd2zw2jU1OIlvayWkMYtC5ya4B7H
-----END PRIVATE KEY-----
";

/// `verify --public-key` says how many records come after the last signed checkpoint, and fails
/// when no checkpoint is left at all (the log's checkpoints were deleted and its chain may have
/// been recomputed; it used to print `ok: … 0 signed checkpoint(s) match`).
#[test]
fn verify_with_a_key_reports_the_unsigned_tail_and_fails_without_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    let key = dir.path().join("audit.pub.pem");
    std::fs::write(&key, warden_audit::public_pem(SIGNING_KEY).unwrap()).unwrap();
    let t = "2026-11-23T09:00:00Z";
    let mut log = AuditLog::open(&db, Some(SIGNING_KEY)).unwrap();
    log.append(
        &(1..=12)
            .map(|i| entry(i, "acme", t, "allow"))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    log.checkpoint(t).unwrap();
    log.append(
        &(13..=15)
            .map(|i| entry(i, "acme", t, "allow"))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    drop(log);
    let args = ["audit", "verify", db.to_str().unwrap(), "--public-key"];
    let args = [&args[..], &[key.to_str().unwrap()]].concat();
    let (code, out, err) = warden(&args);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("1 signed checkpoint(s) match, the last covering record 12")
            && out.contains("3 record(s) after it (13..=15) NOT covered by any signature"),
        "{out}"
    );

    // The same records with no checkpoint (deleted, or a rewritten chain nobody signed).
    let bare = dir.path().join("bare.db");
    let mut log = AuditLog::open(&bare, Some(SIGNING_KEY)).unwrap();
    log.append(
        &(1..=15)
            .map(|i| entry(i, "acme", t, "allow"))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    drop(log);
    let args = ["audit", "verify", bare.to_str().unwrap(), "--public-key"];
    let (code, out, err) = warden(&[&args[..], &[key.to_str().unwrap()]].concat());
    assert_ne!(code, 0, "{out}");
    assert!(
        err.contains("no signed checkpoint") && err.contains("15 record(s)"),
        "{err}"
    );
}

/// `export --format opa` leaves out `result` for an undefined query result and `input` for a
/// query without input, as OPA's decision log does (both used to be written as `null`).
#[test]
fn opa_export_omits_an_undefined_result_and_a_missing_input() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    let t = "2026-11-23T09:00:00Z";
    let mut undefined = entry(2, "", t, "undefined");
    undefined.input = serde_json::Value::Null;
    undefined.result = serde_json::Value::Null;
    undefined.path = Some("warden/nothing/here".into());
    let mut log = AuditLog::open(&db, None).unwrap();
    log.append(&[entry(1, "acme", t, "allow"), undefined])
        .unwrap();
    drop(log);
    let (code, out, err) = warden(&["audit", "export", db.to_str().unwrap(), "--format", "opa"]);
    assert_eq!(code, 0, "{err}");
    let events: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 2, "{out}");
    assert_eq!(events[0]["result"], json!({"outcome": "allow"}));
    assert_eq!(
        events[0]["input"],
        json!({"action": {"args": {"amount": 1}}})
    );
    let e = events[1].as_object().unwrap();
    assert!(
        !e.contains_key("result") && !e.contains_key("input"),
        "{out}"
    );
    assert_eq!(e["path"], "warden/nothing/here");
    // OPA labels every event; a missing trace id is left out, not null.
    assert!(
        events.iter().all(|e| e["labels"]["id"] == "warden"),
        "{out}"
    );
    assert!(!e.contains_key("trace_id"), "{out}");
    // An outcome filter that can match nothing is a usage error, not an empty listing.
    let (code, _, err) = warden(&["audit", "query", db.to_str().unwrap(), "--outcome", "DENY"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("possible values"), "{err}");
}
