//! Every example project compiles, runs on the RVM (not the interpreter fallback), passes its own
//! tests, and the RVM and the interpreter agree on every test input.

use std::fs;
use std::path::{Path, PathBuf};

use warden_core::testspec::{check_result, TestFile};
use warden_engine::{decision_input, Engine, Prepared};

fn examples() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut dirs: Vec<PathBuf> = fs::read_dir(&root)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("policies").is_dir())
        .collect();
    dirs.sort();
    assert!(
        !dirs.is_empty(),
        "expected the seven example projects, found {dirs:?}"
    );
    dirs
}

fn read_dir_sorted(dir: &Path, ext: &[&str]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| ext.contains(&e))
        })
        .map(|p| (p.display().to_string(), fs::read_to_string(&p).unwrap()))
        .collect();
    out.sort();
    out
}

fn compile(dir: &Path) -> warden_core::Compiled {
    let loaded: Vec<_> = read_dir_sorted(&dir.join("policies"), &["yaml", "yml"])
        .iter()
        .map(|(n, t)| warden_core::load(n, t).unwrap_or_else(|d| panic!("{n}: {d:?}")))
        .collect();
    let rego: Vec<_> = read_dir_sorted(&dir.join("policies"), &["rego"])
        .into_iter()
        .map(|(file, text)| warden_core::RegoModule { file, text })
        .collect();
    warden_core::compile(&loaded, &rego, "test")
        .unwrap_or_else(|d| panic!("{}: {d:?}", dir.display()))
}

#[test]
fn examples_pass_their_tests_on_the_rvm_and_agree_with_the_interpreter() {
    for dir in examples() {
        let compiled = compile(&dir);
        let prepared = Prepared::from_compiled(&compiled).unwrap();
        assert_eq!(
            prepared.rvm_unavailable(warden_core::DECISION_QUERY),
            None,
            "{} must run on the RVM",
            dir.display()
        );
        let engine = Engine::new(prepared);
        let mut count = 0;
        for (name, text) in read_dir_sorted(&dir.join("tests"), &["yaml"]) {
            let doc = warden_core::source::Document::parse(&name, &text).unwrap();
            let tf: TestFile = serde_json::from_value(doc.value).unwrap();
            for (case, input) in tf.tests.iter().zip(tf.inputs()) {
                let result = engine.decide(&input).map_err(|e| e.to_string());
                let failures = check_result(&case.expect, result.as_ref().map_err(String::as_str));
                assert!(failures.is_empty(), "{name} / {}: {failures:?}", case.name);
                if result.is_err() {
                    count += 1;
                    continue;
                }
                let rvm = engine
                    .eval(warden_core::DECISION_QUERY, decision_input(&input).unwrap())
                    .unwrap();
                let interp = engine
                    .current()
                    .interpret(warden_core::DECISION_QUERY, decision_input(&input).unwrap())
                    .unwrap();
                assert_eq!(
                    rvm, interp,
                    "{name} / {}: RVM and interpreter differ",
                    case.name
                );
                let full = engine
                    .eval(
                        "data.warden.main.full_decision",
                        decision_input(&input).unwrap(),
                    )
                    .unwrap();
                assert_eq!(
                    rvm, full,
                    "{name} / {}: fast path and full path differ",
                    case.name
                );
                count += 1;
            }
        }
        assert!(count >= 3, "{} has too few tests", dir.display());
    }
}

#[test]
fn compile_output_is_deterministic() {
    for dir in examples() {
        let a = compile(&dir);
        let b = compile(&dir);
        assert_eq!(a.data_json(), b.data_json());
        assert_eq!(a.revision, b.revision);
    }
}
