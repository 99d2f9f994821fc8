//! Approvals reach people: a new approval is posted to Slack (Block Kit with Approve/Deny) and
//! Teams (Adaptive Card) webhooks, here local HTTP receivers that check the payloads; Slack's
//! button press comes back signed, and only a valid, fresh signature from an authorized approver
//! decides. Signatures are computed independently with the `openssl` command line.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::post;
use serde_json::{json, Value};
use warden_approvals::{Approvers, State, Store, Tokens};
use warden_mcp::approvals_http::{Callbacks, Notifier};
use warden_mcp::{Approvals, Denials, Gate, Session, SqliteLimits, Unlisted, Verdict};
use warden_server::{BundleSource, ServerConfig};

type Inbox = Arc<Mutex<Vec<(String, Value)>>>;

async fn receivers() -> (String, Inbox) {
    let inbox: Inbox = Arc::default();
    let i2 = inbox.clone();
    let app = axum::Router::new().route(
        "/{hook}",
        post(
            move |axum::extract::Path(hook): axum::extract::Path<String>, body: String| {
                let inbox = i2.clone();
                async move {
                    inbox
                        .lock()
                        .unwrap()
                        .push((hook, serde_json::from_str(&body).unwrap()));
                    "ok"
                }
            },
        ),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    (base, inbox)
}

fn openssl_signature(secret: &str, basestring: &str) -> String {
    use std::io::Write;
    let mut p = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-hmac", secret])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("openssl");
    p.stdin
        .take()
        .unwrap()
        .write_all(basestring.as_bytes())
        .unwrap();
    let out = String::from_utf8(p.wait_with_output().unwrap().stdout).unwrap();
    format!("v0={}", out.split_whitespace().last().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_are_posted_and_decided_from_a_signed_slack_callback() {
    let dir = tempfile::tempdir().unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/mcp/policies/testsrv.yaml");
    let c = warden_core::compile(
        &[warden_core::load("t.yaml", &std::fs::read_to_string(root).unwrap()).unwrap()],
        &[],
        "1",
    )
    .unwrap();
    for (p, bytes) in c.files() {
        let f = dir.path().join("b").join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, bytes).unwrap();
    }
    let cfg = ServerConfig::single(
        "127.0.0.1:0".parse().unwrap(),
        "t",
        BundleSource::Dir(dir.path().join("b")),
    );
    let (svc, _) = warden_server::start(&cfg).await;
    let (hooks, inbox) = receivers().await;
    let store = Arc::new(Store::open(&dir.path().join("s.db")).unwrap());
    let gate = Gate {
        svc,
        tenant: "acme".into(),
        agent: "test-agent".into(),
        scope: None,
        server: "testsrv".into(),
        limits: Arc::new(SqliteLimits::open(&dir.path().join("s.db")).unwrap()),
        audit: None,
        denials: Denials::Error,
        unlisted: Unlisted::Hide,
        approvals: Some(Arc::new(Approvals {
            store: store.clone(),
            tokens: Tokens::new(vec![1; 32]).unwrap(),
            ttl_seconds: 600,
            max_pending: 5,
            notifier: Some(Arc::new(Notifier::new(
                Some(format!("{hooks}/slack")),
                Some(format!("{hooks}/teams")),
                Some("https://warden.example".into()),
            ))),
            wait: None,
            token_ttl_seconds: 60,
        })),
    };
    let s = Session::new("acme", "test-agent");
    let call = json!({"name": "pay", "arguments": {"amount": 2500, "currency": "USD"}});
    let Verdict::Reply(r) = gate.call(&s, &json!(1), &call).await else {
        panic!("needs approval")
    };
    let id = r["error"]["data"]["warden"]["approval_id"]
        .as_str()
        .unwrap()
        .to_string();
    for _ in 0..100 {
        if inbox.lock().unwrap().len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The identical call joins the pending approval: nobody is notified twice.
    let Verdict::Reply(r2) = gate.call(&s, &json!(2), &call).await else {
        panic!()
    };
    assert_eq!(r2["error"]["data"]["warden"]["approval_id"], id.as_str());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = inbox.lock().unwrap().clone();
    assert_eq!(got.len(), 2, "one Slack and one Teams message: {got:?}");
    let slack = &got.iter().find(|(h, _)| h == "slack").unwrap().1;
    let actions = slack["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "actions")
        .unwrap();
    assert_eq!(actions["elements"][0]["action_id"], "warden_approve");
    assert_eq!(actions["elements"][0]["value"], id.as_str());
    assert_eq!(actions["elements"][1]["action_id"], "warden_deny");
    assert!(slack["blocks"][0]["text"]["text"]
        .as_str()
        .unwrap()
        .contains("testsrv/pay"));
    assert!(
        slack.to_string().contains("2500"),
        "the arguments are shown"
    );
    let teams = &got.iter().find(|(h, _)| h == "teams").unwrap().1;
    let card = &teams["attachments"][0];
    assert_eq!(
        card["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(card["content"]["type"], "AdaptiveCard");
    assert!(card["content"]["body"].to_string().contains(&id));
    assert_eq!(
        card["content"]["actions"][0]["url"],
        format!("https://warden.example/approvals/{id}")
    );

    // Slack calls back.
    let secret = "8f742231b10e8888abcd99yyyzzz85a5";
    let callbacks = Arc::new(Callbacks {
        store: store.clone(),
        approvers: Approvers {
            tenants: [("acme".to_string(), vec!["slack:U1ALICE".to_string()])].into(),
            rules: Default::default(),
        },
        slack_signing_secret: Some(secret.into()),
        slack_team_id: Some("T1".into()),
        approver_keys: Default::default(),
        tokens: None,
    });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/slack/interactions", l.local_addr().unwrap());
    tokio::spawn(
        async move { axum::serve(l, warden_mcp::approvals_http::router(callbacks)).await },
    );
    // Slack names the presser by member id (which never changes) and username (which its
    // owner can change); the workspace by team id.
    let press = |user: &str, team: &str| {
        let payload = json!({"type": "block_actions", "team": {"id": team},
                             "user": {"id": user, "username": "alice", "team_id": team},
                             "actions": [{"action_id": "warden_approve", "value": id}]});
        form_body(&payload.to_string())
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let send = |body: String, ts: u64, sig: String| {
        let url = url.clone();
        async move {
            let r = reqwest::Client::new()
                .post(&url)
                .header("x-slack-request-timestamp", ts.to_string())
                .header("x-slack-signature", sig)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let body = press("U1ALICE", "T1");
    let (st, _) = send(body.clone(), now, "v0=00".to_string()).await;
    assert_eq!(st, 401, "a bad signature is refused");
    let old = now - 301;
    let (st, _) = send(
        body.clone(),
        old,
        openssl_signature(secret, &format!("v0:{old}:{body}")),
    )
    .await;
    assert_eq!(st, 401, "a correctly signed but stale request is refused");
    assert_eq!(store.get(&id, now).unwrap().state, State::Pending);
    // Another member who took the username `alice`, and alice's id in another workspace.
    for bad in [press("U2MALLORY", "T1"), press("U1ALICE", "T2")] {
        let (st, text) = send(
            bad.clone(),
            now,
            openssl_signature(secret, &format!("v0:{now}:{bad}")),
        )
        .await;
        assert!(
            st == 200 && text.contains("Not recorded"),
            "an unauthorized Slack user cannot decide: {text}"
        );
    }
    assert_eq!(store.get(&id, now).unwrap().state, State::Pending);
    let (st, text) = send(
        body.clone(),
        now,
        openssl_signature(secret, &format!("v0:{now}:{body}")),
    )
    .await;
    assert!(
        st == 200 && text.contains("approved by slack:U1ALICE"),
        "{st} {text}"
    );
    let a = store.get(&id, now).unwrap();
    assert_eq!(
        (a.state, a.decided_by.as_deref()),
        (State::Approved, Some("slack:U1ALICE"))
    );
    // The approval's history: requested, one `notified` per channel with its outcome, decided.
    let mut steps: Vec<(String, String, bool)> = store
        .history(&id)
        .unwrap()
        .into_iter()
        .map(|e| (e.step, e.actor, e.detail["ok"] == json!(true)))
        .collect();
    steps[1..3].sort();
    let want = [
        ("requested", "test-agent", false),
        ("notified", "slack", true),
        ("notified", "teams", true),
        ("decided", "slack:U1ALICE", false),
    ];
    assert_eq!(
        steps,
        want.map(|(a, b, c)| (a.to_string(), b.to_string(), c))
            .to_vec()
    );
}

fn form_body(payload: &str) -> String {
    let mut out = String::from("payload=");
    for b in payload.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvers_decide_over_authenticated_http() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("s.db")).unwrap());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let call = |tenant: &str, amount: u64| warden_approvals::Call {
        tenant: tenant.into(),
        agent: "finance-agent".into(),
        tool: "stripe".into(),
        action: "pay".into(),
        arguments: json!({"amount": amount}),
    };
    let ask = |c| {
        store
            .request(c, "1", "rule", &["big".into()], json!({}), 600, 5, now)
            .unwrap()
            .approval
    };
    let mine = ask(call("acme", 9000));
    let theirs = ask(call("globex", 9000));
    let digest = |k: &str| warden_server::auth::key_digest(k);
    let tokens = Tokens::new(vec![3; 32]).unwrap();
    let cb = Arc::new(Callbacks {
        store: store.clone(),
        approvers: Approvers {
            tenants: [("acme".to_string(), vec!["alice".to_string()])].into(),
            rules: Default::default(),
        },
        slack_signing_secret: None,
        slack_team_id: None,
        approver_keys: [
            (digest("alice-key"), "alice".to_string()),
            (digest("bob-key"), "bob".to_string()),
        ]
        .into(),
        tokens: Some((tokens.clone(), 60)),
    });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, warden_mcp::approvals_http::router(cb)).await });
    let http = reqwest::Client::new();
    let get = |path: &str, key: Option<&str>| {
        let mut r = http.get(format!("{base}{path}"));
        if let Some(k) = key {
            r = r.header("authorization", format!("Bearer {k}"));
        }
        async move {
            let r = r.send().await.unwrap();
            (
                r.status().as_u16(),
                serde_json::from_str::<Value>(&r.text().await.unwrap()).unwrap_or_default(),
            )
        }
    };
    assert_eq!(
        get("/v1/approvals", None).await.0,
        401,
        "an approver key is required"
    );
    let (st, list) = get("/v1/approvals", Some("alice-key")).await;
    let ids: Vec<&str> = list["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        (st, ids),
        (200, vec![mine.id.as_str()]),
        "alice sees acme's approval only, not globex's"
    );
    assert_eq!(
        get(&format!("/v1/approvals/{}", theirs.id), Some("alice-key"))
            .await
            .0,
        403
    );
    let decide = |id: &str, what: &str, key: &str| {
        let r = http
            .post(format!("{base}/v1/approvals/{id}/{what}"))
            .header("x-api-key", key)
            .body(r#"{"note": "reviewed"}"#);
        async move {
            let r = r.send().await.unwrap();
            (
                r.status().as_u16(),
                serde_json::from_str::<Value>(&r.text().await.unwrap()).unwrap_or_default(),
            )
        }
    };
    assert_eq!(
        decide(&mine.id, "approve", "bob-key").await.0,
        403,
        "bob is not an approver for acme"
    );
    let (st, a) = decide(&mine.id, "approve", "alice-key").await;
    assert_eq!(
        (
            st,
            a["state"].as_str(),
            a["decided_by"].as_str(),
            a["note"].as_str()
        ),
        (200, Some("approved"), Some("alice"), Some("reviewed"))
    );
    let claims = tokens
        .check(a["token"].as_str().unwrap(), &mine.digest, now)
        .unwrap();
    assert_eq!(
        claims.aid, mine.id,
        "the answer carries the override token for exactly that call"
    );
    assert_eq!(
        decide(&mine.id, "deny", "alice-key").await.0,
        409,
        "decided once"
    );
}
