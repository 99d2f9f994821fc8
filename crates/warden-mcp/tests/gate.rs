//! The policy gate on its own (no transport): what `tools/list` shows, how each outcome of a
//! `tools/call` is answered, and that limit charges are reserved and settled.

use serde_json::{json, Value};
use warden_mcp::{Denials, LimitStore, Session, Unlisted, Verdict};

mod common;
use common::{auditor, gate, gate_over, testsrv_policy_with};

fn call(name: &str, args: Value) -> Value {
    json!({"name": name, "arguments": args})
}

#[tokio::test]
async fn tools_list_hides_what_the_agent_may_never_call() {
    let dir = tempfile::tempdir().unwrap();
    let (g, _) = gate(dir.path(), Denials::Error, Unlisted::Hide).await;
    let mut result = json!({"tools": [{"name": "echo"}, {"name": "admin_reset"}, {"name": "nope"}, {"name": "pay"}]});
    let s = Session::new("acme", "test-agent");
    g.filter_tools(&s, &mut result);
    assert_eq!(
        result,
        json!({"tools": [{"name": "echo"}, {"name": "pay"}]})
    );
    assert!(g
        .svc
        .redacts_results("acme", "test-agent", "testsrv", "lookup"));
    assert!(
        !g.svc
            .redacts_results("acme", "test-agent", "testsrv", "echo"),
        "no result rule for echo: its results are not decided again"
    );
    let (g, _) = gate(dir.path(), Denials::Error, Unlisted::Show).await;
    assert!(
        g.visible(&s, "admin_reset"),
        "show-and-deny lists everything"
    );
}

#[tokio::test]
async fn each_outcome_is_answered_as_configured() {
    let dir = tempfile::tempdir().unwrap();
    let (g, limits) = gate(dir.path(), Denials::Error, Unlisted::Hide).await;
    let s = Session::new("acme", "test-agent");
    let id = json!(7);
    match g
        .call(&s, &id, &call("read_file", json!({"path": "/etc/shadow"})))
        .await
    {
        Verdict::Reply(r) => {
            assert_eq!(r["id"], 7);
            assert_eq!(r["error"]["code"], -32001);
            assert_eq!(
                r["error"]["data"]["warden"]["reasons"],
                json!(["path_not_allowed"])
            );
            let m = r["error"]["message"].as_str().unwrap();
            assert!(
                m.contains("testsrv/read_file")
                    && m.contains("What to do: Use a path under /srv/data/."),
                "{m}"
            );
        }
        Verdict::Forward { .. } => panic!("a denied call must not be forwarded"),
    }
    match g
        .call(&s, &id, &call("lookup", json!({"email": "a@b.example"})))
        .await
    {
        Verdict::Forward {
            params,
            reservation,
            ..
        } => {
            assert_eq!(params["arguments"]["email"], "[REDACTED:email]");
            assert!(reservation.is_none(), "no limit applies to lookup");
        }
        Verdict::Reply(r) => panic!("sanitize forwards: {r}"),
    }
    // What the lookup returns is checked too: SSNs in the result are masked.
    let v = g
        .call(&s, &id, &call("lookup", json!({"email": "a@b.example"})))
        .await;
    match v {
        Verdict::Forward { input, .. } => {
            let mut result = json!({"content": [{"type": "text", "text": "SSN 123-45-6789"}]});
            assert!(g.on_result(&input, &mut result));
            assert_eq!(result["content"][0]["text"], "SSN [REDACTED:ssn]");
            let mut clean = json!({"content": [{"type": "text", "text": "nothing here"}]});
            assert!(
                !g.on_result(&input, &mut clean),
                "a clean result passes untouched"
            );
        }
        Verdict::Reply(r) => panic!("sanitize forwards: {r}"),
    }
    // A budget charge is held while the call is in flight, then committed or released.
    let key = |v: &Verdict| match v {
        Verdict::Forward { reservation, .. } => reservation.clone(),
        Verdict::Reply(r) => panic!("{r}"),
    };
    let pay = |amount: u64| call("pay", json!({"amount": amount, "currency": "USD"}));
    for _ in 0..4 {
        let r = key(&g.call(&s, &id, &pay(1000)).await);
        g.settle(r.as_deref(), true);
    }
    let a = key(&g.call(&s, &id, &pay(1000)).await);
    match g.call(&s, &id, &pay(500)).await {
        Verdict::Reply(r) => {
            assert_eq!(r["error"]["code"], -32003, "{r}");
            assert!(
                r["error"]["data"]["warden"]["retry_after"]
                    .as_u64()
                    .unwrap()
                    > 0
            );
        }
        Verdict::Forward { .. } => {
            panic!("4000 spent + 1000 in flight + 500 is over the 5000 budget")
        }
    }
    g.settle(a.as_deref(), false);
    let b = key(&g.call(&s, &id, &pay(500)).await);
    g.settle(b.as_deref(), true);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let used = limits
        .usage(
            &[(
                "acme/test-agent/testsrv/pay/daily-spend|test-agent".into(),
                86_400,
            )],
            now,
        )
        .unwrap();
    assert_eq!(
        used,
        vec![4500.0],
        "the released charge is gone, the committed one stays"
    );
    // Bad params never reach a decision.
    match g.call(&s, &id, &json!({"arguments": {}})).await {
        Verdict::Reply(r) => assert_eq!(r["error"]["code"], -32602),
        Verdict::Forward { .. } => panic!("no name"),
    }
    // Denials as tool results the model reads.
    let (g, _) = gate(dir.path(), Denials::Result, Unlisted::Hide).await;
    match g
        .call(
            &s,
            &id,
            &call("pay", json!({"amount": 1, "currency": "EUR"})),
        )
        .await
    {
        Verdict::Reply(r) => {
            assert_eq!(r["result"]["isError"], true);
            assert!(r["result"]["content"][0]["text"]
                .as_str()
                .unwrap()
                .contains("USD only"));
            assert_eq!(
                r["result"]["_meta"]["warden"]["reasons"],
                json!(["currency_not_allowed"])
            );
        }
        Verdict::Forward { .. } => panic!("EUR is denied"),
    }
}

/// Writes and fail-closed reads are on disk before they are forwarded; a fail-open read's record
/// is handed to the transport, which commits it while the call is upstream and answers only
/// after (so no client sees an answer whose decision is not on disk).
#[tokio::test]
async fn a_fail_open_reads_record_is_committed_by_the_transport() {
    let records = |db: &std::path::Path| warden_audit::entries(db).unwrap().len();
    for fail_open_reads in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let text = testsrv_policy_with(fail_open_reads);
        let (mut g, _) = gate_over(dir.path(), &text, Denials::Error, Unlisted::Hide).await;
        let db = dir.path().join("audit.db");
        g.audit = Some(auditor(&db));
        let s = Session::new("acme", "test-agent");
        let Verdict::Forward { record, .. } = g
            .call(&s, &json!(1), &call("echo", json!({"text": "hi"})))
            .await
        else {
            panic!("echo is allowed")
        };
        assert_eq!(
            records(&db),
            usize::from(!fail_open_reads),
            "fail_open_reads {fail_open_reads}: recorded before it is forwarded only when it fails closed"
        );
        record.commit().await;
        assert_eq!(records(&db), 1, "committed by the transport");
        // A call abandoned while it is upstream (its record dropped uncommitted) is recorded too.
        let Verdict::Forward { record, .. } = g
            .call(&s, &json!(3), &call("echo", json!({"text": "bye"})))
            .await
        else {
            panic!("echo is allowed")
        };
        drop(record);
        for _ in 0..200 {
            if records(&db) == 2 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(records(&db), 2, "a dropped record is still written");
        let Verdict::Forward { record, .. } = g
            .call(
                &s,
                &json!(2),
                &call("pay", json!({"amount": 5, "currency": "USD"})),
            )
            .await
        else {
            panic!("a small USD payment is allowed")
        };
        assert_eq!(
            records(&db),
            3,
            "a write is recorded before it is forwarded"
        );
        record.commit().await;
        assert_eq!(records(&db), 3);
    }
}

/// An approval waives the approval rule only: the approved call goes out with the policy's
/// argument redactions applied (`sanitize`), as an unapproved call would.
#[tokio::test]
async fn an_approved_call_is_forwarded_with_its_redactions() {
    let dir = tempfile::tempdir().unwrap();
    let text = common::testsrv_policy().replacen(
        "        lookup:\n          rules:\n",
        "        lookup:\n          rules:\n            - id: vip\n              require: { args.email: { not_matches: \"^vip\" } }\n              on_violation: approval_needed\n              reason: vip_lookup\n",
        1,
    );
    assert!(text.contains("id: vip"), "the test policy changed shape");
    let (mut g, _) = gate_over(dir.path(), &text, Denials::Error, Unlisted::Hide).await;
    let store = std::sync::Arc::new(
        warden_approvals::Store::open(&dir.path().join("approvals.db")).unwrap(),
    );
    let tokens = warden_approvals::Tokens::new(vec![7; 32]).unwrap();
    g.approvals = Some(std::sync::Arc::new(warden_server::approvals::Approvals {
        store: store.clone(),
        tokens: tokens.clone(),
        ttl_seconds: 600,
        max_pending: 5,
        notifier: None,
        wait: None,
        token_ttl_seconds: 300,
    }));
    let s = Session::new("acme", "test-agent");
    let args = json!({"email": "vip-frank@example.com"});
    let Verdict::Reply(r) = g.call(&s, &json!(1), &call("lookup", args.clone())).await else {
        panic!("a VIP lookup needs approval first");
    };
    let aid = r["error"]["data"]["warden"]["approval_id"]
        .as_str()
        .unwrap();
    let approvers = warden_approvals::Approvers {
        tenants: [("acme".to_string(), vec!["alice".to_string()])].into(),
        rules: Default::default(),
    };
    let a = store
        .decide(
            aid,
            "alice",
            true,
            None,
            &approvers,
            warden_engine::now_unix(),
        )
        .unwrap();
    let mut retry = call("lookup", args);
    retry["_meta"] = json!({"warden/approval_token": tokens.mint(&a, 300)});
    match g.call(&s, &json!(2), &retry).await {
        Verdict::Forward { params, .. } => {
            assert_eq!(params["arguments"]["email"], "[REDACTED:email]", "{params}");
            assert!(params
                .get("_meta")
                .is_none_or(|m| m.get("warden/approval_token").is_none()));
        }
        Verdict::Reply(r) => panic!("the approved call was refused: {r}"),
    }
}

/// A gateway configured with a scope decides every call in it: the tenant's `scopes` limits
/// apply (without the scope they would not, as the gateway would send no `agent.scope`).
#[tokio::test]
async fn a_configured_scope_puts_the_tenants_scope_limits_on_every_call() {
    let dir = tempfile::tempdir().unwrap();
    let text = common::testsrv_policy().replacen(
        "\ntools:",
        "\nscopes:\n  support: { max_turns: 2 }\ntools:",
        1,
    );
    let (mut g, _) = gate_over(dir.path(), &text, Denials::Error, Unlisted::Hide).await;
    let echo = || call("echo", json!({"text": "hi"}));
    let unscoped = Session::new("acme", "test-agent");
    for n in 1..=3 {
        let v = g.call(&unscoped, &json!(n), &echo()).await;
        assert!(
            matches!(v, Verdict::Forward { .. }),
            "call {n} without a scope"
        );
    }
    g.scope = Some("support".into());
    let s = Session::new("acme", "test-agent");
    for n in 1..=2 {
        let v = g.call(&s, &json!(n), &echo()).await;
        assert!(
            matches!(v, Verdict::Forward { .. }),
            "call {n} in the scope"
        );
    }
    let Verdict::Reply(r) = g.call(&s, &json!(3), &echo()).await else {
        panic!("the third turn is over the scope's max_turns");
    };
    assert_eq!(
        r["error"]["data"]["warden"]["reasons"],
        json!(["turn_limit_exceeded"]),
        "{r}"
    );
}
