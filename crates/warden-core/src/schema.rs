//! JSON Schemas generated from the Rust types, and validation of policy documents against them.
//!
//! The policy-language schema serves editors (completion and inline errors as people type) and the
//! validator: every schema violation in a document is reported at once, at its file:line:column.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use jsonschema::error::ValidationErrorKind;
use serde_json::Value;

use crate::contract::{Decision, DecisionInput};
use crate::diag::{did_you_mean, Diagnostic};
use crate::model::PolicyFile;
use crate::source::Document;

/// The JSON Schema of a policy file.
pub fn policy_schema() -> Value {
    with_id(
        schemars::schema_for!(PolicyFile),
        "policy.schema.json",
        "Warden policy file",
    )
}

/// The JSON Schema of a decision input.
pub fn input_schema() -> Value {
    with_id(
        schemars::schema_for!(DecisionInput),
        "input.schema.json",
        "Warden decision input",
    )
}

/// The JSON Schema of a decision.
pub fn decision_schema() -> Value {
    with_id(
        schemars::schema_for!(Decision),
        "decision.schema.json",
        "Warden decision",
    )
}

fn with_id(schema: schemars::Schema, file: &str, title: &str) -> Value {
    let mut v = schema.to_value();
    if let Some(obj) = v.as_object_mut() {
        obj.insert(
            "$id".into(),
            Value::String(format!("https://warden.dev/schemas/v1/{file}")),
        );
        obj.insert("title".into(), Value::String(title.into()));
    }
    v
}

fn policy_validator() -> &'static jsonschema::Validator {
    static V: OnceLock<jsonschema::Validator> = OnceLock::new();
    V.get_or_init(|| {
        // The schema is generated from our own types; failing to compile it is a bug.
        jsonschema::validator_for(&policy_schema()).expect("generated policy schema is valid")
    })
}

/// Validates a policy document against the language schema; returns every problem found.
pub fn validate_document(doc: &Document) -> Vec<Diagnostic> {
    let schema = policy_schema();
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for err in policy_validator().iter_errors(&doc.value) {
        let pointer = err.instance_path().as_str().to_string();
        let diag = match err.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                for key in unexpected {
                    let child = format!("{pointer}/{}", crate::source::pointer_token(key));
                    if !seen.insert(child.clone()) {
                        continue;
                    }
                    let candidates = allowed_properties(&schema, err.schema_path().as_str());
                    let mut d = Diagnostic::error(
                        "unknown-key",
                        &doc.file,
                        doc.key_span_at(&child),
                        format!("unknown key `{key}`{}", context_of(&pointer)),
                    );
                    d = match did_you_mean(key, candidates.iter().map(String::as_str)) {
                        _ if key == "<<" => d.with_hint(
                            "merge keys (`<<: *anchor`) are not part of YAML 1.2: write the keys out",
                        ),
                        Some(s) => d.with_hint(format!("did you mean `{s}`?")),
                        None if !candidates.is_empty() => d.with_hint(format!(
                            "allowed keys here: {}",
                            candidates.iter().cloned().collect::<Vec<_>>().join(", ")
                        )),
                        None => d,
                    };
                    out.push(d);
                }
                continue;
            }
            ValidationErrorKind::Required { property } => Diagnostic::error(
                "missing-key",
                &doc.file,
                doc.span_at(&pointer),
                format!("missing required key {property}{}", context_of(&pointer)),
            )
            .with_hint(format!("add {property}: ... here")),
            ValidationErrorKind::AnyOf { context }
            | ValidationErrorKind::OneOfNotValid { context } => {
                // `Option<Enum>` is `anyOf [enum, null]`: report the enum branch, not the union.
                let mut allowed = Vec::new();
                collect_allowed(context, &mut allowed);
                if allowed.is_empty() {
                    Diagnostic::error("schema", &doc.file, doc.span_at(&pointer), err.to_string())
                } else {
                    enum_diag(doc, &pointer, &Value::Array(allowed))
                }
            }
            ValidationErrorKind::Enum { options } => enum_diag(doc, &pointer, options),
            ValidationErrorKind::Type { .. } => Diagnostic::error(
                "wrong-type",
                &doc.file,
                doc.span_at(&pointer),
                format!("wrong type{}: {}", context_of(&pointer), err),
            ),
            _ => Diagnostic::error("schema", &doc.file, doc.span_at(&pointer), err.to_string()),
        };
        if seen.insert(format!("{pointer}#{}", diag.message)) {
            out.push(diag);
        }
    }
    out
}

/// The constant values a union of enums/consts admits, from the nested errors of its branches.
fn collect_allowed(context: &[Vec<jsonschema::ValidationError<'static>>], out: &mut Vec<Value>) {
    for e in context.iter().flatten() {
        match e.kind() {
            ValidationErrorKind::Enum { options } => {
                out.extend(options.as_array().cloned().unwrap_or_default())
            }
            ValidationErrorKind::Constant { expected_value } => {
                out.push((**expected_value).clone())
            }
            ValidationErrorKind::AnyOf { context }
            | ValidationErrorKind::OneOfNotValid { context } => collect_allowed(context, out),
            _ => {}
        }
    }
}

fn enum_diag(doc: &Document, pointer: &str, options: &Value) -> Diagnostic {
    let opts: Vec<&str> = options
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let got = pointer_value(&doc.value, pointer);
    let d = Diagnostic::error(
        "invalid-value",
        &doc.file,
        doc.span_at(pointer),
        format!("{} is not one of: {}", short(&got), opts.join(", ")),
    );
    match got
        .as_str()
        .and_then(|g| did_you_mean(g, opts.iter().copied()))
    {
        Some(s) => d.with_hint(format!("did you mean `{s}`?")),
        None => d,
    }
}

fn context_of(pointer: &str) -> String {
    if pointer.is_empty() {
        " at the top level".into()
    } else {
        format!(
            " in `{}`",
            pointer.trim_start_matches('/').replace('/', ".")
        )
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s
    }
}

fn pointer_value(root: &Value, pointer: &str) -> Value {
    root.pointer(pointer).cloned().unwrap_or(Value::Null)
}

/// The property names allowed by the schema object whose `additionalProperties` rejected a key:
/// `schema_path` is that keyword's location, e.g. `/$defs/AgentPolicy/additionalProperties`.
fn allowed_properties(schema: &Value, schema_path: &str) -> BTreeSet<String> {
    let object = schema_path
        .strip_suffix("/additionalProperties")
        .unwrap_or(schema_path);
    schema
        .pointer(object)
        .and_then(|o| o.get("properties"))
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

/// The JSON Schema of a policy test file.
pub fn tests_schema() -> Value {
    with_id(
        schemars::schema_for!(crate::testspec::TestFile),
        "tests.schema.json",
        "Warden policy tests",
    )
}
