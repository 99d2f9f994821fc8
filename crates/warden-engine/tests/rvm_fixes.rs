//! The RVM bugs fixed in Warden's vendored regorus (`vendor/regorus/WARDEN-PATCHES.md`, S3 and
//! S6-S9 in `docs/opa-compatibility.md`): each repro is evaluated on the RVM and on the
//! interpreter, and the RVM must give what real OPA gives (the expected values below were taken
//! from OPA v1.20.2; `tests/differential` checks the same shapes against OPA on every run).

use warden_engine::{Engine, Prepared, Source};

/// Evaluates `data.t.r` of `rego` (package `t`) with `input` on the RVM and on the interpreter
/// (an interpreter error comes back as text).
fn both(rego: &str, input: &str) -> (String, String) {
    let module = Source {
        path: "t.rego".into(),
        text: format!("package t\n{rego}\n"),
    };
    let p = Prepared::new(&[module], regorus::Value::new_object(), &["data.t.r"], "")
        .unwrap_or_else(|e| panic!("{e}: {rego}"));
    assert_eq!(
        p.rvm_unavailable("data.t.r"),
        None,
        "RVM must compile {rego}"
    );
    let e = Engine::new(p);
    let input = regorus::Value::from_json_str(input).unwrap();
    let show = |v: regorus::Value| v.to_json_str().unwrap();
    let rvm = show(e.eval("data.t.r", input.clone()).unwrap());
    // The interpreter may fail where the RVM is right (S3); that is only compared in `all_agree`.
    let interp = match e.current().interpret("data.t.r", input) {
        Ok(v) => show(v),
        Err(err) => format!("error: {err}"),
    };
    (rvm, interp)
}

/// The RVM gives OPA's answer (`expected`, as compact JSON; `"<undefined>"`-free).
fn rvm_gives(rego: &str, input: &str, expected: &str) {
    let (rvm, _) = both(rego, input);
    let norm = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
    assert_eq!(norm(&rvm), norm(expected), "RVM on {rego}");
}

/// The RVM and the interpreter agree, and give OPA's answer.
fn all_agree(rego: &str, input: &str, expected: &str) {
    let (rvm, interp) = both(rego, input);
    assert_eq!(rvm, interp, "RVM and interpreter differ on {rego}");
    rvm_gives(rego, input, expected);
}

#[test]
fn s9_s8_input_loaded_inside_a_skipped_comprehension_is_loaded_again_after_it() {
    // Was `[[], []]`: the second comprehension read `input` from a register never written.
    all_agree(
        r#"r := [{c | some c in []; input[c]}, {d | some d in ["ok"]; input[d]}]"#,
        r#"{"ok": 1}"#,
        r#"[[], ["ok"]]"#,
    );
    // S9 as found in Warden's library: was `["x"]`.
    all_agree(
        r#"f := {"a": [], "b": [{"k": "x", "p": ["ok"]}]}
u(f) := {c.k | some c in f.a; not is_number(object.get(input, c.p, null))} | {c.k | some c in f.b; not is_number(object.get(input, c.p, null))}
r := u(f)"#,
        r#"{"ok": 1}"#,
        "[]",
    );
    // S8: was undefined.
    all_agree(
        "g := input.cfg\nr if {\n\tevery c in g.num { c == input.tool }\n\tinput.tool == \"t\"\n}",
        r#"{"cfg": {"num": []}, "tool": "t"}"#,
        "true",
    );
}

#[test]
fn s7_a_body_without_a_value_takes_its_else() {
    // Each was undefined on the RVM.
    let input = r#"{"s": "a", "m": {}}"#;
    all_agree("r := 1 if { some c in [] } else := 2", input, "2");
    all_agree(
        "r := y if { y := input.missing } else := \"none\"",
        input,
        r#""none""#,
    );
    all_agree(
        "g(x) := y if { y := x.k } else := \"none\"\nr := g({})",
        input,
        r#""none""#,
    );
    all_agree(
        "r := input.m.x if input.s != \"\" else := 443",
        input,
        "443",
    );
    // A body that does produce a value still wins over its else.
    all_agree(
        "r := y if { y := input.s } else := \"none\"",
        input,
        r#""a""#,
    );
}

#[test]
fn s7_assigning_an_undefined_value_fails_the_statement() {
    // Was `[1, 2]`.
    all_agree(
        "r := [v | some v in [1, 2]; y := input.missing]",
        "{}",
        "[]",
    );
    all_agree("r := [v | some v in [1, 2]; y = input.missing]", "{}", "[]");
    all_agree(
        "r := [v | some v in [1, 2]; y := object.get(input, \"missing\", 0)]",
        "{}",
        "[1, 2]",
    );
}

#[test]
fn s6_s3_undefined_elements_members_and_entries_are_skipped() {
    let input = r#"{"xs": [{"v": 1, "k": "a"}, {"k": "b"}, {"v": 3}]}"#;
    // Was `[1, "<undefined>", 3]`.
    all_agree("r := [x.v | some x in input.xs]", input, "[1, 3]");
    all_agree("r := max([x.v | some x in input.xs])", input, "3");
    all_agree("r := {x.k: x.v | some x in input.xs}", input, r#"{"a": 1}"#);
    // Partial rules: the interpreter is wrong here (S3), the RVM now gives OPA's answer (the
    // object was `{"a": 1, "b": "<undefined>"}`).
    rvm_gives(
        "r[x.k] := x.v if { some x in input.xs }",
        input,
        r#"{"a": 1}"#,
    );
    rvm_gives("r contains x.v if { some x in input.xs }", input, "[1, 3]");
}

#[test]
fn s5_conflicts_are_errors_as_in_opa() {
    let input = regorus::Value::from_json_str(
        r#"{"pairs": [["a", 1], ["a", 2]], "same": [["a", 1], ["a", 1]]}"#,
    )
    .unwrap();
    let eval = |rego: &str| {
        let module = Source {
            path: "t.rego".into(),
            text: format!("package t\n{rego}\n"),
        };
        let p = Prepared::new(&[module], regorus::Value::new_object(), &["data.t.r"], "").unwrap();
        Engine::new(p).eval("data.t.r", input.clone())
    };
    // Each was a value (the last one given) or undefined on the RVM; OPA: eval_conflict_error.
    for rego in [
        "r := {k: v | some [k, v] in input.pairs}",
        "r[k] := v if { some [k, v] in input.pairs }",
        "r := 1 if { true }\nr := 2 if { true }",
        "f(x) := 1 if { x }\nf(x) := 2 if { x }\nr := f(true)",
        // Inside a negation too: the whole evaluation fails, it does not make `not` true.
        "x := {k: v | some [k, v] in input.pairs}\nr := 1 if { not x }",
    ] {
        let err = eval(rego).expect_err(rego).to_string();
        assert!(err.contains("eval_conflict_error"), "{rego}: {err}");
    }
    // The same value twice is no conflict.
    assert_eq!(
        eval("r := {k: v | some [k, v] in input.same}").unwrap(),
        regorus::Value::from_json_str(r#"{"a": 1}"#).unwrap()
    );
    assert!(eval("r := 1 if { true }\nr := 1 if { true }").is_ok());
}
