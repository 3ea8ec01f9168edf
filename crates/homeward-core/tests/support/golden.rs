//! Shared by the golden tests: the workspace root and the JSON readers.

use std::path::Path;

use serde_json::Value;

/// The workspace root (fixtures live under it).
pub fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// Reads a JSON file under the workspace root.
pub fn read_json(relative: &str) -> Value {
    let text = std::fs::read_to_string(root().join(relative)).expect("golden file");
    serde_json::from_str(&text).expect("golden JSON")
}

/// A JSON array of numbers.
pub fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}
