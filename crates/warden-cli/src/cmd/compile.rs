//! `warden compile`: policies → `data.json` + Rego modules, an OPA bundle directory.

use std::fs;
use std::path::Path;

use crate::project::Project;
use crate::CliError;

/// Runs the command.
pub fn run(path: &Path, out: &Path) -> Result<(), CliError> {
    let project = Project::open(path)?;
    let (compiled, _) = super::compile_project(&project)?;
    write_output(&compiled, out)?;
    println!(
        "compiled {} policy file(s) into {} (revision {}, {} Rego module(s))",
        project.policies.len(),
        out.display(),
        compiled.revision,
        compiled.modules.len()
    );
    Ok(())
}

/// Writes `data.json` and the modules under `out`, replacing what a previous compile wrote.
pub fn write_output(compiled: &warden_core::Compiled, out: &Path) -> Result<(), CliError> {
    let io =
        |e: std::io::Error| CliError::usage(format!("cannot write to `{}`: {e}", out.display()));
    fs::create_dir_all(out).map_err(io)?;
    for stale in ["warden", "custom"] {
        let d = out.join(stale);
        if d.is_dir() {
            fs::remove_dir_all(&d).map_err(io)?;
        }
    }
    for (rel, bytes) in compiled.files() {
        let p = out.join(rel);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).map_err(io)?;
        }
        fs::write(&p, bytes).map_err(io)?;
    }
    Ok(())
}
