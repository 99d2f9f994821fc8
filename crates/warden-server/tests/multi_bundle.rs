//! Several bundles active at once: the shared library in one bundle and one bundle per tenant,
//! each with its own revision, reloaded on its own; a bundle whose roots overlap another's is
//! rejected and the rest keep serving.

use std::path::Path;

use serde_json::{json, Value};
use warden_server::service::Decided;
use warden_server::{BundleConfig, BundleSource, ServerConfig};

fn compiled(tenant: &str, cap: u32) -> warden_core::Compiled {
    let text = format!("warden: 1\ntenant: {tenant}\nagents:\n  finance-agent:\n    tools:\n      stripe-payments:\n        create_payment:\n          rules:\n            - id: amount\n              require: {{ args.amount: {{ max: {cap} }} }}\n              on_violation: approval_needed\n              reason: amount_requires_approval\n");
    let f = warden_core::load("p.yaml", &text).unwrap();
    warden_core::compile(&[f], &[], &format!("{tenant}-cap-{cap}")).unwrap()
}

fn write(path: &Path, revision: &str, roots: &[&str], mut files: Vec<(String, Vec<u8>)>) {
    let manifest = json!({"revision": revision, "roots": roots, "rego_version": 1});
    files.insert(0, (".manifest".into(), manifest.to_string().into_bytes()));
    std::fs::write(path, warden_bundle::write_archive(&files).unwrap()).unwrap();
}

/// The shared library as its own bundle (roots `warden/main`); returns its revision.
fn write_library(path: &Path) -> String {
    let lib = warden_core::Compiled::library_part();
    write(path, &lib.revision, &["warden/main"], lib.files);
    lib.revision
}

fn write_tenant(path: &Path, tenant: &str, cap: u32) -> String {
    let p = compiled(tenant, cap).tenant_part(tenant).unwrap();
    let roots: Vec<&str> = p.roots.iter().map(String::as_str).collect();
    write(path, &p.revision, &roots, p.files);
    p.revision
}

fn input(tenant: &str, amount: u64) -> Value {
    json!({"tenant": tenant, "agent": {"id": "finance-agent"},
           "action": {"tool": "stripe-payments", "type": "create_payment", "args": {"amount": amount}}})
}

#[tokio::test]
async fn library_and_tenant_bundles_reload_independently() {
    let dir = tempfile::tempdir().unwrap();
    let lib_rev = write_library(&dir.path().join("lib.tar.gz"));
    let acme_rev = write_tenant(&dir.path().join("acme.tar.gz"), "acme", 5000);
    let globex_rev = write_tenant(&dir.path().join("globex.tar.gz"), "globex", 10000);
    let bundle = |name: &str| BundleConfig {
        name: name.into(),
        source: BundleSource::File(dir.path().join(format!("{name}.tar.gz"))),
        verification: None,
        shadow: false,
    };
    let mut cfg = ServerConfig::single(
        "127.0.0.1:0".parse().unwrap(),
        "lib",
        BundleSource::Dir(dir.path().into()),
    );
    cfg.bundles = vec![
        bundle("lib"),
        bundle("acme"),
        bundle("globex"),
        bundle("missing"),
    ];
    let (svc, mut states) = warden_server::start(&cfg).await;
    assert!(svc.ready());
    assert!(!svc.all_active(), "the missing bundle is not active");

    let Decided {
        decision: d, set, ..
    } = svc.decide_with_set(&input("acme", 7500)).unwrap();
    assert_eq!(d.outcome.as_str(), "approval_needed");
    assert_eq!(
        d.metadata.bundle_revision, acme_rev,
        "the tenant's own meta"
    );
    assert_eq!(
        svc.decide(&input("globex", 7500)).unwrap().outcome.as_str(),
        "allow"
    );
    let expect: Vec<(&str, &str)> = vec![
        ("acme", &acme_rev),
        ("globex", &globex_rev),
        ("lib", &lib_rev),
    ];
    let got: Vec<(&str, &str)> = set
        .bundles()
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        got, expect,
        "the decision names every bundle of its policy set"
    );

    // Globex lowers its cap: only globex's bundle changes.
    let new_rev = write_tenant(&dir.path().join("globex.tar.gz"), "globex", 1000);
    let client = warden_server::http_client();
    warden_server::poll_once(&svc, &cfg.bundles[2], None, &client, &mut states[2]).await;
    let Decided {
        decision: d, set, ..
    } = svc.decide_with_set(&input("globex", 7500)).unwrap();
    assert_eq!(d.outcome.as_str(), "approval_needed");
    assert_eq!(set.bundles()["globex"], new_rev);
    assert_eq!(set.bundles()["acme"], acme_rev, "acme untouched");
    assert_eq!(svc.status("globex").unwrap().activations, 2);
    assert_eq!(svc.status("acme").unwrap().activations, 1);

    // A whole-project bundle in acme's slot claims `warden`, overlapping every other bundle:
    // rejected, and acme keeps serving its last good bundle.
    let whole = compiled("acme", 100);
    write(
        &dir.path().join("acme.tar.gz"),
        &whole.revision,
        &["warden"],
        whole.files(),
    );
    warden_server::poll_once(&svc, &cfg.bundles[1], None, &client, &mut states[1]).await;
    let err = svc.status("acme").unwrap().last_error.unwrap_or_default();
    assert!(err.contains("overlapping roots"), "{err}");
    let Decided {
        decision: d, set, ..
    } = svc.decide_with_set(&input("acme", 2000)).unwrap();
    assert_eq!(d.outcome.as_str(), "allow", "still the cap of 5000");
    assert_eq!(set.bundles()["acme"], acme_rev);

    // Data outside a bundle's roots is rejected too.
    let mut p = compiled("acme", 100).tenant_part("acme").unwrap();
    p.files[0].1 = br#"{"warden":{"tenants":{"globex":{}}}}"#.to_vec();
    write(
        &dir.path().join("acme.tar.gz"),
        "sneaky",
        &["warden/tenants/acme"],
        p.files,
    );
    warden_server::poll_once(&svc, &cfg.bundles[1], None, &client, &mut states[1]).await;
    let err = svc.status("acme").unwrap().last_error.unwrap_or_default();
    assert!(err.contains("outside the bundle's roots"), "{err}");
    assert_eq!(
        svc.decide(&input("globex", 500)).unwrap().outcome.as_str(),
        "allow"
    );
}

#[tokio::test]
async fn a_candidate_runs_in_shadow_and_reports_disagreements() {
    let dir = tempfile::tempdir().unwrap();
    write_library(&dir.path().join("lib.tar.gz"));
    let active_rev = write_tenant(&dir.path().join("acme.tar.gz"), "acme", 5000);
    let cand_rev = write_tenant(&dir.path().join("cand.tar.gz"), "acme", 1000);
    let file = |f: &str| BundleSource::File(dir.path().join(f));
    let mut cfg = ServerConfig::single("127.0.0.1:0".parse().unwrap(), "lib", file("lib.tar.gz"));
    cfg.bundles.push(BundleConfig {
        name: "acme".into(),
        source: file("acme.tar.gz"),
        verification: None,
        shadow: false,
    });
    cfg.bundles.push(BundleConfig {
        name: "acme".into(),
        source: file("cand.tar.gz"),
        verification: None,
        shadow: true,
    });
    let (svc, _) = warden_server::start(&cfg).await;
    let status = svc.candidate_status().unwrap();
    assert_eq!(status.active_revision.as_deref(), Some(cand_rev.as_str()));

    // 2000 is within the active cap but above the candidate's: enforced allow, shadow approval.
    let d = svc.decide_with_set(&input("acme", 2000)).unwrap();
    assert_eq!(
        d.decision.outcome.as_str(),
        "allow",
        "the candidate never enforces"
    );
    assert_eq!(d.set.bundles()["acme"], active_rev);
    let c = d.candidate.unwrap();
    assert_eq!(
        (c.outcome.as_str(), c.revision.as_str()),
        ("approval_needed", cand_rev.as_str())
    );
    assert_eq!(c.reasons, vec!["amount_requires_approval"]);
    // Both agree below both caps.
    let d = svc.decide_with_set(&input("acme", 500)).unwrap();
    assert_eq!(d.candidate.unwrap().outcome, d.decision.outcome.as_str());
    let m = svc.metrics_text();
    assert!(
        m.contains(
            "warden_candidate_decisions_total{active=\"allow\",candidate=\"approval_needed\"} 1"
        ),
        "{m}"
    );
    assert!(
        m.contains("warden_candidate_decisions_total{active=\"allow\",candidate=\"allow\"} 1"),
        "{m}"
    );

    // A new active revision is shadowed by the same candidate (rebuilt on the new set).
    let new_rev = write_tenant(&dir.path().join("acme.tar.gz"), "acme", 800);
    let client = warden_server::http_client();
    let mut st = Default::default();
    warden_server::poll_once(&svc, &cfg.bundles[1], None, &client, &mut st).await;
    let d = svc.decide_with_set(&input("acme", 900)).unwrap();
    assert_eq!(d.set.bundles()["acme"], new_rev);
    assert_eq!(d.decision.outcome.as_str(), "approval_needed");
    assert_eq!(d.candidate.unwrap().outcome, "allow");
}
