//! The compiler: YAML policy files → `data.json` for the shared Rego library.
//!
//! Every file is validated against the language schema, then all files are merged per tenant into
//! data keyed by tenant → agent → tool → action, so the library finds what applies to a call by key.
//! Output is deterministic: maps are sorted and nothing depends on file order except diagnostics.

mod cond;
mod lint;
mod plan;
mod rules;
mod split;

pub use split::BundlePart;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::diag::Diagnostic;
use crate::model::{Category, FailMode, PolicyFile};
use crate::schema::validate_document;
use crate::source::Document;

/// The shared Rego library, `data.warden.main`.
pub const LIBRARY: &str = include_str!("../../rego/warden/main.rego");
/// The shared library's unit tests (`opa test` style).
pub const LIBRARY_TESTS: &str = include_str!("../../rego/warden/main_test.rego");
/// Version of the shared library; bumped on any change to its meaning.
pub const LIBRARY_VERSION: &str = "1.4.0";
/// The query that returns a compiled policy's decision.
pub const DECISION_QUERY: &str = "data.warden.main.decision";

/// A policy file that parsed and matches the language schema.
#[derive(Debug, Clone)]
pub struct LoadedFile {
    /// The document with its spans.
    pub doc: Document,
    /// The typed policy.
    pub policy: PolicyFile,
}

/// Parses and schema-checks one policy file, reporting every problem at once.
pub fn load(file: &str, text: &str) -> Result<LoadedFile, Vec<Diagnostic>> {
    let doc = Document::parse(file, text).map_err(|d| vec![*d])?;
    let mut diags = validate_document(&doc);
    if doc
        .value
        .get("warden")
        .and_then(Value::as_u64)
        .is_some_and(|v| v != 1)
    {
        diags.push(
            Diagnostic::error(
                "unsupported-version",
                file,
                doc.span_at("/warden"),
                "unsupported language version",
            )
            .with_hint("this Warden reads `warden: 1`"),
        );
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    match serde_json::from_value::<PolicyFile>(doc.value.clone()) {
        Ok(policy) => Ok(LoadedFile { doc, policy }),
        Err(e) => Err(vec![Diagnostic::error(
            "invalid-policy",
            file,
            doc.span_at(""),
            e.to_string(),
        )]),
    }
}

/// A raw Rego module contributed beside the YAML (bring-your-own Rego).
#[derive(Debug, Clone)]
pub struct RegoModule {
    /// File name, used as the module's path in the output.
    pub file: String,
    /// Source text.
    pub text: String,
}

/// What the compiler produces.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// Contents of `data.json` (everything under `data`).
    pub data: Value,
    /// Rego modules of the output: (path, text), the shared library first.
    pub modules: Vec<(String, String)>,
    /// Content hash of everything the decision depends on.
    pub revision: String,
    /// Warnings (errors make `compile` fail).
    pub warnings: Vec<Diagnostic>,
}

impl Compiled {
    /// `data.json` as written to disk: pretty, sorted, ending in a newline.
    pub fn data_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(&self.data).unwrap_or_default();
        s.push('\n');
        s
    }

    /// The output as files for people to read (`warden compile`): pretty `data.json`, then the
    /// modules (paths without a leading `/`).
    pub fn files(&self) -> Vec<(String, Vec<u8>)> {
        self.files_with(self.data_json())
    }

    /// The same files for a bundle: `data.json` without whitespace. A bundle is read by
    /// machines; a 10,000-agent data document is 38 MB compact against 89 MB pretty, and the
    /// gateway holds the text while it parses it.
    pub fn bundle_files(&self) -> Vec<(String, Vec<u8>)> {
        self.files_with(serde_json::to_string(&self.data).unwrap_or_default())
    }

    fn files_with(&self, data_json: String) -> Vec<(String, Vec<u8>)> {
        let mut out = vec![("data.json".to_string(), data_json.into_bytes())];
        out.extend(
            self.modules
                .iter()
                .map(|(p, t)| (p.clone(), t.clone().into_bytes())),
        );
        out
    }
}

/// Compiles loaded files plus custom Rego into OPA data and modules.
pub fn compile(
    files: &[LoadedFile],
    custom: &[RegoModule],
    policy_version: &str,
) -> Result<Compiled, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let mut state = rules::State::default();
    for (i, f) in files.iter().enumerate() {
        rules::add_catalog(&mut state, files, i, f, &mut diags);
    }
    for i in 0..files.len() {
        rules::add_file(&mut state, files, i, &mut diags);
    }
    lint::lint(&state, files, &mut diags);
    let mut packages = BTreeSet::new();
    for m in custom {
        match custom_package(&m.text) {
            Some(name) => {
                packages.insert(name);
            }
            None => diags.push(
                Diagnostic::error("custom-rego-package", &m.file, crate::diag::Span { line: 1, column: 1, offset: 0, len: 0 }, "custom Rego must be in a package under `warden.custom`")
                    .with_hint("start the module with `package warden.custom.<name>` and define `violations contains v if {...}`"),
            ),
        }
    }
    diags.sort_by(|a, b| (a.file.as_str(), a.span.offset).cmp(&(b.file.as_str(), b.span.offset)));
    if diags.iter().any(Diagnostic::is_error) {
        return Err(diags);
    }
    let mut tenants = state.into_json();
    let mut modules = vec![("warden/main.rego".to_string(), LIBRARY.to_string())];
    let mut names = BTreeSet::new();
    for m in custom {
        let base = m.file.rsplit('/').next().unwrap_or(&m.file).to_string();
        let mut name = format!("custom/{base}");
        let mut n = 1;
        while !names.insert(name.clone()) {
            n += 1;
            name = format!("custom/{n}-{base}");
        }
        modules.push((name, m.text.clone()));
    }
    if !packages.is_empty() {
        modules.push(("warden/custom_all.rego".to_string(), aggregator(&packages)));
    }
    let mut hasher = Sha256::new();
    hasher.update(serde_json::to_vec(&tenants).unwrap_or_default());
    for (path, text) in &modules {
        hasher.update(path.as_bytes());
        hasher.update([0]);
        hasher.update(text.as_bytes());
    }
    hasher.update(policy_version.as_bytes());
    let revision = hex::encode(&hasher.finalize()[..8]);
    let meta = json!({
        "policy_version": policy_version,
        "revision": revision,
        "library_version": LIBRARY_VERSION,
    });
    plan::add_allow_decisions(&mut tenants, &meta, packages.is_empty());
    let data = json!({"warden": {"meta": meta, "tenants": tenants}});
    Ok(Compiled {
        data,
        modules,
        revision,
        warnings: diags,
    })
}

/// The package name `X` of a module declaring `package warden.custom.X`.
fn custom_package(text: &str) -> Option<String> {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("package "))?;
    let line = line.split('#').next().unwrap_or(line);
    let name = line.strip_prefix("package warden.custom.")?.trim();
    let ok = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    ok.then(|| name.to_string())
}

/// Generated module that gathers every custom package's violations, defaulting `rule` to
/// `custom/<package>`. An entry that is not an object fails closed: it becomes a
/// `custom_violation` deny of its package (it was dropped, and the call allowed).
fn aggregator(packages: &BTreeSet<String>) -> String {
    let mut s = String::from("# Generated by warden compile: gathers violations from custom Rego packages.\npackage warden.custom_all\n");
    for p in packages {
        s.push_str(&format!(
            "\nviolations contains object.union({{\"rule\": \"custom/{p}\"}}, v) if {{\n\tsome v in data.warden.custom.{p}.violations\n\tis_object(v)\n}}\n\
             \nviolations contains {{\"rule\": \"custom/{p}\", \"message\": \"custom/{p} reported a violation that is not an object\"}} if {{\n\tsome v in data.warden.custom.{p}.violations\n\tnot is_object(v)\n}}\n"
        ));
    }
    s
}

/// Tenant-level settings merged across files.
#[derive(Debug, Default)]
pub(crate) struct TenantOut {
    pub appeal_path: Option<(String, Origin)>,
    pub fail_open_reads: Option<(bool, Origin)>,
    pub catalog: BTreeMap<String, BTreeMap<String, (crate::model::ActionDecl, Origin)>>,
    pub grants: BTreeMap<String, BTreeSet<String>>,
    pub forbid: BTreeMap<String, BTreeSet<String>>,
    pub rules: Map<String, Value>,
    pub tool_rules: BTreeMap<String, BTreeMap<String, Map<String, Value>>>,
    pub limits: Map<String, Value>,
    pub tool_limits: BTreeMap<String, BTreeMap<String, Map<String, Value>>>,
    pub scopes: BTreeMap<String, Map<String, Value>>,
    pub data_classes: BTreeMap<String, (Value, Origin)>,
    pub overrides: BTreeMap<String, Map<String, Value>>,
    pub agents: BTreeMap<String, AgentOut>,
}

impl TenantOut {
    /// Whether agent `id` is declared with grants of its own.
    pub(crate) fn has_granted_agent(&self, id: &str) -> bool {
        self.agents.get(id).is_some_and(|a| !a.grants.is_empty())
    }

    /// The agents declared with grants of their own: what a mistyped agent name likely meant.
    pub(crate) fn granted_agents(&self) -> impl Iterator<Item = &str> {
        self.agents
            .iter()
            .filter(|(_, a)| !a.grants.is_empty())
            .map(|(n, _)| n.as_str())
    }
}

/// One agent merged across files.
#[derive(Debug, Default)]
pub(crate) struct AgentOut {
    pub grants: BTreeMap<String, BTreeSet<String>>,
    pub forbid: BTreeMap<String, BTreeSet<String>>,
    pub rules: Map<String, Value>,
    pub tool_rules: BTreeMap<String, BTreeMap<String, Map<String, Value>>>,
    pub limits: Map<String, Value>,
    pub tool_limits: BTreeMap<String, BTreeMap<String, Map<String, Value>>>,
}

impl Origin {
    /// Where it is, as `file:line:col`, for a message about another declaration.
    pub(crate) fn place(&self, files: &[LoadedFile]) -> String {
        match files.get(self.file) {
            Some(f) => {
                let s = f.doc.key_span_at(&self.pointer);
                format!("{}:{}:{}", f.doc.file, s.line, s.column)
            }
            None => self.pointer.clone(),
        }
    }
}

/// Where something was declared: file index and JSON pointer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Origin {
    pub file: usize,
    pub pointer: String,
}

impl rules::State {
    fn into_json(self) -> Value {
        Value::Object(
            self.tenants
                .iter()
                .map(|(tid, t)| (tid.clone(), plan::tenant_json(t)))
                .collect(),
        )
    }
}

/// Whether a category may hold overrides.
pub(crate) fn may_override(c: Category) -> bool {
    c == Category::Override
}

/// Whether a fail mode is open.
pub(crate) fn is_open(m: FailMode) -> bool {
    m == FailMode::Open
}
