//! `warden audit diff` and `warden audit replay`: where a candidate policy disagrees with the
//! decisions that were enforced. `diff` reads the shadow decisions a running candidate bundle
//! recorded beside each decision; `replay` re-decides recorded inputs with a candidate offline.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use warden_engine::{Engine, Prepared};

use crate::project::Project;
use crate::CliError;

/// Arguments shared by both commands.
#[derive(clap::Args)]
pub struct ReportArgs {
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Exit with status 1 when any decision would change (for CI gates on policy changes).
    #[arg(long)]
    fail_on_change: bool,
}

/// Arguments of `warden audit replay`.
#[derive(clap::Args)]
pub struct ReplayArgs {
    /// The audit database.
    db: PathBuf,
    /// The candidate: a policy project directory…
    #[arg(long, conflicts_with = "bundle")]
    policies: Option<PathBuf>,
    /// …or a bundle `.tar.gz` (its signature is not checked: this is an offline what-if).
    #[arg(long)]
    bundle: Option<PathBuf>,
    #[command(flatten)]
    report: ReportArgs,
}

/// One compared decision.
struct Compared {
    seq: u64,
    entry: warden_audit::Entry,
    outcome: String,
    reasons: Vec<String>,
}

/// `warden audit diff DB`.
pub fn diff(db: &Path, args: &ReportArgs) -> Result<(), CliError> {
    let compared: Vec<Compared> = entries(db)?
        .into_iter()
        .filter_map(|(seq, entry)| {
            let c = entry.candidate.clone()?;
            let outcome = c.get("outcome")?.as_str()?.to_string();
            let reasons = c
                .get("reasons")
                .and_then(|r| serde_json::from_value(r.clone()).ok())
                .unwrap_or_default();
            Some(Compared {
                seq,
                entry,
                outcome,
                reasons,
            })
        })
        .collect();
    if compared.is_empty() && !args.json {
        eprintln!("no decision in this log has a candidate's shadow decision (serve with --candidate NAME=SOURCE)");
    }
    report(&compared, args)
}

/// `warden audit replay DB --policies DIR | --bundle FILE`.
pub fn replay(a: &ReplayArgs) -> Result<(), CliError> {
    let prepared = match (&a.policies, &a.bundle) {
        (Some(p), _) => {
            let project = Project::open(p)?;
            let (compiled, _) = super::compile_project(&project)?;
            Prepared::from_compiled(&compiled).map_err(|e| CliError::failure(e.to_string()))?
        }
        (None, Some(b)) => bundle_set(b)?,
        (None, None) => {
            return Err(
                CliError::usage("give the candidate: --policies DIR or --bundle FILE")
                    .hint("e.g. warden audit replay .warden/audit.db --policies examples/fintech"),
            )
        }
    };
    let engine = Engine::new(prepared);
    let mut compared = Vec::new();
    for (seq, entry) in entries(&a.db)? {
        if entry.path.as_deref() == Some("warden/approvals") {
            // An approval step, not a decision: nothing to decide again.
            continue;
        }
        let mut input = entry.input.clone();
        // Decide at the recorded time, so time windows mean what they meant then.
        if input.pointer("/environment/time").is_none() {
            if let Some(obj) = input.as_object_mut() {
                let env = obj.entry("environment").or_insert_with(|| json!({}));
                if let Some(env) = env.as_object_mut() {
                    env.insert("time".into(), Value::String(entry.time.clone()));
                }
            }
        }
        let (outcome, reasons) = match engine.decide(&input) {
            Ok(d) => (d.outcome.as_str().to_string(), d.reasons),
            Err(e) => ("error".to_string(), vec![e.to_string()]),
        };
        compared.push(Compared {
            seq,
            entry,
            outcome,
            reasons,
        });
    }
    report(&compared, &a.report)
}

fn entries(db: &Path) -> Result<Vec<(u64, warden_audit::Entry)>, CliError> {
    warden_audit::entries(db)
        .map_err(|e| CliError::usage(e.to_string()).hint("is this a Warden audit database?"))
}

fn bundle_set(path: &Path) -> Result<Prepared, CliError> {
    let bytes = std::fs::read(path)
        .map_err(|e| CliError::usage(format!("cannot read `{}`: {e}", path.display())))?;
    let mut files =
        warden_bundle::read_archive(&bytes).map_err(|e| CliError::usage(e.to_string()))?;
    files.retain(|(n, _)| n != ".signatures.json");
    let part = warden_server::bundle::load(&files, None).map_err(CliError::usage)?;
    warden_server::policy_set::merge(&[("candidate".to_string(), part)].into())
        .map_err(CliError::usage)
}

fn report(compared: &[Compared], args: &ReportArgs) -> Result<(), CliError> {
    let changed: Vec<&Compared> = compared
        .iter()
        .filter(|c| c.outcome != c.entry.outcome || c.reasons != c.entry.reasons)
        .collect();
    let mut by_change: BTreeMap<String, u64> = BTreeMap::new();
    for c in &changed {
        *by_change
            .entry(format!("{} -> {}", c.entry.outcome, c.outcome))
            .or_default() += 1;
    }
    if args.json {
        let rows: Vec<Value> = changed
            .iter()
            .map(|c| {
                json!({"seq": c.seq, "decision_id": c.entry.decision_id, "time": c.entry.time,
                       "tenant": c.entry.tenant, "agent": c.entry.agent, "tool": c.entry.tool,
                       "action": c.entry.action, "enforced": c.entry.outcome,
                       "enforced_reasons": c.entry.reasons, "candidate": c.outcome,
                       "candidate_reasons": c.reasons, "masked_input": !c.entry.masked.is_empty()})
            })
            .collect();
        let out = json!({"compared": compared.len(), "changed": changed.len(),
                         "by_change": by_change, "changes": rows});
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        println!(
            "compared {} decisions: {} unchanged, {} changed",
            compared.len(),
            compared.len() - changed.len(),
            changed.len()
        );
        for (k, n) in &by_change {
            println!("  {k}: {n}");
        }
        for c in &changed {
            println!(
                "{}\t{}\t{}\t{}/{}\t{} -> {}\t{}{}",
                c.seq,
                c.entry.time,
                c.entry.agent,
                c.entry.tool,
                c.entry.action,
                c.entry.outcome,
                c.outcome,
                c.reasons.join(","),
                if c.entry.masked.is_empty() {
                    ""
                } else {
                    "\t(input had masked values)"
                }
            );
        }
    }
    if args.fail_on_change && !changed.is_empty() {
        return Err(CliError::failure(format!(
            "{} of {} decisions would change",
            changed.len(),
            compared.len()
        )));
    }
    Ok(())
}
