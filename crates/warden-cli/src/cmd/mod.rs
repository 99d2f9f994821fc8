//! One module per subcommand.

pub mod approvals;
pub mod audit;
pub mod audit_diff;
pub mod bundle;
pub mod compile;
pub mod eval;
pub mod explain;
pub mod init;
pub mod mcp;
pub mod schema;
pub mod serve;
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
pub fn compile_project(
    project: &Project,
) -> Result<(warden_core::Compiled, Vec<warden_core::LoadedFile>), CliError> {
    match project.compile() {
        Ok((c, loaded)) => {
            report(project, &c.warnings);
            let mut bad = 0;
            for m in &project.rego {
                if let Err(e) = warden_engine::check_module(&m.file, &m.text) {
                    eprintln!("error[rego]: {}", e.trim());
                    bad += 1;
                }
            }
            if bad > 0 {
                return Err(
                    CliError::failure(format!("{bad} custom Rego module(s) do not parse"))
                        .hint("fix the Rego above; `opa check FILE` gives the same answer"),
                );
            }
            if let Err(e) = warden_engine::Prepared::from_compiled(&c) {
                return Err(CliError::failure(format!("the compiled policies do not load: {e}")).hint("a custom Rego module probably conflicts with the library; check its package and rule names"));
            }
            Ok((c, loaded))
        }
        Err(diags) => {
            report(project, &diags);
            let errors = diags.iter().filter(|d| d.is_error()).count();
            Err(
                CliError::failure(format!("{errors} error(s) in the policies"))
                    .hint("fix the errors above, then run `warden validate` again"),
            )
        }
    }
}

/// Whether a write reached standard output: `false` when its reader has gone away (a broken
/// pipe, as with `| head`), which ends the output quietly, as Unix tools do; any other failure is
/// an error.
pub(crate) fn written(r: std::io::Result<()>) -> Result<bool, CliError> {
    match r {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(CliError::usage(format!("cannot write the output: {e}"))),
    }
}
