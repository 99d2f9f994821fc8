//! Warden's gateway server.
//!
//! One [`DecisionService`] makes every decision; the HTTP APIs in [`http`] are thin adapters over
//! it. Several bundles can be active at once (their union is the policy set, see [`policy_set`]).
//! Each bundle is loaded from a file or directory, verified when a key is configured, activated
//! atomically, re-read on a polling interval (a changed bundle is activated; a bad one is rejected
//! and the last good one keeps serving), and persisted so a restart without the source still
//! serves it.

pub mod approvals;
pub mod audit;
pub mod auth;
pub mod bundle;
pub mod http;
mod metrics;
pub mod pace;
pub mod policy_set;
pub mod service;
pub mod workers;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use bundle::BundleSource;
pub use service::{set_memory_release, DecideError, DecisionService};
use warden_bundle::VerificationConfig;

/// One bundle the server keeps active.
#[derive(Clone)]
pub struct BundleConfig {
    /// Its name (status, metrics, audit records, persistence).
    pub name: String,
    /// Where it comes from.
    pub source: BundleSource,
    /// Verify it with this configuration; `None` accepts unsigned bundles only.
    pub verification: Option<VerificationConfig>,
    /// A candidate standing in for the bundle `name`: evaluated in shadow on live traffic,
    /// recorded and counted, never enforced.
    pub shadow: bool,
}

/// How to run the server.
#[derive(Clone)]
pub struct ServerConfig {
    /// Address to listen on.
    pub addr: SocketAddr,
    /// The bundles, each loaded, verified and reloaded on its own; the policy set is their union.
    /// At most one may be a `shadow` candidate.
    pub bundles: Vec<BundleConfig>,
    /// How often each source is re-read.
    pub poll: Duration,
    /// How bundle services are reached (trusted CA, credentials).
    pub bundle_http: BundleHttp,
    /// Largest request body in bytes (413 above).
    pub body_limit: usize,
    /// Where the last good bundles are persisted (`<dir>/bundles/<name>/bundle.tar.gz`).
    pub data_dir: Option<PathBuf>,
    /// Caller authentication; open when empty.
    pub auth: Arc<auth::AuthConfig>,
    /// The decision log; `None` records nothing.
    pub audit: Option<audit::AuditConfig>,
    /// Human approvals: `approval_needed` decisions become approval requests, and the approver
    /// endpoints (page, API, Slack callback) are served beside the decision API.
    pub approvals: Option<ApprovalService>,
}

/// Human approvals as served by `warden serve`.
#[derive(Clone)]
pub struct ApprovalService {
    /// The flow the decision API uses.
    pub flow: Arc<approvals::Approvals>,
    /// The approver-facing endpoints.
    pub callbacks: Arc<approvals::http::Callbacks>,
}

impl ServerConfig {
    /// A configuration serving one bundle, with defaults for everything else (tests, embedding).
    pub fn single(addr: SocketAddr, name: &str, source: BundleSource) -> Self {
        ServerConfig {
            addr,
            bundles: vec![BundleConfig {
                name: name.into(),
                source,
                verification: None,
                shadow: false,
            }],
            poll: Duration::from_secs(5),
            bundle_http: BundleHttp::default(),
            body_limit: 1024 * 1024,
            data_dir: None,
            auth: Arc::default(),
            audit: None,
            approvals: None,
        }
    }
}

/// Persisted copy of a bundle's last good version.
fn persisted(data_dir: Option<&PathBuf>, name: &str) -> Option<PathBuf> {
    data_dir.map(|d| d.join("bundles").join(name).join("bundle.tar.gz"))
}

/// What the poller remembers between polls of one bundle.
#[derive(Debug, Clone, Default)]
pub struct PollState {
    /// Fingerprint of the last bundle tried (a bad one is not re-tried until it changes).
    last: Option<u64>,
    /// ETag of the last *activated* bundle, sent as `If-None-Match` (as OPA does).
    etag: Option<String>,
    /// The service answered the last poll as a long-polling one.
    long_polling: bool,
}

/// Keeps the last good bundle: the archive as it came when there is one (a directory source is
/// archived; compressing large bundles costs seconds of CPU, so archives are never re-packed).
fn persist(path: Option<PathBuf>, files: &warden_bundle::Files, archive: Option<Vec<u8>>) {
    let Some(p) = path else { return };
    let bytes = match archive {
        Some(b) => Ok(b),
        None => warden_bundle::write_archive(files).map_err(|e| e.to_string()),
    };
    let saved = bytes.and_then(|bytes| {
        std::fs::create_dir_all(p.parent().unwrap_or(&p)).map_err(|e| e.to_string())?;
        let tmp = p.with_extension("tmp");
        std::fs::write(&tmp, bytes).map_err(|e| e.to_string())?;
        std::fs::rename(&tmp, &p).map_err(|e| e.to_string())
    });
    if let Err(e) = saved {
        tracing::warn!(error = e, "could not persist the last good bundle");
    }
}

/// Lowers the calling thread's CPU priority (nice 19): loading a large bundle takes a third of a
/// CPU-second that must not delay decisions on a small machine. (The idle scheduling class,
/// `SCHED_IDLE`, was tried: it left the loader starved while holding memory-management locks,
/// and `bench/reload.sh` showed 10–60 ms stalls more often than at nice 19.)
/// The thread also paces itself from now on (see [`pace`]): niceness alone does not keep it
/// from holding a core for a whole scheduler tick.
pub(crate) fn background_priority() {
    lower_priority(19);
    pace::enable();
}

/// Sets the calling thread's niceness to `nice` (only ever lowers it) and asks for a short time
/// slice, so that a decision's thread waking up preempts it within [`SHORT_SLICE_NS`] (kernels
/// before 6.12 ignore the slice). Failure is harmless: the thread keeps its priority.
pub(crate) fn lower_priority(nice: i32) {
    #[cfg(target_os = "linux")]
    {
        let attr = libc::sched_attr {
            size: std::mem::size_of::<libc::sched_attr>() as u32,
            sched_policy: libc::SCHED_OTHER as u32,
            sched_flags: 0,
            sched_nice: nice,
            sched_priority: 0,
            sched_runtime: SHORT_SLICE_NS,
            sched_deadline: 0,
            sched_period: 0,
        };
        // SAFETY: `attr` is a fully initialized sched_attr whose `size` is its size; pid 0 is the
        // calling thread; the kernel only reads it.
        let set = unsafe {
            libc::syscall(
                libc::SYS_sched_setattr,
                0,
                &attr as *const libc::sched_attr,
                0,
            )
        } == 0;
        if !set {
            // SAFETY: setpriority on the calling thread's id has no memory-safety preconditions.
            unsafe {
                let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
                libc::setpriority(libc::PRIO_PROCESS, tid, nice);
            }
        }
    }
}

/// The time slice (ns) asked for background threads. Linux's EEVDF scheduler lets a running task
/// finish its slice before a woken one preempts it; the default slice (0.75 ms times 1 + log2 of
/// the CPU count) showed in decisions' p99 while a bundle loads (bench/reload.sh, 4 runs each:
/// p99 while reloading 0.6–2.1 ms with this slice, 1.0–10 ms without).
const SHORT_SLICE_NS: u64 = 100_000;

/// Runs `f` on a thread of its own at [`background_priority`] and waits for it without
/// blocking the runtime (the blocking pool's threads are shared and keep their priority).
pub(crate) async fn in_background<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            background_priority();
            let _ = tx.send(f());
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "could not start a background thread");
        return None;
    }
    rx.await.ok()
}

/// Unpacks, verifies, merges and activates `raw` as bundle `b` (blocking work, off the request
/// workers).
async fn try_activate(
    svc: &Arc<DecisionService>,
    b: &BundleConfig,
    data_dir: Option<&PathBuf>,
    raw: bundle::Raw,
) -> bool {
    let (s, b) = (svc.clone(), b.clone());
    let path = persisted(data_dir, &b.name).filter(|_| !b.shadow);
    in_background("warden-load", move || {
        if !s.ready() {
            // Nothing is served yet, so nothing waits behind this load: no pauses.
            pace::disable();
        }
        let (files, archive) = match raw.unpack() {
            Ok(u) => u,
            Err(e) => {
                failed(&s, &b, &e);
                return false;
            }
        };
        let activated = match bundle::load(&files, b.verification.as_ref()) {
            Ok(part) if b.shadow => s.activate_candidate(part).is_ok(),
            Ok(part) => {
                let ok = s.activate(&b.name, part).is_ok();
                if ok {
                    persist(path, &files, archive);
                }
                ok
            }
            Err(e) => {
                failed(&s, &b, &e);
                false
            }
        };
        // The unpacked files and the loader's tables are gone: hand their pages back now, here.
        drop(files);
        service::release_memory();
        activated
    })
    .await
    .unwrap_or(false)
}

fn failed(svc: &DecisionService, b: &BundleConfig, why: &str) {
    if b.shadow {
        svc.candidate_failed(why);
    } else {
        svc.load_failed(&b.name, why);
    }
}

/// One poll of bundle `b`'s source: fetch or read it, and activate it when it changed.
pub async fn poll_once(
    svc: &Arc<DecisionService>,
    b: &BundleConfig,
    data_dir: Option<&PathBuf>,
    client: &reqwest::Client,
    state: &mut PollState,
) {
    poll(svc, b, data_dir, client, None, state).await
}

/// [`poll_once`], with OPA long polling when `long_poll` is set.
pub async fn poll(
    svc: &Arc<DecisionService>,
    b: &BundleConfig,
    data_dir: Option<&PathBuf>,
    client: &reqwest::Client,
    long_poll: Option<Duration>,
    state: &mut PollState,
) {
    let (raw, etag) = match &b.source {
        BundleSource::Http(url) => {
            match bundle::fetch(client, url, state.etag.as_deref(), long_poll).await {
                Ok((bundle::Fetched::NotModified, lp)) => {
                    state.long_polling = lp;
                    return;
                }
                Ok((bundle::Fetched::Bundle { raw, etag }, lp)) => {
                    state.long_polling = lp;
                    (raw, etag)
                }
                Err(e) => {
                    state.long_polling = false;
                    failed(svc, b, &e);
                    return;
                }
            }
        }
        source => {
            let source = source.clone();
            match tokio::task::spawn_blocking(move || source.read_raw()).await {
                Ok(Ok(raw)) => (raw, None),
                Ok(Err(e)) => {
                    failed(svc, b, &e);
                    return;
                }
                Err(e) => {
                    failed(svc, b, &e.to_string());
                    return;
                }
            }
        }
    };
    let fp = raw.fingerprint();
    if state.last == Some(fp) {
        return;
    }
    state.last = Some(fp);
    if try_activate(svc, b, data_dir, raw).await {
        state.etag = etag;
    }
}

/// Loads every bundle (falling back to each one's persisted last good copy) and returns the
/// service with one poll state per bundle.
pub async fn start(cfg: &ServerConfig) -> (Arc<DecisionService>, Vec<PollState>) {
    let names: Vec<(String, String)> = cfg
        .bundles
        .iter()
        .filter(|b| !b.shadow)
        .map(|b| (b.name.clone(), b.source.describe()))
        .collect();
    let candidate = cfg
        .bundles
        .iter()
        .find(|b| b.shadow)
        .map(|b| (b.name.clone(), b.source.describe()));
    let svc = DecisionService::with_candidate(&names, candidate);
    let client = cfg.bundle_http.client().unwrap_or_default();
    let mut states = Vec::new();
    for b in &cfg.bundles {
        let mut state = PollState::default();
        // The first request returns at once even with long polling: there is no ETag to match.
        poll(
            &svc,
            b,
            cfg.data_dir.as_ref(),
            &client,
            cfg.bundle_http.long_poll,
            &mut state,
        )
        .await;
        let active = svc
            .status(&b.name)
            .is_some_and(|s| s.active_revision.is_some());
        if !active && !b.shadow {
            if let Some(p) = persisted(cfg.data_dir.as_ref(), &b.name).filter(|p| p.is_file()) {
                match BundleSource::File(p.clone()).read_raw() {
                    Ok(raw) => {
                        let source_error = svc.status(&b.name).and_then(|s| s.last_error);
                        if try_activate(&svc, b, cfg.data_dir.as_ref(), raw).await {
                            svc.restored(&b.name);
                            tracing::warn!(bundle = b.name, path = %p.display(), "source unavailable: serving the persisted last good bundle");
                        } else if let Some(e) = source_error {
                            svc.persisted_rejected_after(&b.name, &e);
                        }
                    }
                    Err(e) => svc.load_failed(&b.name, &format!("persisted bundle: {e}")),
                }
            }
        }
        states.push(state);
    }
    (svc, states)
}

/// How bundle services are reached (OPA's `services` with `credentials.bearer` and a CA).
#[derive(Clone, Default)]
pub struct BundleHttp {
    /// Extra trusted root certificate(s), PEM (for a service with a private CA). The system's
    /// and Mozilla's roots are trusted as well.
    pub ca_pem: Option<Vec<u8>>,
    /// Sent as `Authorization: Bearer <token>`.
    pub bearer_token: Option<String>,
    /// OPA long polling: ask the service to hold each poll this long (`Prefer: wait=`); a
    /// service that answers as a long-polling one is polled again at once instead of after the
    /// polling interval, so changes arrive as soon as they are published.
    pub long_poll: Option<Duration>,
}

impl BundleHttp {
    /// A client for bundle services: HTTPS (rustls), 30 s timeout, the configured CA and token.
    pub fn client(&self) -> Result<reqwest::Client, String> {
        let mut b = reqwest::Client::builder().timeout(Duration::from_secs(30));
        if let Some(pem) = &self.ca_pem {
            for cert in reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| format!("bundle service CA certificate: {e}"))?
            {
                b = b.add_root_certificate(cert);
            }
        }
        if let Some(t) = &self.bearer_token {
            let mut headers = reqwest::header::HeaderMap::new();
            let mut v = reqwest::header::HeaderValue::from_str(&format!("Bearer {t}"))
                .map_err(|_| "the bundle service token is not a valid header value".to_string())?;
            v.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, v);
            b = b.default_headers(headers);
        }
        b.build().map_err(|e| format!("bundle service client: {e}"))
    }
}

/// A client for bundle services with no CA or credentials configured.
pub fn http_client() -> reqwest::Client {
    BundleHttp::default().client().unwrap_or_default()
}

/// Polls bundle `b` every `poll` plus up to 10% jitter (so replicas do not poll in step),
/// activating changed versions.
pub async fn reload_loop(
    svc: Arc<DecisionService>,
    b: BundleConfig,
    data_dir: Option<PathBuf>,
    interval: Duration,
    client: reqwest::Client,
    long_poll: Option<Duration>,
    mut state: PollState,
) {
    loop {
        // A long-polling service held the last request until something changed (or its wait
        // ran out): ask again at once. Otherwise wait for the interval, with jitter.
        if !(long_poll.is_some() && state.long_polling) {
            let jitter_ms = (interval.as_millis() as u64 / 10).max(1);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            tokio::time::sleep(interval + Duration::from_millis(u64::from(nanos) % jitter_ms))
                .await;
        }
        poll(&svc, &b, data_dir.as_ref(), &client, long_poll, &mut state).await;
    }
}

/// Starts one [`reload_loop`] per bundle (`states` from [`start`]).
pub fn spawn_reloaders(svc: &Arc<DecisionService>, cfg: &ServerConfig, states: Vec<PollState>) {
    let client = cfg.bundle_http.client().unwrap_or_default();
    for (b, state) in cfg.bundles.iter().zip(states) {
        tokio::spawn(reload_loop(
            svc.clone(),
            b.clone(),
            cfg.data_dir.clone(),
            cfg.poll,
            client.clone(),
            cfg.bundle_http.long_poll,
            state,
        ));
    }
}

/// Why [`serve`] stopped or could not start: binding the address is told apart from the rest, so
/// that only a bind error is answered with advice about the address.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The listening address could not be bound (in use, not local, not permitted).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What binding it said.
        source: std::io::Error,
    },
    /// Anything else: the bundle service client, the audit log, or serving itself.
    #[error("{0}")]
    Other(#[from] std::io::Error),
}

/// Runs the server until the process is stopped.
pub async fn serve(cfg: ServerConfig) -> Result<(), ServeError> {
    cfg.bundle_http.client().map_err(std::io::Error::other)?;
    let (svc, states) = start(&cfg).await;
    let auditor = match &cfg.audit {
        Some(a) => Some(audit::Auditor::start(a.clone()).map_err(|e| {
            std::io::Error::other(format!(
                "cannot open the audit log {}: {e}",
                a.path.display()
            ))
        })?),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(cfg.addr)
        .await
        .map_err(|source| ServeError::Bind {
            addr: cfg.addr,
            source,
        })?;
    tracing::info!(addr = %listener.local_addr()?, ready = svc.ready(), "warden serving");
    let active: Vec<String> = svc
        .statuses()
        .into_iter()
        .map(|s| {
            format!(
                "{} {}",
                s.name,
                s.active_revision.unwrap_or_else(|| "(not loaded)".into())
            )
        })
        .collect();
    eprintln!(
        "warden: listening on http://{} (bundles: {})",
        listener.local_addr()?,
        active.join(", ")
    );
    spawn_reloaders(&svc, &cfg, states);
    let closing = auditor.clone();
    let mut app = http::router_for(
        http::App {
            svc,
            auth: cfg.auth.clone(),
            audit: auditor.clone(),
            approvals: cfg.approvals.as_ref().map(|a| a.flow.clone()),
        },
        cfg.body_limit,
    );
    if let Some(a) = &cfg.approvals {
        app = app.merge(approvals::http::router(a.callbacks.clone()));
        if let Some(audit) = auditor {
            approvals::spawn_relay(a.flow.store.clone(), audit);
        }
    }
    // One multi-threaded runtime, not `workers`: a few busy keep-alive connections (a load
    // generator's, an agent runtime's pool) could all land on one worker and leave the other
    // cores idle; work stealing spreads them.
    // SIGTERM or Ctrl-C: stop accepting, let the requests in flight finish (their records
    // are committed before they answer), then sign the log's head, so a clean stop leaves no
    // unsigned tail.
    use std::future::IntoFuture;
    let (stopping, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            stop_signal().await;
            let _ = stopping.send(());
        })
        .into_future();
    // Requests still open (an approval long-poll, a slow client) get at most DRAIN to finish;
    // a second signal stops at once. The head is signed either way.
    let deadline = async move {
        if stopped.await.is_ok() {
            tokio::select! {
                _ = tokio::time::sleep(DRAIN) => tracing::warn!("requests still open after the drain: stopping"),
                _ = stop_signal() => tracing::warn!("second stop signal: stopping now"),
            }
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        r = server => r?,
        _ = deadline => {}
    }
    if let Some(a) = closing {
        a.sign_head();
    }
    tracing::info!("warden stopped");
    Ok(())
}

/// How long a stopping server waits for the requests in flight.
const DRAIN: std::time::Duration = std::time::Duration::from_secs(10);

/// Resolves on SIGTERM (how service managers stop a process) or SIGINT (Ctrl-C).
async fn stop_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = term => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
