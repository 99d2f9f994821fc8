//! Bundles from an HTTP bundle service, with OPA's protocol: `If-None-Match` carrying the last
//! *activated* ETag, `304 Not Modified` when unchanged, a bad bundle or an outage leaving the last
//! good bundle serving.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;
use warden_server::{BundleSource, ServerConfig};

#[derive(Default)]
struct Service {
    bundle: Vec<u8>,
    etag: String,
    up: bool,
    /// The If-None-Match header of every request, in order.
    seen: Vec<Option<String>>,
    not_modified: usize,
    /// Answer with an endless body.
    endless: bool,
}

fn bundle(cap: u32) -> Vec<u8> {
    let yaml = format!("warden: 1\ntenant: t\nagents:\n  a:\n    tools:\n      pay:\n        create:\n          rules:\n            - id: cap\n              require: {{ args.amount: {{ max: {cap} }} }}\n              reason: too_much\n");
    let c = warden_core::compile(
        &[warden_core::load("p.yaml", &yaml).unwrap()],
        &[],
        &format!("cap-{cap}"),
    )
    .unwrap();
    let files = c.files();
    warden_bundle::write_archive(&files).unwrap()
}

async fn eventually(mut f: impl FnMut() -> bool) -> bool {
    for _ in 0..100 {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polls_with_etags_activates_changes_and_keeps_the_last_good_bundle() {
    let state = Arc::new(Mutex::new(Service {
        bundle: bundle(100),
        etag: "\"v1\"".into(),
        up: true,
        ..Default::default()
    }));
    let s2 = state.clone();
    let app = axum::Router::new().route(
        "/bundles/main",
        get(move |headers: HeaderMap| {
            let st = s2.clone();
            async move {
                let mut st = st.lock().unwrap();
                let inm = headers
                    .get("if-none-match")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                st.seen.push(inm.clone());
                if !st.up {
                    return StatusCode::INTERNAL_SERVER_ERROR.into_response();
                }
                if st.endless {
                    let chunk = axum::body::Bytes::from(vec![0u8; 1 << 20]);
                    let s = futures_util::stream::repeat_with(move || {
                        Ok::<_, std::io::Error>(chunk.clone())
                    });
                    return ([("etag", "\"v9\"")], axum::body::Body::from_stream(s))
                        .into_response();
                }
                if inm.as_deref() == Some(st.etag.as_str()) {
                    st.not_modified += 1;
                    return StatusCode::NOT_MODIFIED.into_response();
                }
                ([("etag", st.etag.clone())], st.bundle.clone()).into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/bundles/main", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir().unwrap();
    let cfg = ServerConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        bundles: vec![warden_server::BundleConfig {
            name: "main".into(),
            source: BundleSource::Http(url),
            verification: None,
            shadow: false,
        }],
        poll: Duration::from_millis(100),
        bundle_http: Default::default(),
        body_limit: 1 << 20,
        data_dir: Some(dir.path().to_path_buf()),
        auth: Default::default(),
        audit: None,
        approvals: None,
    };
    let (svc, poll) = warden_server::start(&cfg).await;
    warden_server::spawn_reloaders(&svc, &cfg, poll);
    let input = json!({"tenant": "t", "agent": {"id": "a"}, "action": {"tool": "pay", "type": "create", "args": {"amount": 500}},
                       "environment": {"time": "2026-11-23T10:00:00Z"}});
    let outcome = |svc: &warden_server::DecisionService| {
        svc.decide(&input).unwrap().outcome.as_str().to_string()
    };
    assert_eq!(outcome(&svc), "deny");
    assert_eq!(
        state.lock().unwrap().seen[0],
        None,
        "the first request has no If-None-Match"
    );

    // Unchanged: the poller sends the activated ETag and gets 304.
    assert!(eventually(|| state.lock().unwrap().not_modified >= 2).await);
    assert!(state
        .lock()
        .unwrap()
        .seen
        .iter()
        .skip(1)
        .all(|h| h.as_deref() == Some("\"v1\"")));

    // Changed: activated, and the new ETag is sent from then on.
    {
        let mut st = state.lock().unwrap();
        st.bundle = bundle(1000);
        st.etag = "\"v2\"".into();
    }
    assert!(
        eventually(|| outcome(&svc) == "allow").await,
        "v2 activated"
    );

    // A broken bundle is rejected; the poller keeps sending the last *activated* ETag.
    {
        let mut st = state.lock().unwrap();
        st.bundle = b"not a bundle".to_vec();
        st.etag = "\"v3\"".into();
        st.seen.clear();
    }
    assert!(
        eventually(|| svc
            .status("main")
            .unwrap()
            .last_error
            .is_some_and(|e| e.contains("not a readable bundle")))
        .await
    );
    assert!(eventually(|| state.lock().unwrap().seen.len() >= 3).await);
    assert!(
        state
            .lock()
            .unwrap()
            .seen
            .iter()
            .all(|h| h.as_deref() == Some("\"v2\"")),
        "{:?}",
        state.lock().unwrap().seen
    );
    assert_eq!(outcome(&svc), "allow", "the last good bundle keeps serving");

    // A body without end is cut off at the archive limit, not buffered whole.
    state.lock().unwrap().endless = true;
    assert!(
        eventually(|| svc
            .status("main")
            .unwrap()
            .last_error
            .is_some_and(|e| e.contains("the bundle is over")))
        .await,
        "{:?}",
        svc.status("main").unwrap().last_error
    );
    assert_eq!(outcome(&svc), "allow", "the last good bundle keeps serving");
    state.lock().unwrap().endless = false;

    // Service down: the status says so and decisions go on.
    state.lock().unwrap().up = false;
    assert!(
        eventually(|| svc
            .status("main")
            .unwrap()
            .last_error
            .is_some_and(|e| e.contains("HTTP 500")))
        .await
    );
    assert_eq!(outcome(&svc), "allow");
}

/// OPA long polling: with `Prefer: wait=N` the service holds the request until the bundle changes
/// and marks its answers with OPA's long-polling content type; the client then asks again at once,
/// so a change arrives in well under the (here 60 s) polling interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_polling_delivers_changes_at_once() {
    let (tx, rx) = tokio::sync::watch::channel((1u32, bundle(100)));
    let waits = Arc::new(Mutex::new(Vec::<String>::new()));
    let w2 = waits.clone();
    let app = axum::Router::new().route(
        "/b",
        get(move |headers: HeaderMap| {
            let mut rx = rx.clone();
            let waits = w2.clone();
            async move {
                const CT: &str = "application/vnd.openpolicyagent.bundles";
                let h = |n: &str| {
                    headers
                        .get(n)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string)
                };
                if let Some(p) = h("prefer") {
                    waits.lock().unwrap().push(p);
                }
                let inm = h("if-none-match");
                let current = |v: u32| format!("\"v{v}\"");
                if inm.as_deref() == Some(current(rx.borrow().0).as_str()) {
                    // Hold until the bundle changes, or up to the client's wait.
                    let changed = tokio::time::timeout(Duration::from_secs(20), rx.changed()).await;
                    if changed.is_err() {
                        return (StatusCode::NOT_MODIFIED, [("content-type", CT)]).into_response();
                    }
                }
                let (v, b) = rx.borrow().clone();
                ([("etag", current(v)), ("content-type", CT.to_string())], b).into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/b", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let mut cfg = ServerConfig::single(
        "127.0.0.1:0".parse().unwrap(),
        "main",
        BundleSource::Http(url),
    );
    cfg.poll = Duration::from_secs(60);
    cfg.bundle_http.long_poll = Some(Duration::from_secs(20));
    let (svc, states) = warden_server::start(&cfg).await;
    let decide = |amount: u32| {
        let svc = svc.clone();
        move || {
            svc.decide(&json!({"tenant": "t", "agent": {"id": "a"}, "action": {"tool": "pay", "type": "create", "args": {"amount": amount}}}))
                .map(|d| d.outcome.as_str().to_string())
                .unwrap_or_default()
        }
    };
    assert_eq!(decide(150)(), "deny", "cap 100 active");
    warden_server::spawn_reloaders(&svc, &cfg, states);
    // Two polls: the first returned the bundle (ETag "v1"), the loop's first request is held.
    assert!(
        eventually(|| waits.lock().unwrap().len() >= 2).await,
        "the loop long-polls"
    );
    let started = std::time::Instant::now();
    tx.send((2, bundle(200))).unwrap();
    let d = decide(150);
    assert!(
        eventually(move || d() == "allow").await,
        "the new bundle arrived"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "at once, not after the 60 s interval"
    );
    assert!(
        waits.lock().unwrap().iter().all(|p| p == "wait=20"),
        "OPA's Prefer header"
    );
}
