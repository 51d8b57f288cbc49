//! The body of `POST .../EntityService/{Entity}/query`, compiled against an entity's schema
//! into a filter tree, a sort order, a field selection and a page window.
//!
//! Keys bind case-insensitively, as the .NET service binds JSON; field names too. Every
//! mistake in a body (unknown field, bad operator, value of the wrong type, page too large)
//! is refused before any record is read, with a message naming the field.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use super::coerce::{coerce, get_ci};
use super::filter::{Cond, Test, TextOp};
use super::schema::{EntitySchema, Kind};

/// Largest page Data Service serves, for `read` and `query` alike.
pub(crate) const MAX_LIMIT: u64 = 1000;
/// Page size when the client gives none.
pub(crate) const DEFAULT_LIMIT: u64 = 100;
/// Filter groups nest at most this deep; deeper bodies are refused rather than recursed.
const MAX_DEPTH: usize = 16;

/// A compiled query.
#[derive(Debug)]
pub(crate) struct Query {
    pub filter: Option<Cond>,
    /// Field positions with "descending"; `Id` ascending always breaks the remaining ties.
    pub sort: Vec<(usize, bool)>,
    /// Field positions to write, in record order; `None` writes every field.
    pub select: Option<Vec<usize>>,
    pub start: u64,
    pub limit: u64,
}

/// Compiles a query body. An empty body (`{}`) reads every record in Id order.
pub(crate) fn parse_query(schema: &EntitySchema, body: &Value) -> Result<Query, String> {
    let empty = Map::new();
    let obj = match body {
        Value::Object(map) => map,
        Value::Null => &empty,
        _ => return Err("the query body must be a JSON object".into()),
    };
    let filter = match get_ci(obj, "filterGroup") {
        None | Some(Value::Null) => None,
        Some(group) => Some(parse_group(schema, group, 0)?),
    };
    let mut sort = Vec::new();
    for option in list(obj, "sortOptions")? {
        let option = option
            .as_object()
            .ok_or("each sortOptions entry must be an object")?;
        let field = field_of(schema, option)?;
        let descending = match get_ci(option, "isDescending") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => return Err(format!("isDescending must be true or false, got {other}")),
        };
        sort.push((field, descending));
    }
    let mut select = None;
    let selected = list(obj, "selectedFields")?;
    if !selected.is_empty() {
        let mut fields = vec![schema.sys.id];
        for name in selected {
            let name = name
                .as_str()
                .ok_or("selectedFields must hold field names")?;
            fields.push(lookup(schema, name)?);
        }
        fields.sort_unstable();
        fields.dedup();
        select = Some(fields);
    }
    let start = paging(obj, "start", 0, u64::MAX)?;
    let limit = paging(obj, "limit", DEFAULT_LIMIT, MAX_LIMIT)?;
    Ok(Query {
        filter,
        sort,
        select,
        start,
        limit,
    })
}

/// `start`/`limit`, as a JSON number or numeric string within `0..=max`.
fn paging(obj: &Map<String, Value>, key: &str, default: u64, max: u64) -> Result<u64, String> {
    let n = match get_ci(obj, key) {
        None | Some(Value::Null) => return Ok(default),
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        Some(_) => None,
    };
    match n {
        Some(n) if n >= 0 && n as u64 <= max => Ok(n as u64),
        Some(n) if n >= 0 => Err(format!("{key} must be at most {max}, got {n}")),
        _ => Err(format!("{key} must be a whole number of at least 0")),
    }
}

fn list<'a>(obj: &'a Map<String, Value>, key: &str) -> Result<&'a [Value], String> {
    match get_ci(obj, key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(format!("{key} must be an array")),
    }
}

fn lookup(schema: &EntitySchema, name: &str) -> Result<usize, String> {
    schema
        .field(name)
        .ok_or_else(|| format!("entity '{}' has no field '{name}'", schema.name))
}

fn field_of(schema: &EntitySchema, obj: &Map<String, Value>) -> Result<usize, String> {
    let name = get_ci(obj, "fieldName")
        .and_then(Value::as_str)
        .ok_or("fieldName is required")?;
    lookup(schema, name)
}

fn parse_group(schema: &EntitySchema, group: &Value, depth: usize) -> Result<Cond, String> {
    if depth > MAX_DEPTH {
        return Err(format!("filter groups nest at most {MAX_DEPTH} deep"));
    }
    let obj = group
        .as_object()
        .ok_or("a filter group must be an object")?;
    let any = match get_ci(obj, "logicalOperator") {
        None | Some(Value::Null) => false,
        Some(v) => match v
            .as_i64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        {
            Some(0) => false,
            Some(1) => true,
            _ => {
                return Err(format!(
                    "logicalOperator must be 0 (and) or 1 (or), got {v}"
                ))
            }
        },
    };
    let mut members = Vec::new();
    for filter in list(obj, "queryFilters")? {
        members.push(parse_filter(schema, filter)?);
    }
    for nested in list(obj, "filterGroups")? {
        members.push(parse_group(schema, nested, depth + 1)?);
    }
    Ok(Cond::Group { any, members })
}

fn parse_filter(schema: &EntitySchema, filter: &Value) -> Result<Cond, String> {
    let obj = filter
        .as_object()
        .ok_or("each queryFilters entry must be an object")?;
    let field = field_of(schema, obj)?;
    let spec = &schema.fields[field];
    let op_text = get_ci(obj, "operator")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("operator is required for field '{}'", spec.name))?;
    let op = op_text.trim().to_ascii_lowercase();
    let bad = |why: String| format!("field '{}': {why}", spec.name);
    let value = get_ci(obj, "value").unwrap_or(&Value::Null);
    let arg = |v: &Value| coerce(&spec.kind, v).map_err(bad);
    let test = match op.as_str() {
        "=" | "!=" if value.is_null() => {
            if op == "=" {
                Test::IsNull
            } else {
                Test::IsNotNull
            }
        }
        "=" | "!=" | ">" | "<" | ">=" | "<=" => {
            let accept: &'static [Ordering] = match op.as_str() {
                "=" => &[Ordering::Equal],
                "!=" => &[Ordering::Less, Ordering::Greater],
                ">" => &[Ordering::Greater],
                "<" => &[Ordering::Less],
                ">=" => &[Ordering::Greater, Ordering::Equal],
                _ => &[Ordering::Less, Ordering::Equal],
            };
            Test::Cmp {
                accept,
                arg: arg(value)?,
            }
        }
        "contains" | "not contains" | "startswith" | "endswith" => {
            if !matches!(spec.kind, Kind::Text { .. }) {
                return Err(bad(format!(
                    "operator '{op_text}' applies to text fields, not {}",
                    spec.kind.describe()
                )));
            }
            let needle = value
                .as_str()
                .ok_or_else(|| bad(format!("operator '{op_text}' needs a text value")))?;
            let op_kind = match op.as_str() {
                "startswith" => TextOp::StartsWith,
                "endswith" => TextOp::EndsWith,
                _ => TextOp::Contains,
            };
            Test::Text {
                op: op_kind,
                needle: needle.to_ascii_lowercase(),
                negate: op == "not contains",
            }
        }
        "in" | "not in" => {
            let items = match get_ci(obj, "valueList") {
                Some(Value::Array(items)) => items,
                _ => match value {
                    Value::Array(items) => items,
                    _ => return Err(bad(format!("operator '{op_text}' needs a valueList array"))),
                },
            };
            let args = items.iter().map(arg).collect::<Result<Vec<_>, _>>()?;
            Test::In {
                args,
                negate: op == "not in",
            }
        }
        _ => return Err(bad(format!("unknown operator '{op_text}'"))),
    };
    Ok(Cond::Test { field, test })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataservice::config::DataServiceConfig;
    use serde_json::json;

    fn invoices() -> EntitySchema {
        let config = DataServiceConfig::default();
        EntitySchema::build(&config.entities[1], &config.entities, 1)
    }

    fn one(field: &str, op: &str, value: Value) -> Value {
        json!({"queryFilters": [{"fieldName": field, "operator": op, "value": value}]})
    }

    #[test]
    fn mistakes_are_refused_naming_the_field() {
        let s = invoices();
        let err = |body: Value| parse_query(&s, &body).unwrap_err();
        assert!(err(json!({"filterGroup": one("Nope", "=", json!(1))})).contains("'Nope'"));
        assert!(err(json!({"filterGroup": one("Amount", "~", json!(1))})).contains("'Amount'"));
        assert!(
            err(json!({"filterGroup": one("Amount", ">", json!("lots"))})).contains("'Amount'")
        );
        assert!(
            err(json!({"filterGroup": one("Amount", "contains", json!("1"))})).contains("'Amount'")
        );
        assert!(
            err(json!({"filterGroup": one("DueDate", ">", json!("soon"))})).contains("'DueDate'")
        );
        assert!(err(json!({"sortOptions": [{"fieldName": "Bogus"}]})).contains("'Bogus'"));
        assert!(err(json!({"selectedFields": ["Amount", "Bogus"]})).contains("'Bogus'"));
        assert!(err(json!({"limit": 1001})).contains("limit"));
        assert!(err(json!({"start": -1})).contains("start"));
        let q = parse_query(&s, &json!({"selectedFields": ["amount", "Amount"]})).unwrap();
        let mut expected = vec![s.field("Amount").unwrap(), s.sys.id];
        expected.sort_unstable();
        assert_eq!(
            q.select,
            Some(expected),
            "Id always, each field once, record order"
        );
    }
}
