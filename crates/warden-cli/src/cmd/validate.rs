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
    let errors = diags.iter().filter(|d| d.is_error()).count();
    let warnings = diags.len() - errors;
    if errors > 0 {
        return Err(CliError::failure(format!("{errors} error(s), {warnings} warning(s) in {} policy file(s)", project.policies.len()))
            .hint("fix the errors above, then run `warden validate` again"));
    }
    println!("ok: {} policy file(s), {} Rego module(s), {warnings} warning(s)", project.policies.len(), project.rego.len());
    Ok(())
}
