//! `warden audit verify | query | export | diff | replay`: read and check a decision log.

use std::io::Write;
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
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// Only this agent.
        #[arg(long)]
        agent: Option<String>,
        /// Only this tool.
        #[arg(long)]
        tool: Option<String>,
        /// Only this outcome (`undefined` and `query`: Data API queries whose result was
        /// undefined, or not a decision).
        #[arg(long, value_parser = ["allow", "deny", "sanitize", "approval_needed", "rate_limited", "undefined", "query"])]
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
        /// Print each matching record as a JSON line (`{"seq", "entry"}`, as `export`) instead
        /// of a tab-separated summary.
        #[arg(long)]
        json: bool,
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

/// The outcome of printing records: a reader that went away (`| head`) ends the listing quietly
/// (see [`super::written`]).
fn printed(r: Result<(), warden_audit::AuditError>) -> Result<(), CliError> {
    match r {
        Err(warden_audit::AuditError::Io(e)) => super::written(Err(e)).map(|_| ()),
        other => other.map_err(store),
    }
}

/// A `--since`/`--until` value: an RFC 3339 time.
fn time_arg(flag: &str, t: &str) -> Result<chrono::DateTime<chrono::FixedOffset>, CliError> {
    chrono::DateTime::parse_from_rfc3339(t).map_err(|e| {
        CliError::usage(format!("{flag}: `{t}` is not an RFC 3339 time: {e}"))
            .hint("write e.g. 2026-11-23T00:00:00Z or 2026-11-23T09:00:00+01:00")
    })
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
                    // An unsigned tail is normal (the server signs its head periodically) but
                    // only the chain vouches for it, so it is said on the `ok` line itself.
                    let cps = if pem.is_some() {
                        let tail = match r.unsigned_tail() {
                            0 => "covering every record".to_string(),
                            n => format!(
                                "the last covering record {}; {n} record(s) after it ({}..={}) \
                                 NOT covered by any signature",
                                r.signed_through,
                                r.signed_through + 1,
                                r.records
                            ),
                        };
                        format!(", {} signed checkpoint(s) match, {tail}", r.checkpoints)
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
            tenant,
            agent,
            tool,
            outcome,
            reason,
            since,
            until,
            json,
        } => {
            let since = since
                .as_deref()
                .map(|t| time_arg("--since", t))
                .transpose()?;
            let until = until
                .as_deref()
                .map(|t| time_arg("--until", t))
                .transpose()?;
            let keep = |e: &warden_audit::Entry| {
                let at = chrono::DateTime::parse_from_rfc3339(&e.time).ok();
                tenant.as_ref().is_none_or(|t| *t == e.tenant)
                    && agent.as_ref().is_none_or(|a| *a == e.agent)
                    && tool.as_ref().is_none_or(|t| *t == e.tool)
                    && outcome.as_ref().is_none_or(|o| *o == e.outcome)
                    && reason.as_ref().is_none_or(|r| e.reasons.contains(r))
                    && since.is_none_or(|s| at.is_some_and(|at| at >= s))
                    && until.is_none_or(|u| at.is_some_and(|at| at < u))
            };
            let mut out = std::io::stdout().lock();
            let listed = warden_audit::for_each_entry(db, |seq, e| {
                if !keep(&e) {
                    return Ok(());
                }
                if *json {
                    let line = serde_json::json!({"seq": seq, "entry": e});
                    writeln!(out, "{line}")?;
                } else {
                    writeln!(
                        out,
                        "{seq}\t{}\t{}\t{}\t{}\t{}/{}\t{}\t{}",
                        e.time,
                        e.decision_id,
                        e.tenant,
                        e.agent,
                        e.tool,
                        e.action,
                        e.outcome,
                        e.reasons.join(",")
                    )?;
                }
                Ok(())
            });
            printed(listed)
        }
        AuditCmd::Diff { db, report } => super::audit_diff::diff(db, report),
        AuditCmd::Replay(a) => super::audit_diff::replay(a),
        AuditCmd::Export { db, format } => {
            let opa = match format.as_str() {
                "opa" => true,
                "jsonl" => false,
                other => {
                    return Err(CliError::usage(format!("unknown format `{other}`"))
                        .hint("use --format jsonl or --format opa"))
                }
            };
            let mut out = std::io::stdout().lock();
            printed(warden_audit::for_each_entry(db, |seq, e| {
                let line = if opa {
                    warden_audit::opa_event(&e)
                } else {
                    serde_json::json!({"seq": seq, "entry": e})
                };
                writeln!(out, "{line}")?;
                Ok(())
            }))
        }
    }
}
