//! `warden test`: run policy test files; `--junit` for CI systems.

use std::fmt::Write as _;
use std::path::Path;

use warden_core::testspec::{check_result, TestFile};
use warden_engine::{Engine, Prepared};

use crate::project::Project;
use crate::CliError;

struct Outcome {
    file: String,
    name: String,
    failures: Vec<String>,
}

/// Runs the command.
pub fn run(path: &Path, junit: Option<&Path>, emit_inputs: Option<&Path>) -> Result<(), CliError> {
    let project = Project::open(path)?;
    let (compiled, _) = super::compile_project(&project)?;
    let engine = Engine::new(
        Prepared::from_compiled(&compiled).map_err(|e| CliError::failure(e.to_string()))?,
    );
    if project.tests.is_empty() {
        if path.is_file() {
            return Err(CliError::usage(format!(
                "`{}` is a policy file: `warden test` runs a project's tests",
                path.display()
            ))
            .hint("give the project directory (the one with policies/ and tests/)"));
        }
        let dir = project.tests_dir.as_deref().unwrap_or("tests");
        return Err(
            CliError::usage(format!("no test files ({dir}/*.yaml) in the project"))
                .hint("add tests: each has an `input` and an `expect`"),
        );
    }
    let mut results = Vec::new();
    let mut emitted = String::new();
    for (file, text) in &project.tests {
        let doc = warden_core::source::Document::parse(file, text).map_err(|d| {
            // A test file's error, shown with its line: not one "in the policies".
            eprint!("{}", d.render(Some(text)));
            CliError::failure(format!("test file {file} is not valid YAML"))
                .hint("fix the test file at the position above, then run `warden test` again")
        })?;
        let tf: TestFile = serde_path_to_error::deserialize(doc.value.clone()).map_err(|e| {
            // Shown at the offending key or value, with its line, as a policy file's are.
            let pointer: String = e.path().iter().map(crate::pointer_segment).collect();
            let d = warden_core::Diagnostic::error(
                "not-a-test-file",
                file,
                match e.inner().to_string().starts_with("unknown field") {
                    true => doc.key_span_at(&pointer),
                    false => doc.span_at(&pointer),
                },
                format!("not a test file: {}", e.inner()),
            );
            eprint!("{}", d.render(Some(text)));
            CliError::usage(format!("{file} is not a test file"))
                .hint("fix it at the position above (see `warden schema --kind tests`)")
        })?;
        for (case, input) in tf.tests.iter().zip(tf.inputs()) {
            if case.expect.error.is_none() {
                if let Ok(v) = warden_engine::decision_input(&input) {
                    emitted.push_str(&serde_json::to_string(&v).unwrap_or_default());
                    emitted.push('\n');
                }
            }
            let result = engine.decide(&input).map_err(|e| e.to_string());
            let failures = check_result(&case.expect, result.as_ref().map_err(String::as_str));
            results.push(Outcome {
                file: file.clone(),
                name: case.name.clone(),
                failures,
            });
        }
    }
    let failed = results.iter().filter(|r| !r.failures.is_empty()).count();
    for r in &results {
        if r.failures.is_empty() {
            println!("ok   {} :: {}", r.file, r.name);
        } else {
            println!("FAIL {} :: {}", r.file, r.name);
            for f in &r.failures {
                println!("       {f}");
            }
        }
    }
    println!("{} passed, {} failed", results.len() - failed, failed);
    if let Some(p) = emit_inputs {
        std::fs::write(p, emitted)
            .map_err(|e| CliError::usage(format!("cannot write `{}`: {e}", p.display())))?;
    }
    if let Some(p) = junit {
        std::fs::write(p, junit_xml(&results))
            .map_err(|e| CliError::usage(format!("cannot write `{}`: {e}", p.display())))?;
    }
    if failed > 0 {
        return Err(CliError::failure(format!("{failed} test(s) failed")));
    }
    Ok(())
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn junit_xml(results: &[Outcome]) -> String {
    let failed = results.iter().filter(|r| !r.failures.is_empty()).count();
    let mut x = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites tests=\"{}\" failures=\"{failed}\">\n", results.len());
    let mut files: Vec<&str> = results.iter().map(|r| r.file.as_str()).collect();
    files.dedup();
    for f in files {
        let cases: Vec<&Outcome> = results.iter().filter(|r| r.file == f).collect();
        let fails = cases.iter().filter(|r| !r.failures.is_empty()).count();
        let _ = writeln!(
            x,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{fails}\">",
            esc(f),
            cases.len()
        );
        for c in cases {
            if c.failures.is_empty() {
                let _ = writeln!(
                    x,
                    "    <testcase classname=\"{}\" name=\"{}\"/>",
                    esc(f),
                    esc(&c.name)
                );
            } else {
                let _ = writeln!(x, "    <testcase classname=\"{}\" name=\"{}\">\n      <failure message=\"{}\">{}</failure>\n    </testcase>", esc(f), esc(&c.name), esc(&c.failures[0]), esc(&c.failures.join("\n")));
            }
        }
        x.push_str("  </testsuite>\n");
    }
    x.push_str("</testsuites>\n");
    x
}
