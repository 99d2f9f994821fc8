//! Approvals on the decision API: an `approval_needed` decision creates a durable approval
//! request, the requesting agent long-polls `GET /v1/approvals/{id}/wait`, an approver decides
//! over the approver API, and the one-time override token makes exactly that call `allow`, once.
//! Every step lands in the tamper-evident audit log, linked by approval id. The web page is
//! served with headers that keep it from being framed or running foreign script.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use warden_server::approvals::http::Callbacks;
use warden_server::approvals::Approvals;
use warden_server::audit::{AuditConfig, Auditor};
use warden_server::auth::{key_digest, AuthConfig, Identity};
use warden_server::{BundleSource, ServerConfig};

const POLICY: &str = "warden: 1
tenant: acme
tools:
  bank:
    actions:
      pay: { class: write, args: { amount: number, memo: string } }
agents:
  payer:
    tools:
      bank:
        pay:
          rules:
            - id: big
              require: { args.amount: { max: 100 } }
              on_violation: approval_needed
              reason: amount_requires_approval
              message: Payments above 100 need a person's approval.
            - id: mask-memo
              redact: { paths: [args.memo], patterns: [email] }
              reason: pii_redacted
";

struct Gateway {
    base: String,
    store: Arc<warden_approvals::Store>,
    auditor: Auditor,
    db: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

async fn gateway() -> Gateway {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    support::write_policy(&bundle, POLICY);
    let cfg = ServerConfig::single(
        "127.0.0.1:0".parse().unwrap(),
        "main",
        BundleSource::Dir(bundle),
    );
    let db = dir.path().join("audit.db");
    let auditor = Auditor::start(AuditConfig {
        path: db.clone(),
        key_pem: None,
        checkpoint_every: 1000,
        checkpoint_interval: Duration::from_secs(60),
        mask: vec![],
        fsync_each_commit: false,
    })
    .unwrap();
    let store = Arc::new(warden_approvals::Store::open(&dir.path().join("approvals.db")).unwrap());
    let tokens = warden_approvals::Tokens::new(vec![7; 32]).unwrap();
    let approvers = warden_approvals::Approvers {
        tenants: [("acme".to_string(), vec!["alice".to_string()])].into(),
        rules: BTreeMap::new(),
    };
    let mut auth = AuthConfig::default();
    for (key, agent) in [("payer-key", "payer"), ("other-key", "other")] {
        auth.api_keys.insert(
            key_digest(key),
            Identity {
                tenant: "acme".into(),
                agent: agent.into(),
            },
        );
    }
    let flow = Arc::new(Approvals {
        store: store.clone(),
        tokens: tokens.clone(),
        ttl_seconds: 600,
        max_pending: 5,
        notifier: None,
        wait: None,
        token_ttl_seconds: 300,
    });
    let callbacks = Arc::new(Callbacks {
        store: store.clone(),
        approvers,
        slack_signing_secret: None,
        slack_team_id: None,
        approver_keys: [(key_digest("alice-key"), "alice".to_string())].into(),
        tokens: Some((tokens, 300)),
    });
    let (svc, _) = warden_server::start(&cfg).await;
    let app = warden_server::http::router_for(
        warden_server::http::App {
            svc,
            auth: Arc::new(auth),
            audit: Some(auditor.clone()),
            approvals: Some(flow),
        },
        1 << 20,
    )
    .merge(warden_server::approvals::http::router(callbacks));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Gateway {
        base,
        store,
        auditor,
        db,
        _dir: dir,
    }
}

fn payment(amount: u64) -> Value {
    json!({"tenant": "acme", "agent": {"id": "payer"}, "action": {"tool": "bank", "type": "pay", "args": {"amount": amount}}})
}

async fn decide(g: &Gateway, amount: u64, token: Option<&str>) -> Value {
    let mut req = reqwest::Client::new()
        .post(format!("{}/v1/decide", g.base))
        .bearer_auth("payer-key")
        .json(&payment(amount));
    if let Some(t) = token {
        req = req.header("warden-approval-token", t);
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    r.json().await.unwrap()
}

async fn wait(g: &Gateway, id: &str, key: &str, secs: u64) -> (u16, Value) {
    let r = reqwest::Client::new()
        .get(format!(
            "{}/v1/approvals/{id}/wait?timeout_seconds={secs}",
            g.base
        ))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_call_is_allowed_exactly_once_and_every_step_is_audited() {
    let g = gateway().await;
    let d = decide(&g, 500, None).await;
    assert_eq!(d["outcome"], "approval_needed");
    let id = d["approval"]["approval_id"].as_str().unwrap().to_string();
    assert_eq!(
        (
            d["approval"]["state"].as_str(),
            d["approval"]["wait"].as_str()
        ),
        (
            Some("pending"),
            Some(format!("/v1/approvals/{id}/wait").as_str())
        )
    );
    let again = decide(&g, 500, None).await;
    assert_eq!(
        (
            again["approval"]["approval_id"].as_str(),
            &again["approval"]["joined"]
        ),
        (Some(id.as_str()), &json!(true)),
        "the identical pending call joins the request"
    );
    assert_eq!(
        wait(&g, &id, "other-key", 1).await.0,
        403,
        "only the requester waits"
    );
    assert_eq!(wait(&g, &id, "payer-key", 1).await.1["state"], "pending");

    // The agent long-polls while alice approves over the approver API.
    let poll = {
        let (base, id) = (g.base.clone(), id.clone());
        tokio::spawn(async move {
            let r = reqwest::Client::new()
                .get(format!("{base}/v1/approvals/{id}/wait?timeout_seconds=20"))
                .bearer_auth("payer-key")
                .send()
                .await
                .unwrap();
            r.json::<Value>().await.unwrap()
        })
    };
    let client = reqwest::Client::new();
    let listed: Value = client
        .get(format!("{}/v1/approvals", g.base))
        .bearer_auth("alice-key")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["approver"], "alice");
    assert_eq!(listed["approvals"][0]["id"], id.as_str());
    assert_eq!(listed["approvals"][0]["call"]["arguments"]["amount"], 500);
    let started = std::time::Instant::now();
    let approved = client
        .post(format!("{}/v1/approvals/{id}/approve", g.base))
        .bearer_auth("alice-key")
        .json(&json!({"note": "invoice checked"}))
        .send()
        .await
        .unwrap();
    assert_eq!(approved.status().as_u16(), 200);
    let polled = poll.await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the long-poll answers when the decision is made, not at its timeout"
    );
    assert_eq!(polled["state"], "approved");
    let token = polled["token"].as_str().unwrap();

    let other_args = decide(&g, 501, Some(token)).await;
    assert_eq!(
        (other_args["outcome"].as_str(), &other_args["reasons"]),
        (Some("deny"), &json!(["approval_token_rejected"])),
        "the token is bound to the exact arguments"
    );
    let allowed = decide(&g, 500, Some(token)).await;
    assert_eq!(allowed["outcome"], "allow");
    assert_eq!(allowed["approval"]["approved_by"], "alice");
    let replayed = decide(&g, 500, Some(token)).await;
    assert_eq!(replayed["outcome"], "deny", "a token works once");

    // Every step, in the audit log, linked by the approval id.
    warden_server::approvals::relay_once(&g.store, &g.auditor).await;
    let entries = warden_audit::entries(&g.db).unwrap();
    let steps: Vec<(String, String)> = entries
        .iter()
        .filter(|(_, e)| e.input.get("approval_id").and_then(Value::as_str) == Some(id.as_str()))
        .map(|(_, e)| {
            (
                e.outcome.clone(),
                e.input["actor"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("approval_requested", "payer"),
            ("approval_decided", "alice"),
            ("approval_consumed", "payer")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .to_vec()
    );
    let consumed_call = entries
        .iter()
        .find(|(_, e)| e.result["approval"]["state"] == "consumed")
        .expect("the allowed call's own decision record names the approval it used");
    assert_eq!(
        consumed_call.1.result["approval"]["approval_id"],
        id.as_str()
    );
    assert!(
        warden_audit::verify(&g.db, None).unwrap().is_ok(),
        "the chain still verifies"
    );
    assert_eq!(
        warden_server::approvals::relay_once(&g.store, &g.auditor).await,
        0,
        "each step is copied once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_approval_ends_the_wait_and_the_page_is_locked_down() {
    let g = gateway().await;
    let id = decide(&g, 900, None).await["approval"]["approval_id"]
        .as_str()
        .unwrap()
        .to_string();
    let client = reqwest::Client::new();
    let by_agent = client
        .post(format!("{}/v1/approvals/{id}/approve", g.base))
        .bearer_auth("payer-key")
        .send()
        .await
        .unwrap();
    assert_eq!(
        by_agent.status().as_u16(),
        401,
        "an agent key is not an approver key"
    );
    let denied = client
        .post(format!("{}/v1/approvals/{id}/deny", g.base))
        .bearer_auth("alice-key")
        .json(&json!({"note": "not in budget"}))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status().as_u16(), 200);
    let (_, w) = wait(&g, &id, "payer-key", 20).await;
    assert_eq!(
        (w["state"].as_str(), w["note"].as_str()),
        (Some("denied"), Some("not in budget"))
    );

    let page = client
        .get(format!("{}/approvals/{id}", g.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"));
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    let html = page.text().await.unwrap();
    assert!(html.contains("/approvals/assets/app.js") && !html.contains("<script>"));
    let js = client
        .get(format!("{}/approvals/assets/app.js", g.base))
        .send()
        .await
        .unwrap();
    assert_eq!(js.status().as_u16(), 200);
    assert!(
        !js.text().await.unwrap().contains("innerHTML"),
        "agent-supplied text is never parsed as HTML"
    );
}

/// An approved call must be retried within `token_ttl_seconds` of the decision: asking for the
/// token again later (`/wait`, `approvals show`) does not mint a fresh one that would stretch the
/// approval's use without end.
#[tokio::test]
async fn an_approval_cannot_be_used_after_its_retry_window_however_often_it_is_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(warden_approvals::Store::open(&dir.path().join("approvals.db")).unwrap());
    let tokens = warden_approvals::Tokens::new(vec![7; 32]).unwrap();
    let flow = Approvals {
        store: store.clone(),
        tokens: tokens.clone(),
        ttl_seconds: 2000,
        max_pending: 5,
        notifier: None,
        wait: None,
        token_ttl_seconds: 300,
    };
    let approvers = warden_approvals::Approvers {
        tenants: [("acme".to_string(), vec!["alice".to_string()])].into(),
        rules: BTreeMap::new(),
    };
    let now = warden_engine::now_unix();
    let call = warden_server::approvals::call_of(&payment(500));
    let asked = store
        .request(call, "1", "r", &[], json!({}), 2000, 5, now - 1000)
        .unwrap()
        .approval;
    // Approved 400 s ago: its 300 s to retry the call are over.
    let a = store
        .decide(&asked.id, "alice", true, None, &approvers, now - 400)
        .unwrap();
    match flow.check(&a.id) {
        warden_server::approvals::Waited::Ended(why) => {
            assert!(why.contains("ask for a new approval"), "{why}")
        }
        _ => panic!("an approval past its retry window still handed out a token"),
    }
    let token = tokens.mint(&a, 300);
    assert!(
        tokens.check(&token, &a.digest, now).is_err(),
        "a token minted now for it has already expired"
    );
}

/// An approval waives the approval rule, not the policy's redactions: the approved retry of a
/// call whose arguments still need masking is `sanitize` with its redactions, never a bare
/// `allow` an enforcement point would forward as it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_call_keeps_its_redactions() {
    let g = gateway().await;
    let mut call = payment(500);
    call["action"]["args"]["memo"] = json!("refund for bob@example.com");
    let send = |token: Option<String>| {
        let mut req = reqwest::Client::new()
            .post(format!("{}/v1/decide", g.base))
            .bearer_auth("payer-key")
            .json(&call);
        if let Some(t) = token {
            req = req.header("warden-approval-token", t);
        }
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let asked = send(None).await;
    assert_eq!(asked["outcome"], "approval_needed", "{asked}");
    let id = asked["approval"]["approval_id"]
        .as_str()
        .unwrap()
        .to_string();
    let approved: Value = reqwest::Client::new()
        .post(format!("{}/v1/approvals/{id}/approve", g.base))
        .bearer_auth("alice-key")
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = approved["token"].as_str().unwrap().to_string();
    let retried = send(Some(token)).await;
    assert_eq!(
        (retried["outcome"].as_str(), retried["allow"].as_bool()),
        (Some("sanitize"), Some(true)),
        "{retried}"
    );
    assert_eq!(
        retried["redactions"][0]["path"], "/action/args/memo",
        "{retried}"
    );
    assert_eq!(retried["approval"]["state"], "consumed", "{retried}");
}
