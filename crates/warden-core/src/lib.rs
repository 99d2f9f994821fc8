//! Warden's pure core: the YAML policy language, its validator and compiler to OPA data plus the
//! shared Rego library, the decision contract, redaction and plain-English explanations.
//!
//! Nothing here does I/O: callers pass file contents in and write results out, so everything can
//! be unit-tested alone and reused unchanged by the engine, the servers and the CLI.

pub mod compile;
pub mod contract;
pub mod diag;
pub mod explain;
pub mod model;
pub mod paths;
pub mod redact;
pub mod schema;
pub mod source;
pub mod testspec;

pub use compile::{
    compile, load, BundlePart, Compiled, LoadedFile, RegoModule, DECISION_QUERY, LIBRARY,
    LIBRARY_VERSION,
};
pub use contract::{Decision, DecisionInput, Outcome};
pub use diag::{Diagnostic, Severity};
