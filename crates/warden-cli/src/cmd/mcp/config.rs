//! The `warden mcp` configuration file (`mcp.yaml`): its format, how it is read, and the
//! approval set-up it names.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use warden_mcp::{Denials, Unlisted};

use crate::CliError;

/// The MCP server: a command to launch (stdio) or a Streamable HTTP endpoint.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServerSpec {
    /// Its name in policies: the `tool`; its MCP tools are the actions.
    pub(crate) name: String,
    pub(crate) command: Option<String>,
    /// A Streamable HTTP MCP endpoint; Warden then serves its own endpoint at `listen`.
    pub(crate) url: Option<String>,
    #[serde(default)]
    pub(crate) args: Vec<String>,
    #[serde(default)]
    pub(crate) env: BTreeMap<String, String>,
    pub(crate) cwd: Option<String>,
}

/// Who approves `approval_needed` calls, and how long requests and tokens live.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApprovalsSpec {
    /// Tenant → approver identities.
    #[serde(default)]
    pub(crate) approvers: BTreeMap<String, Vec<String>>,
    /// Rule id → approver identities for that rule.
    #[serde(default)]
    pub(crate) rule_approvers: BTreeMap<String, Vec<String>>,
    pub(crate) ttl_seconds: Option<u64>,
    pub(crate) token_ttl_seconds: Option<u64>,
    pub(crate) max_pending_per_agent: Option<usize>,
    /// Slack incoming webhook for new approvals.
    pub(crate) slack_webhook: Option<String>,
    /// File holding Slack's signing secret (or WARDEN_SLACK_SIGNING_SECRET), for the callback.
    pub(crate) slack_signing_secret_file: Option<String>,
    /// The Slack workspace (team id) whose members may decide.
    pub(crate) slack_team_id: Option<String>,
    /// Teams webhook for new approvals.
    pub(crate) teams_webhook: Option<String>,
    /// Public base URL of this gateway, for links in the messages.
    pub(crate) link_base: Option<String>,
    /// Where the callback endpoint (`/slack/interactions`) listens in stdio mode (HTTP mode
    /// serves it beside `/mcp`).
    pub(crate) listen: Option<String>,
    /// Waiting mode (stdio): hold `approval_needed` calls open this long for a decision.
    pub(crate) wait_seconds: Option<u64>,
    /// Approver API keys for the HTTP API (`[{"key_sha256", "approver"}]`).
    pub(crate) approver_keys: Option<String>,
    /// Standalone approvals file (`warden serve --approvals FILE`) only: where the token key
    /// lives (default `.warden` beside the file). In `mcp.yaml` the file's own `data_dir` counts.
    pub(crate) data_dir: Option<String>,
    /// Standalone file only: the approval store (default `<data_dir>/approvals.db`).
    pub(crate) state_db: Option<String>,
}

/// `jwt:` in `mcp.yaml`: how callers' JWTs are verified.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct JwtSpec {
    /// PEM public key, or the HMAC secret for HS256.
    pub(crate) key_file: String,
    /// HS256, RS256, ES256 or EdDSA (default RS256).
    pub(crate) algorithm: Option<String>,
    pub(crate) issuer: Option<String>,
    pub(crate) audience: Option<String>,
    /// Claim holding the tenant (default `tenant`).
    pub(crate) tenant_claim: Option<String>,
    /// Claim holding the agent id (default `sub`).
    pub(crate) agent_claim: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct ApproverKey {
    key_sha256: String,
    pub(crate) approver: String,
}

/// `mcp.yaml`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct McpFile {
    pub(crate) tenant: String,
    pub(crate) agent: String,
    /// The scope every call runs in (`agent.scope`), for the tenant's `scopes` limits and rules.
    pub(crate) scope: Option<String>,
    /// The MCP server (one upstream)…
    pub(crate) server: Option<ServerSpec>,
    /// …or several Streamable HTTP upstreams behind one aggregated endpoint, their tools named
    /// `<server>__<tool>`.
    #[serde(default)]
    pub(crate) servers: Vec<ServerSpec>,
    pub(crate) policies: Option<String>,
    #[serde(default)]
    pub(crate) bundles: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) tools_list: Unlisted,
    #[serde(default)]
    pub(crate) denials: Denials,
    pub(crate) call_timeout_seconds: Option<u64>,
    pub(crate) max_message_bytes: Option<usize>,
    /// HTTP mode: where Warden's MCP endpoint listens (`/mcp`).
    pub(crate) listen: Option<String>,
    /// HTTP mode: API keys (`[{"key_sha256", "tenant", "agent"}]`, as for `warden serve`); each
    /// caller's key then names its tenant and agent.
    pub(crate) api_keys: Option<String>,
    /// HTTP mode: accept JWTs naming each caller's tenant and agent (as `warden serve`).
    pub(crate) jwt: Option<JwtSpec>,
    /// HTTP mode: forget a session after this long without a request (default 3600).
    pub(crate) session_idle_seconds: Option<u64>,
    /// HTTP mode: at most this many open sessions (default 10,000).
    pub(crate) max_sessions: Option<usize>,
    /// HTTP mode: after forwarding a call, a worker polls for the answer this many microseconds
    /// before sleeping (default 0: off); trades CPU for latency ([`warden_server::workers`]).
    pub(crate) busy_poll_us: Option<u64>,
    pub(crate) data_dir: Option<String>,
    pub(crate) audit_db: Option<String>,
    /// `full` (fsync every commit, the default) or `normal` (survives a crash of the process,
    /// not of the machine; faster).
    pub(crate) audit_sync: Option<String>,
    pub(crate) state_db: Option<String>,
    /// Human approvals; without this section `approval_needed` calls are refused.
    pub(crate) approvals: Option<ApprovalsSpec>,
}

/// The parts of a configuration the approvals commands need.
pub(crate) struct ApprovalSetup {
    pub store: Arc<warden_approvals::Store>,
    pub tokens: warden_approvals::Tokens,
    pub approvers: warden_approvals::Approvers,
    pub ttl_seconds: u64,
    pub token_ttl_seconds: u64,
    pub max_pending: usize,
    pub notifier: Option<Arc<warden_mcp::approvals_http::Notifier>>,
    pub slack_signing_secret: Option<String>,
    pub slack_team_id: Option<String>,
    pub listen: Option<String>,
    pub wait: Option<Duration>,
    pub approver_keys: BTreeMap<String, String>,
}

/// Opens the approval store, token key and approvers a configuration names (`None` without an
/// `approvals` section).
pub(crate) fn approval_setup(c: &Config) -> Result<Option<ApprovalSetup>, CliError> {
    match &c.file.approvals {
        Some(spec) => approval_setup_from(spec, &c.base, &c.data_dir(), &c.state_db()).map(Some),
        None => Ok(None),
    }
}

/// The approval setup of a configuration file: an `mcp.yaml` with an `approvals` section, or a
/// standalone approvals file (the section's keys at the top level, as `warden serve
/// --approvals FILE` takes).
pub(crate) fn load_approvals(path: &Path) -> Result<Option<ApprovalSetup>, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::usage(format!("cannot read `{}`: {e}", path.display())))?;
    let doc = warden_core::source::Document::parse(&path.display().to_string(), &text)
        .map_err(|d| CliError::diagnostics(vec![*d]))?;
    if doc.value.get("server").is_some() {
        return approval_setup(&Config::load(path)?);
    }
    let spec: ApprovalsSpec = serde_json::from_value(doc.value).map_err(|e| {
        CliError::usage(format!("{}: {e}", path.display()))
            .hint("expected approvers: {TENANT: [APPROVER]}, and optionally ttl_seconds, approver_keys, slack_webhook, …")
    })?;
    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let data_dir = base.join(spec.data_dir.as_deref().unwrap_or(".warden"));
    let state_db = spec
        .state_db
        .as_deref()
        .map(|p| base.join(p))
        .unwrap_or_else(|| data_dir.join("approvals.db"));
    approval_setup_from(&spec, base, &data_dir, &state_db).map(Some)
}

pub(crate) fn approval_setup_from(
    spec: &ApprovalsSpec,
    base: &Path,
    data_dir: &Path,
    state_db: &Path,
) -> Result<ApprovalSetup, CliError> {
    std::fs::create_dir_all(data_dir)
        .map_err(|e| CliError::usage(format!("cannot create `{}`: {e}", data_dir.display())))?;
    let store = warden_approvals::Store::open(state_db)
        .map_err(|e| CliError::usage(format!("{}: {e}", state_db.display())))?;
    let tokens = warden_approvals::Tokens::load_or_create(&data_dir.join("approval-token.key"))
        .map_err(|e| CliError::usage(e.to_string()))?;
    Ok(ApprovalSetup {
        store: Arc::new(store),
        tokens,
        approvers: warden_approvals::Approvers {
            tenants: spec.approvers.clone(),
            rules: spec.rule_approvers.clone(),
        },
        ttl_seconds: spec.ttl_seconds.unwrap_or(3600),
        token_ttl_seconds: spec.token_ttl_seconds.unwrap_or(900),
        max_pending: spec.max_pending_per_agent.unwrap_or(10),
        notifier: (spec.slack_webhook.is_some() || spec.teams_webhook.is_some()).then(|| {
            Arc::new(warden_mcp::approvals_http::Notifier::new(
                spec.slack_webhook.clone(),
                spec.teams_webhook.clone(),
                spec.link_base.clone(),
            ))
        }),
        slack_signing_secret: slack_secret(spec, base)?,
        slack_team_id: spec.slack_team_id.clone(),
        listen: spec.listen.clone(),
        wait: spec
            .wait_seconds
            .filter(|s| *s > 0)
            .map(Duration::from_secs),
        approver_keys: match &spec.approver_keys {
            Some(p) => {
                let path = base.join(p);
                let bytes = std::fs::read(&path).map_err(|e| {
                    CliError::usage(format!("cannot read `{}`: {e}", path.display()))
                })?;
                let keys: Vec<ApproverKey> = serde_json::from_slice(&bytes).map_err(|e| {
                    CliError::usage(format!("{}: {e}", path.display()))
                        .hint("expected [{\"key_sha256\": \"<hex>\", \"approver\": \"alice\"}]")
                })?;
                keys.into_iter()
                    .map(|k| (k.key_sha256.to_ascii_lowercase(), k.approver))
                    .collect()
            }
            None => BTreeMap::new(),
        },
    })
}

impl ApprovalSetup {
    /// The approver endpoints' state.
    pub fn callbacks(&self) -> Arc<warden_server::approvals::http::Callbacks> {
        Arc::new(warden_server::approvals::http::Callbacks {
            store: self.store.clone(),
            approvers: self.approvers.clone(),
            slack_signing_secret: self.slack_signing_secret.clone(),
            slack_team_id: self.slack_team_id.clone(),
            approver_keys: self.approver_keys.clone(),
            tokens: Some((self.tokens.clone(), self.token_ttl_seconds)),
        })
    }

    /// The flow the enforcement points use.
    pub fn flow(self) -> warden_server::approvals::Approvals {
        warden_server::approvals::Approvals {
            store: self.store,
            tokens: self.tokens,
            ttl_seconds: self.ttl_seconds,
            max_pending: self.max_pending,
            notifier: self.notifier,
            wait: self.wait,
            token_ttl_seconds: self.token_ttl_seconds,
        }
    }
}

/// A configuration file, read, with the directory its relative paths start from.
pub(crate) struct Config {
    pub file: McpFile,
    pub base: PathBuf,
}

impl Config {
    /// Reads `mcp.yaml` at `path`.
    pub fn load(path: &Path) -> Result<Config, CliError> {
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        Ok(Config {
            file: read_config(path)?,
            base,
        })
    }

    /// A path from the file, relative to its directory.
    pub fn rel(&self, p: &str) -> PathBuf {
        self.base.join(p)
    }

    /// `data_dir` (default `.warden`).
    pub fn data_dir(&self) -> PathBuf {
        self.rel(self.file.data_dir.as_deref().unwrap_or(".warden"))
    }

    /// `state_db` (default `<data_dir>/limits.db`): limit counters and approvals.
    pub fn state_db(&self) -> PathBuf {
        self.file
            .state_db
            .as_deref()
            .map(|p| self.rel(p))
            .unwrap_or_else(|| self.data_dir().join("limits.db"))
    }
}

pub(crate) fn read_config(path: &Path) -> Result<McpFile, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::usage(format!("cannot read `{}`: {e}", path.display())))?;
    let doc = warden_core::source::Document::parse(&path.display().to_string(), &text)
        .map_err(|d| CliError::diagnostics(vec![*d]))?;
    serde_json::from_value(doc.value).map_err(|e| {
        CliError::usage(format!("{}: {e}", path.display()))
            .hint("expected tenant, agent, server {name, command, args}, and policies or bundles")
    })
}

/// The Slack signing secret, from `slack_signing_secret_file` or `WARDEN_SLACK_SIGNING_SECRET`.
/// An empty one is refused: HMAC takes a key of any length, so with an empty secret anyone
/// could sign an approval for the callback Slack must reach from the internet.
fn slack_secret(spec: &ApprovalsSpec, base: &std::path::Path) -> Result<Option<String>, CliError> {
    let (secret, from) = match &spec.slack_signing_secret_file {
        Some(p) => (
            std::fs::read_to_string(base.join(p))
                .map_err(|e| CliError::usage(format!("slack_signing_secret_file: {e}")))?
                .trim()
                .to_string(),
            format!("slack_signing_secret_file `{p}`"),
        ),
        None => match std::env::var("WARDEN_SLACK_SIGNING_SECRET") {
            Ok(s) => (
                s.trim().to_string(),
                "WARDEN_SLACK_SIGNING_SECRET".to_string(),
            ),
            Err(_) => return Ok(None),
        },
    };
    if secret.is_empty() {
        return Err(CliError::usage(format!("{from} is empty"))
            .hint("put the signing secret from your Slack app's Basic Information page there"));
    }
    Ok(Some(secret))
}
