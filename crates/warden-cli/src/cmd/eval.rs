//! `warden eval`: decide one input, or many (`--inputs FILE.jsonl`), or query a raw Rego bundle.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{json, Value};
use warden_engine::{Engine, Prepared, Source};

use crate::project::{self, Project};
use crate::CliError;

/// Arguments of `warden eval`.
#[derive(clap::Args)]
pub struct Args {
    /// Policy project directory or policy file (ignored with --bundle).
    #[arg(default_value = ".")]
    path: PathBuf,
    /// Read one JSON input from this file (`-` for standard input; the default).
    #[arg(short, long)]
    input: Option<PathBuf>,
    /// Evaluate every line of this JSON Lines file; write one JSON result per line.
    #[arg(long, conflicts_with = "input")]
    inputs: Option<PathBuf>,
    /// Evaluate a raw OPA bundle directory (.rego files and data.json) instead of a project.
    #[arg(long, requires = "query")]
    bundle: Option<PathBuf>,
    /// The query for --bundle, e.g. `data.agents.authz.decision`.
    #[arg(long)]
    query: Option<String>,
    /// Explain the decision: which rules applied, which held and which were violated.
    #[arg(long)]
    explain: bool,
    /// Evaluator for --bundle: `interpreter` (default; closest to OPA) or `rvm` (faster bytecode;
    /// see docs/opa-compatibility.md for where it differs).
    #[arg(long, value_enum, default_value = "interpreter")]
    engine: EngineKind,
}

/// The regorus evaluator for raw bundles.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum EngineKind {
    /// Tree-walking interpreter.
    Interpreter,
    /// RVM bytecode.
    Rvm,
}

/// Runs the command.
pub fn run(args: &Args) -> Result<(), CliError> {
    // The compiled data of a project, for `--explain` to name the rules a `when` skipped.
    let mut data: Option<Value> = None;
    let (engine, query, raw) = match &args.bundle {
        Some(dir) => {
            let query = args.query.clone().unwrap_or_default();
            let evaluator = match args.engine {
                EngineKind::Interpreter => warden_engine::Evaluator::Interpreter,
                EngineKind::Rvm => warden_engine::Evaluator::Rvm,
            };
            (
                Engine::new(load_bundle_dir(dir, &query, evaluator)?),
                query,
                true,
            )
        }
        None => {
            let project = Project::open(&args.path)?;
            let (compiled, _) = super::compile_project(&project)?;
            let prepared =
                Prepared::from_compiled(&compiled).map_err(|e| CliError::failure(e.to_string()))?;
            data = Some(compiled.data);
            (
                Engine::new(prepared),
                warden_core::DECISION_QUERY.to_string(),
                false,
            )
        }
    };
    match &args.inputs {
        Some(file) => eval_many(&engine, &query, raw, file),
        None => {
            let text = match &args.input {
                None => read_stdin()?,
                Some(p) if p.as_os_str() == "-" => read_stdin()?,
                Some(p) => project::read(p)?,
            };
            let input: Value = serde_json::from_str(&text)
                .map_err(|e| CliError::usage(format!("input is not valid JSON: {e}")))?;
            if raw {
                let out = raw_result(&engine, &query, &input);
                println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
                return Ok(());
            }
            let decision = engine.decide(&input).map_err(|e| {
                CliError::usage(e.to_string())
                    .hint("see `warden schema --kind input` for the input contract")
            })?;
            if args.explain {
                let skipped = data
                    .as_ref()
                    .map(|data| skipped_rules(data, &input, &decision))
                    .unwrap_or_default();
                print!("{}", explain_decision(&decision, &skipped));
            } else {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&decision).unwrap_or_default()
                );
            }
            Ok(())
        }
    }
}

fn read_stdin() -> Result<String, CliError> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .map_err(|e| CliError::usage(format!("cannot read standard input: {e}")))?;
    Ok(s)
}

/// One line of raw-query output: `{"result": v}`, `{}` when undefined, or `{"error": "..."}`.
fn raw_result(engine: &Engine, query: &str, input: &Value) -> Value {
    let input = match warden_engine::to_value(input) {
        Ok(v) => v,
        Err(e) => return json!({"error": e.to_string()}),
    };
    match engine.eval(query, input) {
        Ok(regorus::Value::Undefined) => json!({}),
        Ok(v) => match serde_json::to_value(&v) {
            Ok(j) => json!({"result": j}),
            Err(e) => json!({"error": e.to_string()}),
        },
        Err(e) => json!({"error": e.to_string()}),
    }
}

fn eval_many(engine: &Engine, query: &str, raw: bool, file: &Path) -> Result<(), CliError> {
    let f = std::fs::File::open(file)
        .map_err(|e| CliError::usage(format!("cannot read `{}`: {e}", file.display())))?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let (mut n, mut failed) = (0u64, 0u64);
    let start = Instant::now();
    for (i, line) in BufReader::new(f).lines().enumerate() {
        let line =
            line.map_err(|e| CliError::usage(format!("{}:{}: {e}", file.display(), i + 1)))?;
        if line.trim().is_empty() {
            continue;
        }
        n += 1;
        let result = match serde_json::from_str::<Value>(&line) {
            Err(e) => json!({"error": format!("line {}: not valid JSON: {e}", i + 1)}),
            Ok(input) if raw => raw_result(engine, query, &input),
            Ok(input) => match engine.decide(&input) {
                Ok(d) => serde_json::to_value(&d).unwrap_or(Value::Null),
                Err(e) => json!({"error": e.to_string()}),
            },
        };
        if result.get("error").is_some() {
            failed += 1;
        }
        let mut line = result.to_string();
        line.push('\n');
        if !super::written(out.write_all(line.as_bytes()))? {
            return Ok(()); // the reader went away (`| head`): stop quietly
        }
    }
    if !super::written(out.flush())? {
        return Ok(());
    }
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "{n} input(s), {failed} error(s), {:.3}s, {:.0} decisions/s",
        secs,
        n as f64 / secs.max(1e-9)
    );
    Ok(())
}

/// Loads an OPA-style bundle directory: every `.rego` file, and every `data.json` mounted at its
/// directory's path.
pub fn load_bundle_dir(
    dir: &Path,
    query: &str,
    evaluator: warden_engine::Evaluator,
) -> Result<Prepared, CliError> {
    let files = project::rego_and_data(dir)?;
    let c = warden_bundle::contents(&files).map_err(CliError::usage)?;
    if c.modules.is_empty() {
        return Err(CliError::usage(format!(
            "no .rego files in `{}`",
            dir.display()
        )));
    }
    let modules: Vec<Source> = c
        .modules
        .into_iter()
        .map(|(path, text)| Source { path, text })
        .collect();
    let data = warden_engine::to_value(&c.data).map_err(|e| CliError::usage(e.to_string()))?;
    Prepared::with_evaluator(&modules, data, &[query], "", evaluator)
        .map_err(|e| CliError::usage(e.to_string()))
}

/// The rules of the call's plan that did not apply because their `when` did not hold, one line
/// each with the conditions that had to (`eval --explain`: "why did my rule not fire?").
pub fn skipped_rules(data: &Value, input: &Value, d: &warden_core::Decision) -> String {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let plans = &data["warden"]["tenants"][s(&input["tenant"])]["agents"][s(&input["agent"]["id"])]
        ["plans"][s(&input["action"]["tool"])];
    let plan = match plans.get(s(&input["action"]["type"])) {
        Some(p) => p,
        None => &plans["*"],
    };
    let mut out = String::new();
    for (id, conds) in plan["when"].as_object().into_iter().flatten() {
        if d.metadata.matched_rules.contains(id) {
            continue;
        }
        let parts: Vec<String> = conds
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| format!("{} {} {}", s(&c["label"]), s(&c["op"]), c["value"]))
            .collect();
        out.push_str(&format!(
            "  – {id} skipped: its `when` did not hold ({})\n",
            parts.join("; ")
        ));
    }
    out
}

/// A human explanation of one decision (`skipped`: lines about rules whose `when` did not hold).
pub fn explain_decision(d: &warden_core::Decision, skipped: &str) -> String {
    let mut s = format!("outcome: {} (allow: {})\n", d.outcome.as_str(), d.allow);
    if d.violations.is_empty() {
        s.push_str("no rule was violated\n");
    }
    for v in &d.violations {
        s.push_str(&format!(
            "  ✗ {} [{}] → {}\n      {}\n",
            v.rule,
            v.reason,
            v.outcome.as_str(),
            v.message
        ));
        if let Some(r) = &v.remediation {
            s.push_str(&format!("      remediation: {r}\n"));
        }
    }
    let violated: Vec<&str> = d.violations.iter().map(|v| v.rule.as_str()).collect();
    for r in d
        .metadata
        .matched_rules
        .iter()
        .filter(|r| !violated.contains(&r.as_str()))
    {
        s.push_str(&format!("  ✓ {r} held\n"));
    }
    for w in &d.waived {
        s.push_str(&format!(
            "  ~ {} [{}] waived by {}\n",
            w.rule, w.reason, w.by
        ));
    }
    for v in &d.shadow_violations {
        s.push_str(&format!(
            "  (shadow) {} [{}] would be {}\n",
            v.rule,
            v.reason,
            v.outcome.as_str()
        ));
    }
    for r in &d.redactions {
        s.push_str(&format!(
            "  redact {} at {} → {}\n",
            r.name, r.path, r.replacement
        ));
    }
    for c in &d.consume {
        s.push_str(&format!(
            "  consume {} of {} ({} used, max {} per {}s)\n",
            c.cost, c.key, c.used, c.max, c.window_seconds
        ));
    }
    s.push_str(skipped);
    s.push_str(&format!(
        "fail mode: {}; audit required: {}; policy {} (revision {})\n",
        d.fail_mode,
        d.metadata.audit_required,
        d.metadata.policy_version,
        d.metadata.bundle_revision
    ));
    s
}
