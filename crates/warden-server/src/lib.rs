//! Warden's gateway server.
//!
//! One [`DecisionService`] makes every decision; the HTTP APIs in [`http`] are thin adapters over
//! it. A bundle is loaded from a file or directory, verified when a key is configured, activated
//! atomically, re-read on a polling interval (a changed bundle is activated; a bad one is rejected
//! and the last good one keeps serving), and persisted so a restart without the source still
//! serves it.

pub mod audit;
pub mod auth;
pub mod bundle;
pub mod http;
pub mod service;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use bundle::{BundleSource, Loaded};
pub use service::{DecideError, DecisionService};
use warden_bundle::VerificationConfig;

/// How to run the server.
#[derive(Clone)]
pub struct ServerConfig {
    /// Address to listen on.
    pub addr: SocketAddr,
    /// Bundle name (status and persistence).
    pub name: String,
    /// Where the bundle comes from.
    pub source: BundleSource,
    /// Verify bundles with this configuration; `None` accepts unsigned bundles only.
    pub verification: Option<VerificationConfig>,
    /// How often the source is re-read.
    pub poll: Duration,
    /// Largest request body in bytes (413 above).
    pub body_limit: usize,
    /// Where the last good bundle is persisted (`<dir>/bundles/<name>/bundle.tar.gz`).
    pub data_dir: Option<PathBuf>,
    /// Caller authentication; open when empty.
    pub auth: Arc<auth::AuthConfig>,
    /// The decision log; `None` records nothing.
    pub audit: Option<audit::AuditConfig>,
}

/// Persisted copy of the last good bundle.
fn persisted(cfg: &ServerConfig) -> Option<PathBuf> {
    cfg.data_dir
        .as_ref()
        .map(|d| d.join("bundles").join(&cfg.name).join("bundle.tar.gz"))
}

/// What the poller remembers between polls.
#[derive(Debug, Clone, Default)]
pub struct PollState {
    /// Fingerprint of the last bundle tried (a bad one is not re-tried until it changes).
    last: Option<u64>,
    /// ETag of the last *activated* bundle, sent as `If-None-Match` (as OPA does).
    etag: Option<String>,
}

fn persist(cfg: &ServerConfig, files: &warden_bundle::Files) {
    let Some(p) = persisted(cfg) else { return };
    let saved = warden_bundle::write_archive(files)
        .map_err(|e| e.to_string())
        .and_then(|bytes| {
            std::fs::create_dir_all(p.parent().unwrap_or(&p)).map_err(|e| e.to_string())?;
            let tmp = p.with_extension("tmp");
            std::fs::write(&tmp, bytes).map_err(|e| e.to_string())?;
            std::fs::rename(&tmp, &p).map_err(|e| e.to_string())
        });
    if let Err(e) = saved {
        tracing::warn!(error = e, "could not persist the last good bundle");
    }
}

/// Verifies, prepares and activates `files` (blocking work, off the request workers).
async fn try_activate(
    svc: &Arc<DecisionService>,
    cfg: &ServerConfig,
    files: warden_bundle::Files,
) -> bool {
    let (s, c) = (svc.clone(), cfg.clone());
    tokio::task::spawn_blocking(
        move || match bundle::load(&files, c.verification.as_ref()) {
            Ok(loaded) => {
                s.activate(loaded);
                persist(&c, &files);
                true
            }
            Err(e) => {
                s.load_failed(&e);
                false
            }
        },
    )
    .await
    .unwrap_or(false)
}

/// One poll of the source: fetch or read it, and activate it when it changed.
pub async fn poll_once(
    svc: &Arc<DecisionService>,
    cfg: &ServerConfig,
    client: &reqwest::Client,
    state: &mut PollState,
) {
    let (files, fp, etag) = match &cfg.source {
        BundleSource::Http(url) => match bundle::fetch(client, url, state.etag.as_deref()).await {
            Ok(bundle::Fetched::NotModified) => return,
            Ok(bundle::Fetched::Bundle {
                files,
                fingerprint,
                etag,
            }) => (files, fingerprint, etag),
            Err(e) => {
                svc.load_failed(&e);
                return;
            }
        },
        source => {
            let source = source.clone();
            match tokio::task::spawn_blocking(move || source.read()).await {
                Ok(Ok((files, fp))) => (files, fp, None),
                Ok(Err(e)) => {
                    svc.load_failed(&e);
                    return;
                }
                Err(e) => {
                    svc.load_failed(&e.to_string());
                    return;
                }
            }
        }
    };
    if state.last == Some(fp) {
        return;
    }
    state.last = Some(fp);
    if try_activate(svc, cfg, files).await {
        state.etag = etag;
    }
}

/// Loads the bundle (falling back to the persisted last good one) and returns the service.
pub async fn start(cfg: &ServerConfig) -> (Arc<DecisionService>, PollState) {
    let svc = DecisionService::new(&cfg.name, &cfg.source.describe());
    let mut state = PollState::default();
    poll_once(&svc, cfg, &reqwest::Client::new(), &mut state).await;
    if !svc.ready() {
        if let Some(p) = persisted(cfg).filter(|p| p.is_file()) {
            match BundleSource::File(p.clone()).read() {
                Ok((files, _)) => {
                    if try_activate(&svc, cfg, files).await {
                        tracing::warn!(path = %p.display(), "source unavailable: serving the persisted last good bundle");
                    }
                }
                Err(e) => svc.load_failed(&format!("persisted bundle: {e}")),
            }
        }
    }
    (svc, state)
}

/// Polls the source every `cfg.poll` plus up to 10% jitter (so replicas do not poll in step),
/// activating changed bundles.
pub async fn reload_loop(svc: Arc<DecisionService>, cfg: ServerConfig, mut state: PollState) {
    let client = reqwest::Client::new();
    loop {
        let jitter_ms = (cfg.poll.as_millis() as u64 / 10).max(1);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        tokio::time::sleep(cfg.poll + Duration::from_millis(u64::from(nanos) % jitter_ms)).await;
        poll_once(&svc, &cfg, &client, &mut state).await;
    }
}

/// Runs the server until the process is stopped.
pub async fn serve(cfg: ServerConfig) -> std::io::Result<()> {
    let (svc, state) = start(&cfg).await;
    let auditor = match &cfg.audit {
        Some(a) => Some(audit::Auditor::start(a.clone()).map_err(|e| {
            std::io::Error::other(format!(
                "cannot open the audit log {}: {e}",
                a.path.display()
            ))
        })?),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(cfg.addr).await?;
    tracing::info!(addr = %listener.local_addr()?, ready = svc.ready(), "warden serving");
    eprintln!(
        "warden: listening on http://{} (bundle {}: {})",
        listener.local_addr()?,
        cfg.name,
        svc.status()
            .active_revision
            .unwrap_or_else(|| "none loaded".into())
    );
    tokio::spawn(reload_loop(svc.clone(), cfg.clone(), state));
    axum::serve(
        listener,
        http::router(svc, cfg.body_limit, cfg.auth.clone(), auditor),
    )
    .await
}
