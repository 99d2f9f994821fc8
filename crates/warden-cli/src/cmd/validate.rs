//! `warden validate`: every problem at once, with file:line:column, snippet and hint.

use std::path::Path;

use crate::project::Project;
use crate::CliError;

/// Runs the command.
pub fn run(path: &Path) -> Result<(), CliError> {
    let project = Project::open(path)?;
    let diags = match project.compile() {
        Ok((c, _)) => c.warnings,
        Err(d) => d,
    };
    super::report(&project, &diags);
    let mut errors = diags.iter().filter(|d| d.is_error()).count();
    for m in &project.rego {
        if let Err(e) = warden_engine::check_module(&m.file, &m.text) {
            eprintln!("error[rego]: {}", e.trim());
            errors += 1;
        }
    }
    let warnings = diags.iter().filter(|d| !d.is_error()).count();
    if errors > 0 {
        return Err(CliError::failure(format!(
            "{errors} error(s), {warnings} warning(s) in {} policy file(s)",
            project.policies.len()
        ))
        .hint("fix the errors above, then run `warden validate` again"));
    }
    println!(
        "ok: {} policy file(s), {} Rego module(s), {warnings} warning(s)",
        project.policies.len(),
        project.rego.len()
    );
    Ok(())
}
