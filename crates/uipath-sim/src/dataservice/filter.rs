//! The filter tree of a Data Service query and how it is evaluated against a record.
//!
//! Semantics follow the SQL Server the real service runs on: text compares ignore letter
//! case; a comparison with a null field is never true (`!=`, `not in` and `not contains`
//! included), except the explicit `= null` / `!= null` forms, which mean IS NULL / IS NOT
//! NULL. Because the query language has no NOT over groups, treating SQL's "unknown" as
//! false at every level gives exactly SQL's answers.

use std::borrow::Cow;
use std::cmp::Ordering;

use crate::value::Val;

/// A filter tree.
#[derive(Debug)]
pub(crate) enum Cond {
    /// All (AND, `logicalOperator` 0) or any (OR, 1) of the members; empty is true.
    Group {
        any: bool,
        members: Vec<Cond>,
    },
    Test {
        field: usize,
        test: Test,
    },
}

#[derive(Debug)]
pub(crate) enum Test {
    IsNull,
    IsNotNull,
    /// The ordering the value must have against the argument (`>=` is `[Greater, Equal]`).
    Cmp {
        accept: &'static [Ordering],
        arg: Val,
    },
    /// `contains`, `startswith`, `endswith` on lowercased text; `negate` for `not contains`.
    Text {
        op: TextOp,
        needle: String,
        negate: bool,
    },
    In {
        args: Vec<Val>,
        negate: bool,
    },
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum TextOp {
    Contains,
    StartsWith,
    EndsWith,
}

/// Read access to one record's fields, so a filter touches only the fields it tests.
pub(crate) trait Fields {
    fn get(&self, idx: usize) -> Cow<'_, Val>;
}

impl Cond {
    pub(crate) fn eval(&self, rec: &dyn Fields) -> bool {
        match self {
            Cond::Group {
                any: false,
                members,
            } => members.iter().all(|c| c.eval(rec)),
            Cond::Group { any: true, members } => {
                members.is_empty() || members.iter().any(|c| c.eval(rec))
            }
            Cond::Test { field, test } => test.eval(&rec.get(*field)),
        }
    }
}

impl Test {
    fn eval(&self, v: &Val) -> bool {
        match (self, v) {
            (Test::IsNull, v) => *v == Val::Null,
            (Test::IsNotNull, v) => *v != Val::Null,
            (_, Val::Null) => false,
            (Test::Cmp { accept, arg }, v) => accept.contains(&compare(v, arg)),
            (Test::Text { op, needle, negate }, Val::Str(s)) => {
                let hay = s.to_ascii_lowercase();
                let hit = match op {
                    TextOp::Contains => hay.contains(needle.as_str()),
                    TextOp::StartsWith => hay.starts_with(needle.as_str()),
                    TextOp::EndsWith => hay.ends_with(needle.as_str()),
                };
                hit != *negate
            }
            (Test::Text { .. }, _) => false,
            (Test::In { args, negate }, v) => {
                args.iter().any(|a| compare(v, a) == Ordering::Equal) != *negate
            }
        }
    }
}

/// The order of two values of one field: text ignoring ASCII case, everything else by
/// [`Val::order`] (nulls first, numbers across integer/float, uuids by their canonical
/// lowercase text, which is also their byte order).
pub(crate) fn compare(a: &Val, b: &Val) -> Ordering {
    match (a, b) {
        (Val::Str(x), Val::Str(y)) => x
            .bytes()
            .map(|c| c.to_ascii_lowercase())
            .cmp(y.bytes().map(|c| c.to_ascii_lowercase())),
        _ => a.order(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataservice::config::DataServiceConfig;
    use crate::dataservice::query::parse_query;
    use crate::dataservice::schema::EntitySchema;
    use serde_json::{json, Value};

    fn invoices() -> EntitySchema {
        let config = DataServiceConfig::default();
        EntitySchema::build(&config.entities[1], &config.entities, 1)
    }

    struct Rec<'a>(&'a EntitySchema, Vec<(&'static str, Val)>);

    impl Fields for Rec<'_> {
        fn get(&self, idx: usize) -> Cow<'_, Val> {
            let name = &self.0.fields[idx].name;
            Cow::Owned(
                self.1
                    .iter()
                    .find(|(n, _)| n == name)
                    .map_or(Val::Null, |(_, v)| v.clone()),
            )
        }
    }

    fn matches(schema: &EntitySchema, group: Value, rec: &Rec) -> bool {
        parse_query(schema, &json!({ "filterGroup": group }))
            .unwrap()
            .filter
            .unwrap()
            .eval(rec)
    }

    fn one(field: &str, op: &str, value: Value) -> Value {
        json!({"queryFilters": [{"fieldName": field, "operator": op, "value": value}]})
    }

    #[test]
    fn operators_follow_sql_semantics() {
        let s = invoices();
        let rec = Rec(
            &s,
            vec![
                ("Notes", Val::str("Net 30")),
                ("Amount", Val::Float(12.5)),
                ("LineCount", Val::Int(3)),
            ],
        );
        assert!(
            matches(&s, one("notes", "=", json!("net 30")), &rec),
            "text compares ignore case"
        );
        assert!(matches(&s, one("Notes", "contains", json!("ET 3")), &rec));
        assert!(!matches(
            &s,
            one("Notes", "not contains", json!("et")),
            &rec
        ));
        assert!(matches(&s, one("Notes", "startswith", json!("net")), &rec));
        assert!(matches(&s, one("Notes", "endswith", json!("30")), &rec));
        assert!(matches(&s, one("Amount", ">", json!("12.25")), &rec));
        assert!(matches(&s, one("Amount", "<=", json!(12.5)), &rec));
        assert!(!matches(&s, one("Amount", "<", json!(12.5)), &rec));
        assert!(matches(&s, one("LineCount", ">=", json!(3)), &rec));
        assert!(matches(
            &s,
            json!({"queryFilters": [{"fieldName": "LineCount", "operator": "in", "valueList": [1, "3"]}]}),
            &rec
        ));
        assert!(matches(
            &s,
            json!({"queryFilters": [{"fieldName": "LineCount", "operator": "not in", "valueList": [1, 2]}]}),
            &rec
        ));
        // A null field satisfies only IS NULL: not `!=`, not `not in`, not `not contains`.
        assert!(matches(&s, one("Paid", "=", Value::Null), &rec));
        assert!(!matches(&s, one("Paid", "!=", Value::Null), &rec));
        assert!(!matches(&s, one("Paid", "!=", json!(true)), &rec));
        assert!(!matches(
            &s,
            one("DueDate", ">", json!("2000-01-01T00:00:00Z")),
            &rec
        ));
        assert!(!matches(
            &s,
            json!({"queryFilters": [{"fieldName": "Paid", "operator": "not in", "valueList": [true]}]}),
            &rec
        ));
    }

    #[test]
    fn groups_combine_with_and_or() {
        let s = invoices();
        let rec = Rec(
            &s,
            vec![("LineCount", Val::Int(3)), ("Paid", Val::Bool(true))],
        );
        let f = |field: &str, value: Value| json!({"fieldName": field, "operator": "=", "value": value});
        let and = json!({"logicalOperator": 0, "queryFilters": [f("LineCount", json!(3)), f("Paid", json!(false))]});
        let or = json!({"logicalOperator": 1, "queryFilters": [f("LineCount", json!(3)), f("Paid", json!(false))]});
        assert!(!matches(&s, and.clone(), &rec));
        assert!(matches(&s, or.clone(), &rec));
        assert!(matches(
            &s,
            json!({"logicalOperator": 1, "filterGroups": [and.clone(), or]}),
            &rec
        ));
        assert!(!matches(
            &s,
            json!({"logicalOperator": 0, "queryFilters": [f("Paid", json!(true))], "filterGroups": [and]}),
            &rec
        ));
    }
}
