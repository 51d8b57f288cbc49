//! Property tests: printing any expression tree as OData and parsing it back gives the same
//! tree; `and`/`or`/`not` evaluate as the boolean connectives; the keyset filter the fleet
//! sends selects exactly the rows after its cursor; no input makes the parsers panic.

use proptest::prelude::*;
use uuid::Uuid;

use super::test_schema::{idx, INNER, JAN_1_2024, S, STATES};
use super::{parse_datetime, parse_filter, parse_query, CmpOp, Expr, FieldPath, StrFunc};
use crate::value::{format_datetime, FieldType, Row, Schema, Val};

/// Writes `expr` as `$filter` text, parenthesizing every compound operand.
fn print(expr: &Expr) -> String {
    match expr {
        Expr::And(a, b) => format!("({}) and ({})", print(a), print(b)),
        Expr::Or(a, b) => format!("({}) or ({})", print(a), print(b)),
        Expr::Not(e) => format!("not ({})", print(e)),
        Expr::Cmp { path, op, value } => {
            format!("{} {} {}", path_text(path), op.keyword(), literal(value))
        }
        Expr::Func { func, path, arg } => {
            format!("{}({},{})", func.name(), path_text(path), quote(arg))
        }
        Expr::In { path, values } => {
            let items: Vec<String> = values.iter().map(literal).collect();
            format!("{} in ({})", path_text(path), items.join(","))
        }
        Expr::Const(b) => b.to_string(),
    }
}

fn path_text(path: &FieldPath) -> String {
    let mut schema: &Schema = &S;
    let mut names = Vec::new();
    for &i in &path.0 {
        let field = &schema.fields[i];
        names.push(field.name);
        if let FieldType::Object(inner) = field.ty {
            schema = inner;
        }
    }
    names.join("/")
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn literal(value: &Val) -> String {
    match value {
        Val::Null => "null".to_owned(),
        Val::Bool(b) => b.to_string(),
        Val::Int(i) => i.to_string(),
        Val::Float(f) => format!("{f:?}"),
        Val::Str(s) => quote(s),
        Val::DateTime(ms) => format_datetime(*ms),
        Val::Guid(g) => g.hyphenated().to_string(),
        other => panic!("no literal for {other:?}"),
    }
}

/// 0001-01-01T00:00:00Z and 10000-01-01T00:00:00Z: the range four-digit years can write.
const YEAR_1: i64 = -62_135_596_800_000;
const YEAR_10000: i64 = 253_402_300_800_000;

fn at(name: &str) -> FieldPath {
    FieldPath(vec![idx(name)])
}

fn inner(name: &str) -> FieldPath {
    FieldPath(vec![idx("Inner"), INNER.index_of(name).unwrap()])
}

fn any_op() -> impl Strategy<Value = CmpOp> {
    proptest::sample::select(CmpOp::ALL.to_vec())
}

fn eq_ne() -> impl Strategy<Value = CmpOp> {
    proptest::sample::select(vec![CmpOp::Eq, CmpOp::Ne])
}

/// Small ranges so that generated literals often meet generated row values.
fn small_int() -> impl Strategy<Value = Val> {
    prop_oneof![
        1 => Just(Val::Null),
        6 => (-3i64..4).prop_map(Val::Int),
        1 => any::<i64>().prop_map(Val::Int),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(vec!["a", "A", "ab", "b'c", "x+y", ""]).prop_map(str::to_owned),
        "\\PC{0,6}"
    ]
}

fn time() -> impl Strategy<Value = i64> {
    prop_oneof![(-2i64..3).prop_map(|d| JAN_1_2024 + d), YEAR_1..YEAR_10000]
}

fn leaf() -> impl Strategy<Value = Expr> {
    prop_oneof![
        (any_op(), small_int()).prop_map(|(op, value)| Expr::Cmp {
            path: at("Id"),
            op,
            value
        }),
        (any_op(), small_int()).prop_map(|(op, value)| Expr::Cmp {
            path: inner("Code"),
            op,
            value
        }),
        (any_op(), text()).prop_map(|(op, s)| Expr::Cmp {
            path: at("Name"),
            op,
            value: Val::string(s)
        }),
        (eq_ne(), text()).prop_map(|(op, s)| Expr::Cmp {
            path: inner("Reason"),
            op,
            value: Val::string(s)
        }),
        (any_op(), time()).prop_map(|(op, t)| Expr::Cmp {
            path: at("CreationTime"),
            op,
            value: Val::DateTime(t)
        }),
        (eq_ne(), proptest::sample::select(STATES.to_vec())).prop_map(|(op, s)| Expr::Cmp {
            path: at("State"),
            op,
            value: Val::str(s)
        }),
        (eq_ne(), any::<u128>()).prop_map(|(op, g)| Expr::Cmp {
            path: at("Key"),
            op,
            value: Val::Guid(Uuid::from_u128(g))
        }),
        (
            any_op(),
            prop_oneof![
                (-3i32..4).prop_map(f64::from),
                any::<f64>().prop_filter("finite", |f| f.is_finite())
            ]
        )
            .prop_map(|(op, f)| Expr::Cmp {
                path: at("Score"),
                op,
                value: Val::Float(f)
            }),
        (eq_ne(), any::<bool>()).prop_map(|(op, b)| Expr::Cmp {
            path: at("Flag"),
            op,
            value: Val::Bool(b)
        }),
        (
            proptest::sample::select(vec![
                StrFunc::Contains,
                StrFunc::StartsWith,
                StrFunc::EndsWith
            ]),
            text()
        )
            .prop_map(|(func, arg)| Expr::Func {
                func,
                path: at("Name"),
                arg
            }),
        proptest::collection::vec(small_int(), 1..4).prop_map(|values| Expr::In {
            path: at("Id"),
            values
        }),
        any::<bool>().prop_map(Expr::Const),
    ]
}

fn expr() -> impl Strategy<Value = Expr> {
    leaf().prop_recursive(5, 40, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Expr::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Expr::Or(Box::new(a), Box::new(b))),
            inner.prop_map(|e| Expr::Not(Box::new(e))),
        ]
    })
}

fn maybe<T: std::fmt::Debug + Clone + 'static>(
    s: impl Strategy<Value = T> + 'static,
) -> BoxedStrategy<Option<T>> {
    prop_oneof![1 => Just(None), 4 => s.prop_map(Some)].boxed()
}

/// Rows whose values collide with the generated literals, with nulls and null objects.
fn any_row() -> impl Strategy<Value = Row> {
    (
        (
            maybe(-3i64..4),
            maybe(text()),
            maybe(proptest::sample::select(STATES.to_vec())),
        ),
        (
            maybe(-2i64..3),
            maybe(-3i32..4),
            maybe((maybe(text()), maybe(-3i64..4))),
        ),
        maybe(any::<bool>()),
    )
        .prop_map(|((id, name, state), (dt, score, obj), flag)| {
            let obj = obj.map(|(reason, code)| {
                Val::Object(Box::new(Row(vec![
                    reason.map_or(Val::Null, Val::string),
                    code.map_or(Val::Null, Val::Int),
                ])))
            });
            Row(vec![
                id.map_or(Val::Null, Val::Int),
                name.map_or(Val::Null, Val::string),
                state.map_or(Val::Null, Val::str),
                dt.map_or(Val::Null, |d| Val::DateTime(JAN_1_2024 + d)),
                Val::Guid(Uuid::from_u128(7)),
                obj.unwrap_or(Val::Null),
                score.map_or(Val::Null, |s| Val::Float(f64::from(s))),
                flag.map_or(Val::Null, Val::Bool),
                Val::Null,
                Val::Null,
            ])
        })
}

proptest! {
    #[test]
    fn printing_and_parsing_back_gives_the_same_tree(e in expr()) {
        let text = print(&e);
        prop_assert_eq!(parse_filter(&text, &S).map_err(|err| format!("{text}: {err}")), Ok(e));
    }

    #[test]
    fn connectives_evaluate_as_booleans(a in expr(), b in expr(), row in any_row()) {
        let (pa, pb) = (print(&a), print(&b));
        let eval = |text: String| parse_filter(&text, &S).map(|e| e.eval(&row));
        let (ea, eb) = (a.eval(&row), b.eval(&row));
        prop_assert_eq!(eval(format!("({pa}) and ({pb})")), Ok(ea && eb));
        prop_assert_eq!(eval(format!("({pa}) or ({pb})")), Ok(ea || eb));
        prop_assert_eq!(eval(format!("not ({pa})")), Ok(!ea));
        // `+` is whitespace outside literals, whatever the HTTP layer decoded.
        let plus = format!("({pa}) or ({pb})").replace(' ', "+");
        prop_assert!(eval(plus).is_ok());
    }

    #[test]
    fn the_keyset_filter_selects_exactly_the_rows_after_the_cursor(
        t0 in -2i64..3, id0 in -3i64..4, row in any_row(),
    ) {
        let t = format_datetime(JAN_1_2024 + t0);
        let text = format!("(CreationTime gt {t} or (CreationTime eq {t} and Id gt {id0}))");
        let filter = parse_filter(&text, &S).unwrap();
        let key = (row.0[idx("CreationTime")].as_datetime(), row.0[idx("Id")].as_i64());
        let after = match key {
            (Some(t), Some(id)) => (t, id) > (JAN_1_2024 + t0, id0),
            (Some(t), None) => t > JAN_1_2024 + t0,
            (None, _) => false,
        };
        prop_assert_eq!(filter.eval(&row), after);
    }

    #[test]
    fn datetimes_round_trip_through_the_served_format(ms in YEAR_1..YEAR_10000) {
        prop_assert_eq!(parse_datetime(&format_datetime(ms)), Some(ms));
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,40}", noise in "[()'a-zA-Z0-9 /,.:+-]{0,40}") {
        let _ = parse_filter(&text, &S);
        let _ = parse_filter(&noise, &S);
        let _ = parse_datetime(&text);
        let options = ["$filter", "$orderby", "$select", "$expand", "$top", "$skip", "$count"];
        for name in options.into_iter().chain(["$format"]) {
            let _ = parse_query(&[(name.to_owned(), noise.clone())], &S, 1000);
        }
    }
}
