//! The system query options of a list request (`$filter`, `$orderby`, `$top`, `$skip`,
//! `$count`, `$select`, `$expand`, `$format`), validated with the limits Orchestrator's
//! `[EnableQuery]` applies and resolved against the entity's schema.

use super::lexer::{lex, syntax_error, Tok, Token};
use super::{dto_type_name, parse_filter, resolve_path, Expr, FieldPath, ODataError};
use crate::value::{FieldType, Schema};

/// Keys one `$orderby` may hold (ASP.NET's `MaxOrderByNodeCount`, which Orchestrator sets).
const MAX_ORDERBY: usize = 5;
/// Segments one `$expand` path may hold (ASP.NET's default `MaxExpansionDepth`).
const MAX_EXPAND_DEPTH: usize = 2;

/// Every option the simulator understands. Names are case-sensitive, as Orchestrator's are.
const OPTIONS: &[&str] = &[
    "$filter", "$orderby", "$top", "$skip", "$count", "$select", "$expand", "$format",
];

/// One `$orderby` key.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderKey {
    pub path: FieldPath,
    pub desc: bool,
}

/// A list request's query options, resolved against the entity's schema.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Query {
    pub filter: Option<Expr>,
    pub orderby: Vec<OrderKey>,
    pub top: Option<u64>,
    pub skip: u64,
    pub count: bool,
    /// Top-level field positions, deduplicated, in schema order; `None` selects every field.
    pub select: Option<Vec<usize>>,
}

/// Parses the query options of a list request. `pairs` are the percent-decoded query-string
/// pairs in order; parameters not starting with `$` (such as `api-version`) are ignored.
/// `max_top` is the endpoint's `$top` limit (1000, or 100 for QueueItems on cloud).
pub fn parse_query(
    pairs: &[(String, String)],
    schema: &'static Schema,
    max_top: u64,
) -> Result<Query, ODataError> {
    let mut query = Query::default();
    let mut seen: Vec<&str> = Vec::new();
    for (name, value) in pairs {
        if !name.starts_with('$') {
            continue;
        }
        if !OPTIONS.contains(&name.as_str()) {
            return Err(ODataError::new(format!(
                "The query parameter '{name}' is not supported."
            )));
        }
        if seen.contains(&name.as_str()) {
            return Err(ODataError::new(format!(
                "Query option '{name}' was specified more than once, but it must be specified at \
                 most once."
            )));
        }
        seen.push(name);
        if value.trim().is_empty() {
            return Err(ODataError::new(format!(
                "The value for OData query '{name}' cannot be empty."
            )));
        }
        match name.as_str() {
            "$filter" => query.filter = Some(parse_filter(value, schema)?),
            "$orderby" => query.orderby = parse_orderby(value, schema)?,
            "$top" => {
                let top = non_negative(name, value)?;
                if top > max_top {
                    return Err(ODataError::new(format!(
                        "The limit of '{max_top}' for Top query has been exceeded. The value \
                         from the incoming request is '{top}'."
                    )));
                }
                query.top = Some(top);
            }
            "$skip" => query.skip = non_negative(name, value)?,
            "$count" => {
                query.count = match value.trim() {
                    "true" => true,
                    "false" => false,
                    _ => {
                        return Err(ODataError::new(format!(
                            "'{value}' is not a valid count option."
                        )))
                    }
                }
            }
            "$select" => query.select = parse_select(value, schema)?,
            "$expand" => check_expand(value, schema)?,
            _ => check_format(value)?,
        }
    }
    Ok(query)
}

/// `$top` / `$skip`: a non-negative integer, as ODL's `long.TryParse` accepts it.
fn non_negative(name: &str, value: &str) -> Result<u64, ODataError> {
    match value.trim().parse::<i64>() {
        Ok(n) if n >= 0 => Ok(n.unsigned_abs()),
        _ => Err(ODataError::new(format!(
            "Invalid value '{value}' for {name} query option found. The {name} query option \
             requires a non-negative integer value."
        ))),
    }
}

/// Reads `Name(/Name)*` from `tokens` at `*at`, returning the names.
fn path_names(tokens: &[Token], at: &mut usize, text: &str) -> Result<Vec<String>, ODataError> {
    let mut names = Vec::new();
    loop {
        match &tokens[*at] {
            Token {
                tok: Tok::Ident(name),
                ..
            } => names.push(name.clone()),
            other => return Err(syntax_error(other.pos, text)),
        }
        *at += 1;
        if tokens[*at].tok != Tok::Slash {
            return Ok(names);
        }
        *at += 1;
    }
}

/// Splits a comma-separated option into items, each handed to `item` at its first token.
/// `item` advances past what it consumed; anything else before the next comma is an error.
fn comma_list(
    text: &str,
    mut item: impl FnMut(&[Token], &mut usize) -> Result<(), ODataError>,
) -> Result<(), ODataError> {
    let tokens = lex(text)?;
    let mut at = 0;
    loop {
        item(&tokens, &mut at)?;
        match &tokens[at] {
            Token {
                tok: Tok::Comma, ..
            } => at += 1,
            Token { tok: Tok::Eof, .. } => return Ok(()),
            other => return Err(syntax_error(other.pos, text)),
        }
    }
}

fn parse_orderby(text: &str, schema: &'static Schema) -> Result<Vec<OrderKey>, ODataError> {
    let mut keys: Vec<(String, OrderKey)> = Vec::new();
    comma_list(text, |tokens, at| {
        let names = path_names(tokens, at, text)?;
        let segments: Vec<&str> = names.iter().map(String::as_str).collect();
        let (path, ty) = resolve_path(schema, &segments)?;
        if matches!(ty, FieldType::Object(_) | FieldType::Json) {
            return Err(ODataError::new(
                "The $orderby expression must evaluate to a single value of primitive type.",
            ));
        }
        let desc = match &tokens[*at].tok {
            Tok::Ident(word) if word == "desc" || word == "asc" => {
                *at += 1;
                word == "desc"
            }
            _ => false,
        };
        let shown = names.join("/");
        if keys.iter().any(|(seen, _)| *seen == shown) {
            return Err(ODataError::new(format!(
                "Duplicate property named '{shown}' is not supported in '$orderby'."
            )));
        }
        keys.push((shown, OrderKey { path, desc }));
        Ok(())
    })?;
    if keys.len() > MAX_ORDERBY {
        return Err(ODataError::new(format!(
            "The number of clauses in $orderby query option exceeded the maximum number \
             {MAX_ORDERBY} allowed."
        )));
    }
    Ok(keys.into_iter().map(|(_, key)| key).collect())
}

fn parse_select(text: &str, schema: &'static Schema) -> Result<Option<Vec<usize>>, ODataError> {
    let mut all = false;
    let mut positions = Vec::new();
    comma_list(text, |tokens, at| {
        if tokens[*at].tok == Tok::Star {
            *at += 1;
            all = true;
            return Ok(());
        }
        let names = path_names(tokens, at, text)?;
        let idx = schema
            .index_of(&names[0])
            .ok_or_else(|| ODataError::no_property(&names[0], &dto_type_name(schema)))?;
        if names.len() > 1 {
            return Err(ODataError::new(format!(
                "Selecting a nested property ('{}') is not implemented by the uipath-sim \
                 simulator; select '{}' instead.",
                names.join("/"),
                names[0]
            )));
        }
        positions.push(idx);
        Ok(())
    })?;
    if all {
        return Ok(None);
    }
    positions.sort_unstable();
    positions.dedup();
    Ok(Some(positions))
}

/// `$expand` changes nothing in the simulator's responses (object fields are always
/// written), but it is validated as the real server validates it.
fn check_expand(text: &str, schema: &'static Schema) -> Result<(), ODataError> {
    if text.contains('(') {
        return Err(ODataError::new(
            "Nested query options in $expand are not implemented by the uipath-sim simulator.",
        ));
    }
    comma_list(text, |tokens, at| {
        if tokens[*at].tok == Tok::Star {
            *at += 1;
            return Ok(());
        }
        let names = path_names(tokens, at, text)?;
        if names.len() > MAX_EXPAND_DEPTH {
            return Err(ODataError::new(format!(
                "The request includes a $expand path which is too deep. The maximum depth \
                 allowed is {MAX_EXPAND_DEPTH}. To increase the limit, set the \
                 'MaxExpansionDepth' property on EnableQueryAttribute or \
                 ODataValidationSettings."
            )));
        }
        let mut current = schema;
        for name in &names {
            let idx = current
                .index_of(name)
                .ok_or_else(|| ODataError::no_property(name, &dto_type_name(current)))?;
            match current.fields[idx].ty {
                FieldType::Object(inner) => current = inner,
                _ => {
                    return Err(ODataError::new(format!(
                        "Property '{name}' on type '{}' is not a navigation property or complex \
                         property. Only navigation properties can be expanded.",
                        dto_type_name(current)
                    )))
                }
            }
        }
        Ok(())
    })
}

/// `$format`: only JSON is served.
fn check_format(value: &str) -> Result<(), ODataError> {
    let value = value.trim();
    let lower = value.to_ascii_lowercase();
    if lower == "json" || lower == "application/json" || lower.starts_with("application/json;") {
        Ok(())
    } else {
        Err(ODataError::new(format!(
            "The $format '{value}' is not supported by this endpoint; use '$format=json'."
        )))
    }
}
