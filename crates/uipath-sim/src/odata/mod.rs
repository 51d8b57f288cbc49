//! OData v4 query options as Orchestrator (ASP.NET Core OData) understands them.
//!
//! [`parse_query`] turns the `$`-parameters of a list request into a [`Query`] whose
//! property references are already resolved to positions in the entity's [`Schema`] and
//! whose literals are already typed to the field they meet, so the query engine never looks
//! at names or text again and [`Expr::eval`] is a cheap walk over rows.
//!
//! Every rejection is an [`ODataError`] carrying the message the real server would put in
//! its HTTP 400 body (without the `The query specified in the URI is not valid.` prefix —
//! see [`ODataError::response_message`]).
//!
//! Layout: `lexer` splits `$filter`/`$orderby` text into tokens, `literal` types literals
//! (and parses datetimes), `parser` is the recursive-descent `$filter` parser, `filter` the
//! expression tree and its evaluation, `query` the system query options.

mod filter;
mod lexer;
mod literal;
mod parser;
mod query;

#[cfg(test)]
mod parser_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod query_tests;
#[cfg(test)]
mod test_schema;

pub use filter::{CmpOp, Expr, StrFunc};
pub use literal::parse_datetime;
pub use parser::parse_filter;
pub use query::{parse_query, OrderKey, Query};

use crate::value::{FieldType, Row, Schema, Val};

/// A rejected query. Becomes an HTTP 400 whose message is [`ODataError::response_message`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ODataError {
    pub message: String,
}

impl ODataError {
    pub(crate) fn new(message: impl Into<String>) -> ODataError {
        ODataError {
            message: message.into(),
        }
    }

    /// The message as ASP.NET Core OData's `[EnableQuery]` reports it: every query-option
    /// failure is wrapped in this fixed prefix before it reaches the response body.
    pub fn response_message(&self) -> String {
        format!(
            "The query specified in the URI is not valid. {}",
            self.message
        )
    }

    /// The error ODL raises for a property name the type does not declare.
    pub(crate) fn no_property(name: &str, type_name: &str) -> ODataError {
        ODataError::new(format!(
            "Could not find a property named '{name}' on type '{type_name}'."
        ))
    }
}

/// The namespace Orchestrator's DTOs live in; error messages name types with it.
const DTO_NAMESPACE: &str = "UiPath.Server.Configuration.OData";

/// The fully qualified OData type name of a schema, as it appears in error messages.
pub(crate) fn dto_type_name(schema: &Schema) -> String {
    format!("{DTO_NAMESPACE}.{}", schema.dto)
}

/// Positions through nested object schemas: `ProcessingException/Reason` is
/// `[idx_of_ProcessingException, idx_of_Reason]`. Never empty.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldPath(pub Vec<usize>);

/// What a path yields when it walks through a null object (or past the end of a short row):
/// SQL Server's left join gives null there, so filters see null rather than failing.
static NULL: Val = Val::Null;

impl FieldPath {
    /// The top-level field position the path starts at.
    pub fn top(&self) -> usize {
        self.0[0]
    }

    /// The value at the end of the path; `Val::Null` when an intermediate object is null.
    pub fn get<'r>(&self, row: &'r Row) -> &'r Val {
        let mut val = row.0.get(self.top()).unwrap_or(&NULL);
        for &idx in &self.0[1..] {
            val = match val {
                Val::Object(inner) => inner.0.get(idx).unwrap_or(&NULL),
                _ => return &NULL,
            };
        }
        val
    }
}

/// Resolves `segments` (a `/`-separated property path) against `schema`, returning the
/// positions and the type of the last field. Every segment but the last must name an
/// object field.
pub(crate) fn resolve_path(
    schema: &'static Schema,
    segments: &[&str],
) -> Result<(FieldPath, FieldType), ODataError> {
    let mut positions = Vec::with_capacity(segments.len());
    let mut current = schema;
    let mut ty = None;
    for (n, name) in segments.iter().enumerate() {
        if n > 0 {
            current = match ty {
                Some(FieldType::Object(inner)) => inner,
                // A property of a primitive: ODL reports it against the primitive's type.
                Some(other) => {
                    let type_name = literal::field_type_name(other, segments[n - 1]);
                    return Err(ODataError::no_property(name, &type_name));
                }
                None => current,
            };
        }
        let idx = current
            .index_of(name)
            .ok_or_else(|| ODataError::no_property(name, &dto_type_name(current)))?;
        positions.push(idx);
        ty = Some(current.fields[idx].ty);
    }
    match ty {
        Some(ty) => Ok((FieldPath(positions), ty)),
        None => Err(ODataError::new(
            "A property path must name at least one property.",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::test_schema::{row, S};
    use super::*;

    #[test]
    fn paths_resolve_through_objects_and_read_nested_values() {
        let (path, ty) = resolve_path(&S, &["Inner", "Reason"]).unwrap();
        assert!(matches!(ty, FieldType::String));
        assert_eq!(path.top(), S.index_of("Inner").unwrap());
        let r = row(7, "name");
        assert_eq!(path.get(&r), &Val::str("inner-reason"));
    }

    #[test]
    fn a_null_intermediate_object_reads_as_null() {
        let (path, _) = resolve_path(&S, &["Inner", "Code"]).unwrap();
        let mut r = row(7, "name");
        r.0[path.top()] = Val::Null;
        assert_eq!(path.get(&r), &Val::Null);
    }

    #[test]
    fn unknown_properties_name_the_type_they_were_looked_up_on() {
        let err = resolve_path(&S, &["Nope"]).unwrap_err();
        assert_eq!(
            err.message,
            "Could not find a property named 'Nope' on type \
             'UiPath.Server.Configuration.OData.TestDto'."
        );
        let err = resolve_path(&S, &["Inner", "Nope"]).unwrap_err();
        assert!(err
            .message
            .contains("'UiPath.Server.Configuration.OData.InnerDto'"));
        let err = resolve_path(&S, &["Name", "Length"]).unwrap_err();
        assert_eq!(
            err.message,
            "Could not find a property named 'Length' on type 'Edm.String'."
        );
    }

    #[test]
    fn response_message_carries_the_aspnet_prefix() {
        let err = ODataError::new("Boom.");
        assert_eq!(err.to_string(), "Boom.");
        assert_eq!(
            err.response_message(),
            "The query specified in the URI is not valid. Boom."
        );
    }
}
