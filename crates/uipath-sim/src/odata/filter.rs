//! The `$filter` expression tree and its evaluation against rows.
//!
//! Evaluation follows what Orchestrator's SQL Server backend does with the translated
//! query: strings compare equal case-insensitively (the database collation is
//! case-insensitive) while ordering comparisons stay ordinal; a null on either side of an
//! ordering comparison is false; `eq null` / `ne null` test nullness.

use std::cmp::Ordering;

use super::FieldPath;
use crate::value::{Row, Val};

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CmpOp {
    pub(crate) const ALL: [CmpOp; 6] = [
        CmpOp::Eq,
        CmpOp::Ne,
        CmpOp::Gt,
        CmpOp::Ge,
        CmpOp::Lt,
        CmpOp::Le,
    ];

    /// The OData keyword (`eq`, `gt`, ...).
    pub fn keyword(self) -> &'static str {
        match self {
            CmpOp::Eq => "eq",
            CmpOp::Ne => "ne",
            CmpOp::Gt => "gt",
            CmpOp::Ge => "ge",
            CmpOp::Lt => "lt",
            CmpOp::Le => "le",
        }
    }

    pub(crate) fn from_keyword(word: &str) -> Option<CmpOp> {
        CmpOp::ALL.into_iter().find(|op| op.keyword() == word)
    }

    /// ODL's `BinaryOperatorKind` name, as error messages print it.
    pub(crate) fn kind_name(self) -> &'static str {
        match self {
            CmpOp::Eq => "Equal",
            CmpOp::Ne => "NotEqual",
            CmpOp::Gt => "GreaterThan",
            CmpOp::Ge => "GreaterThanOrEqual",
            CmpOp::Lt => "LessThan",
            CmpOp::Le => "LessThanOrEqual",
        }
    }

    /// The operator with its operands swapped: `5 lt Id` is `Id gt 5`.
    pub fn flipped(self) -> CmpOp {
        match self {
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Ge => CmpOp::Le,
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Le => CmpOp::Ge,
            same => same,
        }
    }

    /// Whether `ordering` (field compared to literal) satisfies the operator.
    pub(crate) fn holds(self, ordering: Ordering) -> bool {
        match self {
            CmpOp::Eq => ordering == Ordering::Equal,
            CmpOp::Ne => ordering != Ordering::Equal,
            CmpOp::Gt => ordering == Ordering::Greater,
            CmpOp::Ge => ordering != Ordering::Less,
            CmpOp::Lt => ordering == Ordering::Less,
            CmpOp::Le => ordering != Ordering::Greater,
        }
    }
}

/// A string function usable as a filter condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrFunc {
    Contains,
    StartsWith,
    EndsWith,
}

impl StrFunc {
    /// The OData function name.
    pub fn name(self) -> &'static str {
        match self {
            StrFunc::Contains => "contains",
            StrFunc::StartsWith => "startswith",
            StrFunc::EndsWith => "endswith",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<StrFunc> {
        [StrFunc::Contains, StrFunc::StartsWith, StrFunc::EndsWith]
            .into_iter()
            .find(|f| f.name() == name)
    }

    /// ASCII case-insensitive, like the database collation; byte-wise, so no allocation
    /// per row (UTF-8 is self-synchronizing, so a byte match is a character match).
    fn matches(self, haystack: &str, needle: &str) -> bool {
        let (hay, needle) = (haystack.as_bytes(), needle.as_bytes());
        if needle.len() > hay.len() {
            return false;
        }
        match self {
            StrFunc::Contains => {
                needle.is_empty()
                    || hay
                        .windows(needle.len())
                        .any(|w| w.eq_ignore_ascii_case(needle))
            }
            StrFunc::StartsWith => hay[..needle.len()].eq_ignore_ascii_case(needle),
            StrFunc::EndsWith => hay[hay.len() - needle.len()..].eq_ignore_ascii_case(needle),
        }
    }
}

/// A parsed `$filter`. Paths are resolved and literals typed to their field's type
/// (Int fields may meet a `Val::Float` literal such as `Id lt 2.5`, which ODL allows).
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cmp {
        path: FieldPath,
        op: CmpOp,
        value: Val,
    },
    Func {
        func: StrFunc,
        path: FieldPath,
        arg: String,
    },
    In {
        path: FieldPath,
        values: Vec<Val>,
    },
    Const(bool),
}

impl Expr {
    /// Whether `row` satisfies the expression.
    pub fn eval(&self, row: &Row) -> bool {
        match self {
            Expr::And(a, b) => a.eval(row) && b.eval(row),
            Expr::Or(a, b) => a.eval(row) || b.eval(row),
            Expr::Not(e) => !e.eval(row),
            Expr::Cmp { path, op, value } => compare(path.get(row), *op, value),
            Expr::Func { func, path, arg } => match path.get(row) {
                Val::Str(s) => func.matches(s, arg),
                _ => false,
            },
            Expr::In { path, values } => {
                let field = path.get(row);
                values.iter().any(|v| compare(field, CmpOp::Eq, v))
            }
            Expr::Const(b) => *b,
        }
    }
}

/// `field op literal` with SQL Server's null and collation rules.
fn compare(field: &Val, op: CmpOp, literal: &Val) -> bool {
    match (field, literal) {
        (Val::Null, Val::Null) => op == CmpOp::Eq,
        (Val::Null, _) | (_, Val::Null) => op == CmpOp::Ne,
        (Val::Str(a), Val::Str(b)) if matches!(op, CmpOp::Eq | CmpOp::Ne) => {
            a.eq_ignore_ascii_case(b) == (op == CmpOp::Eq)
        }
        _ => op.holds(field.order(literal)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::odata::test_schema::{idx, null_row, row, JAN_1_2024};

    fn cmp(field: &str, op: CmpOp, value: Val) -> Expr {
        Expr::Cmp {
            path: FieldPath(vec![idx(field)]),
            op,
            value,
        }
    }

    #[test]
    fn every_operator_orders_like_val_order() {
        let r = row(42, "x");
        let expect = [
            (CmpOp::Eq, [false, true, false]),
            (CmpOp::Ne, [true, false, true]),
            (CmpOp::Gt, [true, false, false]),
            (CmpOp::Ge, [true, true, false]),
            (CmpOp::Lt, [false, false, true]),
            (CmpOp::Le, [false, true, true]),
        ];
        for (op, want) in expect {
            let got: Vec<bool> = [41, 42, 43]
                .iter()
                .map(|&n| cmp("Id", op, Val::Int(n)).eval(&r))
                .collect();
            assert_eq!(got, want, "{op:?}");
            let t = JAN_1_2024;
            let got: Vec<bool> = [t - 1, t, t + 1]
                .iter()
                .map(|&n| cmp("CreationTime", op, Val::DateTime(n)).eval(&r))
                .collect();
            assert_eq!(got, want, "datetime {op:?}");
        }
        assert!(cmp("Score", CmpOp::Gt, Val::Int(1)).eval(&r));
        assert!(cmp("Id", CmpOp::Lt, Val::Float(42.5)).eval(&r));
    }

    #[test]
    fn nulls_match_only_eq_null_and_fail_every_ordering() {
        let n = null_row();
        let r = row(1, "x");
        for op in [CmpOp::Gt, CmpOp::Ge, CmpOp::Lt, CmpOp::Le] {
            assert!(!cmp("Id", op, Val::Int(0)).eval(&n), "null field {op:?}");
            assert!(!cmp("Id", op, Val::Null).eval(&r), "null literal {op:?}");
            assert!(!cmp("Id", op, Val::Null).eval(&n), "both null {op:?}");
        }
        assert!(cmp("Id", CmpOp::Eq, Val::Null).eval(&n));
        assert!(!cmp("Id", CmpOp::Ne, Val::Null).eval(&n));
        assert!(!cmp("Id", CmpOp::Eq, Val::Null).eval(&r));
        assert!(cmp("Id", CmpOp::Ne, Val::Null).eval(&r));
        assert!(!cmp("Id", CmpOp::Eq, Val::Int(1)).eval(&n));
        assert!(cmp("Id", CmpOp::Ne, Val::Int(1)).eval(&n));
        let contains = Expr::Func {
            func: StrFunc::Contains,
            path: FieldPath(vec![idx("Name")]),
            arg: String::new(),
        };
        assert!(!contains.eval(&n));
        assert!(contains.eval(&r));
    }

    #[test]
    fn strings_are_equal_case_insensitively_but_ordered_ordinally() {
        let r = row(1, "Invoice-7");
        assert!(cmp("Name", CmpOp::Eq, Val::str("INVOICE-7")).eval(&r));
        assert!(!cmp("Name", CmpOp::Ne, Val::str("invoice-7")).eval(&r));
        // 'I' (0x49) sorts before 'i' (0x69) ordinally.
        assert!(cmp("Name", CmpOp::Lt, Val::str("invoice-7")).eval(&r));
        assert!(!cmp("Name", CmpOp::Ge, Val::str("invoice-7")).eval(&r));
    }

    #[test]
    fn string_functions_ignore_ascii_case() {
        let r = row(1, "Invoice-Ünï-7");
        let f = |func, arg: &str| Expr::Func {
            func,
            path: FieldPath(vec![idx("Name")]),
            arg: arg.to_owned(),
        };
        assert!(!f(StrFunc::Contains, "ÜNÏ").eval(&r));
        assert!(f(StrFunc::Contains, "-Ünï-").eval(&r));
        assert!(!f(StrFunc::Contains, "CE-ü").eval(&r));
        assert!(f(StrFunc::StartsWith, "INVOICE").eval(&r));
        assert!(!f(StrFunc::StartsWith, "nvoice").eval(&r));
        assert!(f(StrFunc::EndsWith, "ï-7").eval(&r));
        assert!(!f(StrFunc::EndsWith, "Invoice-Ünï-7 and more").eval(&r));
        assert!(f(StrFunc::Contains, "").eval(&r));
    }

    #[test]
    fn in_uses_equality_semantics_and_enums_compare_by_name() {
        let r = row(5, "abc");
        let path = FieldPath(vec![idx("Id")]);
        assert!(Expr::In {
            path: path.clone(),
            values: vec![Val::Int(4), Val::Int(5)]
        }
        .eval(&r));
        assert!(!Expr::In {
            path: path.clone(),
            values: vec![Val::Int(4), Val::Null]
        }
        .eval(&r));
        assert!(Expr::In {
            path,
            values: vec![Val::Null]
        }
        .eval(&null_row()));
        assert!(cmp("State", CmpOp::Eq, Val::str("Faulted")).eval(&r));
        assert!(!cmp("State", CmpOp::Eq, Val::str("Successful")).eval(&r));
    }

    #[test]
    fn connectives_and_constants() {
        let r = row(5, "abc");
        let t = || Box::new(Expr::Const(true));
        let f = || Box::new(Expr::Const(false));
        assert!(Expr::And(t(), t()).eval(&r));
        assert!(!Expr::And(t(), f()).eval(&r));
        assert!(Expr::Or(f(), t()).eval(&r));
        assert!(!Expr::Or(f(), f()).eval(&r));
        assert!(Expr::Not(f()).eval(&r));
        assert!(CmpOp::ALL
            .iter()
            .all(|op| CmpOp::from_keyword(op.keyword()) == Some(*op)));
        assert!(CmpOp::ALL.iter().all(|op| op.flipped().flipped() == *op));
    }
}
