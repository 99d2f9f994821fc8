//! `warden mcp --config FILE`: the MCP gateway. Over stdio it launches the configured MCP server
//! as a child process and speaks MCP over stdin/stdout in its place (standard output is the MCP
//! channel: everything else goes to standard error); over Streamable HTTP it serves `/mcp` in
//! front of one upstream, or of several aggregated under namespaced tools. Either way it decides
//! every `tools/call`. The configuration file's format is in [`config`].

mod config;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use warden_mcp::{Gate, SqliteLimits};
use warden_server::{BundleConfig, BundleSource, ServerConfig};

use crate::CliError;

use config::{approval_setup, Config, McpFile, ServerSpec};
pub(crate) use config::{load_approvals, ApprovalSetup};

/// Arguments of `warden mcp`.
#[derive(clap::Args)]
pub struct Args {
    /// The gateway's configuration (YAML); relative paths in it are relative to its directory.
    #[arg(long)]
    config: PathBuf,
    #[command(flatten)]
    key: super::bundle::VerifyArgs,
}

/// Runs the command; exits with the MCP server's exit code.
pub fn run(a: &Args) -> Result<(), CliError> {
    let c = Config::load(&a.config)?;
    let f = &c.file;
    let data_dir = c.data_dir();
    let (primary, aggregated) = match (&f.server, f.servers.first()) {
        (Some(s), None) => (s, false),
        (None, Some(s)) => (s, true),
        _ => {
            return Err(CliError::usage(format!(
                "{}: give either `server` (one MCP server) or `servers` (several, aggregated)",
                a.config.display()
            )))
        }
    };
    if let Some(s) = f
        .servers
        .iter()
        .find(|s| s.url.is_none() || s.command.is_some())
    {
        return Err(CliError::usage(format!(
            "{}: server `{}`: an aggregated endpoint takes Streamable HTTP servers (`url`) only",
            a.config.display(),
            s.name
        )));
    }
    let policy_bundle = if aggregated {
        "mcp"
    } else {
        primary.name.as_str()
    };
    let bundles = bundle_configs(a, &c, policy_bundle)?;
    std::fs::create_dir_all(&data_dir)
        .map_err(|e| CliError::usage(format!("cannot create `{}`: {e}", data_dir.display())))?;
    let audit = audit_config(&c)?;
    let state_db = c.state_db();
    let auth = auth_config(&c)?;
    let setup = approval_setup(&c)?;
    let callbacks = setup.as_ref().map(ApprovalSetup::callbacks);
    let callbacks_listen = setup.as_ref().and_then(|s| s.listen.clone());
    let approvals = setup.map(ApprovalSetup::flow);
    let limits = SqliteLimits::open(&state_db).map_err(|e| {
        CliError::usage(format!("{}: {e}", state_db.display()))
            .hint("the limit counters need a writable SQLite file (state_db)")
    })?;
    let cfg = ServerConfig {
        bundles,
        data_dir: Some(data_dir.clone()),
        ..ServerConfig::single(
            "127.0.0.1:0"
                .parse()
                .map_err(|_| CliError::failure("address"))?,
            "unused",
            BundleSource::Dir(data_dir.clone()),
        )
    };
    let listen: std::net::SocketAddr = f
        .listen
        .as_deref()
        .unwrap_or("127.0.0.1:8282")
        .parse()
        .map_err(|e| CliError::usage(format!("listen: {e}")).hint("e.g. listen: 127.0.0.1:8282"))?;
    let (upstream, url) = upstream_of(a, &c, primary)?;
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
    // A single-threaded runtime keeps each message's path (read, decide, forward, answer) on
    // one thread, without cross-thread wake-ups (measured in docs/mcp.md). The stdio proxy
    // serves one client on it; the HTTP endpoints serve on worker threads with runtimes of
    // their own (`serve_http`). Bundle loading and the audit writer have threads of their own.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::failure(e.to_string()))?;
    let code = rt.block_on(async move {
        let (svc, states) = warden_server::start(&cfg).await;
        if !svc.ready() {
            let why: Vec<String> = svc
                .statuses()
                .into_iter()
                .filter_map(|s| s.last_error.map(|e| format!("{}: {e}", s.name)))
                .collect();
            return Err(CliError::usage(format!(
                "no policy bundle could be loaded: {}",
                why.join("; ")
            )));
        }
        warden_server::spawn_reloaders(&svc, &cfg, states);
        let auditor = match &audit {
            Some(c) => Some(
                warden_server::audit::Auditor::start(c.clone())
                    .map_err(|e| CliError::usage(format!("cannot open the audit log: {e}")))?,
            ),
            None => None,
        };
        if let (Some(ap), Some(audit)) = (&approvals, &auditor) {
            // Approval steps (requested, notified, decided, consumed, expired) go into the same
            // tamper-evident log as the decisions, including those taken on the CLI.
            warden_server::approvals::spawn_relay(ap.store.clone(), audit.clone());
        }
        let approvals = approvals.map(Arc::new);
        let limits: Arc<dyn warden_mcp::LimitStore> = Arc::new(limits);
        let gate_for = |server: &str| {
            Arc::new(Gate {
                svc: svc.clone(),
                tenant: f.tenant.clone(),
                agent: f.agent.clone(),
                scope: f.scope.clone(),
                server: server.to_string(),
                limits: limits.clone(),
                audit: auditor.clone(),
                denials: f.denials,
                unlisted: f.tools_list,
                approvals: approvals.clone(),
            })
        };
        let gate = gate_for(&primary.name);
        let session_limits = session_limits(f);
        if aggregated {
            let upstreams = f
                .servers
                .iter()
                .map(|s| warden_mcp::aggregate::Upstream {
                    gate: gate_for(&s.name),
                    url: s.url.clone().unwrap_or_default(),
                })
                .collect();
            let served = serve_aggregated(
                f,
                upstreams,
                auth,
                &upstream,
                session_limits,
                Operations(svc.clone(), callbacks),
                listen,
            );
            return served.await;
        }
        if let (Some(c), Some(addr), None) = (&callbacks, &callbacks_listen, &url) {
            let listener = tokio::net::TcpListener::bind(addr.as_str())
                .await
                .map_err(|e| CliError::usage(format!("approvals.listen {addr}: {e}")))?;
            eprintln!("warden: approvals page on http://{addr}/approvals (API /v1/approvals, Slack /slack/interactions)");
            let app = warden_mcp::approvals_http::router(c.clone());
            tokio::spawn(async move { axum::serve(listener, app).await });
        }
        match url {
            Some(url) => {
                let proxy = warden_mcp::http::HttpProxy::with_limits(
                    gate,
                    auth,
                    &url,
                    upstream.call_timeout,
                    session_limits,
                )
                .map_err(CliError::usage)?;
                let limit = upstream.max_message_bytes;
                let app = move || warden_mcp::http::router(proxy.worker(), limit);
                let what = format!("MCP gateway on http://{{addr}}/mcp -> {url}");
                let busy = Duration::from_micros(f.busy_poll_us.unwrap_or(0));
                serve_http(app, Operations(svc.clone(), callbacks), listen, busy, &what).await
            }
            None => {
                let (input, output) = client_stdio();
                let served = warden_mcp::stdio::run(gate, upstream, input, output);
                served.await.map_err(|e| CliError::usage(e.to_string()))
            }
        }
    })?;
    rt.shutdown_timeout(Duration::from_secs(1));
    std::process::exit(code);
}

/// The bundles `warden mcp` serves: compiled `policies` (named `policy_bundle`) and `bundles`.
fn bundle_configs(
    a: &Args,
    c: &Config,
    policy_bundle: &str,
) -> Result<Vec<BundleConfig>, CliError> {
    let f = &c.file;
    let rel = |p: &str| c.rel(p);
    let data_dir = c.data_dir();
    let verification = a.key.config()?;
    let mut bundles = Vec::new();
    if let Some(p) = &f.policies {
        let dir = super::serve::compiled_bundle_dir(&rel(p), &data_dir, policy_bundle)?;
        bundles.push(BundleConfig {
            name: policy_bundle.to_string(),
            source: BundleSource::Dir(dir),
            verification: None,
            shadow: false,
        });
    }
    for (name, src) in &f.bundles {
        let src = if src.starts_with("http://") || src.starts_with("https://") {
            PathBuf::from(src)
        } else {
            rel(src)
        };
        bundles.push(BundleConfig {
            name: name.clone(),
            source: BundleSource::from_path(&src),
            verification: verification.clone(),
            shadow: false,
        });
    }
    if bundles.is_empty() {
        return Err(CliError::usage(format!(
            "{}: give `policies: DIR` or `bundles: {{NAME: SOURCE}}`",
            a.config.display()
        )));
    }
    Ok(bundles)
}

/// The audit log's settings (`audit_db: none` turns it off).
fn audit_config(c: &Config) -> Result<Option<warden_server::audit::AuditConfig>, CliError> {
    let f = &c.file;
    let rel = |p: &str| c.rel(p);
    let data_dir = c.data_dir();
    Ok(match f.audit_db.as_deref() {
        Some("none") => None,
        other => Some(warden_server::audit::AuditConfig {
            path: other.map(rel).unwrap_or_else(|| data_dir.join("audit.db")),
            key_pem: None,
            checkpoint_every: 10_000,
            checkpoint_interval: Duration::from_secs(10),
            mask: vec![],
            fsync_each_commit: match f.audit_sync.as_deref() {
                None | Some("full") => true,
                Some("normal") => false,
                Some(other) => {
                    return Err(CliError::usage(format!("audit_sync: `{other}`"))
                        .hint("use audit_sync: full or audit_sync: normal"))
                }
            },
        }),
    })
}

/// How HTTP callers authenticate: API keys and JWTs.
fn auth_config(c: &Config) -> Result<Arc<warden_server::auth::AuthConfig>, CliError> {
    let f = &c.file;
    let rel = |p: &str| c.rel(p);
    let mut auth = warden_server::auth::AuthConfig::default();
    if let Some(p) = &f.api_keys {
        super::serve::add_api_keys(&mut auth, &rel(p))?;
    }
    if let Some(j) = &f.jwt {
        auth.jwt = Some(super::serve::jwt_config(
            &rel(&j.key_file),
            j.algorithm.as_deref().unwrap_or("RS256"),
            j.issuer.clone(),
            j.audience.clone(),
            j.tenant_claim.clone().unwrap_or_else(|| "tenant".into()),
            j.agent_claim.clone().unwrap_or_else(|| "sub".into()),
        )?);
    }
    Ok(Arc::new(auth))
}

/// The upstream server's launch settings, and its URL when it speaks Streamable HTTP.
fn upstream_of(
    a: &Args,
    c: &Config,
    primary: &ServerSpec,
) -> Result<(warden_mcp::stdio::Upstream, Option<String>), CliError> {
    let f = &c.file;
    let rel = |p: &str| c.rel(p);
    let (command, url) = match (&primary.command, &primary.url) {
        (Some(c), None) => (c.clone(), None),
        (None, Some(u)) => (String::new(), Some(u.clone())),
        _ => {
            return Err(CliError::usage(format!(
                "{}: give the server either `command` (stdio) or `url` (Streamable HTTP)",
                a.config.display()
            )))
        }
    };
    let upstream = warden_mcp::stdio::Upstream {
        command,
        args: primary.args.clone(),
        env: primary.env.clone().into_iter().collect(),
        cwd: primary.cwd.as_deref().map(rel),
        call_timeout: Duration::from_secs(f.call_timeout_seconds.unwrap_or(60).max(1)),
        max_message_bytes: f.max_message_bytes.unwrap_or(4 * 1024 * 1024),
    };
    Ok((upstream, url))
}

/// Idle timeout and cap of the HTTP endpoints' sessions; the size cap of an upstream's answer.
fn session_limits(f: &McpFile) -> warden_mcp::http::ProxyLimits {
    let defaults = warden_mcp::http::ProxyLimits::default();
    warden_mcp::http::ProxyLimits {
        idle: f
            .session_idle_seconds
            .map(|s| Duration::from_secs(s.max(1)))
            .unwrap_or(defaults.idle),
        max: f.max_sessions.unwrap_or(defaults.max),
        max_answer_bytes: f.max_message_bytes.unwrap_or(defaults.max_answer_bytes),
    }
}

/// Serves the aggregated endpoint (tools namespaced `<server>__<tool>`) until it stops.
async fn serve_aggregated(
    f: &McpFile,
    upstreams: Vec<warden_mcp::aggregate::Upstream>,
    auth: Arc<warden_server::auth::AuthConfig>,
    upstream: &warden_mcp::stdio::Upstream,
    session_limits: warden_mcp::http::ProxyLimits,
    operations: Operations,
    listen: std::net::SocketAddr,
) -> Result<i32, CliError> {
    let agg = warden_mcp::aggregate::Aggregate::new(
        upstreams,
        auth,
        upstream.call_timeout,
        session_limits,
        (f.tenant.clone(), f.agent.clone()),
    )
    .map_err(CliError::usage)?;
    let names: Vec<&str> = f.servers.iter().map(|s| s.name.as_str()).collect();
    let limit = upstream.max_message_bytes;
    let app = move || warden_mcp::aggregate::router(agg.worker(), limit);
    let what = format!(
        "aggregated MCP endpoint on http://{{addr}}/mcp over {}",
        names.join(", ")
    );
    let busy = Duration::from_micros(f.busy_poll_us.unwrap_or(0));
    serve_http(app, operations, listen, busy, &what).await
}

/// What every HTTP endpoint serves beside MCP: `/health`, `/v1/status` and `/metrics` over the
/// decision service (as `warden serve` does), and the approvals page, API and Slack callback
/// when approvals are configured.
struct Operations(
    Arc<warden_server::service::DecisionService>,
    Option<Arc<warden_mcp::approvals_http::Callbacks>>,
);

/// Serves the router `app()` makes, with the [`Operations`] endpoints beside it, on `listen`, announcing it as `what` (`{addr}` is the bound address), until
/// it stops. One worker thread per core, each with its own router and so its own connections
/// upstream ([`warden_server::workers`]): a proxied call crosses no thread.
async fn serve_http(
    app: impl Fn() -> axum::Router + Send + Sync + 'static,
    Operations(svc, callbacks): Operations,
    listen: std::net::SocketAddr,
    busy_poll: Duration,
    what: &str,
) -> Result<i32, CliError> {
    let listener = std::net::TcpListener::bind(listen).map_err(|e| {
        CliError::usage(format!("cannot listen on {listen}: {e}"))
            .hint("pick another address with `listen:`")
    })?;
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    eprintln!("warden: {}", what.replace("{addr}", &addr));
    let app = move || {
        let app = app().merge(warden_server::http::operations_router(svc.clone()));
        match &callbacks {
            Some(c) => app.merge(warden_mcp::approvals_http::router(c.clone())),
            None => app,
        }
    };
    warden_server::workers::serve(listener, app, busy_poll)
        .await
        .map_err(|e| CliError::failure(e.to_string()))?;
    Ok(0)
}

type ClientIn = Box<dyn tokio::io::AsyncRead + Unpin + Send>;
type ClientOut = Box<dyn tokio::io::AsyncWrite + Unpin + Send>;

/// The MCP client's channel: standard input and output as non-blocking pipes on the runtime's
/// event loop when they are pipes (as when an MCP client launches Warden), else tokio's
/// `stdin()`/`stdout()`, which do every read and write on a blocking thread pool (a thread
/// hand-off per message each way; measurable in the added latency, see docs/mcp.md).
fn client_stdio() -> (ClientIn, ClientOut) {
    use std::os::fd::AsFd;
    use tokio::net::unix::pipe;
    let input: ClientIn = match std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .and_then(pipe::Receiver::from_owned_fd)
    {
        Ok(r) => Box::new(r),
        Err(_) => Box::new(tokio::io::stdin()),
    };
    let output: ClientOut = match std::io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .and_then(pipe::Sender::from_owned_fd)
    {
        Ok(w) => Box::new(w),
        Err(_) => Box::new(tokio::io::stdout()),
    };
    (input, output)
}
