//! Caller authentication over HTTP: API keys and JWTs (HS256, EdDSA); the authenticated identity
//! replaces the tenant and agent the body claims; another tenant is refused; bad credentials get 401.

mod support;

use std::sync::Arc;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use warden_server::auth::{key_digest, AuthConfig, Identity, JwtConfig};
use warden_server::{BundleSource, ServerConfig};

fn bundle_dir(dir: &std::path::Path) {
    let yaml = "warden: 1\ntenant: acme\nagents:\n  finance-agent:\n    tools:\n      pay:\n        create: {}\n";
    support::write_policy(dir, yaml);
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identities_come_from_credentials_not_from_the_body() {
    let dir = tempfile::tempdir().unwrap();
    bundle_dir(dir.path());
    let (ed_private, ed_public) =
        warden_bundle::keys::generate(warden_bundle::keys::KeyKind::Ed25519).unwrap();
    let mut auth = AuthConfig::default();
    auth.api_keys.insert(
        key_digest("k-123"),
        Identity {
            tenant: "acme".into(),
            agent: "finance-agent".into(),
        },
    );
    auth.jwt = Some(JwtConfig {
        algorithm: Algorithm::EdDSA,
        key: warden_bundle::signing::decoding_key(Algorithm::EdDSA, &ed_public).unwrap(),
        issuer: Some("https://idp.acme".into()),
        audience: Some("warden".into()),
        tenant_claim: "tenant".into(),
        agent_claim: "sub".into(),
    });
    let cfg = ServerConfig {
        auth: Arc::new(auth),
        ..ServerConfig::single(
            "127.0.0.1:0".parse().unwrap(),
            "main",
            BundleSource::Dir(dir.path().to_path_buf()),
        )
    };
    let (svc, _) = warden_server::start(&cfg).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(
            listener,
            warden_server::http::router(svc, cfg.body_limit, cfg.auth.clone(), None),
        )
        .await
    });
    let client = reqwest::Client::new();
    // The body claims an agent that does not exist; only the credential decides who is asking.
    let body = json!({"tenant": "acme", "agent": {"id": "someone-else"}, "action": {"tool": "pay", "type": "create"},
                      "environment": {"time": "2026-11-23T10:00:00Z"}});
    let send = |auth: Option<(&'static str, String)>, body: Value| {
        let mut r = client.post(format!("{base}/v1/decide")).json(&body);
        if let Some((h, v)) = auth {
            r = r.header(h, v);
        }
        async move {
            let r = r.send().await.unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    assert_eq!(send(None, body.clone()).await.0, 401);
    assert_eq!(
        send(Some(("x-api-key", "wrong".into())), body.clone())
            .await
            .0,
        401
    );
    let (s, d) = send(Some(("x-api-key", "k-123".into())), body.clone()).await;
    assert_eq!((s, d["outcome"].clone()), (200, json!("allow")), "{d}");
    let (s, d) = send(Some(("authorization", "Bearer k-123".into())), body.clone()).await;
    assert_eq!((s, d["outcome"].clone()), (200, json!("allow")));

    let mut other = body.clone();
    other["tenant"] = json!("globex");
    let (s, e) = send(Some(("x-api-key", "k-123".into())), other).await;
    assert_eq!(
        (s, e["error"]["code"].clone()),
        (403, json!("tenant_mismatch"))
    );

    let key = EncodingKey::from_ed_pem(ed_private.as_bytes()).unwrap();
    let token = |claims: Value| {
        format!(
            "Bearer {}",
            jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, &key).unwrap()
        )
    };
    let good = json!({"sub": "finance-agent", "tenant": "acme", "iss": "https://idp.acme", "aud": "warden", "exp": now() + 300});
    let (s, d) = send(Some(("authorization", token(good.clone()))), body.clone()).await;
    assert_eq!((s, d["outcome"].clone()), (200, json!("allow")), "{d}");
    for (bad, drop, why) in [
        (json!({"exp": now() - 3600}), "", "expired"),
        (json!({"aud": "someone-else"}), "", "wrong audience"),
        (json!({"iss": "https://evil"}), "", "wrong issuer"),
        (json!({}), "aud", "no audience while one is configured"),
        (json!({}), "iss", "no issuer while one is configured"),
        (
            json!({"nbf": now() + 3600}),
            "",
            "not valid before an hour from now",
        ),
    ] {
        let mut c = good.clone();
        let claims = c.as_object_mut().unwrap();
        claims.extend(bad.as_object().unwrap().clone());
        claims.remove(drop);
        let (s, e) = send(Some(("authorization", token(c))), body.clone()).await;
        assert_eq!(s, 401, "{why}: {e}");
    }
    let hs = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &good,
        &EncodingKey::from_secret(b"guess"),
    )
    .unwrap();
    assert_eq!(
        send(
            Some(("authorization", format!("Bearer {hs}"))),
            body.clone()
        )
        .await
        .0,
        401,
        "another algorithm is refused"
    );
    // A JWT for an agent the policies do not know is authenticated, then denied by policy.
    let mut stranger = good.clone();
    stranger["sub"] = json!("rogue-agent");
    let (s, d) = send(Some(("authorization", token(stranger))), body.clone()).await;
    assert_eq!((s, d["reasons"].clone()), (200, json!(["unknown_agent"])));

    // An array in place of the input object carries no tenant to check: refused, not decided.
    let fields = json!(["globex", {"id": "x"}, {}, {"type": "create", "tool": "pay"}]);
    let (s, e) = send(Some(("x-api-key", "k-123".into())), fields.clone()).await;
    assert_eq!(
        (s, e["error"]["code"].clone()),
        (400, json!("invalid_input"))
    );

    // OPA's Data API: a caller reads its own tenant's policies, not another's, nor the paths
    // that hold every tenant's; its input is bound to it on GET as on POST.
    let get = |path: &str, key: &'static str| {
        let r = client.get(format!("{base}{path}")).header("x-api-key", key);
        async move { r.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(get("/v1/data/warden/tenants/acme", "k-123").await, 200);
    for path in [
        "/v1/data/warden/tenants/globex",
        "/v1/data/warden/tenants/globex/agents",
        "/v1/data/warden/tenants",
        "/v1/data/warden",
        "/v1/data",
        "/v1/data/warden/custom_all/violations",
    ] {
        assert_eq!(get(path, "k-123").await, 403, "{path}");
    }
    let mut globex = body.clone();
    globex["tenant"] = json!("globex");
    let r = client
        .get(
            reqwest::Url::parse_with_params(
                &format!("{base}/v1/data/warden/main/decision"),
                [("input", globex.to_string())],
            )
            .unwrap(),
        )
        .header("x-api-key", "k-123")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        403,
        "GET's input is checked like POST's"
    );
}
