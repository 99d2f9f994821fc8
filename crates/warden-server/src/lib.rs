//! Warden's gateway server.
//!
//! One [`DecisionService`] makes every decision; the HTTP APIs in [`http`] are thin adapters over
//! it. A bundle is loaded from a file or directory, verified when a key is configured, activated
//! atomically, re-read on a polling interval (a changed bundle is activated; a bad one is rejected
//! and the last good one keeps serving), and persisted so a restart without the source still
//! serves it.

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
#[derive(Debug, Clone)]
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
}

/// Persisted copy of the last good bundle.
fn persisted(cfg: &ServerConfig) -> Option<PathBuf> {
    cfg.data_dir
        .as_ref()
        .map(|d| d.join("bundles").join(&cfg.name).join("bundle.tar.gz"))
}

/// Reads and activates the source once; returns its fingerprint when it was read.
fn load_once(svc: &DecisionService, cfg: &ServerConfig, last: Option<u64>) -> Option<u64> {
    let (files, fp) = match cfg.source.read() {
        Ok(x) => x,
        Err(e) => {
            svc.load_failed(&e);
            return None;
        }
    };
    if Some(fp) == last {
        return Some(fp);
    }
    match bundle::load(&files, cfg.verification.as_ref()) {
        Ok(loaded) => {
            svc.activate(loaded);
            if let Some(p) = persisted(cfg) {
                let saved = warden_bundle::write_archive(&files)
                    .map_err(|e| e.to_string())
                    .and_then(|bytes| {
                        std::fs::create_dir_all(p.parent().unwrap_or(&p))
                            .map_err(|e| e.to_string())?;
                        let tmp = p.with_extension("tmp");
                        std::fs::write(&tmp, bytes).map_err(|e| e.to_string())?;
                        std::fs::rename(&tmp, &p).map_err(|e| e.to_string())
                    });
                if let Err(e) = saved {
                    tracing::warn!(error = e, "could not persist the last good bundle");
                }
            }
        }
        Err(e) => svc.load_failed(&e),
    }
    Some(fp)
}

/// Loads the bundle (falling back to the persisted last good one) and returns the service.
pub fn start(cfg: &ServerConfig) -> (Arc<DecisionService>, Option<u64>) {
    let svc = DecisionService::new(&cfg.name, &cfg.source.describe());
    let fp = load_once(&svc, cfg, None);
    if !svc.ready() {
        if let Some(p) = persisted(cfg).filter(|p| p.is_file()) {
            let from_disk = BundleSource::File(p.clone())
                .read()
                .and_then(|(files, _)| bundle::load(&files, cfg.verification.as_ref()));
            match from_disk {
                Ok(loaded) => {
                    tracing::warn!(path = %p.display(), "source unavailable: serving the persisted last good bundle");
                    svc.activate(loaded);
                }
                Err(e) => svc.load_failed(&format!("persisted bundle: {e}")),
            }
        }
    }
    (svc, fp)
}

/// Re-reads the source every `cfg.poll`, activating changed bundles.
pub async fn reload_loop(svc: Arc<DecisionService>, cfg: ServerConfig, mut last: Option<u64>) {
    let mut tick = tokio::time::interval(cfg.poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let (s, c, l) = (svc.clone(), cfg.clone(), last);
        // Reading and preparing a bundle is blocking work; keep it off the request workers.
        last = tokio::task::spawn_blocking(move || load_once(&s, &c, l).or(l))
            .await
            .unwrap_or(last);
    }
}

/// Runs the server until the process is stopped.
pub async fn serve(cfg: ServerConfig) -> std::io::Result<()> {
    let (svc, fp) = start(&cfg);
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
    tokio::spawn(reload_loop(svc.clone(), cfg.clone(), fp));
    axum::serve(listener, http::router(svc, cfg.body_limit)).await
}
