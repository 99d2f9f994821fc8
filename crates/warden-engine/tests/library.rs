//! Runs the shared library's Rego unit tests (`test_*` rules) on regorus. The differential suite
//! runs the same tests on real OPA.

#[test]
fn shared_library_unit_tests_pass() {
    let mut engine = regorus::Engine::new();
    engine
        .add_policy("warden/main.rego".into(), warden_core::LIBRARY.into())
        .unwrap();
    engine
        .add_policy(
            "warden/main_test.rego".into(),
            warden_core::compile::LIBRARY_TESTS.into(),
        )
        .unwrap();
    let names: Vec<&str> = warden_core::compile::LIBRARY_TESTS
        .lines()
        .filter_map(|l| l.strip_prefix("test_"))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(names.len() >= 10, "found only {names:?}");
    let mut failed = Vec::new();
    for n in &names {
        let v = engine.eval_rule(format!("data.warden.main_test.test_{n}"));
        if !matches!(v, Ok(regorus::Value::Bool(true))) {
            failed.push(format!("test_{n}: {v:?}"));
        }
    }
    assert!(failed.is_empty(), "failed: {failed:#?}");
}
