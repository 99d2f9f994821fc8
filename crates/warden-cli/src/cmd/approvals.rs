//! `warden approvals list | show | approve | deny --config mcp.yaml`: people decide the calls
//! policy sent for approval. Approving prints the one-time override token the agent retries the
//! call with (MCP: `params._meta["warden/approval_token"]`).

use std::path::PathBuf;

use crate::CliError;

/// `warden approvals` subcommands.
#[derive(clap::Subcommand)]
pub enum ApprovalsCmd {
    /// Pending approvals (or all with --all).
    List {
        #[arg(long)]
        config: PathBuf,
        /// Every state, not only pending.
        #[arg(long)]
        all: bool,
    },
    /// One approval, with its token when it is approved.
    Show {
        id: String,
        #[arg(long)]
        config: PathBuf,
    },
    /// Approve: the call may be made once; prints its override token.
    Approve(DecideArgs),
    /// Deny.
    Deny(DecideArgs),
}

/// Arguments of `approve` and `deny`.
#[derive(clap::Args)]
pub struct DecideArgs {
    id: String,
    #[arg(long)]
    config: PathBuf,
    /// Who is deciding (must be a configured approver, not the requesting agent).
    #[arg(long = "as", value_name = "APPROVER")]
    approver: String,
    /// Why.
    #[arg(long)]
    note: Option<String>,
}

fn setup(config: &std::path::Path) -> Result<super::mcp::ApprovalSetup, CliError> {
    super::mcp::load_approvals(config)?.ok_or_else(|| {
        CliError::usage(format!("{} has no `approvals` section", config.display()))
            .hint("add approvals: {approvers: {TENANT: [NAME]}}")
    })
}

fn fail(e: warden_approvals::ApprovalError) -> CliError {
    CliError::failure(e.to_string())
}

fn print(a: &warden_approvals::Approval, token: Option<String>) {
    let mut v = serde_json::to_value(a).unwrap_or_default();
    if let Some(t) = token {
        v["token"] = serde_json::Value::String(t);
        v["token_meta_key"] = warden_mcp::gate::TOKEN_META.into();
    }
    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
}

/// Runs the command.
pub fn run(cmd: &ApprovalsCmd) -> Result<(), CliError> {
    match cmd {
        ApprovalsCmd::List { config, all } => {
            let s = setup(config)?;
            let state = (!all).then_some(warden_approvals::State::Pending);
            for a in s
                .store
                .list(None, state, warden_engine::now_unix())
                .map_err(fail)?
            {
                println!(
                    "{}\t{}\t{}/{}\t{}/{}\t{}\t{}",
                    a.id,
                    a.state.as_str(),
                    a.call.tenant,
                    a.call.agent,
                    a.call.tool,
                    a.call.action,
                    a.call.arguments,
                    a.reasons.join(",")
                );
            }
            Ok(())
        }
        ApprovalsCmd::Show { id, config } => {
            let s = setup(config)?;
            let a = s.store.get(id, warden_engine::now_unix()).map_err(fail)?;
            let usable = a.state == warden_approvals::State::Approved
                && warden_engine::now_unix() < a.use_by(s.token_ttl_seconds);
            let token = usable.then(|| s.tokens.mint(&a, s.token_ttl_seconds));
            print(&a, token);
            Ok(())
        }
        ApprovalsCmd::Approve(d) | ApprovalsCmd::Deny(d) => {
            let approve = matches!(cmd, ApprovalsCmd::Approve(_));
            let s = setup(&d.config)?;
            let a = s
                .store
                .decide(
                    &d.id,
                    &d.approver,
                    approve,
                    d.note.as_deref(),
                    &s.approvers,
                    warden_engine::now_unix(),
                )
                .map_err(fail)?;
            let token = approve.then(|| s.tokens.mint(&a, s.token_ttl_seconds));
            print(&a, token);
            Ok(())
        }
    }
}
