//! Killing the server with SIGKILL under load loses no decision a client received: every decision
//! id a client got back is in the audit log, and the log's chain and signed checkpoints verify.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// One decision over a raw HTTP/1.1 connection; the decision id when the server answered 200.
fn decide(port: u16, body: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let req = format!("POST /v1/decide HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
    s.write_all(req.as_bytes()).ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    if !resp.starts_with("HTTP/1.1 200") {
        return None;
    }
    resp.lines()
        .find_map(|l| l.strip_prefix("x-warden-decision-id: "))
        .map(|v| v.trim().to_string())
}

/// Starts `warden serve` on the FinTech example with a signed audit log in `dir` (key pair
/// `audit.key.pem` / `audit.pub.pem`); returns it once it answers, its port and a request body.
fn start(dir: &Path) -> (std::process::Child, u16, String) {
    let d = |f: &str| dir.join(f);
    let warden = env!("CARGO_BIN_EXE_warden");
    let keygen = Command::new(warden)
        .args([
            "keygen",
            "--alg",
            "ed25519",
            "-o",
            d("audit").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(keygen.status.success());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(warden)
        .args([
            "serve",
            "--policies",
            "examples/fintech",
            "--addr",
            &format!("127.0.0.1:{port}"),
        ])
        .args([
            "--data-dir",
            d("state").to_str().unwrap(),
            "--audit-db",
            d("audit.db").to_str().unwrap(),
        ])
        .args([
            "--audit-key",
            d("audit.key.pem").to_str().unwrap(),
            "--audit-mask",
            "/action/args/recipient",
        ])
        .current_dir(root())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let body = std::fs::read_to_string(root().join("examples/fintech/request.json")).unwrap();
    while decide(port, &body).is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (child, port, body)
}

/// `warden audit verify --public-key` on the log in `dir`: (success, stdout).
fn verify_signed(dir: &Path) -> (bool, String) {
    let v = Command::new(env!("CARGO_BIN_EXE_warden"))
        .args([
            "audit",
            "verify",
            dir.join("audit.db").to_str().unwrap(),
            "--public-key",
            dir.join("audit.pub.pem").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );
    (v.status.success(), text)
}

/// A clean stop (SIGTERM, as service managers send) lets the requests in flight finish and signs
/// the log's head: nothing is left unsigned, where a killed server leaves its last records so.
#[test]
fn sigterm_finishes_and_signs_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, port, body) = start(dir.path());
    for _ in 0..20 {
        assert!(decide(port, &body).is_some());
    }
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "a clean stop exits 0: {status:?}");
    let (ok, text) = verify_signed(dir.path());
    assert!(ok, "{text}");
    assert!(!text.contains("NOT covered"), "{text}");
}

#[test]
fn sigkill_under_load_loses_no_acknowledged_decision() {
    let dir = tempfile::tempdir().unwrap();
    let d = |f: &str| dir.path().join(f);
    let warden = env!("CARGO_BIN_EXE_warden");
    let (mut child, port, body) = start(dir.path());
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let (acked, stop, body) = (acked.clone(), stop.clone(), body.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match decide(port, &body) {
                        Some(id) => {
                            acked.lock().unwrap().insert(id);
                        }
                        None => break,
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(700));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 50,
        "only {} decisions under load",
        acked.len()
    );
    let report = warden_audit::verify(&d("audit.db"), None)
        .unwrap()
        .expect("the chain survives SIGKILL");
    let logged: BTreeSet<String> = warden_audit::entries(&d("audit.db"))
        .unwrap()
        .into_iter()
        .map(|(_, e)| e.decision_id)
        .collect();
    let lost: Vec<&String> = acked.difference(&logged).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged decisions missing from the log, e.g. {:?}",
        lost.len(),
        lost.first()
    );
    assert!(report.records as usize >= acked.len());
    let entries = warden_audit::entries(&d("audit.db")).unwrap();
    assert_eq!(
        entries[0].1.input["action"]["args"]["recipient"],
        "**MASKED**"
    );
    assert_eq!(
        entries[0].1.masked,
        vec!["/action/args/recipient".to_string()]
    );
    let (ok, text) = verify_signed(dir.path());
    assert!(ok, "{text}");
    let opa = Command::new(warden)
        .args([
            "audit",
            "export",
            d("audit.db").to_str().unwrap(),
            "--format",
            "opa",
        ])
        .output()
        .unwrap();
    let first: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&opa.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(first["path"], "warden/main/decision");
    assert!(first["bundles"]["main"]["revision"].is_string() && first["decision_id"].is_string());
}
