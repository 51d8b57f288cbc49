//! Tests of `$filter` parsing: the grammar, literal typing as the fleet and UiPath's docs
//! write literals, and the exact messages of every rejection.

use super::test_schema::{idx, null_row, row, JAN_1_2024, KEY, S};
use super::{parse_filter, CmpOp, Expr, FieldPath, StrFunc};
use crate::value::Val;

fn p(text: &str) -> Expr {
    parse_filter(text, &S).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn err(text: &str) -> String {
    match parse_filter(text, &S) {
        Ok(e) => panic!("{text} parsed as {e:?}"),
        Err(e) => e.message,
    }
}

fn path(name: &str) -> FieldPath {
    match name.split_once('/') {
        Some((outer, inner)) => {
            let inner_idx = super::test_schema::INNER.index_of(inner).unwrap();
            FieldPath(vec![idx(outer), inner_idx])
        }
        None => FieldPath(vec![idx(name)]),
    }
}

fn cmp(name: &str, op: CmpOp, value: Val) -> Expr {
    Expr::Cmp {
        path: path(name),
        op,
        value,
    }
}

fn and(a: Expr, b: Expr) -> Expr {
    Expr::And(Box::new(a), Box::new(b))
}

fn or(a: Expr, b: Expr) -> Expr {
    Expr::Or(Box::new(a), Box::new(b))
}

#[test]
fn every_comparison_operator_parses() {
    for op in CmpOp::ALL {
        assert_eq!(
            p(&format!("Id {} 5", op.keyword())),
            cmp("Id", op, Val::Int(5))
        );
        // Literal on the left flips the operator.
        assert_eq!(
            p(&format!("5 {} Id", op.keyword())),
            cmp("Id", op.flipped(), Val::Int(5))
        );
    }
}

#[test]
fn and_binds_tighter_than_or_and_parentheses_override() {
    let (a, b, c) = (
        cmp("Id", CmpOp::Eq, Val::Int(1)),
        cmp("Id", CmpOp::Eq, Val::Int(2)),
        cmp("Id", CmpOp::Eq, Val::Int(3)),
    );
    assert_eq!(
        p("Id eq 1 or Id eq 2 and Id eq 3"),
        or(a.clone(), and(b.clone(), c.clone()))
    );
    assert_eq!(
        p("(Id eq 1 or Id eq 2) and Id eq 3"),
        and(or(a.clone(), b.clone()), c.clone())
    );
    assert_eq!(
        p("Id eq 1 and Id eq 2 or Id eq 3"),
        or(and(a.clone(), b.clone()), c.clone())
    );
    assert_eq!(p("((((Id eq 1))))"), a);
    assert_eq!(p("Id eq 1 or Id eq 2 or Id eq 3"), or(or(a, b), c));
}

#[test]
fn not_applies_to_conditions_and_boolean_properties() {
    let id1 = cmp("Id", CmpOp::Eq, Val::Int(1));
    assert_eq!(p("not (Id eq 1)"), Expr::Not(Box::new(id1.clone())));
    assert_eq!(
        p("not not (Id eq 1)"),
        Expr::Not(Box::new(Expr::Not(Box::new(id1))))
    );
    let flag = cmp("Flag", CmpOp::Eq, Val::Bool(true));
    assert_eq!(p("Flag"), flag);
    assert_eq!(p("not Flag"), Expr::Not(Box::new(flag)));
    assert!(p("not contains(Name,'x')").eval(&row(1, "abc")));
    // As in ODL, `not` binds tighter than `eq`.
    assert_eq!(
        err("not Id eq 5"),
        "A unary operator with an incompatible type was detected. Found operand type 'Edm.Int64' \
         for operator kind 'Not'."
    );
}

#[test]
fn the_fleet_keyset_filter_parses_and_selects_rows_after_the_cursor() {
    let text = "(CreationTime gt 2024-01-01T00:00:00Z or \
                (CreationTime eq 2024-01-01T00:00:00Z and Id gt 42))";
    let t = Val::DateTime(JAN_1_2024);
    let want = or(
        cmp("CreationTime", CmpOp::Gt, t.clone()),
        and(
            cmp("CreationTime", CmpOp::Eq, t),
            cmp("Id", CmpOp::Gt, Val::Int(42)),
        ),
    );
    let expr = p(text);
    assert_eq!(expr, want);
    assert_eq!(p(&text.replace(' ', "+")), want);
    assert!(!expr.eval(&row(42, "a")));
    assert!(expr.eval(&row(43, "a")));
    let mut later = row(1, "a");
    later.0[idx("CreationTime")] = Val::DateTime(JAN_1_2024 + 1);
    assert!(expr.eval(&later));
    assert!(!expr.eval(&null_row()));
}

#[test]
fn enum_literals_by_name_position_and_qualified_constant() {
    let state = |name: &'static str| cmp("State", CmpOp::Eq, Val::str(name));
    assert_eq!(p("State eq '0'"), state("Pending"));
    assert_eq!(p("State eq 2"), state("Faulted"));
    assert_eq!(p("State eq 'successful'"), state("Successful"));
    assert_eq!(
        p("State eq UiPath.Core.Enums.JobState'Running'"),
        state("Running")
    );
    assert_eq!(p("'Faulted' eq State"), state("Faulted"));
    // Ordering follows declaration order, as the database's integers do.
    let members = |names: &[&'static str]| Expr::In {
        path: path("State"),
        values: names.iter().map(|n| Val::str(n)).collect(),
    };
    assert_eq!(p("State gt 'Running'"), members(&["Faulted", "Successful"]));
    assert_eq!(p("State le '1'"), members(&["Pending", "Running"]));
    assert_eq!(p("State gt 'Successful'"), members(&[]));
    assert_eq!(
        err("State eq 'Foo'"),
        "The string 'Foo' is not a valid enumeration type constant."
    );
    assert_eq!(
        err("State eq '7'"),
        "The string '7' is not a valid enumeration type constant."
    );
    assert_eq!(
        err("State eq 2024-01-01T00:00:00Z"),
        "A binary operator with incompatible types was detected. Found operand types \
         'UiPath.Core.Enums.State' and 'Edm.DateTimeOffset' for operator kind 'Equal'."
    );
}

#[test]
fn numbers_with_suffixes_and_nested_paths() {
    assert_eq!(p("Id eq 123L"), cmp("Id", CmpOp::Eq, Val::Int(123)));
    assert_eq!(p("Id gt -5"), cmp("Id", CmpOp::Gt, Val::Int(-5)));
    assert_eq!(
        p("Inner/Code eq 3"),
        cmp("Inner/Code", CmpOp::Eq, Val::Int(3))
    );
    assert_eq!(p("Score ge 1"), cmp("Score", CmpOp::Ge, Val::Float(1.0)));
    assert_eq!(p("Score eq 1.5d"), cmp("Score", CmpOp::Eq, Val::Float(1.5)));
    assert_eq!(p("Count lt 2m"), cmp("Count", CmpOp::Lt, Val::Float(2.0)));
    assert!(p("Inner/Code eq 3").eval(&row(1, "a")));
    assert!(p("Score eq 1.5d").eval(&row(1, "a")));
}

#[test]
fn datetime_literals_in_every_form() {
    let at = |ms: i64| cmp("CreationTime", CmpOp::Ge, Val::DateTime(ms));
    let apr4 = 1_712_232_047_264;
    assert_eq!(p("CreationTime ge 2024-04-04T12:00:47.264Z"), at(apr4));
    assert_eq!(p("CreationTime ge 2024-04-04T12:00:47.2640000Z"), at(apr4));
    assert_eq!(p("CreationTime ge 2024-04-04T14:00:47.264+02:00"), at(apr4));
    assert_eq!(
        p("CreationTime+ge+2024-04-04T14:00:47.264%2B02:00"
            .replace("%2B", "+")
            .as_str()),
        at(apr4)
    );
    assert_eq!(p("CreationTime ge 2024-01-01"), at(JAN_1_2024));
    assert_eq!(p("2024-01-01T00:00:00Z le CreationTime"), at(JAN_1_2024));
    assert_eq!(
        err("CreationTime gt '2024-01-01T00:00:00Z'"),
        "A binary operator with incompatible types was detected. Found operand types \
         'Edm.DateTimeOffset' and 'Edm.String' for operator kind 'GreaterThan'."
    );
    assert_eq!(
        err("'x' lt CreationTime"),
        "A binary operator with incompatible types was detected. Found operand types \
         'Edm.String' and 'Edm.DateTimeOffset' for operator kind 'LessThan'."
    );
}

#[test]
fn strings_guids_booleans_and_nulls() {
    assert_eq!(
        p("Name eq 'it''s'"),
        cmp("Name", CmpOp::Eq, Val::str("it's"))
    );
    let key = Val::Guid(KEY);
    assert_eq!(
        p("Key eq 01234567-89ab-cdef-0123-456789abcdef"),
        cmp("Key", CmpOp::Eq, key.clone())
    );
    assert_eq!(
        p("Key eq '01234567-89AB-cdef-0123-456789abcdef'"),
        cmp("Key", CmpOp::Eq, key)
    );
    assert_eq!(p("Flag eq false"), cmp("Flag", CmpOp::Eq, Val::Bool(false)));
    assert_eq!(p("true"), Expr::Const(true));
    assert_eq!(
        p("false or Id eq 1"),
        or(Expr::Const(false), cmp("Id", CmpOp::Eq, Val::Int(1)))
    );
    assert_eq!(p("Name eq null"), cmp("Name", CmpOp::Eq, Val::Null));
    assert_eq!(
        p("null ne Inner/Reason"),
        cmp("Inner/Reason", CmpOp::Ne, Val::Null)
    );
    assert!(p("Inner/Reason eq null").eval(&null_row()));
    assert!(!p("Id gt null").eval(&row(1, "a")));
    assert!(!p("Id lt 5").eval(&null_row()));
    assert!(p("Name ne 'x'").eval(&null_row()));
    assert_eq!(
        err("Name eq 5"),
        "A binary operator with incompatible types was detected. Found operand types 'Edm.String' \
         and 'Edm.Int32' for operator kind 'Equal'."
    );
    assert_eq!(
        err("Key eq 'not-a-guid'"),
        "A binary operator with incompatible types was detected. Found operand types 'Edm.Guid' \
         and 'Edm.String' for operator kind 'Equal'."
    );
}

#[test]
fn string_functions() {
    let f = |func, arg: &str| Expr::Func {
        func,
        path: path("Name"),
        arg: arg.to_owned(),
    };
    assert_eq!(p("contains(Name,'voice')"), f(StrFunc::Contains, "voice"));
    assert_eq!(p("startswith(Name, 'In')"), f(StrFunc::StartsWith, "In"));
    assert_eq!(p("endswith(Name,'7')"), f(StrFunc::EndsWith, "7"));
    assert_eq!(
        p("contains(Name,'x') eq false"),
        Expr::Not(Box::new(f(StrFunc::Contains, "x")))
    );
    assert_eq!(p("contains(Name,'x') eq true"), f(StrFunc::Contains, "x"));
    let r = row(1, "Invoice-7");
    assert!(
        p("contains(Name,'VOICE') and startswith(Name,'inv') and endswith(Name,'-7')").eval(&r)
    );
    let signature =
        "No function signature for the function with name 'contains' matches the specified \
                     arguments. The function signatures considered are: contains(Edm.String \
                     Nullable=true, Edm.String Nullable=true).";
    assert_eq!(err("contains(Id,'1')"), signature);
    assert_eq!(err("contains('a',Name)"), signature);
    assert_eq!(err("contains(Name)"), signature);
    assert_eq!(
        err("foo(Name)"),
        "An unknown function with name 'foo' was found. This may also be a function import or a \
         key lookup on a navigation property, which is not allowed."
    );
    assert_eq!(
        err("tolower(Name) eq 'x'"),
        "The OData function 'tolower' is not implemented by the uipath-sim simulator."
    );
}

#[test]
fn in_lists() {
    let in_ = |name: &str, values: Vec<Val>| Expr::In {
        path: path(name),
        values,
    };
    assert_eq!(
        p("Id in (1,2, 3)"),
        in_("Id", vec![Val::Int(1), Val::Int(2), Val::Int(3)])
    );
    assert_eq!(
        p("Name in ('a','b')"),
        in_("Name", vec![Val::str("a"), Val::str("b")])
    );
    assert_eq!(
        p("State in ('0','Faulted')"),
        in_("State", vec![Val::str("Pending"), Val::str("Faulted")])
    );
    assert!(p("State in ('0','Faulted')").eval(&row(1, "a")));
    assert!(p("Name in ('A', null)").eval(&row(1, "a")));
    assert_eq!(
        err("Id in ('a')"),
        "A binary operator with incompatible types was detected. Found operand types 'Edm.Int64' \
         and 'Edm.String' for operator kind 'In'."
    );
    assert_eq!(
        err("Id in ()"),
        "Expression expected at position 7 in 'Id in ()'."
    );
    assert_eq!(
        err("Id in (1 2)"),
        "')' or ',' expected at position 9 in 'Id in (1 2)'."
    );
}

#[test]
fn syntax_errors_say_what_was_expected_where() {
    assert_eq!(
        err("CreationTime ge"),
        "Expression expected at position 15 in 'CreationTime ge'."
    );
    assert_eq!(
        err("Id eq 1 and"),
        "Expression expected at position 11 in 'Id eq 1 and'."
    );
    assert_eq!(
        err("Id eq 1 Id"),
        "Syntax error at position 8 in 'Id eq 1 Id'."
    );
    assert_eq!(
        err("(Id eq 1"),
        "')' or operator expected at position 8 in '(Id eq 1'."
    );
    assert_eq!(err("Id EQ 1"), "Syntax error at position 3 in 'Id EQ 1'.");
    assert_eq!(
        err("Id eq 1 AND Id eq 2"),
        "Syntax error at position 8 in 'Id eq 1 AND Id eq 2'."
    );
    assert_eq!(
        err("Inner/'x' eq 1"),
        "An identifier was expected at position 6 in 'Inner/'x' eq 1'."
    );
    assert_eq!(
        err("Id eq and"),
        "Expression expected at position 6 in 'Id eq and'."
    );
}

#[test]
fn semantic_errors_read_like_the_real_server() {
    assert_eq!(
        err("Foo eq 1"),
        "Could not find a property named 'Foo' on type 'UiPath.Server.Configuration.OData.TestDto'."
    );
    assert_eq!(
        err("Inner/Foo eq 1"),
        "Could not find a property named 'Foo' on type \
         'UiPath.Server.Configuration.OData.InnerDto'."
    );
    assert_eq!(
        err("Id"),
        "The $filter expression must evaluate to a single boolean value."
    );
    assert_eq!(
        err("Inner eq null"),
        "The operand for a binary operator 'Equal' is not a single value. Binary operators require \
         both operands to be single values."
    );
    assert_eq!(
        err("Id eq 1 and Name"),
        "A binary operator with incompatible types was detected. Found operand types 'Edm.Boolean' \
         and 'Edm.String' for operator kind 'And'."
    );
    assert!(err("StartTime eq 1").contains("'StartTime'"));
    assert!(err("CreationTime lt Id").contains("not implemented by the uipath-sim simulator"));
}

#[test]
fn at_most_one_hundred_conditions() {
    let clauses = |n: usize| {
        (0..n)
            .map(|i| format!("Id eq {i}"))
            .collect::<Vec<_>>()
            .join(" or ")
    };
    assert!(parse_filter(&clauses(100), &S).is_ok());
    assert_eq!(
        err(&clauses(101)),
        "The node count limit of '100' has been exceeded. To increase the limit, set the \
         'MaxNodeCount' property on EnableQueryAttribute or ODataValidationSettings."
    );
    let in_list = format!(
        "Id in ({})",
        (0..500)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
    assert!(parse_filter(&in_list, &S).is_ok());
}

#[test]
fn deep_nesting_is_bounded_not_a_stack_overflow() {
    let nested = |n: usize| format!("{}Id eq 1{}", "(".repeat(n), ")".repeat(n));
    assert_eq!(p(&nested(150)), cmp("Id", CmpOp::Eq, Val::Int(1)));
    assert_eq!(
        err(&nested(100_000)),
        "Recursion depth exceeded allowed limit."
    );
    assert_eq!(
        err(&format!("{}Flag", "not ".repeat(100_000))),
        "Recursion depth exceeded allowed limit."
    );
}
