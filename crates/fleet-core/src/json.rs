//! Words for JSON values in error messages, so every refusal of a request, a page or a
//! message names what it found the same way ("a string", "an array").

use serde_json::Value;

/// The kind of `v` with its article: `null`, `a boolean`, `a number`, `a string`,
/// `an array`, `an object`.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
