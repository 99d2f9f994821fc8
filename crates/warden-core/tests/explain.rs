//! `warden explain` output says, in words, what is allowed, what needs approval and what is denied.

#[test]
fn fintech_summary_names_grants_approvals_and_denials() {
    let files: Vec<_> = [
        (
            "catalog.yaml",
            include_str!("../../../examples/fintech/policies/catalog.yaml"),
        ),
        (
            "finance.yaml",
            include_str!("../../../examples/fintech/policies/finance.yaml"),
        ),
    ]
    .iter()
    .map(|(n, t)| warden_core::load(n, t).unwrap())
    .collect();
    let md = warden_core::explain::markdown(&files, &[], "fintech", "1.4.7");
    assert!(md.contains("## Tenant `acme`"));
    assert!(md.contains("### Agent `finance-agent` (team `payments`)"));
    assert!(md.contains("**May call** `stripe-payments` → `create_payment`"));
    assert!(md.contains("`args.amount` is at most 5000; otherwise a person must **approve** the call (`amount_requires_approval`)"));
    assert!(md.contains("`args.currency` is one of `USD`; otherwise the call is **denied** (`currency_not_allowed`)"));
    assert!(md.contains("Anything not listed here is **denied**"));
    assert!(!md.contains(".."), "no doubled periods");
}

/// An override is explained with its condition and priority, and says which waived rules it
/// cannot reach (their priority is not below its own), instead of claiming to waive them.
#[test]
fn overrides_name_their_condition_and_what_their_priority_cannot_reach() {
    let policy = "warden: 1\ntenant: t\nagents:\n  a:\n    tools:\n      pay:\n        go:\n          rules:\n            - { id: cap, priority: 50, require: { args.amount: { max: 10 } }, reason: cap }\n            - { id: soft, require: { args.memo: { max_length: 5 } }, reason: memo }\n";
    let ov = "warden: 1\ntenant: t\ncategory: override\noverrides:\n  - id: ov\n    justification: test\n    agents: [a]\n    waive: [cap, memo]\n    when: { args.ticket: { equals: T-1 } }\n";
    let files: Vec<_> = [("p.yaml", policy), ("o.yaml", ov)]
        .iter()
        .map(|(n, t)| warden_core::load(n, t).unwrap())
        .collect();
    let md = warden_core::explain::markdown(&files, &[], "p", "1");
    assert!(
        md.contains(
            "for all calls when `args.ticket` is `T-1`: waives `cap`, `memo` of priority below 10"
        ),
        "{md}"
    );
    assert!(
        md.contains("**Waives nothing of** `cap` (priority 50)"),
        "{md}"
    );
    assert!(!md.contains("`memo` (priority"), "{md}");
}
