//! The committed JSON Schema is what the code generates, and every scenario file parses.

use std::path::Path;

#[test]
fn committed_schema_is_up_to_date() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/schema.json");
    let committed = std::fs::read_to_string(&path).expect("scenarios/schema.json exists");
    let generated = cleanroom::scenario::schema::scenario_schema_pretty();
    assert!(
        committed == generated,
        "scenarios/schema.json is stale: run `cargo run -p cleanroom -- schema > scenarios/schema.json`"
    );
}

#[test]
fn every_scenario_file_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let all = cleanroom::scenario::load_dir(&dir).unwrap_or_else(|errs| {
        panic!("{}", errs.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))
    });
    assert!(all.iter().any(|s| s.name == "smoke"));
    assert!(all.iter().any(|s| s.name == "sabotage"));
}

#[test]
fn schema_names_every_primitive() {
    let schema = cleanroom::scenario::schema::scenario_schema().to_string();
    for p in cleanroom::primitives::PRIMITIVES {
        assert!(schema.contains(&format!("\"{}\"", p.name)), "{} missing from the schema", p.name);
    }
}
