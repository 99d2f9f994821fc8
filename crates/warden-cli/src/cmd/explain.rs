//! `warden explain`: a plain-English Markdown summary for people who do not read Rego.

use std::path::Path;

use crate::project::Project;
use crate::CliError;

/// Runs the command.
pub fn run(path: &Path, output: Option<&Path>) -> Result<(), CliError> {
    let project = Project::open(path)?;
    let (_, loaded) = super::compile_project(&project)?;
    let md = {
        let custom: Vec<String> = project.rego.iter().map(|m| m.file.clone()).collect();
        warden_core::explain::markdown(&loaded, &custom, &project.name, &project.version)
    };
    match output {
        Some(p) => std::fs::write(p, md)
            .map_err(|e| CliError::usage(format!("cannot write `{}`: {e}", p.display()))),
        None => {
            print!("{md}");
            Ok(())
        }
    }
}
