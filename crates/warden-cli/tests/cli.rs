//! The `warden` binary as users run it: exit codes (0 ok, 1 policy/test failure, 2 usage/input
//! error), messages that say where and what to do, and files that are deterministic.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod support;

fn warden(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("runs")
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn validate_ok_and_broken_policies() {
    let ok = warden(&["validate", "examples/fintech"]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.yaml"), "warden: 1\ntenant: acme\nagents:\n  a:\n    tols: {}\n    rules:\n      - id: r\n        require: { args.x: { matches: \"(\" } }\n        reason: bad\n").unwrap();
    let bad = warden(&["validate", dir.path().to_str().unwrap()]);
    let out = text(&bad);
    assert_eq!(bad.status.code(), Some(1), "{out}");
    assert!(out.contains("p.yaml:5:5"), "{out}");
    assert!(out.contains("did you mean `tools`?"), "{out}");
    assert!(
        out.contains("tols: {}"),
        "the offending line is shown: {out}"
    );
}

#[test]
fn eval_prints_a_structured_decision_and_rejects_bad_input() {
    let o = warden(&[
        "eval",
        "examples/fintech",
        "--input",
        "examples/fintech/request.json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let d: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(d["outcome"], "approval_needed");
    assert_eq!(d["metadata"]["policy_version"], "1.4.7");
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"tenant\": ").unwrap();
    let e = warden(&["eval", "examples/fintech", "--input", bad.to_str().unwrap()]);
    assert_eq!(e.status.code(), Some(2));
    assert!(text(&e).contains("not valid JSON"), "{}", text(&e));
    std::fs::write(
        &bad,
        r#"{"tenant": "acme", "agent": {"id": 7}, "action": {"tool": "t", "type": "x"}}"#,
    )
    .unwrap();
    let e = warden(&["eval", "examples/fintech", "--input", bad.to_str().unwrap()]);
    assert_eq!(e.status.code(), Some(2));
    assert!(text(&e).contains("agent.id"), "{}", text(&e));
}

#[test]
fn eval_many_writes_one_line_per_input() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("in.jsonl");
    let line = |amount: u32| {
        format!(
            r#"{{"tenant":"acme","agent":{{"id":"finance-agent"}},"action":{{"type":"create_payment","tool":"stripe-payments","args":{{"amount":{amount},"currency":"USD"}}}},"environment":{{"time":"2026-11-23T15:00:00Z"}}}}"#
        )
    };
    std::fs::write(
        &f,
        format!("{}\n{}\nnot json\n{}\n", line(10), line(7000), line(30000)),
    )
    .unwrap();
    let o = warden(&["eval", "examples/fintech", "--inputs", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    let outs: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(outs.len(), 4);
    assert_eq!(outs[0]["outcome"], "allow");
    assert_eq!(outs[1]["outcome"], "approval_needed");
    assert!(outs[2]["error"].as_str().unwrap().contains("line 3"));
    assert_eq!(outs[3]["outcome"], "deny");
}

#[test]
fn test_command_passes_fails_and_writes_junit() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let o = warden(&[
        "test",
        "examples/fintech",
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains(
            "<testsuite name=\"examples/fintech/tests/payments.yaml\" tests=\"11\" failures=\"0\">"
        ),
        "{xml}"
    );
    let proj = dir.path().join("proj");
    assert_eq!(
        warden(&["init", proj.to_str().unwrap()]).status.code(),
        Some(0)
    );
    let t = proj.join("tests/payments.yaml");
    let body = std::fs::read_to_string(&t).unwrap().replace(
        "expect: { outcome: approval_needed, reasons: [amount_requires_approval] }",
        "expect: { outcome: allow }",
    );
    std::fs::write(&t, body).unwrap();
    let f = warden(&["test", proj.to_str().unwrap()]);
    assert_eq!(f.status.code(), Some(1));
    assert!(
        text(&f).contains("FAIL")
            && text(&f).contains("outcome: expected allow, got approval_needed"),
        "{}",
        text(&f)
    );
    // A test file that is not YAML is named as such, with its line, not as a policy error.
    std::fs::write(
        proj.join("tests/broken.yaml"),
        "tests:\n  - name: \"x\" y\n",
    )
    .unwrap();
    let b = warden(&["test", proj.to_str().unwrap()]);
    assert_eq!(b.status.code(), Some(1));
    assert!(
        text(&b).contains("test file") && text(&b).contains("2 |   - name: \"x\" y"),
        "{}",
        text(&b)
    );
    assert!(!text(&b).contains("in the policies"), "{}", text(&b));
}

#[test]
fn compile_is_byte_identical_across_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    for out in [&a, &b] {
        let o = warden(&[
            "compile",
            "examples/healthcare",
            "-o",
            out.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    }
    for f in ["data.json", "warden/main.rego"] {
        assert_eq!(
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
            "{f}"
        );
    }
}

#[test]
fn schema_explain_and_usage_errors() {
    let s = warden(&["schema", "--kind", "input"]);
    let v: serde_json::Value = serde_json::from_slice(&s.stdout).unwrap();
    assert_eq!(v["title"], "Warden decision input");
    let e = warden(&["explain", "examples/fintech"]);
    assert!(
        String::from_utf8_lossy(&e.stdout).contains("# What the `fintech` agent policies allow")
    );
    assert_eq!(warden(&["frobnicate"]).status.code(), Some(2));
    let missing = warden(&["validate", "no/such/dir"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing).contains("`no/such/dir` does not exist"));
}

#[test]
fn bundles_build_sign_verify_and_catch_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let d = |f: &str| dir.path().join(f).to_str().unwrap().to_string();
    assert_eq!(
        warden(&["keygen", "--alg", "ed25519", "-o", &d("k")])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        warden(&["keygen", "--alg", "ed25519", "-o", &d("k")])
            .status
            .code(),
        Some(2),
        "never overwrites a private key"
    );
    let b = warden(&[
        "bundle",
        "build",
        "examples/fintech",
        "-o",
        &d("b.tar.gz"),
        "--author",
        "alice",
        "--change-reason",
        "raise the cap",
        "--signing-key",
        &d("k.key.pem"),
        "--signing-alg",
        "EdDSA",
        "--key-id",
        "prod",
    ]);
    assert_eq!(b.status.code(), Some(0), "{}", text(&b));
    let files = warden_bundle::read_archive(&std::fs::read(d("b.tar.gz")).unwrap()).unwrap();
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            ".signatures.json",
            ".manifest",
            "data.json",
            "warden/main.rego"
        ]
    );
    let manifest: serde_json::Value = serde_json::from_slice(&files[1].1).unwrap();
    assert_eq!(manifest["metadata"]["author"], "alice");
    assert_eq!(manifest["metadata"]["change_reason"], "raise the cap");
    assert_eq!(manifest["roots"], serde_json::json!(["warden"]));
    let ok = warden(&[
        "bundle",
        "verify",
        &d("b.tar.gz"),
        "--verification-key",
        &d("k.pub.pem"),
        "--alg",
        "EdDSA",
    ]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    let mut tampered = files.clone();
    tampered[2].1 = b"{}".to_vec();
    std::fs::write(
        d("t.tar.gz"),
        warden_bundle::write_archive(&tampered).unwrap(),
    )
    .unwrap();
    let bad = warden(&[
        "bundle",
        "verify",
        &d("t.tar.gz"),
        "--verification-key",
        &d("k.pub.pem"),
        "--alg",
        "EdDSA",
    ]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad).contains("digest_mismatch"), "{}", text(&bad));
    let unsigned = warden(&["bundle", "build", "examples/fintech", "-o", &d("u.tar.gz")]);
    assert_eq!(unsigned.status.code(), Some(0));
    let v = warden(&[
        "bundle",
        "verify",
        &d("u.tar.gz"),
        "--verification-key",
        &d("k.pub.pem"),
        "--alg",
        "EdDSA",
        "--key-id",
        "prod",
    ]);
    assert_eq!(v.status.code(), Some(1));
    assert!(text(&v).contains("unsigned"), "{}", text(&v));
}

/// `warden eval --inputs F | head`: when the reader goes away the evaluation stops quietly
/// (exit 0, no error), as Unix tools do.
#[test]
fn eval_inputs_stops_quietly_when_its_reader_goes_away() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("in.jsonl");
    let line = r#"{"tenant":"acme","agent":{"id":"finance-agent"},"action":{"tool":"stripe-payments","type":"create_payment","args":{"amount":10,"currency":"USD"}}}"#;
    std::fs::write(&inputs, format!("{line}\n").repeat(5000)).unwrap();
    support::stops_quietly_when_its_reader_goes_away(
        Command::new(env!("CARGO_BIN_EXE_warden"))
            .args(["eval", "examples/fintech", "--inputs"])
            .arg(&inputs)
            .current_dir(root()),
    );
}

/// `serve` suggests another port only when the address could not be bound: an audit log that
/// cannot be opened used to be reported as "cannot serve on ADDR: cannot open the audit log …"
/// followed by advice about the port.
#[test]
fn serve_hints_about_the_port_only_for_bind_errors() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("b");
    let c = warden(&[
        "compile",
        "examples/fintech",
        "-o",
        bundle.to_str().unwrap(),
    ]);
    assert_eq!(c.status.code(), Some(0), "{}", text(&c));
    let data = dir.path().join("state");
    let serve = |addr: &str, audit: &str| {
        warden(&[
            "serve",
            "--bundle",
            bundle.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
            "--addr",
            addr,
            "--audit-db",
            audit,
        ])
    };
    let o = serve("127.0.0.1:0", "/proc/self/x.db");
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(out.contains("cannot open the audit log"), "{out}");
    assert!(!out.contains("port"), "{out}");

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let o = serve(&addr, "none");
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.contains(&format!("cannot listen on {addr}")) && out.contains("using the port"),
        "{out}"
    );
}

/// A server that starts with no good bundle (its source gone, its saved copy rejected) says that
/// nothing is loaded and decisions answer 503; it used to say "the last good bundle keeps
/// serving".
#[test]
fn serve_says_no_bundle_is_loaded_when_the_saved_one_is_rejected() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("state");
    let saved = data.join("bundles").join("main");
    std::fs::create_dir_all(&saved).unwrap();
    std::fs::write(saved.join("bundle.tar.gz"), b"not a bundle").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(["serve", "--addr", "127.0.0.1:0", "--audit-db", "none"])
        .args(["--bundle", dir.path().join("gone.tar.gz").to_str().unwrap()])
        .args(["--data-dir", data.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = String::new();
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        log.push_str(&line);
        log.push('\n');
        if line.contains("listening on") {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(log.contains("listening on"), "{log}");
    assert!(
        log.contains("no bundle is loaded: decisions answer 503 until a good one arrives"),
        "{log}"
    );
    assert!(!log.contains("keeps serving"), "{log}");
}

/// An empty Slack signing secret is refused at start-up: with it anyone could sign approvals.
#[test]
fn an_empty_slack_signing_secret_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secret"), "  \n").unwrap();
    let cfg = dir.path().join("approvals.yaml");
    std::fs::write(
        &cfg,
        "approvers:\n  acme: [alice]\nslack_signing_secret_file: secret\n",
    )
    .unwrap();
    let o = warden(&[
        "serve",
        "--policies",
        "examples/fintech",
        "--approvals",
        cfg.to_str().unwrap(),
        "--addr",
        "127.0.0.1:0",
        "--data-dir",
        dir.path().join("state").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("`secret` is empty"), "{}", text(&o));
}

/// The default key workflow signs and verifies without naming an algorithm (the key's type
/// decides); HMAC signing is refused; signing options without a key are a usage error, not a
/// quietly unsigned bundle; a path that does not exist says so.
#[test]
fn signing_follows_the_key_and_refuses_what_cannot_be_meant() {
    let dir = tempfile::tempdir().unwrap();
    let d = |f: &str| dir.path().join(f).to_str().unwrap().to_string();
    assert_eq!(warden(&["keygen", "-o", &d("k")]).status.code(), Some(0));
    let key = d("k.key.pem");
    let b = warden(&[
        "bundle",
        "build",
        "examples/fintech",
        "-o",
        &d("b.tar.gz"),
        "--signing-key",
        &key,
    ]);
    assert_eq!(b.status.code(), Some(0), "{}", text(&b));
    let v = warden(&[
        "bundle",
        "verify",
        &d("b.tar.gz"),
        "--verification-key",
        &d("k.pub.pem"),
    ]);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v));
    // Each of these runs `warden ARGS` and wants its exit code and a part of what it says.
    let b = d("b.tar.gz");
    let (public, unsigned) = (d("k.pub.pem"), d("u.tar.gz"));
    for (args, code, says) in [
        (
            vec![
                "bundle",
                "sign",
                &b,
                "--signing-key",
                &key,
                "--signing-alg",
                "es256",
            ],
            0,
            "signed",
        ),
        (
            vec![
                "bundle",
                "sign",
                &b,
                "--signing-key",
                &key,
                "--signing-alg",
                "HS256",
            ],
            2,
            "does not sign bundles with HS256",
        ),
        (
            vec!["bundle", "sign", &b, "--signing-key", &public],
            2,
            "not the public one",
        ),
        (
            vec![
                "bundle",
                "build",
                "examples/fintech",
                "-o",
                &unsigned,
                "--key-id",
                "prod",
            ],
            2,
            "no --signing-key",
        ),
        (
            vec!["validate", "examples/no-such-project"],
            2,
            "does not exist",
        ),
    ] {
        let o = warden(&args);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {}", text(&o));
        assert!(text(&o).contains(says), "{args:?}: {}", text(&o));
    }
    assert!(!Path::new(&d("u.tar.gz")).exists());
}

/// A printing command whose reader is gone before it writes ends quietly with SIGPIPE's status
/// (141, so `set -o pipefail` sees it), not with a panic about a broken pipe.
#[test]
fn eval_ends_quietly_when_stdout_is_closed() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_warden"))
        .args([
            "eval",
            "examples/fintech",
            "-i",
            "examples/fintech/request.json",
        ])
        .current_dir(root())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // closed before the decision is printed
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(141), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// A directory link back up the tree is read once, not followed until the system gives up; a
/// policy file that is a link to nothing is an error, not a file quietly left out.
#[test]
fn symbolic_links_neither_loop_nor_hide_a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("policies");
    std::fs::create_dir_all(p.join("sub")).unwrap();
    std::fs::copy(
        root().join("examples/fintech/policies/finance.yaml"),
        p.join("finance.yaml"),
    )
    .unwrap();
    std::os::unix::fs::symlink("..", p.join("sub/loop")).unwrap();
    // A link to nothing that is not a policy file is no business of the policies.
    std::os::unix::fs::symlink("gone", p.join("README.md")).unwrap();
    let project = dir.path().to_str().unwrap();
    let ok = warden(&["validate", project]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    assert!(text(&ok).contains("ok: 1 policy file(s)"), "{}", text(&ok));
    std::os::unix::fs::symlink("../shared/limits.yaml", p.join("limits.yaml")).unwrap();
    let gone = warden(&["validate", project]);
    assert_eq!(gone.status.code(), Some(2), "{}", text(&gone));
    assert!(text(&gone).contains("symbolic link to something that does not exist"));
}

/// `eval --explain` names a rule its `when` skipped, with the condition that did not hold.
#[test]
fn explain_names_the_rules_a_when_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("policies");
    std::fs::create_dir_all(&p).unwrap();
    std::fs::write(
        p.join("finance.yaml"),
        "warden: 1\ntenant: acme\nagents:\n  finance-agent:\n    tools:\n      stripe-payments:\n        create_payment:\n          rules:\n            - id: prod-cap\n              when: { environment.region: { equals: us-east } }\n              require: { args.amount: { max: 100 } }\n              reason: prod_cap\n",
    )
    .unwrap();
    let input = dir.path().join("in.json");
    std::fs::write(&input, r#"{"tenant":"acme","agent":{"id":"finance-agent"},"action":{"tool":"stripe-payments","type":"create_payment","args":{"amount":5000}},"environment":{"region":"US-East"}}"#).unwrap();
    let o = warden(&[
        "eval",
        dir.path().to_str().unwrap(),
        "-i",
        input.to_str().unwrap(),
        "--explain",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains(
            "prod-cap skipped: its `when` did not hold (environment.region equals \"us-east\")"
        ),
        "{}",
        text(&o)
    );
}

/// `warden.yaml` errors name their line and column and what to do; an empty file is all
/// defaults; a list is not read as keys by position.
#[test]
fn project_file_errors_have_positions_and_an_empty_one_is_fine() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("policies");
    std::fs::create_dir_all(&p).unwrap();
    std::fs::copy(
        root().join("examples/fintech/policies/finance.yaml"),
        p.join("finance.yaml"),
    )
    .unwrap();
    let project = dir.path().to_str().unwrap();
    let manifest = dir.path().join("warden.yaml");
    std::fs::write(&manifest, "").unwrap();
    assert_eq!(warden(&["validate", project]).status.code(), Some(0));
    std::fs::write(&manifest, "name: x\nversion: 1.10\n").unwrap();
    let v = warden(&["validate", project]);
    assert_eq!(v.status.code(), Some(2));
    assert!(
        text(&v).contains("warden.yaml:2:10:") && text(&v).contains("quote it"),
        "{}",
        text(&v)
    );
    std::fs::write(&manifest, "[x, \"9.9\"]\n").unwrap();
    let l = warden(&["validate", project]);
    assert_eq!(l.status.code(), Some(2));
    assert!(text(&l).contains("must be a mapping"), "{}", text(&l));
}

/// `warden test` on a policy file says it wants the project directory.
#[test]
fn test_on_a_policy_file_asks_for_the_project() {
    let o = warden(&["test", "examples/fintech/policies/finance.yaml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("is a policy file"), "{}", text(&o));
}

/// A test file that does not read as one is shown at the offending key, with its line.
#[test]
fn a_test_file_error_names_its_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("tests")).unwrap();
    std::fs::create_dir_all(dir.path().join("policies")).unwrap();
    std::fs::copy(
        root().join("examples/fintech/policies/finance.yaml"),
        dir.path().join("policies/finance.yaml"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("tests/t.yaml"),
        "tests:\n  - name: a\n    input: {}\n    expect: { outcom: allow }\n",
    )
    .unwrap();
    let o = warden(&["test", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("t.yaml:4:15") && text(&o).contains("unknown field `outcom`"),
        "{}",
        text(&o)
    );
}
