//! Turning JSON sent by a client (query filter values, insert and update bodies) into typed
//! values of a field's kind.
//!
//! Data Service clients send numbers and dates as JSON strings as often as not (UiPath's
//! SDKs stringify filter values), so every kind accepts its natural JSON form and a string
//! spelling of it; anything else is refused with a reason the caller puts next to the
//! field name.

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::schema::{EntitySchema, Kind};
use crate::value::{Row, Val};

/// Parses an RFC 3339 date-time (`2024-04-04T12:00:47.264Z`, any offset) to Unix
/// milliseconds. A date-time without an offset, or a bare date, is taken as UTC, as SQL
/// Server's `datetimeoffset` conversion does.
pub(crate) fn parse_datetime(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.timestamp_millis());
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(naive.and_utc().timestamp_millis());
        }
    }
    let date = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
}

/// `v` as a value of `kind`. `Err` holds the reason, for a message that also names the field.
pub(crate) fn coerce(kind: &Kind, v: &Value) -> Result<Val, String> {
    let got = || format!("got {v}");
    if v.is_null() {
        return Ok(Val::Null);
    }
    match kind {
        Kind::Id | Kind::CreatedBy | Kind::UpdatedBy | Kind::Relation { .. } => {
            // A related record may be given as the object the service returns for it.
            let text = match v {
                Value::Object(map) => get_ci(map, "Id").and_then(Value::as_str),
                other => other.as_str(),
            };
            text.and_then(|s| Uuid::parse_str(s.trim()).ok())
                .map(Val::Guid)
                .ok_or_else(|| format!("expected a uuid, {}", got()))
        }
        Kind::CreateTime | Kind::UpdateTime | Kind::DateTime => v
            .as_str()
            .and_then(parse_datetime)
            .map(Val::DateTime)
            .ok_or_else(|| format!("expected an RFC 3339 date-time, {}", got())),
        Kind::Text { .. } => match v {
            Value::String(s) => Ok(Val::string(s.clone())),
            Value::Number(n) => Ok(Val::string(n.to_string())),
            Value::Bool(b) => Ok(Val::string(b.to_string())),
            _ => Err(format!("expected text, {}", got())),
        },
        Kind::Number { .. } | Kind::Decimal { .. } => {
            number(v).ok_or_else(|| format!("expected a number, {}", got()))
        }
        Kind::Boolean => match v {
            Value::Bool(b) => Ok(Val::Bool(*b)),
            Value::Number(n) if n.as_i64() == Some(0) || n.as_i64() == Some(1) => {
                Ok(Val::Bool(n.as_i64() == Some(1)))
            }
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" => Ok(Val::Bool(true)),
                "false" | "0" => Ok(Val::Bool(false)),
                _ => Err(format!("expected true or false, {}", got())),
            },
            _ => Err(format!("expected true or false, {}", got())),
        },
        Kind::Choice { choices } => {
            if let Some(Val::Int(n)) = number(v) {
                return Ok(Val::Int(n));
            }
            v.as_str()
                .and_then(|s| {
                    choices
                        .iter()
                        .position(|c| c.eq_ignore_ascii_case(s.trim()))
                })
                .map(|n| Val::Int(n as i64))
                .ok_or_else(|| format!("expected a choice number or one of {choices:?}, {}", got()))
        }
    }
}

/// A JSON number, or a string holding one, as an integer when it is whole.
fn number(v: &Value) -> Option<Val> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .map(Val::Int)
            .or_else(|| n.as_f64().map(Val::Float)),
        Value::String(s) => {
            let s = s.trim();
            s.parse::<i64>().ok().map(Val::Int).or_else(|| {
                s.parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .map(Val::Float)
            })
        }
        _ => None,
    }
}

/// A key of a JSON object, ignoring letter case (the service binds JSON case-insensitively).
pub(crate) fn get_ci<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// Applies the custom fields of an insert or update body to `row`. System fields in the
/// body are ignored (the server owns them); unknown fields, values of the wrong type and
/// required fields left null are refused with a message naming the field.
pub(crate) fn apply_body(
    schema: &EntitySchema,
    row: &mut Row,
    body: &Map<String, Value>,
) -> Result<(), String> {
    let bad =
        |field: &str, why: String| format!("field '{field}' of entity '{}': {why}", schema.name);
    for (key, value) in body {
        let idx = schema
            .field(key)
            .ok_or_else(|| format!("entity '{}' has no field '{key}'", schema.name))?;
        let spec = &schema.fields[idx];
        if spec.kind.is_system() {
            continue;
        }
        let val = coerce(&spec.kind, value).map_err(|why| bad(&spec.name, why))?;
        match (&spec.kind, &val) {
            (Kind::Number { .. }, Val::Float(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
                row.0[idx] = Val::Int(*f as i64);
                continue;
            }
            (Kind::Number { .. }, Val::Float(_)) => {
                return Err(bad(
                    &spec.name,
                    format!("expected a whole number, got {value}"),
                ))
            }
            (Kind::Decimal { .. }, Val::Int(n)) => {
                row.0[idx] = Val::Float(*n as f64);
                continue;
            }
            (Kind::Choice { choices }, Val::Int(n)) if *n < 0 || *n as usize >= choices.len() => {
                return Err(bad(
                    &spec.name,
                    format!("choice {n} is not one of 0..{}", choices.len()),
                ));
            }
            _ => {}
        }
        row.0[idx] = val;
    }
    for (idx, spec) in schema.fields.iter().enumerate() {
        if spec.required && !spec.kind.is_system() && row.0[idx] == Val::Null {
            return Err(bad(&spec.name, "is required".into()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn datetimes_parse_with_and_without_offsets() {
        assert_eq!(
            parse_datetime("2024-04-04T12:00:47.264Z"),
            Some(1_712_232_047_264)
        );
        assert_eq!(
            parse_datetime("2024-04-04T14:00:47.264+02:00"),
            Some(1_712_232_047_264)
        );
        assert_eq!(
            parse_datetime("2024-04-04T12:00:47.264"),
            Some(1_712_232_047_264)
        );
        assert_eq!(
            parse_datetime("2024-04-04T12:00:47"),
            Some(1_712_232_047_000)
        );
        assert_eq!(parse_datetime("1970-01-02"), Some(86_400_000));
        assert_eq!(parse_datetime("04/04/2024"), None);
    }

    #[test]
    fn values_arrive_as_strings_or_native_json() {
        let number = Kind::Number { min: 0, max: 10 };
        assert_eq!(coerce(&number, &json!("7")), Ok(Val::Int(7)));
        assert_eq!(coerce(&number, &json!(7.5)), Ok(Val::Float(7.5)));
        assert!(coerce(&number, &json!("seven")).is_err());
        assert_eq!(coerce(&Kind::Boolean, &json!("TRUE")), Ok(Val::Bool(true)));
        assert_eq!(
            coerce(&Kind::DateTime, &json!("1970-01-01T00:00:01Z")),
            Ok(Val::DateTime(1000))
        );
        let choice = Kind::Choice {
            choices: vec!["Low".into(), "High".into()],
        };
        assert_eq!(coerce(&choice, &json!("high")), Ok(Val::Int(1)));
        assert_eq!(coerce(&choice, &json!("1")), Ok(Val::Int(1)));
        let id = Uuid::from_u128(5);
        assert_eq!(coerce(&Kind::Id, &json!(id.to_string())), Ok(Val::Guid(id)));
        assert_eq!(
            coerce(&Kind::Id, &json!({"id": id.to_string()})),
            Ok(Val::Guid(id))
        );
        assert_eq!(coerce(&Kind::Id, &json!(null)), Ok(Val::Null));
    }
}
