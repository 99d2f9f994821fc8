//! `warden schema`: JSON Schemas generated from the Rust types.

use crate::CliError;

/// Which schema to print.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Kind {
    /// Policy files.
    Policy,
    /// Decision inputs.
    Input,
    /// Decisions.
    Decision,
    /// Policy test files.
    Tests,
}

/// Runs the command.
pub fn run(kind: Kind) -> Result<(), CliError> {
    let v = match kind {
        Kind::Policy => warden_core::schema::policy_schema(),
        Kind::Input => warden_core::schema::input_schema(),
        Kind::Decision => warden_core::schema::decision_schema(),
        Kind::Tests => warden_core::schema::tests_schema(),
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&v).map_err(|e| CliError::failure(e.to_string()))?
    );
    Ok(())
}
