//! `warden init`: scaffold a policy project with a working example and its tests.

use std::fs;
use std::path::Path;

use crate::CliError;

const FILES: &[(&str, &str)] = &[
    (
        "warden.yaml",
        include_str!("../../../../examples/fintech/warden.yaml"),
    ),
    (
        "policies/catalog.yaml",
        include_str!("../../../../examples/fintech/policies/catalog.yaml"),
    ),
    (
        "policies/finance.yaml",
        include_str!("../../../../examples/fintech/policies/finance.yaml"),
    ),
    (
        "tests/payments.yaml",
        include_str!("../../../../examples/fintech/tests/payments.yaml"),
    ),
];

/// Runs the command.
pub fn run(dir: &Path) -> Result<(), CliError> {
    if dir.exists()
        && fs::read_dir(dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(
            CliError::usage(format!("`{}` exists and is not empty", dir.display()))
                .hint("pick a new directory name"),
        );
    }
    for (rel, text) in FILES {
        let p = dir.join(rel);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).map_err(|e| {
                CliError::usage(format!("cannot create `{}`: {e}", parent.display()))
            })?;
        }
        fs::write(&p, text)
            .map_err(|e| CliError::usage(format!("cannot write `{}`: {e}", p.display())))?;
    }
    println!(
        "created {} with an example policy and tests; next:",
        dir.display()
    );
    println!(
        "  warden validate {0}\n  warden test {0}\n  warden explain {0}",
        dir.display()
    );
    Ok(())
}
