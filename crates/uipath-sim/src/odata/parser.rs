//! The recursive-descent `$filter` parser.
//!
//! Precedence follows OData (lowest first): `or`, `and`, comparisons and `in`, `not`,
//! primaries (parentheses, function calls, properties, literals). As in ODL, `not` binds
//! tighter than a comparison, so `not Id eq 5` is rejected and clients must write
//! `not (Id eq 5)`.
//!
//! The parser works on operands that are not yet known to be conditions (a property, a
//! literal, or a boolean expression) and turns them into [`Expr`] nodes once the operator
//! between them is known, which is when literals get their types.

use super::filter::{CmpOp, Expr, StrFunc};
use super::lexer::{lex, syntax_error, Tok, Token};
use super::literal::{field_type_name, lit_type_name, type_literal, Lit, LitError};
use super::{resolve_path, FieldPath, ODataError};
use crate::value::{FieldType, Schema, Val};

/// Comparison, function and `in` nodes one filter may hold (ASP.NET's `MaxNodeCount`).
const MAX_NODES: usize = 100;
/// Nesting of parentheses, `not` and function calls; bounds recursion so hostile input
/// cannot overflow the stack.
const MAX_DEPTH: usize = 200;

/// OData functions ODL knows but the simulator does not implement. Naming them as such
/// keeps a client bug apart from a simulator gap.
const UNIMPLEMENTED_FUNCTIONS: &str = "tolower toupper trim length indexof substring \
    concat matchesPattern year month day hour minute second fractionalseconds date time now \
    totaloffsetminutes totalseconds maxdatetime mindatetime round floor ceiling cast isof \
    substringof";

/// Parses `$filter` text against `schema`.
pub fn parse_filter(text: &str, schema: &'static Schema) -> Result<Expr, ODataError> {
    let tokens = lex(text)?;
    let mut parser = Parser {
        text,
        schema,
        tokens,
        at: 0,
        nodes: 0,
        depth: 0,
    };
    let operand = parser.or_expr()?;
    let rest = parser.peek();
    if rest.tok != Tok::Eof {
        return Err(syntax_error(rest.pos, text));
    }
    if !parser.is_bool(&operand) {
        return Err(ODataError::new(
            "The $filter expression must evaluate to a single boolean value.",
        ));
    }
    parser.condition(operand)
}

/// A parsed piece of the filter before it is known what it will be used as.
#[derive(Debug)]
enum Operand {
    Cond(Expr),
    Prop {
        path: FieldPath,
        ty: FieldType,
        name: String,
    },
    Lit(Lit),
}

struct Parser<'t> {
    text: &'t str,
    schema: &'static Schema,
    tokens: Vec<Token>,
    at: usize,
    nodes: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> &Token {
        // `lex` always ends with Eof and the parser never advances past it.
        &self.tokens[self.at.min(self.tokens.len() - 1)]
    }

    fn advance(&mut self) -> Token {
        let token = self.peek().clone();
        if token.tok != Tok::Eof {
            self.at += 1;
        }
        token
    }

    fn peek_keyword(&self, word: &str) -> bool {
        matches!(&self.peek().tok, Tok::Ident(w) if w == word)
    }

    fn error_at(&self, what: &str, pos: usize) -> ODataError {
        ODataError::new(format!("{what} at position {pos} in '{}'.", self.text))
    }

    fn expect(&mut self, tok: Tok, what: &str) -> Result<(), ODataError> {
        let token = self.advance();
        if token.tok == tok {
            Ok(())
        } else {
            Err(self.error_at(what, token.pos))
        }
    }

    fn enter(&mut self) -> Result<(), ODataError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ODataError::new("Recursion depth exceeded allowed limit."));
        }
        Ok(())
    }

    fn count_node(&mut self) -> Result<(), ODataError> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(ODataError::new(format!(
                "The node count limit of '{MAX_NODES}' has been exceeded. To increase the \
                 limit, set the 'MaxNodeCount' property on EnableQueryAttribute or \
                 ODataValidationSettings."
            )));
        }
        Ok(())
    }

    fn type_name(&self, operand: &Operand) -> String {
        match operand {
            Operand::Cond(_) => "Edm.Boolean".to_owned(),
            Operand::Prop { ty, name, .. } => {
                field_type_name(*ty, name.rsplit('/').next().unwrap_or(name))
            }
            Operand::Lit(lit) => lit_type_name(lit),
        }
    }

    fn is_bool(&self, operand: &Operand) -> bool {
        matches!(
            operand,
            Operand::Cond(_)
                | Operand::Prop {
                    ty: FieldType::Bool,
                    ..
                }
                | Operand::Lit(Lit::Bool(_))
        )
    }

    /// Turns a boolean operand into a condition; callers have checked [`Self::is_bool`].
    fn condition(&mut self, operand: Operand) -> Result<Expr, ODataError> {
        match operand {
            Operand::Cond(e) => Ok(e),
            Operand::Lit(Lit::Bool(b)) => Ok(Expr::Const(b)),
            Operand::Prop {
                path,
                ty: FieldType::Bool,
                ..
            } => {
                self.count_node()?;
                Ok(Expr::Cmp {
                    path,
                    op: CmpOp::Eq,
                    value: Val::Bool(true),
                })
            }
            other => Err(ODataError::new(format!(
                "A boolean expression was expected but '{}' was found.",
                self.type_name(&other)
            ))),
        }
    }

    /// `left and right` / `left or right`, both sides boolean.
    fn connective(
        &mut self,
        left: Operand,
        right: Operand,
        kind: &str,
    ) -> Result<Expr, ODataError> {
        if !self.is_bool(&left) || !self.is_bool(&right) {
            return Err(incompatible(
                &self.type_name(&left),
                &self.type_name(&right),
                kind,
            ));
        }
        let (l, r) = (self.condition(left)?, self.condition(right)?);
        Ok(if kind == "And" {
            Expr::And(Box::new(l), Box::new(r))
        } else {
            Expr::Or(Box::new(l), Box::new(r))
        })
    }

    fn or_expr(&mut self) -> Result<Operand, ODataError> {
        let mut left = self.and_expr()?;
        while self.peek_keyword("or") {
            self.advance();
            let right = self.and_expr()?;
            left = Operand::Cond(self.connective(left, right, "Or")?);
        }
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<Operand, ODataError> {
        let mut left = self.comparison()?;
        while self.peek_keyword("and") {
            self.advance();
            let right = self.comparison()?;
            left = Operand::Cond(self.connective(left, right, "And")?);
        }
        Ok(left)
    }

    fn comparison(&mut self) -> Result<Operand, ODataError> {
        let left = self.unary()?;
        let op = match &self.peek().tok {
            Tok::Ident(word) if word == "in" => {
                self.advance();
                return self.in_list(left).map(Operand::Cond);
            }
            Tok::Ident(word) => CmpOp::from_keyword(word),
            _ => None,
        };
        let Some(op) = op else { return Ok(left) };
        self.advance();
        let right = self.unary()?;
        self.compare(left, op, right).map(Operand::Cond)
    }

    fn unary(&mut self) -> Result<Operand, ODataError> {
        if !self.peek_keyword("not") {
            return self.primary();
        }
        self.advance();
        self.enter()?;
        let operand = self.unary()?;
        self.depth -= 1;
        if !self.is_bool(&operand) {
            return Err(ODataError::new(format!(
                "A unary operator with an incompatible type was detected. Found operand type '{}' \
                 for operator kind 'Not'.",
                self.type_name(&operand)
            )));
        }
        Ok(Operand::Cond(Expr::Not(Box::new(self.condition(operand)?))))
    }

    fn primary(&mut self) -> Result<Operand, ODataError> {
        let token = self.advance();
        let lit = match token.tok {
            Tok::LParen => {
                self.enter()?;
                let inner = self.or_expr()?;
                self.expect(Tok::RParen, "')' or operator expected")?;
                self.depth -= 1;
                return Ok(inner);
            }
            Tok::Ident(name) => match name.as_str() {
                "true" => Lit::Bool(true),
                "false" => Lit::Bool(false),
                "null" => Lit::Null,
                "and" | "or" | "not" | "in" | "eq" | "ne" | "gt" | "ge" | "lt" | "le" => {
                    return Err(self.error_at("Expression expected", token.pos))
                }
                _ if self.peek().tok == Tok::LParen => return self.call(&name).map(Operand::Cond),
                _ => return self.property(name),
            },
            Tok::Str(s) => Lit::Str(s),
            Tok::Number(raw) => Lit::Number(raw),
            Tok::DateTime(raw) => Lit::DateTime(raw),
            Tok::Date(raw) => Lit::Date(raw),
            Tok::Guid(raw) => Lit::Guid(raw),
            Tok::Typed(prefix, value) => Lit::Typed(prefix, value),
            _ => return Err(self.error_at("Expression expected", token.pos)),
        };
        Ok(Operand::Lit(lit))
    }

    /// `Name(/Name)*`, the first name already taken.
    fn property(&mut self, first: String) -> Result<Operand, ODataError> {
        let mut names = vec![first];
        while self.peek().tok == Tok::Slash {
            self.advance();
            match self.advance() {
                Token {
                    tok: Tok::Ident(name),
                    ..
                } => names.push(name),
                other => return Err(self.error_at("An identifier was expected", other.pos)),
            }
        }
        let segments: Vec<&str> = names.iter().map(String::as_str).collect();
        let (path, ty) = resolve_path(self.schema, &segments)?;
        Ok(Operand::Prop {
            path,
            ty,
            name: names.join("/"),
        })
    }

    /// A function call; the name is taken and `(` is next.
    fn call(&mut self, name: &str) -> Result<Expr, ODataError> {
        let Some(func) = StrFunc::from_name(name) else {
            return Err(unknown_function(name));
        };
        self.advance();
        self.enter()?;
        let mut args = vec![self.or_expr()?];
        while self.peek().tok == Tok::Comma {
            self.advance();
            args.push(self.or_expr()?);
        }
        self.expect(Tok::RParen, "')' or ',' expected")?;
        self.depth -= 1;
        match <[Operand; 2]>::try_from(args) {
            Ok(
                [Operand::Prop {
                    path,
                    ty: FieldType::String,
                    ..
                }, Operand::Lit(Lit::Str(arg))],
            ) => {
                self.count_node()?;
                Ok(Expr::Func { func, path, arg })
            }
            _ => Err(ODataError::new(format!(
                "No function signature for the function with name '{name}' matches the specified \
                 arguments. The function signatures considered are: {name}(Edm.String \
                 Nullable=true, Edm.String Nullable=true)."
            ))),
        }
    }

    /// `left op right` where one side is a property and the other a literal, or a condition
    /// compared with `true`/`false`.
    fn compare(&mut self, left: Operand, op: CmpOp, right: Operand) -> Result<Expr, ODataError> {
        match (left, right) {
            (Operand::Prop { path, ty, name }, Operand::Lit(lit)) => {
                let shown = |lit_type: String| (field_type_name(ty, &name), lit_type);
                let value = typed_literal(ty, op.kind_name(), &lit, shown)?;
                self.property_cmp(path, ty, op, value)
            }
            (Operand::Lit(lit), Operand::Prop { path, ty, name }) => {
                let shown = |lit_type: String| (lit_type, field_type_name(ty, &name));
                let value = typed_literal(ty, op.kind_name(), &lit, shown)?;
                self.property_cmp(path, ty, op.flipped(), value)
            }
            (Operand::Cond(e), Operand::Lit(Lit::Bool(b)))
            | (Operand::Lit(Lit::Bool(b)), Operand::Cond(e))
                if matches!(op, CmpOp::Eq | CmpOp::Ne) =>
            {
                Ok(if b == (op == CmpOp::Eq) {
                    e
                } else {
                    Expr::Not(Box::new(e))
                })
            }
            (left @ Operand::Prop { .. }, right @ Operand::Prop { .. }) => {
                let (l, r) = (prop_name(&left), prop_name(&right));
                Err(ODataError::new(format!(
                    "Comparing two properties ('{l}' {} '{r}') is valid OData but is not \
                     implemented by the uipath-sim simulator.",
                    op.keyword()
                )))
            }
            (left, right) => Err(incompatible(
                &self.type_name(&left),
                &self.type_name(&right),
                op.kind_name(),
            )),
        }
    }

    /// `path op value`, with the property on the left and `value` already typed.
    fn property_cmp(
        &mut self,
        path: FieldPath,
        ty: FieldType,
        op: CmpOp,
        value: Val,
    ) -> Result<Expr, ODataError> {
        self.count_node()?;
        // Enums are integers in the database, so they order by declaration position; the
        // rows hold names, so an ordering comparison becomes the set of members it admits.
        let ordering = !matches!(op, CmpOp::Eq | CmpOp::Ne);
        if let (FieldType::Enum(members), Val::Str(name), true) = (ty, &value, ordering) {
            let at = members
                .iter()
                .position(|m| *m == name.as_ref())
                .unwrap_or(0);
            let values = (0..members.len())
                .filter(|i| op.holds(i.cmp(&at)))
                .map(|i| Val::str(members[i]))
                .collect();
            return Ok(Expr::In { path, values });
        }
        Ok(Expr::Cmp { path, op, value })
    }

    /// `Path in (literal, ...)`; `in` is taken.
    fn in_list(&mut self, left: Operand) -> Result<Expr, ODataError> {
        let Operand::Prop { path, ty, name } = left else {
            return Err(ODataError::new(format!(
                "The left operand of 'in' must be a property; found '{}'.",
                self.type_name(&left)
            )));
        };
        self.expect(Tok::LParen, "'(' expected")?;
        let mut values = Vec::new();
        loop {
            let pos = self.peek().pos;
            let Operand::Lit(lit) = self.primary()? else {
                return Err(self.error_at("A literal was expected", pos));
            };
            let shown = |lit_type: String| (field_type_name(ty, &name), lit_type);
            values.push(typed_literal(ty, "In", &lit, shown)?);
            match self.advance() {
                Token {
                    tok: Tok::RParen, ..
                } => break,
                Token {
                    tok: Tok::Comma, ..
                } => {}
                other => return Err(self.error_at("')' or ',' expected", other.pos)),
            }
        }
        self.count_node()?;
        Ok(Expr::In { path, values })
    }
}

/// Types `lit` to a field of type `ty` for operator `kind`, with ODL's messages. `shown`
/// orders the two type names as the operands were written.
fn typed_literal(
    ty: FieldType,
    kind: &str,
    lit: &Lit,
    shown: impl Fn(String) -> (String, String),
) -> Result<Val, ODataError> {
    if matches!(ty, FieldType::Object(_) | FieldType::Json) {
        return Err(ODataError::new(format!(
            "The operand for a binary operator '{kind}' is not a single value. Binary operators \
             require both operands to be single values."
        )));
    }
    type_literal(lit, ty).map_err(|e| match e {
        LitError::Invalid(e) => e,
        LitError::Incompatible => {
            let (l, r) = shown(lit_type_name(lit));
            incompatible(&l, &r, kind)
        }
    })
}

/// The error for a call of a function other than `contains`/`startswith`/`endswith`.
fn unknown_function(name: &str) -> ODataError {
    if UNIMPLEMENTED_FUNCTIONS
        .split_whitespace()
        .any(|f| f == name)
    {
        return ODataError::new(format!(
            "The OData function '{name}' is not implemented by the uipath-sim simulator."
        ));
    }
    ODataError::new(format!(
        "An unknown function with name '{name}' was found. This may also be a function import or \
         a key lookup on a navigation property, which is not allowed."
    ))
}

fn prop_name(operand: &Operand) -> &str {
    match operand {
        Operand::Prop { name, .. } => name,
        _ => "",
    }
}

/// ODL's message for a binary operator whose operand types cannot meet.
fn incompatible(left: &str, right: &str, kind: &str) -> ODataError {
    ODataError::new(format!(
        "A binary operator with incompatible types was detected. Found operand types '{left}' \
         and '{right}' for operator kind '{kind}'."
    ))
}
