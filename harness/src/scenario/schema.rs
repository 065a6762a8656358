//! The JSON Schema of scenario files, generated from the Rust types (`cleanroom schema`).

use super::Scenario;

pub fn scenario_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(Scenario);
    let mut v = serde_json::to_value(&schema).expect("schema serializes");
    if let Some(obj) = v.as_object_mut() {
        obj.insert("$id".into(), "https://cleanroom.dev/schema/scenario.json".into());
        obj.insert("title".into(), "cleanroom scenario".into());
    }
    v
}

pub fn scenario_schema_pretty() -> String {
    let mut s = serde_json::to_string_pretty(&scenario_schema()).expect("schema serializes");
    s.push('\n');
    s
}
