//! The server over real HTTP on loopback: decisions, OPA's Data API, bad input, health, status,
//! metrics, hot reload (good and tampered bundles), and restart from the persisted bundle.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use warden_bundle::signing::SigningKey;
use warden_bundle::{PublicKey, VerificationConfig};
use warden_server::{BundleSource, ServerConfig};

fn policy(cap: u32) -> String {
    format!("warden: 1\ntenant: acme\nagents:\n  finance-agent:\n    tools:\n      stripe-payments:\n        create_payment:\n          rules:\n            - id: amount\n              require: {{ args.amount: {{ max: {cap} }} }}\n              on_violation: approval_needed\n              reason: amount_requires_approval\n")
}

/// A bundle archive for `policy(cap)`, signed when a key is given.
fn bundle(cap: u32, key: Option<&SigningKey>) -> Vec<u8> {
    let f = warden_core::load("p.yaml", &policy(cap)).unwrap();
    let c = warden_core::compile(&[f], &[], &format!("cap-{cap}")).unwrap();
    let mut files = vec![(
        ".manifest".to_string(),
        format!(
            "{{\"revision\":\"{}\",\"roots\":[\"warden\"],\"rego_version\":1,\"metadata\":{{}}}}",
            c.revision
        )
        .into_bytes(),
    )];
    files.extend(c.files());
    if let Some(k) = key {
        let sig = warden_bundle::sign(&files, k, None).unwrap();
        files.insert(0, (".signatures.json".into(), sig.into_bytes()));
    }
    warden_bundle::write_archive(&files).unwrap()
}

fn input(amount: u64) -> Value {
    json!({"tenant": "acme", "agent": {"id": "finance-agent"},
           "action": {"tool": "stripe-payments", "type": "create_payment", "args": {"amount": amount}},
           "environment": {"time": "2026-11-23T10:00:00Z"}})
}

struct Server {
    base: String,
    client: reqwest::Client,
}

impl Server {
    async fn start(cfg: ServerConfig) -> Server {
        let (svc, state) = warden_server::start(&cfg).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        warden_server::spawn_reloaders(&svc, &cfg, state);
        tokio::spawn(async move {
            axum::serve(
                listener,
                warden_server::http::router(svc, cfg.body_limit, cfg.auth.clone(), None),
            )
            .await
        });
        Server {
            base,
            client: reqwest::Client::new(),
        }
    }

    async fn post(&self, path: &str, body: Vec<u8>) -> (u16, Value) {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// `/v1/status`'s active revision of bundle `main`.
    async fn active_revision(&self) -> String {
        let (_, status) = self.get("/v1/status").await;
        let status: Value = serde_json::from_str(&status).unwrap();
        status["bundles"]["main"]["active_revision"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    async fn decide(&self, amount: u64) -> Value {
        let (s, v) = self
            .post("/v1/decide", input(amount).to_string().into_bytes())
            .await;
        assert_eq!(s, 200, "{v}");
        v
    }
}

fn config(
    source: &Path,
    data_dir: &Path,
    verification: Option<VerificationConfig>,
) -> ServerConfig {
    ServerConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        bundles: vec![warden_server::BundleConfig {
            name: "main".into(),
            source: BundleSource::File(source.to_path_buf()),
            verification,
            shadow: false,
        }],
        poll: Duration::from_millis(100),
        bundle_http: Default::default(),
        body_limit: 1024 * 1024,
        data_dir: Some(data_dir.to_path_buf()),
        auth: Default::default(),
        audit: None,
        approvals: None,
    }
}

async fn eventually(mut f: impl AsyncFnMut() -> bool) -> bool {
    for _ in 0..100 {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_data_api_health_status_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let b = dir.path().join("b.tar.gz");
    std::fs::write(&b, bundle(5000, None)).unwrap();
    let s = Server::start(config(&b, &dir.path().join("state"), None)).await;

    assert_eq!(s.decide(100).await["outcome"], "allow");
    let d = s.decide(7500).await;
    assert_eq!(d["outcome"], "approval_needed");
    assert_eq!(d["metadata"]["policy_version"], "cap-5000");
    let revision = d["metadata"]["bundle_revision"]
        .as_str()
        .unwrap()
        .to_string();

    let (st, v) = s
        .post(
            "/v1/data/warden/main/decision",
            json!({"input": input(7500)}).to_string().into_bytes(),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(v["result"], d, "the Data API gives the same decision");
    assert!(v["decision_id"].as_str().is_some_and(|id| id.len() == 36));
    let (st, meta) = s.get("/v1/data/warden/meta").await;
    assert_eq!(st, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&meta).unwrap()["result"]["policy_version"],
        "cap-5000"
    );
    let (_, undefined) = s.post("/v1/data/warden/nothing/here", b"{}".to_vec()).await;
    assert!(undefined.get("result").is_none() && undefined.get("decision_id").is_some());
    // OPA's GET takes the input as a query parameter: the same decision as the POST.
    let got: Value = s
        .client
        .get(
            reqwest::Url::parse_with_params(
                &format!("{}/v1/data/warden/main/decision", s.base),
                [("input", input(7500).to_string())],
            )
            .unwrap(),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["result"], d);
    // Asked without an input (or with one that is not an object), the decision is a deny, and
    // OPA's warning says the input was missing.
    for body in [
        &b"{}"[..],
        b"",
        b"{\"input\": [1]}",
        b"{\"input\": \"acme\"}",
    ] {
        let (st, v) = s.post("/v1/data/warden/main/decision", body.to_vec()).await;
        assert_eq!(st, 200);
        assert_eq!(
            (
                v["result"]["outcome"].clone(),
                v["result"]["reasons"].clone()
            ),
            (json!("deny"), json!(["invalid_input"])),
            "{v}"
        );
        assert_eq!(
            v["warning"]["code"] == "api_usage_warning",
            !body.starts_with(b"{\"input\""),
            "{v}"
        );
    }
    let (st, pretty) = s.get("/v1/data/warden/meta/policy_version?pretty").await;
    assert_eq!(st, 200);
    assert!(pretty.contains("\n  \"result\": \"cap-5000\""), "{pretty}");
    let (st, whole) = s.get("/v1/data").await;
    assert_eq!(st, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&whole).unwrap()["result"]["warden"]["meta"]
            ["policy_version"],
        "cap-5000"
    );

    let mut unknown = input(1);
    unknown["tenant"] = json!("globex");
    let (st, v) = s.post("/v1/decide", unknown.to_string().into_bytes()).await;
    assert_eq!((st, v["reasons"].clone()), (200, json!(["unknown_tenant"])));

    assert_eq!(s.get("/health?bundles").await.0, 200);
    assert_eq!(
        s.active_revision().await,
        revision,
        "status and decisions name the same revision"
    );
    let (_, metrics) = s.get("/metrics").await;
    // The decision API's one, and the Data API's POST and GET: every decision is counted.
    assert!(
        metrics.contains(&format!(
            "warden_decisions_total{{outcome=\"approval_needed\",tenant=\"acme\",revision=\"{revision}\"}} 3"
        )),
        "{metrics}"
    );
    // The four asked without an input object, whatever tenant they may name.
    assert!(
        metrics.contains(
            "warden_decision_reasons_total{reason=\"invalid_input\",tenant=\"unknown\"} 4"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            "warden_bundle_info{{bundle=\"main\",revision=\"{revision}\"}} 1"
        )),
        "{metrics}"
    );
}

/// A directory without a `.manifest` (what `warden compile` writes, served with `--bundle DIR`)
/// is named by its compiled revision, the one its decisions report: it used to be named by a
/// fingerprint of its files, so `/v1/status`, `/metrics` and the audit record's `bundles` named a
/// revision no decision carried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_without_a_manifest_reports_one_revision() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("compiled");
    let f = warden_core::load("p.yaml", &policy(5000)).unwrap();
    let c = warden_core::compile(&[f], &[], "cap-5000").unwrap();
    for (p, bytes) in c.files() {
        let p = src.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
    let mut cfg = config(&src, &dir.path().join("state"), None);
    cfg.bundles[0].source = BundleSource::Dir(src.clone());
    let s = Server::start(cfg).await;
    assert!(eventually(async || s.get("/health?bundles").await.0 == 200).await);
    let d = s.decide(7500).await;
    let revision = d["metadata"]["bundle_revision"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(revision, c.revision);
    assert_eq!(
        s.active_revision().await,
        revision,
        "status and decisions name the same revision"
    );
    let (_, metrics) = s.get("/metrics").await;
    assert!(
        metrics.contains(&format!(
            "warden_bundle_info{{bundle=\"main\",revision=\"{revision}\"}} 1"
        )),
        "{metrics}"
    );
}

/// Label values come from the policy: an unknown tenant is counted as `unknown` (a caller cannot
/// mint series), and only the active revision and the one it replaced keep decision series, so
/// their number stays bounded however often bundles are reloaded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metric_series_stay_bounded_across_reloads_and_unknown_tenants() {
    let dir = tempfile::tempdir().unwrap();
    let b = dir.path().join("b.tar.gz");
    std::fs::write(&b, bundle(5000, None)).unwrap();
    let s = Server::start(config(&b, &dir.path().join("state"), None)).await;
    let mut revisions = Vec::new();
    for cap in [5000u32, 6000, 7000] {
        if cap != 5000 {
            std::fs::write(&b, bundle(cap, None)).unwrap();
            let version = format!("cap-{cap}");
            assert!(
                eventually(async || s.decide(1).await["metadata"]["policy_version"] == version)
                    .await,
                "bundle {cap} activated"
            );
        }
        let d = s.decide(1).await;
        revisions.push(
            d["metadata"]["bundle_revision"]
                .as_str()
                .unwrap()
                .to_string(),
        );
        for name in ["evil-tenant-\u{202e}", "x\" } 1\nwarden_fake 2"] {
            let mut unknown = input(1);
            unknown["tenant"] = json!(name);
            let (st, _) = s.post("/v1/decide", unknown.to_string().into_bytes()).await;
            assert_eq!(st, 200);
        }
    }
    let (_, metrics) = s.get("/metrics").await;
    let series = |rev: &str| {
        metrics
            .lines()
            .filter(|l| l.starts_with("warden_decisions_total{") && l.contains(rev))
            .count()
    };
    assert_eq!(
        series(&revisions[0]),
        0,
        "the first revision's series are gone\n{metrics}"
    );
    assert!(
        series(&revisions[1]) > 0,
        "the replaced revision's are kept\n{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            "warden_decisions_total{{outcome=\"deny\",tenant=\"unknown\",revision=\"{}\"}} 2",
            revisions[2]
        )),
        "{metrics}"
    );
    assert!(
        !metrics.contains("evil-tenant") && !metrics.contains("warden_fake"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "warden_decision_reasons_total{reason=\"unknown_tenant\",tenant=\"unknown\"}"
        ),
        "{metrics}"
    );
    let info: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("warden_bundle_info{"))
        .collect();
    assert_eq!(
        info,
        [format!(
            "warden_bundle_info{{bundle=\"main\",revision=\"{}\"}} 1",
            revisions[2]
        )],
        "only the active revision is listed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_error_and_the_next_request_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let b = dir.path().join("b.tar.gz");
    std::fs::write(&b, bundle(5000, None)).unwrap();
    let s = Server::start(config(&b, &dir.path().join("state"), None)).await;
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (b"{\"tenant\": ".to_vec(), 400, "invalid_json"),
        (vec![0xff, 0xfe, b'{', b'}'], 400, "invalid_body"),
        (
            json!({"tenant": "acme", "agent": {"id": 5}, "action": {"tool": "t", "type": "x"}})
                .to_string()
                .into_bytes(),
            400,
            "agent.id",
        ),
        (
            json!({"tenant": "acme", "action": {"tool": "t", "type": "x"}})
                .to_string()
                .into_bytes(),
            400,
            "agent",
        ),
        (
            format!("{}1{}", "[".repeat(1000), "]".repeat(1000)).into_bytes(),
            400,
            "invalid_json",
        ),
        (
            json!(["acme", {"id": "finance-agent"}, {}, {"type": "create", "tool": "payments"}])
                .to_string()
                .into_bytes(),
            400,
            "must be a JSON object",
        ),
        (vec![b' '; 1024 * 1024 + 1], 413, "\"body_too_large\""),
    ];
    for (body, want, text) in cases {
        let r = s
            .client
            .post(format!("{}/v1/decide", s.base))
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body = r.text().await.unwrap();
        assert_eq!(status, want, "{body}");
        assert!(body.contains(text), "{body} should mention {text}");
        assert_eq!(
            s.decide(100).await["outcome"],
            "allow",
            "served after a bad request"
        );
    }
    // 10 MB: the server answers 413 as soon as the limit is passed and closes the connection, so
    // the client sees either the 413 or the close while it is still writing. Either way nothing
    // is decided and the next request is served.
    match s
        .client
        .post(format!("{}/v1/decide", s.base))
        .body(vec![b' '; 10 * 1024 * 1024])
        .send()
        .await
    {
        Ok(r) => assert_eq!(r.status().as_u16(), 413),
        Err(e) => assert!(e.is_request(), "{e}"),
    }
    assert_eq!(
        s.decide(100).await["outcome"],
        "allow",
        "served after a 10 MB body"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_bundle_is_503_with_fail_mode() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(config(
        &dir.path().join("missing.tar.gz"),
        &dir.path().join("state"),
        None,
    ))
    .await;
    let (st, v) = s
        .post("/v1/decide", input(1).to_string().into_bytes())
        .await;
    assert_eq!((st, v["fail_mode"].clone()), (503, json!("closed")));
    assert_eq!(s.get("/health?bundles").await.0, 500);
    let (_, status) = s.get("/v1/status").await;
    assert!(status.contains("cannot read"), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_reload_activates_good_bundles_rejects_tampered_ones_and_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let vectors = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/opa-vectors/keys");
    let pem = std::fs::read(vectors.join("ec-p256-f.pkcs8.key.pem")).unwrap();
    let public = std::fs::read_to_string(vectors.join("ec-p256-f.pub.pem")).unwrap();
    let key = SigningKey::from_pem(jsonwebtoken::Algorithm::ES256, &pem, Some("k".into())).unwrap();
    let mut cfg = VerificationConfig::default();
    cfg.keys.insert(
        "k".into(),
        PublicKey {
            algorithm: Some("ES256".into()),
            key: public,
            scope: None,
        },
    );
    let b = dir.path().join("b.tar.gz");
    let state = dir.path().join("state");
    std::fs::write(&b, bundle(5000, Some(&key))).unwrap();
    let s = Server::start(config(&b, &state, Some(cfg.clone()))).await;
    assert_eq!(s.decide(7500).await["outcome"], "approval_needed");

    // A new signed bundle raises the cap: it is activated without a restart.
    std::fs::write(&b, bundle(10000, Some(&key))).unwrap();
    assert!(
        eventually(async || s.decide(7500).await["outcome"] == "allow").await,
        "new bundle activated"
    );

    // A tampered bundle (data changed after signing) is rejected; the last good one keeps serving.
    let mut files = warden_bundle::read_archive(&bundle(20000, Some(&key))).unwrap();
    let data = files.iter().position(|(n, _)| n == "data.json").unwrap();
    files[data].1 = String::from_utf8(files[data].1.clone())
        .unwrap()
        .replace("20000", "99999")
        .into_bytes();
    let unsigned = warden_bundle::write_archive(&files[1..]).unwrap();
    std::fs::write(&b, warden_bundle::write_archive(&files).unwrap()).unwrap();
    assert!(
        eventually(async || s.get("/v1/status").await.1.contains("digest_mismatch")).await,
        "rejection recorded"
    );
    assert_eq!(
        s.decide(7500).await["metadata"]["policy_version"],
        "cap-10000"
    );
    std::fs::write(&b, unsigned).unwrap();
    assert!(
        eventually(async || s.get("/v1/status").await.1.contains("unsigned")).await,
        "unsigned bundle rejected"
    );
    assert_eq!(s.decide(7500).await["outcome"], "allow");
    let (_, metrics) = s.get("/metrics").await;
    assert!(
        metrics.contains("warden_bundle_loads_total{bundle=\"main\",result=\"failed\"}"),
        "{metrics}"
    );

    // Restart with the source gone: the persisted last good bundle serves.
    std::fs::remove_file(&b).unwrap();
    let again = Server::start(config(&b, &state, Some(cfg.clone()))).await;
    assert_eq!(
        again.decide(7500).await["metadata"]["policy_version"],
        "cap-10000"
    );
    // Active, but nothing was downloaded: the status does not claim a download.
    let (_, status) = again.get("/v1/status").await;
    let main = &serde_json::from_str::<Value>(&status).unwrap()["bundles"]["main"];
    assert!(main["active_revision"].is_string(), "{main}");
    assert!(main["last_successful_download"].is_null(), "{main}");
    drop(again);

    // A persisted copy that was tampered with is rejected too; the status says why for both.
    let saved = state.join("bundles/main/bundle.tar.gz");
    let mut files = warden_bundle::read_archive(&std::fs::read(&saved).unwrap()).unwrap();
    let data = files.iter().position(|(n, _)| n == "data.json").unwrap();
    files[data].1 = String::from_utf8(files[data].1.clone())
        .unwrap()
        .replace("10000", "99999")
        .into_bytes();
    std::fs::write(&saved, warden_bundle::write_archive(&files).unwrap()).unwrap();
    let third = Server::start(config(&b, &state, Some(cfg))).await;
    let (_, status) = third.get("/v1/status").await;
    let main = &serde_json::from_str::<Value>(&status).unwrap()["bundles"]["main"];
    let error = main["last_error"].as_str().unwrap_or_default();
    assert!(main["active_revision"].is_null(), "{main}");
    assert!(
        error.contains("b.tar.gz")
            && error.contains("persisted")
            && error.contains("digest_mismatch"),
        "{main}"
    );
}
