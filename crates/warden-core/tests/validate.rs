//! The validator reports every problem at once, each at its file:line:column with a hint.

use warden_core::{compile, load, Diagnostic};

const CATALOG: &str = "warden: 1
tenant: acme
tools:
  stripe-payments:
    actions:
      create_payment:
        args: { amount: number, currency: string }
";

fn diagnostics(files: &[(&str, &str)]) -> Vec<Diagnostic> {
    let mut loaded = Vec::new();
    let mut diags = Vec::new();
    for (name, text) in files {
        match load(name, text) {
            Ok(f) => loaded.push(f),
            Err(d) => diags.extend(d),
        }
    }
    if diags.is_empty() {
        match compile(&loaded, &[], "t") {
            Ok(c) => diags.extend(c.warnings),
            Err(d) => diags.extend(d),
        }
    }
    diags
}

fn find<'a>(diags: &'a [Diagnostic], code: &str) -> &'a Diagnostic {
    diags
        .iter()
        .find(|d| d.code == code)
        .unwrap_or_else(|| panic!("no `{code}` in {diags:#?}"))
}

#[test]
fn schema_problems_are_all_reported_with_positions_and_hints() {
    let text = "warden: 1
tenant: acme
agents:
  finance-agent:
    tols: {}
    owner_team: 5
    rules:
      - id: r1
        reason: x
        on_violation: approve
";
    let d = diagnostics(&[("p.yaml", text)]);
    let unknown = find(&d, "unknown-key");
    assert_eq!((unknown.span.line, unknown.span.column), (5, 5));
    assert_eq!(unknown.hint.as_deref(), Some("did you mean `tools`?"));
    let ty = find(&d, "wrong-type");
    assert_eq!(ty.span.line, 6);
    let bad = find(&d, "invalid-value");
    assert_eq!(bad.span.line, 10);
    assert_eq!(bad.hint.as_deref(), Some("did you mean `approval_needed`?"));
    assert!(d.len() >= 3, "all problems at once: {d:#?}");
}

#[test]
fn semantic_problems_are_all_reported() {
    let text = r#"warden: 1
tenant: acme
agents:
  finance-agent:
    tools:
      stripe-payments:
        create_paymnt: {}
        create_payment:
          rules:
            - id: amount
              require:
                args.amout: { max: 5000 }
              reason: too_much
            - id: range
              require:
                args.amount: { min: 10, max: 5 }
              reason: bad_range
            - id: pattern
              require:
                args.currency: { matches: "US(D" }
              reason: bad_regex
            - id: hours
              require:
                environment.time: { within: { hours: "09:00-18:00", timezone: America/New_Yrok } }
              reason: off_hours
            - id: amount
              require:
                args.currency: { in: [USD] }
              reason: dup
            - id: typed
              require:
                args.currency: { max: 3 }
              reason: typed
            - id: usd
              require:
                args.currency: { equals: USD }
              reason: usd_only
            - id: eur
              require:
                args.currency: { equals: EUR }
              reason: eur_only
            - id: Bad
              require:
                args.amount: { max: 1 }
              reason: Not-Snake
"#;
    let d = diagnostics(&[("catalog.yaml", CATALOG), ("p.yaml", text)]);
    let action = find(&d, "never-matches");
    assert!(
        d.iter().any(|x| x.code == "never-matches"
            && x.hint.as_deref() == Some("did you mean `create_payment`?")),
        "{action:?}"
    );
    assert!(d
        .iter()
        .any(|x| x.code == "never-matches"
            && x.hint.as_deref() == Some("did you mean `args.amount`?")));
    assert!(d
        .iter()
        .any(|x| x.code == "never-matches" && x.message.contains("`max` can never hold")));
    assert_eq!(find(&d, "min-above-max").span.line, 16);
    assert!(find(&d, "invalid-regex").message.contains("US(D"));
    assert_eq!(
        find(&d, "invalid-timezone").hint.as_deref(),
        Some("did you mean `America/New_York`?")
    );
    let dup = find(&d, "duplicate-id");
    assert_eq!(dup.span.line, 26);
    assert!(dup.message.contains("(first at p.yaml:"), "{}", dup.message);
    assert!(find(&d, "conflicting-rules")
        .message
        .contains("args.currency"));
    assert!(find(&d, "invalid-reason")
        .hint
        .as_deref()
        .unwrap()
        .contains("not_snake"));
    assert!(d.iter().filter(|x| x.is_error()).count() >= 9, "{d:#?}");
}

#[test]
fn a_valid_policy_compiles_without_diagnostics() {
    let text = "warden: 1
tenant: acme
agents:
  finance-agent:
    tools:
      stripe-payments:
        create_payment:
          rules:
            - id: amount
              require: { args.amount: { max: 5000 } }
              reason: amount_exceeds_limit
";
    assert_eq!(
        diagnostics(&[("catalog.yaml", CATALOG), ("p.yaml", text)]),
        vec![]
    );
}

#[test]
fn overrides_outside_their_category_and_write_fail_open_are_errors() {
    let text = "warden: 1
tenant: acme
defaults:
  fail_mode: { read: open, write: open }
overrides:
  - id: x
    justification: because
    agents: ['*']
    waive: [nothing_like_this]
";
    let d = diagnostics(&[("p.yaml", text)]);
    find(&d, "write-fail-open");
    find(&d, "override-outside-category");
}

#[test]
fn yaml_errors_name_the_position() {
    let d = diagnostics(&[("p.yaml", "warden: 1\ntenant: acme\nagents:\n  a: [\n")]);
    assert_eq!(d[0].code, "yaml-syntax");
    assert!(d[0].span.line >= 4);
}

#[test]
fn result_paths_redact_but_cannot_be_conditions() {
    let policy = "warden: 1
tenant: acme
agents:
  a:
    tools:
      stripe-payments:
        create_payment:
          rules:
            - id: mask
              redact: { paths: [result], patterns: [ssn] }
              reason: pii_redacted_in_result
            - id: cond
              require: { result.status: { equals: ok } }
              reason: bad
";
    let diags = diagnostics(&[("c.yaml", CATALOG), ("p.yaml", policy)]);
    let d = find(&diags, "invalid-path");
    assert!(
        d.message.contains("cannot test the tool's result"),
        "{}",
        d.message
    );
    assert_eq!((d.span.line, d.span.column), (13, 26), "{d:?}");
    assert_eq!(
        diags.iter().filter(|d| d.code == "invalid-path").count(),
        1,
        "the redact path is fine: {diags:#?}"
    );
}

#[test]
fn agent_ids_with_look_alike_or_special_characters_are_warned_about() {
    let diags = diagnostics(&[(
        "p.yaml",
        "warden: 1\ntenant: t\nagents:\n  f\u{456}nance-agent: {}\n  ops|admin: {}\n  svc@acme.example: {}\n",
    )]);
    let unusual: Vec<&Diagnostic> = diags.iter().filter(|d| d.code == "unusual-id").collect();
    assert_eq!(unusual.len(), 2, "{diags:?}");
    assert!(unusual.iter().all(|d| !d.is_error()));
    assert!(
        unusual[0].message.contains("U+0456") && unusual[0].span.line == 4,
        "{:?}",
        unusual[0]
    );
    assert!(unusual[1].message.contains("'|'"), "{:?}", unusual[1]);
}

/// Rules that repeat or contradict each other are found among many: a duplicate, a range that
/// no amount satisfies together with another rule's, and thousands of compatible ceilings on one
/// path (which the checks group instead of comparing pair by pair) with neither.
#[test]
fn duplicates_and_conflicts_are_found_among_many_rules() {
    let mut text = String::from(
        "warden: 1\ntenant: acme\nagents:\n  finance-agent:\n    tools:\n      stripe-payments:\n        create_payment:\n          rules:\n",
    );
    for i in 0..3000 {
        text.push_str(&format!(
            "            - {{ id: cap{i}, require: {{ args.amount: {{ max: {} }} }}, reason: cap_{i} }}\n",
            1_000_000 + i
        ));
    }
    text.push_str(
        "            - { id: again, require: { args.amount: { max: 1000000 } }, reason: again }\n",
    );
    text.push_str(
        "            - { id: floor, require: { args.amount: { min: 2000000 } }, reason: floor }\n",
    );
    let d = diagnostics(&[("catalog.yaml", CATALOG), ("p.yaml", &text)]);
    let dups: Vec<_> = d.iter().filter(|x| x.code == "duplicate-rule").collect();
    assert_eq!(dups.len(), 1, "{dups:#?}");
    let m = &dups[0].message;
    assert!(
        m.contains("/again` repeats rule `") && m.ends_with("/cap0`"),
        "{m}"
    );
    let conflicts: Vec<_> = d.iter().filter(|x| x.code == "conflicting-rules").collect();
    assert_eq!(
        conflicts.len(),
        3001,
        "floor conflicts with every ceiling, the repeat too"
    );
    assert!(conflicts.iter().all(|c| c.message.contains("/floor`")));
}

/// Conditions that can never hold for the declared argument or contract field, empty lists, and
/// near misses of the input contract's field names are reported where they are written.
#[test]
fn conditions_that_cannot_meet_their_value_are_reported() {
    let text = r#"warden: 1
tenant: acme
agents:
  finance-agent:
    tools:
      stripe-payments:
        create_payment:
          rules:
            - id: a
              require:
                args.amount: { in: ["10000", "20000"] }
                args.currency: { type: number }
              reason: a
            - id: b
              require:
                args.amount.value: { max: 5 }
                "args.currency[*]": { equals: x }
              reason: b
            - id: c
              require:
                args.currency: { in: [] }
                context.turn_count: { equals: "30" }
              reason: c
            - id: d
              when:
                user.group: { equals: finance }
              require:
                args.amount: { max: 10 }
              reason: d
"#;
    let d = diagnostics(&[("catalog.yaml", CATALOG), ("p.yaml", text)]);
    let never: Vec<(usize, &str)> = d
        .iter()
        .filter(|x| x.code == "never-matches")
        .map(|x| (x.span.line, x.message.as_str()))
        .collect();
    for (line, part) in [
        (11, "`in`, whose values are all of another type"),
        (12, "`type: number` can never hold for `args.currency`"),
        (16, "a path into `args.amount`"),
        (17, "`[*]` on `args.currency`"),
        (21, "`in: []` on `args.currency`"),
        (
            22,
            "`equals: \"30\"` can never hold for `context.turn_count`",
        ),
    ] {
        assert!(
            never.iter().any(|(l, m)| *l == line && m.contains(part)),
            "line {line}: {part} in {never:#?}"
        );
    }
    let field = find(&d, "unknown-input-field");
    assert_eq!(field.span.line, 26);
    assert_eq!(field.hint.as_deref(), Some("did you mean `user.groups`?"));
}

/// Policies that apply to nothing: an override for an agent that does not exist, one already
/// expired, one whose selectors or `when` name what the catalog does not have; an agent whose
/// name is a typo (rules, no grants); a grant a `forbid` always cancels.
#[test]
fn policies_that_apply_to_nothing_are_reported() {
    let policy = r#"warden: 1
tenant: acme
agents:
  finance-agent:
    tools:
      stripe-payments:
        create_payment: {}
  finance_agent:
    rules:
      - id: cap
        require: { args.amount: { max: 10 } }
        reason: cap
  auditor:
    tools:
      stripe-payments:
        create_payment:
          rules:
            - id: firm
              priority: 50
              require: { args.amount: { max: 10 } }
              reason: firm_cap
  readonly-agent:
    tools:
      stripe-payments:
        create_payment: {}
        "*": { forbid: true }
"#;
    let overrides = r#"warden: 1
tenant: acme
category: override
overrides:
  - id: typo-agent
    justification: test
    agents: [finance-agnet]
    waive: [cap]
  - id: old
    justification: test
    agents: [finance-agent]
    waive: [cap]
    expires: "2020-01-01T00:00:00Z"
  - id: selectors
    justification: test
    agents: [finance-agent]
    tools: [stripe-payments]
    actions: [refund]
    waive: [cap]
  - id: too-weak
    justification: test
    agents: [auditor]
    waive: [firm_cap]
  - id: when-typo
    justification: test
    agents: [finance-agent]
    tools: [stripe-payments]
    actions: [create_payment]
    waive: [cap]
    when: { args.amout: { max: 5 } }
"#;
    let d = diagnostics(&[
        ("catalog.yaml", CATALOG),
        ("p.yaml", policy),
        ("o.yaml", overrides),
    ]);
    let agent = find(&d, "unknown-agent");
    assert_eq!((agent.file.as_str(), agent.span.line), ("o.yaml", 7));
    assert_eq!(agent.hint.as_deref(), Some("did you mean `finance-agent`?"));
    assert_eq!(find(&d, "override-expired").span.line, 13);
    assert!(d.iter().any(|x| x.code == "never-matches"
        && x.file == "o.yaml"
        && x.message.contains("`refund`")));
    assert!(d
        .iter()
        .any(|x| x.code == "never-matches" && x.file == "o.yaml" && x.message.contains("`amout`")));
    let typo = find(&d, "agent-without-grants");
    assert_eq!(typo.span.line, 8);
    assert!(typo
        .hint
        .as_deref()
        .unwrap()
        .starts_with("did you mean `finance-agent`?"));
    assert!(d.iter().any(|x| x.code == "waives-nothing"
        && x.message
            .contains("`firm_cap` is raised by rules of priority 50")));
    let cancelled = find(&d, "grant-forbidden");
    assert!(cancelled
        .message
        .contains("`readonly-agent` is granted `stripe-payments/create_payment`"));
}

/// Smaller authoring mistakes get a precise message: a trailing `---` is not a second document,
/// a merge key says YAML 1.2 has none, a data class naming a tool no catalog has is warned
/// about, and an empty tenant id is an error.
#[test]
fn small_authoring_mistakes_get_precise_messages() {
    let trailing = "warden: 1\ntenant: acme\nagents:\n  finance-agent:\n    tools:\n      stripe-payments:\n        create_payment: {}\n---\n";
    assert!(
        diagnostics(&[("catalog.yaml", CATALOG), ("t.yaml", trailing)])
            .iter()
            .all(|d| !d.is_error())
    );
    let merge = "warden: 1\ntenant: acme\nbase: &b { reason: r }\nagents:\n  finance-agent:\n    rules:\n      - id: x\n        <<: *b\n        require: { args.amount: { max: 1 } }\n";
    let d = diagnostics(&[("m.yaml", merge)]);
    assert!(d
        .iter()
        .any(|x| x.code == "unknown-key"
            && x.hint.as_deref().is_some_and(|h| h.contains("merge keys"))));
    let dc = "warden: 1\ntenant: acme\ndata_classes:\n  pii: { tools: [stripe-paymnts] }\nagents:\n  finance-agent:\n    tools:\n      stripe-payments:\n        create_payment: {}\n";
    let d = diagnostics(&[("catalog.yaml", CATALOG), ("dc.yaml", dc)]);
    assert_eq!(
        find(&d, "unknown-tool").hint.as_deref(),
        Some("did you mean `stripe-payments`?")
    );
    let empty = "warden: 1\ntenant: \"\"\n";
    let d = diagnostics(&[("e.yaml", empty)]);
    assert_eq!(find(&d, "invalid-tenant").span.line, 2);
}
