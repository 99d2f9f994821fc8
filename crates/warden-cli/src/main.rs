//! `warden`: author, check, compile, test and evaluate agent policies.

mod cmd;
mod project;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use warden_core::Diagnostic;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Warden: a runtime policy gateway for AI agents' tool calls.
#[derive(Parser)]
#[command(name = "warden", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a policy project with examples and tests.
    Init {
        /// Directory to create (must be empty or absent).
        #[arg(default_value = "warden-policies")]
        dir: PathBuf,
    },
    /// Check policies and report every problem with file:line:column.
    Validate {
        /// Project directory or policy file.
        #[arg(default_value = ".")]
        path: PathBuf,
    },
    /// Print a JSON Schema (for editors and callers).
    Schema {
        /// Which schema.
        #[arg(long, value_enum, default_value = "policy")]
        kind: cmd::schema::Kind,
    },
    /// Compile policies into data.json plus the shared Rego library (an OPA bundle directory).
    Compile {
        /// Project directory or policy file.
        #[arg(default_value = ".")]
        path: PathBuf,
        /// Output directory.
        #[arg(short, long, default_value = "out")]
        output: PathBuf,
    },
    /// Evaluate inputs against policies (or a raw Rego bundle directory).
    Eval(cmd::eval::Args),
    /// Run policy tests (tests/*.yaml).
    Test {
        /// Project directory.
        #[arg(default_value = ".")]
        path: PathBuf,
        /// Also write a JUnit XML report here.
        #[arg(long)]
        junit: Option<PathBuf>,
        /// Also write every test's input, as evaluated (defaults merged, time filled), to this
        /// JSON Lines file, e.g. to replay them through OPA.
        #[arg(long)]
        emit_inputs: Option<PathBuf>,
    },
    /// Run the gateway server: decision API, OPA Data API, health, status, metrics.
    Serve(Box<cmd::serve::Args>),
    /// Run the MCP gateway: wrap a stdio MCP server, or serve Streamable HTTP in front of one or
    /// several, and decide every tool call.
    Mcp(Box<cmd::mcp::Args>),
    /// Decide calls that policy sent for a person's approval.
    #[command(subcommand)]
    Approvals(cmd::approvals::ApprovalsCmd),
    /// Build, sign and verify OPA-format bundles.
    #[command(subcommand)]
    Bundle(cmd::bundle::BundleCmd),
    /// Verify, query and export a decision audit log.
    #[command(subcommand)]
    Audit(cmd::audit::AuditCmd),
    /// Make a key pair for signing bundles.
    Keygen {
        /// Key algorithm.
        #[arg(long, value_enum, default_value = "es256")]
        alg: cmd::bundle::KeyAlg,
        /// Writes PREFIX.key.pem and PREFIX.pub.pem.
        #[arg(short, long, default_value = "warden")]
        output: PathBuf,
    },
    /// Summarize in plain English what the policies allow, require approval for and forbid.
    Explain {
        /// Project directory or policy file.
        #[arg(default_value = ".")]
        path: PathBuf,
        /// Write the Markdown here instead of standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
}

/// A failure with its exit code: 1 for policy or test failures, 2 for usage and input errors.
#[derive(Debug)]
pub struct CliError {
    code: u8,
    message: String,
    hint: Option<String>,
    diagnostics: Vec<Diagnostic>,
}

impl CliError {
    /// A usage or input error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        CliError {
            code: 2,
            message: message.into(),
            hint: None,
            diagnostics: vec![],
        }
    }

    /// A policy or test failure (exit 1).
    pub fn failure(message: impl Into<String>) -> Self {
        CliError {
            code: 1,
            message: message.into(),
            hint: None,
            diagnostics: vec![],
        }
    }

    /// Policy diagnostics (exit 1).
    pub fn diagnostics(diagnostics: Vec<Diagnostic>) -> Self {
        let errors = diagnostics.iter().filter(|d| d.is_error()).count();
        CliError {
            code: 1,
            message: format!("{errors} error(s) in the policies"),
            hint: Some("fix the errors above, then run `warden validate` again".into()),
            diagnostics,
        }
    }

    /// Adds a hint saying what to do next.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// Returns memory freed with a replaced policy set to the OS now, on the calling (background)
/// thread, instead of leaving mimalloc to purge it later from a request thread.
fn release_memory() {
    // SAFETY: mi_collect has no preconditions; `force` only makes it purge everything now.
    unsafe { libmimalloc_sys::mi_collect(true) }
}

/// `println!` panics when standard output's reader has gone away (`warden test … | head`). The
/// command then ends without a word and with the status a Unix tool killed by SIGPIPE has (141),
/// so a pipeline under `set -o pipefail` still sees that it did not finish. (Restoring SIGPIPE
/// itself would kill `serve` and `mcp` when a peer goes away.) Every other panic is reported as
/// usual.
fn end_quietly_when_stdout_closes() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        report(info);
    }));
}

/// One step of a serde path as a JSON pointer segment (`/tests/0/expect`), so an error found
/// while reading a YAML file can be shown at its line.
pub(crate) fn pointer_segment(s: &serde_path_to_error::Segment) -> String {
    use serde_path_to_error::Segment;
    match s {
        Segment::Seq { index } => format!("/{index}"),
        Segment::Map { key } => format!("/{}", warden_core::source::pointer_token(key)),
        Segment::Enum { variant } => format!("/{variant}"),
        Segment::Unknown => String::new(),
    }
}

fn main() -> ExitCode {
    end_quietly_when_stdout_closes();
    warden_server::set_memory_release(release_memory);
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let result = match cli.command {
        Command::Init { dir } => cmd::init::run(&dir),
        Command::Validate { path } => cmd::validate::run(&path),
        Command::Schema { kind } => cmd::schema::run(kind),
        Command::Compile { path, output } => cmd::compile::run(&path, &output),
        Command::Eval(args) => cmd::eval::run(&args),
        Command::Test {
            path,
            junit,
            emit_inputs,
        } => cmd::test::run(&path, junit.as_deref(), emit_inputs.as_deref()),
        Command::Explain { path, output } => cmd::explain::run(&path, output.as_deref()),
        Command::Bundle(b) => cmd::bundle::run(&b),
        Command::Serve(a) => cmd::serve::run(&a),
        Command::Mcp(a) => cmd::mcp::run(&a),
        Command::Approvals(a) => cmd::approvals::run(&a),
        Command::Audit(a) => cmd::audit::run(&a),
        Command::Keygen { alg, output } => cmd::bundle::keygen(alg, &output),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            for d in &e.diagnostics {
                eprint!("{}", d.render(None));
            }
            eprintln!("error: {}", e.message);
            if let Some(h) = e.hint {
                eprintln!("  hint: {h}");
            }
            ExitCode::from(e.code)
        }
    }
}
