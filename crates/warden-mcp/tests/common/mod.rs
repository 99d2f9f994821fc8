//! Shared by the gate and HTTP proxy tests: a gate over `tests/mcp/policies/testsrv.yaml`.

use std::sync::Arc;

use warden_mcp::{Denials, Gate, SqliteLimits, Unlisted};
use warden_server::{BundleSource, ServerConfig};

/// The test policy's text (`tests/mcp/policies/testsrv.yaml`).
pub fn testsrv_policy() -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/mcp/policies/testsrv.yaml");
    std::fs::read_to_string(root).unwrap()
}

/// The test policy with `defaults.fail_mode: { read: open }` when `fail_open_reads`.
pub fn testsrv_policy_with(fail_open_reads: bool) -> String {
    let text = testsrv_policy();
    if !fail_open_reads {
        return text;
    }
    text.replacen(
        "\ntools:",
        "\ndefaults:\n  fail_mode: { read: open }\ntools:",
        1,
    )
}

/// An audit log at `db` that fsyncs every commit.
pub fn auditor(db: &std::path::Path) -> warden_server::audit::Auditor {
    warden_server::audit::Auditor::start(warden_server::audit::AuditConfig {
        path: db.to_path_buf(),
        key_pem: None,
        checkpoint_every: 1000,
        checkpoint_interval: std::time::Duration::from_secs(60),
        mask: vec![],
        fsync_each_commit: true,
    })
    .unwrap()
}

/// The gate of `test-agent` (tenant `acme`) on the MCP server `testsrv`, with its limits store.
pub async fn gate(
    dir: &std::path::Path,
    denials: Denials,
    unlisted: Unlisted,
) -> (Gate, Arc<SqliteLimits>) {
    gate_over(dir, &testsrv_policy(), denials, unlisted).await
}

/// [`gate`] over the policy `text` instead of the test policy.
pub async fn gate_over(
    dir: &std::path::Path,
    text: &str,
    denials: Denials,
    unlisted: Unlisted,
) -> (Gate, Arc<SqliteLimits>) {
    let c = warden_core::compile(
        &[warden_core::load("testsrv.yaml", text).unwrap()],
        &[],
        "1.0.0",
    )
    .unwrap();
    let bdir = dir.join("bundle");
    for (p, bytes) in c.files() {
        std::fs::create_dir_all(bdir.join(&p).parent().unwrap()).unwrap();
        std::fs::write(bdir.join(p), bytes).unwrap();
    }
    let cfg = ServerConfig::single(
        "127.0.0.1:0".parse().unwrap(),
        "testsrv",
        BundleSource::Dir(bdir),
    );
    let (svc, _) = warden_server::start(&cfg).await;
    assert!(svc.ready());
    let limits = Arc::new(SqliteLimits::open(&dir.join("limits.db")).unwrap());
    let g = Gate {
        svc,
        tenant: "acme".into(),
        agent: "test-agent".into(),
        scope: None,
        server: "testsrv".into(),
        limits: limits.clone(),
        audit: None,
        denials,
        unlisted,
        approvals: None,
    };
    (g, limits)
}
