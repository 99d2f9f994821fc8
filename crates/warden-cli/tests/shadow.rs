//! A candidate bundle in shadow on a running server: the enforced decisions do not change, the
//! audit log records what the candidate would have decided, and `warden audit diff` (live shadow)
//! and `warden audit replay` (offline what-if) report exactly the calls where they disagree.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn project(dir: &Path, cap: u32) {
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    std::fs::write(dir.join("warden.yaml"), "name: pay\nversion: 1.0.0\n").unwrap();
    std::fs::write(
        dir.join("policies/p.yaml"),
        format!("warden: 1\ntenant: acme\nagents:\n  finance-agent:\n    tools:\n      stripe-payments:\n        create_payment:\n          rules:\n            - id: amount\n              require: {{ args.amount: {{ max: {cap} }} }}\n              on_violation: approval_needed\n              reason: amount_requires_approval\n"),
    )
    .unwrap();
}

fn warden(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(args)
        .output()
        .unwrap()
}

fn decide(base: &str, amount: u32) -> serde_json::Value {
    let body = format!(
        r#"{{"tenant":"acme","agent":{{"id":"finance-agent"}},"action":{{"tool":"stripe-payments","type":"create_payment","args":{{"amount":{amount}}}}}}}"#
    );
    let out = Command::new("curl")
        .args([
            "-sS",
            "-X",
            "POST",
            &format!("{base}/v1/decide"),
            "-H",
            "content-type: application/json",
            "-d",
            &body,
        ])
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_default()
}

#[test]
fn candidate_in_shadow_is_recorded_and_diffed() {
    let dir = tempfile::tempdir().unwrap();
    let d = |f: &str| dir.path().join(f);
    project(&d("active"), 5000);
    project(&d("candidate"), 1000);
    for (p, out) in [
        ("active", "active.tar.gz"),
        ("candidate", "candidate.tar.gz"),
    ] {
        let o = warden(&[
            "bundle",
            "build",
            d(p).to_str().unwrap(),
            "-o",
            d(out).to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let db = d("audit.db");
    let mut child = Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
        .args(["--bundle", &format!("pay={}", d("active.tar.gz").display())])
        .args([
            "--candidate",
            &format!("pay={}", d("candidate.tar.gz").display()),
        ])
        .args([
            "--data-dir",
            d("state").to_str().unwrap(),
            "--audit-db",
            db.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while decide(&base, 1).is_null() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let status: serde_json::Value = serde_json::from_slice(
        &Command::new("curl")
            .args(["-sS", &format!("{base}/v1/status")])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(status["candidate"]["name"], "candidate:pay", "{status}");
    // Enforced: the active cap of 5000. Amount 2000 is where the candidate (1000) disagrees.
    let outcomes: Vec<String> = [500, 2000, 7000]
        .iter()
        .map(|a| {
            decide(&base, *a)["outcome"]
                .as_str()
                .unwrap_or("?")
                .to_string()
        })
        .collect();
    assert_eq!(outcomes, ["allow", "allow", "approval_needed"]);
    let metrics = String::from_utf8(
        Command::new("curl")
            .args(["-sS", &format!("{base}/metrics")])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(
        metrics.contains(
            "warden_candidate_decisions_total{active=\"allow\",candidate=\"approval_needed\"} 1"
        ),
        "{metrics}"
    );
    // 2000 and 7000 would carry the candidate's reason; what it would enforce is counted.
    assert!(
        metrics.contains("warden_candidate_reasons_total{reason=\"amount_requires_approval\"} 2"),
        "{metrics}"
    );
    // The candidate's loads are counted like any bundle's, under its status name.
    assert!(
        metrics
            .contains("warden_bundle_loads_total{bundle=\"candidate:pay\",result=\"activated\"} 1"),
        "{metrics}"
    );
    child.kill().unwrap();
    child.wait().unwrap();

    let o = warden(&["audit", "diff", db.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["compared"], 4, "{r}");
    assert_eq!(r["changed"], 1, "{r}");
    assert_eq!(r["changes"][0]["enforced"], "allow");
    assert_eq!(r["changes"][0]["candidate"], "approval_needed");
    assert_eq!(r["by_change"]["allow -> approval_needed"], 1);
    let o = warden(&["audit", "diff", db.to_str().unwrap(), "--fail-on-change"]);
    assert_eq!(o.status.code(), Some(1), "a change fails the gate");

    // Offline replay of the same log against the candidate project agrees with the live shadow;
    // against the active project nothing changes.
    let o = warden(&[
        "audit",
        "replay",
        db.to_str().unwrap(),
        "--policies",
        d("candidate").to_str().unwrap(),
        "--json",
    ]);
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (r["compared"].as_u64(), r["changed"].as_u64()),
        (Some(4), Some(1)),
        "{r}"
    );
    let o = warden(&[
        "audit",
        "replay",
        db.to_str().unwrap(),
        "--bundle",
        d("active.tar.gz").to_str().unwrap(),
        "--fail-on-change",
    ]);
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}
