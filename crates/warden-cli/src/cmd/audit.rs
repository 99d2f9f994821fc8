//! `warden audit verify | query | export | diff | replay`: read and check a decision log.

use std::path::PathBuf;

use crate::CliError;

/// `warden audit` subcommands.
#[derive(clap::Subcommand)]
pub enum AuditCmd {
    /// Check the hash chain and the signed checkpoints; name the first bad record.
    Verify {
        /// The audit database.
        db: PathBuf,
        /// Ed25519 public key (PEM) that signs checkpoints; without it only the chain is checked.
        #[arg(long)]
        public_key: Option<PathBuf>,
    },
    /// List decisions, filtered.
    Query {
        /// The audit database.
        db: PathBuf,
        /// Only this agent.
        #[arg(long)]
        agent: Option<String>,
        /// Only this tool.
        #[arg(long)]
        tool: Option<String>,
        /// Only this outcome.
        #[arg(long)]
        outcome: Option<String>,
        /// Only decisions with this reason code.
        #[arg(long)]
        reason: Option<String>,
        /// Only decisions at or after this RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        /// Only decisions before this RFC 3339 time.
        #[arg(long)]
        until: Option<String>,
    },
    /// Where a candidate bundle running in shadow (`serve --candidate`) disagreed with the
    /// enforced decisions.
    Diff {
        /// The audit database.
        db: PathBuf,
        #[command(flatten)]
        report: super::audit_diff::ReportArgs,
    },
    /// Re-decide every recorded input with a candidate policy and report what would change.
    Replay(super::audit_diff::ReplayArgs),
    /// Write every decision as JSON Lines, in Warden's shape or OPA's decision-log shape.
    Export {
        /// The audit database.
        db: PathBuf,
        /// `jsonl` (Warden's records) or `opa` (OPA decision-log events).
        #[arg(long, default_value = "jsonl")]
        format: String,
    },
}

fn store(e: warden_audit::AuditError) -> CliError {
    CliError::usage(e.to_string()).hint("is this a Warden audit database?")
}

/// Runs the command.
pub fn run(cmd: &AuditCmd) -> Result<(), CliError> {
    match cmd {
        AuditCmd::Verify { db, public_key } => {
            let pem = public_key
                .as_ref()
                .map(|p| {
                    std::fs::read_to_string(p)
                        .map_err(|e| CliError::usage(format!("cannot read `{}`: {e}", p.display())))
                })
                .transpose()?;
            match warden_audit::verify(db, pem.as_deref()).map_err(store)? {
                Ok(r) => {
                    let cps = if pem.is_some() {
                        format!(", {} signed checkpoint(s) match", r.checkpoints)
                    } else {
                        " (no --public-key: checkpoints not checked, truncation cannot be detected)"
                            .into()
                    };
                    println!(
                        "ok: {} record(s), chain intact{cps}; head {}",
                        r.records, r.head
                    );
                    Ok(())
                }
                Err(b) => Err(CliError::failure(format!(
                    "{}: tampering detected at record {}: {}",
                    db.display(),
                    b.seq,
                    b.what
                ))),
            }
        }
        AuditCmd::Query {
            db,
            agent,
            tool,
            outcome,
            reason,
            since,
            until,
        } => {
            let keep = |e: &warden_audit::Entry| {
                agent.as_ref().is_none_or(|a| *a == e.agent)
                    && tool.as_ref().is_none_or(|t| *t == e.tool)
                    && outcome.as_ref().is_none_or(|o| *o == e.outcome)
                    && reason.as_ref().is_none_or(|r| e.reasons.contains(r))
                    && since.as_ref().is_none_or(|s| e.time.as_str() >= s.as_str())
                    && until.as_ref().is_none_or(|u| e.time.as_str() < u.as_str())
            };
            for (seq, e) in warden_audit::entries(db)
                .map_err(store)?
                .into_iter()
                .filter(|(_, e)| keep(e))
            {
                println!(
                    "{seq}\t{}\t{}\t{}\t{}/{}\t{}\t{}",
                    e.time,
                    e.decision_id,
                    e.agent,
                    e.tool,
                    e.action,
                    e.outcome,
                    e.reasons.join(",")
                );
            }
            Ok(())
        }
        AuditCmd::Diff { db, report } => super::audit_diff::diff(db, report),
        AuditCmd::Replay(a) => super::audit_diff::replay(a),
        AuditCmd::Export { db, format } => {
            for (seq, e) in warden_audit::entries(db).map_err(store)? {
                let line = match format.as_str() {
                    "opa" => warden_audit::opa_event(&e),
                    "jsonl" => serde_json::json!({"seq": seq, "entry": e}),
                    other => {
                        return Err(CliError::usage(format!("unknown format `{other}`"))
                            .hint("use --format jsonl or --format opa"))
                    }
                };
                println!("{line}");
            }
            Ok(())
        }
    }
}
