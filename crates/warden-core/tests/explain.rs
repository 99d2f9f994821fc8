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
