//! The JSON Schemas under `schemas/` are generated from the Rust types and must stay in sync.
//! Regenerate with `WARDEN_BLESS=1 cargo test -p warden-core --test schemas`.

use std::path::Path;

use warden_core::schema;

#[test]
fn committed_schemas_match_the_types() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas");
    let bless = std::env::var_os("WARDEN_BLESS").is_some();
    for (file, value) in [
        ("policy.schema.json", schema::policy_schema()),
        ("input.schema.json", schema::input_schema()),
        ("decision.schema.json", schema::decision_schema()),
        ("tests.schema.json", schema::tests_schema()),
    ] {
        let text = format!("{}\n", serde_json::to_string_pretty(&value).unwrap());
        let path = dir.join(file);
        if bless {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &text).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == text,
            "{file} is stale: run WARDEN_BLESS=1 cargo test -p warden-core --test schemas"
        );
    }
}

#[test]
fn the_input_schema_accepts_the_seed_example_and_rejects_wrong_types() {
    let v = jsonschema::validator_for(&schema::input_schema()).unwrap();
    let good = serde_json::json!({
        "tenant": "acme",
        "agent": {"id": "agent_id", "scope": "domain_scope", "owner_team": "team_id"},
        "user": {"id": "user_id", "groups": ["group1"], "data_classifications_authorized": ["public"]},
        "action": {"type": "tool_call", "tool": "tool_name", "args": {}, "data_classes_referenced": ["customer_data"]},
        "context": {"conversation_id": "c", "turn_count": 7, "cumulative_tokens": 4521, "session_age_seconds": 142},
        "environment": {"region": "us-east", "time": "2025-09-12T13:45:00Z", "is_production": true}
    });
    assert!(v.is_valid(&good));
    let mut bad = good.clone();
    bad["context"]["turn_count"] = serde_json::json!("seven");
    assert!(!v.is_valid(&bad));
}
