//! One module per subcommand.

pub mod compile;
pub mod eval;
pub mod explain;
pub mod init;
pub mod schema;
pub mod test;
pub mod validate;

use crate::project::Project;
use crate::CliError;
use warden_core::Diagnostic;

/// Renders diagnostics with their source lines to standard error.
pub fn report(project: &Project, diags: &[Diagnostic]) {
    for d in diags {
        eprint!("{}", d.render(project.source_of(&d.file)));
    }
}

/// Compiles a project, printing diagnostics; warnings are printed and do not fail.
pub fn compile_project(project: &Project) -> Result<(warden_core::Compiled, Vec<warden_core::LoadedFile>), CliError> {
    match project.compile() {
        Ok((c, loaded)) => {
            report(project, &c.warnings);
            Ok((c, loaded))
        }
        Err(diags) => {
            report(project, &diags);
            let errors = diags.iter().filter(|d| d.is_error()).count();
            Err(CliError::failure(format!("{errors} error(s) in the policies")).hint("fix the errors above, then run `warden validate` again"))
        }
    }
}
