//! `warden serve`: the gateway server on the embedded defaults.

use std::path::PathBuf;
use std::time::Duration;

use warden_server::{BundleConfig, BundleSource, ServerConfig};

use crate::project::Project;
use crate::CliError;

/// Arguments of `warden serve`.
#[derive(clap::Args)]
pub struct Args {
    /// A policy project to compile and serve (for development).
    #[arg(long)]
    policies: Option<PathBuf>,
    /// A bundle to serve: a `.tar.gz`, a bundle directory or an `http(s)://` bundle service URL,
    /// re-read every --poll-seconds. Repeat as `--bundle NAME=SOURCE` to serve several bundles at
    /// once (e.g. one per tenant); their manifest roots must not overlap.
    #[arg(long, value_name = "[NAME=]SOURCE")]
    bundle: Vec<String>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8181", env = "WARDEN_ADDR")]
    addr: std::net::SocketAddr,
    /// A candidate bundle evaluated in shadow on live traffic in place of bundle NAME: its
    /// decisions are recorded beside the enforced ones (`warden audit diff`) and counted in
    /// `warden_candidate_decisions_total`, never enforced.
    #[arg(long, value_name = "[NAME=]SOURCE")]
    candidate: Option<String>,
    /// Name of the bundle given without `NAME=` (status, metrics, persistence).
    #[arg(long, default_value = "main")]
    name: String,
    #[command(flatten)]
    key: super::bundle::VerifyArgs,
    /// Extra trusted CA certificate(s) (PEM) for `https://` bundle services with a private CA.
    #[arg(long, value_name = "PEM")]
    bundle_ca_cert: Option<PathBuf>,
    /// File holding a bearer token sent to bundle services (`Authorization: Bearer …`); the
    /// WARDEN_BUNDLE_TOKEN environment variable works too. Never pass tokens as arguments.
    #[arg(long, value_name = "FILE")]
    bundle_token_file: Option<PathBuf>,
    /// OPA long polling for `http(s)://` bundles: ask the service to hold each request up to this
    /// many seconds until the bundle changes (`Prefer: wait=`); services that support it then
    /// deliver changes at once. 0 turns it off.
    #[arg(long, default_value_t = 0)]
    long_polling_timeout_seconds: u64,
    /// How often the bundle is re-read, in seconds (fractions allowed, at least 0.1): the wait
    /// between the end of one poll and the next, plus up to 10% jitter, as OPA's polling.
    #[arg(long, default_value_t = 5.0, value_parser = poll_seconds)]
    poll_seconds: f64,
    /// Where the last good bundle is kept.
    #[arg(long, default_value = ".warden")]
    data_dir: PathBuf,
    /// API keys: a JSON file `[{"key_sha256": "<hex>", "tenant": "...", "agent": "..."}]`
    /// (`printf %s "$KEY" | sha256sum` gives the digest; keys themselves are never stored).
    #[arg(long)]
    api_keys: Option<PathBuf>,
    /// Accept JWTs verified with this key (PEM public key, or the HMAC secret for HS256).
    #[arg(long)]
    jwt_key: Option<PathBuf>,
    /// JWT algorithm: HS256, RS256, ES256 or EdDSA.
    #[arg(long, default_value = "RS256")]
    jwt_alg: String,
    /// Required JWT issuer.
    #[arg(long)]
    jwt_issuer: Option<String>,
    /// Required JWT audience.
    #[arg(long)]
    jwt_audience: Option<String>,
    /// Claim that holds the caller's tenant.
    #[arg(long, default_value = "tenant")]
    jwt_tenant_claim: String,
    /// Claim that holds the caller's agent id.
    #[arg(long, default_value = "sub")]
    jwt_agent_claim: String,
    /// Record every decision in this audit database (SQLite) before answering; `none` disables.
    #[arg(long, default_value = ".warden/audit.db")]
    audit_db: String,
    /// Ed25519 private key (PKCS#8 PEM, `warden keygen --alg ed25519`) that signs audit checkpoints.
    #[arg(long)]
    audit_key: Option<PathBuf>,
    /// `full`: fsync every audit commit (records survive power loss); `normal`: records survive a
    /// crash of the process (SIGKILL) but not of the machine. Faster.
    #[arg(long, default_value = "full", value_parser = ["full", "normal"])]
    audit_sync: String,
    /// Input paths (JSON pointers, e.g. /action/args/card_number) masked in the audit log.
    #[arg(long)]
    audit_mask: Vec<String>,
    /// Largest request body accepted (bytes); larger requests get 413.
    #[arg(long, default_value_t = 1024 * 1024)]
    max_body_bytes: usize,
    /// Human approvals (YAML: approvers, ttl_seconds, approver_keys, slack_webhook, …; see
    /// docs/approvals.md): `approval_needed` decisions then create approval requests, agents
    /// long-poll `/v1/approvals/{id}/wait`, and approvers use `/approvals` (web page),
    /// `/v1/approvals` (API) or Slack.
    #[arg(long, value_name = "FILE")]
    approvals: Option<PathBuf>,
}

/// Runs the command.
pub fn run(a: &Args) -> Result<(), CliError> {
    let verification = a.key.config()?;
    let mut bundles = Vec::new();
    if let Some(p) = &a.policies {
        bundles.push(BundleConfig {
            name: a.name.clone(),
            source: BundleSource::Dir(compiled_bundle_dir(p, &a.data_dir, &a.name)?),
            // A project compiled here is trusted as it is: it is not a downloaded artifact.
            verification: None,
            shadow: false,
        });
    }
    for spec in &a.bundle {
        let (name, src) = bundle_spec(spec, &a.name);
        if bundles.iter().any(|b: &BundleConfig| b.name == name) {
            return Err(CliError::usage(format!("two bundles are named `{name}`"))
                .hint("name each one: --bundle NAME=SOURCE"));
        }
        bundles.push(BundleConfig {
            name,
            source: BundleSource::from_path(std::path::Path::new(src)),
            verification: verification.clone(),
            shadow: false,
        });
    }
    if let Some(spec) = &a.candidate {
        let (name, src) = bundle_spec(spec, &a.name);
        if !bundles.iter().any(|b| b.name == name) {
            return Err(CliError::usage(format!(
                "--candidate stands in for bundle `{name}`, which is not served"
            ))
            .hint("name the bundle it replaces: --candidate NAME=SOURCE"));
        }
        bundles.push(BundleConfig {
            name,
            source: BundleSource::from_path(std::path::Path::new(src)),
            verification: verification.clone(),
            shadow: true,
        });
    }
    if bundles.is_empty() {
        return Err(
            CliError::usage("give --policies PROJECT or --bundle FILE|DIR|URL")
                .hint("e.g. warden serve --policies examples/fintech"),
        );
    }
    let auth = auth_config(a)?;
    let read = |p: &PathBuf| {
        std::fs::read(p).map_err(|e| CliError::usage(format!("cannot read `{}`: {e}", p.display())))
    };
    let bearer_token = match &a.bundle_token_file {
        Some(p) => Some(String::from_utf8_lossy(&read(p)?).trim().to_string()),
        None => std::env::var("WARDEN_BUNDLE_TOKEN").ok(),
    };
    let bundle_http = warden_server::BundleHttp {
        ca_pem: a.bundle_ca_cert.as_ref().map(read).transpose()?,
        bearer_token,
        long_poll: (a.long_polling_timeout_seconds > 0)
            .then(|| Duration::from_secs(a.long_polling_timeout_seconds)),
    };
    bundle_http
        .client()
        .map_err(|e| CliError::usage(e).hint("--bundle-ca-cert takes PEM certificates"))?;
    let cfg = ServerConfig {
        addr: a.addr,
        bundles,
        poll: Duration::from_secs_f64(a.poll_seconds),
        bundle_http,
        body_limit: a.max_body_bytes,
        data_dir: Some(a.data_dir.clone()),
        auth: std::sync::Arc::new(auth),
        audit: audit_config(a)?,
        approvals: match &a.approvals {
            Some(p) => {
                let setup = super::mcp::load_approvals(p)?.ok_or_else(|| {
                    CliError::usage(format!("{}: no approvals configured", p.display()))
                })?;
                Some(warden_server::ApprovalService {
                    callbacks: setup.callbacks(),
                    flow: std::sync::Arc::new(setup.flow()),
                })
            }
            None => None,
        },
    };
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .try_init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::failure(e.to_string()))?;
    rt.block_on(warden_server::serve(cfg)).map_err(|e| match e {
        // Only a bind error is about the address: naming the address and advising about the port
        // for anything else (an audit log that cannot be opened) sent people the wrong way.
        warden_server::ServeError::Bind { .. } => CliError::usage(format!("cannot serve: {e}"))
            .hint("is another process using the port? pick one with --addr"),
        warden_server::ServeError::Other(e) => CliError::usage(format!("cannot serve: {e}")),
    })
}

/// Compiles the project at `path` into a bundle directory `<data_dir>/compiled/<name>` (with a
/// `.manifest` owning `warden`) and returns it.
pub(crate) fn compiled_bundle_dir(
    path: &std::path::Path,
    data_dir: &std::path::Path,
    name: &str,
) -> Result<PathBuf, CliError> {
    let project = Project::open(path)?;
    let (compiled, _) = super::compile_project(&project)?;
    let dir = data_dir.join("compiled").join(name);
    super::compile::write_output(&compiled, &dir)?;
    let manifest = format!(
        "{{\"revision\":\"{}\",\"roots\":[\"warden\"],\"rego_version\":1}}\n",
        compiled.revision
    );
    std::fs::write(dir.join(".manifest"), manifest)
        .map_err(|e| CliError::usage(format!("cannot write `{}`: {e}", dir.display())))?;
    Ok(dir)
}

/// `NAME=SOURCE`, or a bare source named `default_name`. A `=` inside a URL's query is not a name.
pub(crate) fn bundle_spec<'a>(spec: &'a str, default_name: &str) -> (String, &'a str) {
    match spec.split_once('=') {
        Some((name, src))
            if !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
        {
            (name.to_string(), src)
        }
        _ => (default_name.to_string(), spec),
    }
}

/// Adds the API keys listed in `path` (`[{"key_sha256", "tenant", "agent"}]`) to `cfg`.
pub(crate) fn add_api_keys(
    cfg: &mut warden_server::auth::AuthConfig,
    path: &std::path::Path,
) -> Result<(), CliError> {
    use warden_server::auth::{ApiKeyEntry, Identity};
    let bytes = std::fs::read(path)
        .map_err(|e| CliError::usage(format!("cannot read `{}`: {e}", path.display())))?;
    let entries: Vec<ApiKeyEntry> = serde_json::from_slice(&bytes).map_err(|e| {
        CliError::usage(format!("{}: {e}", path.display()))
            .hint("expected [{\"key_sha256\": \"<hex>\", \"tenant\": \"...\", \"agent\": \"...\"}]")
    })?;
    for e in entries {
        cfg.api_keys.insert(
            e.key_sha256.to_ascii_lowercase(),
            Identity {
                tenant: e.tenant,
                agent: e.agent,
            },
        );
    }
    Ok(())
}

fn auth_config(a: &Args) -> Result<warden_server::auth::AuthConfig, CliError> {
    use warden_server::auth::AuthConfig;
    let mut cfg = AuthConfig::default();
    if let Some(p) = &a.api_keys {
        add_api_keys(&mut cfg, p)?;
    }
    if let Some(p) = &a.jwt_key {
        cfg.jwt = Some(jwt_config(
            p,
            &a.jwt_alg,
            a.jwt_issuer.clone(),
            a.jwt_audience.clone(),
            a.jwt_tenant_claim.clone(),
            a.jwt_agent_claim.clone(),
        )?);
    }
    Ok(cfg)
}

/// JWT verification with the key in `key_path` (PEM public key, or the HMAC secret for HS256).
pub(crate) fn jwt_config(
    key_path: &std::path::Path,
    alg: &str,
    issuer: Option<String>,
    audience: Option<String>,
    tenant_claim: String,
    agent_claim: String,
) -> Result<warden_server::auth::JwtConfig, CliError> {
    let algorithm = warden_bundle::signing::algorithm(alg).ok_or_else(|| {
        CliError::usage(format!("unknown JWT algorithm `{alg}`"))
            .hint("use HS256, RS256, ES256 or EdDSA")
    })?;
    let bytes = std::fs::read(key_path)
        .map_err(|e| CliError::usage(format!("cannot read `{}`: {e}", key_path.display())))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| CliError::usage(format!("`{}` is not text", key_path.display())))?;
    let key = warden_bundle::signing::decoding_key(algorithm, text.trim_end_matches('\n'))
        .map_err(CliError::usage)?;
    Ok(warden_server::auth::JwtConfig {
        algorithm,
        key,
        issuer,
        audience,
        tenant_claim,
        agent_claim,
    })
}

fn audit_config(a: &Args) -> Result<Option<warden_server::audit::AuditConfig>, CliError> {
    if a.audit_db == "none" {
        return Ok(None);
    }
    let path = PathBuf::from(&a.audit_db);
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| CliError::usage(format!("cannot create `{}`: {e}", parent.display())))?;
    }
    let key_pem = a
        .audit_key
        .as_ref()
        .map(|p| {
            std::fs::read_to_string(p)
                .map_err(|e| CliError::usage(format!("cannot read `{}`: {e}", p.display())))
        })
        .transpose()?;
    Ok(Some(warden_server::audit::AuditConfig {
        path,
        key_pem,
        checkpoint_every: 10_000,
        checkpoint_interval: Duration::from_secs(10),
        mask: a.audit_mask.clone(),
        fsync_each_commit: a.audit_sync == "full",
    }))
}

/// Parses `--poll-seconds`: a number of seconds, at least 0.1.
fn poll_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.1..=86_400.0).contains(&v) => Ok(v),
        Ok(_) => Err("give a number of seconds from 0.1 to 86400".to_string()),
        Err(e) => Err(format!("{e}: give a number of seconds, such as 5 or 0.5")),
    }
}

#[cfg(test)]
mod tests {
    use super::poll_seconds;

    #[test]
    fn poll_seconds_take_fractions_within_bounds() {
        assert_eq!(poll_seconds("0.2"), Ok(0.2));
        assert_eq!(poll_seconds("5"), Ok(5.0));
        for bad in ["0", "0.05", "-1", "NaN", "inf", "1e9"] {
            assert!(
                poll_seconds(bad).unwrap_err().contains("0.1 to 86400"),
                "{bad}"
            );
        }
        assert!(poll_seconds("abc")
            .unwrap_err()
            .contains("such as 5 or 0.5"));
    }
}
