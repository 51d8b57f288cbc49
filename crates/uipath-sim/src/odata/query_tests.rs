//! Tests of the system query options: limits, `$select`/`$orderby`/`$expand` resolution and
//! the messages of every rejection.

use super::test_schema::{idx, INNER, S};
use super::{parse_query, CmpOp, Expr, FieldPath, OrderKey, Query};
use crate::value::Val;

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn q(items: &[(&str, &str)]) -> Query {
    parse_query(&pairs(items), &S, 1000).unwrap_or_else(|e| panic!("{items:?}: {e}"))
}

fn err_with(items: &[(&str, &str)], max_top: u64) -> String {
    match parse_query(&pairs(items), &S, max_top) {
        Ok(query) => panic!("{items:?} parsed as {query:?}"),
        Err(e) => e.message,
    }
}

fn err(items: &[(&str, &str)]) -> String {
    err_with(items, 1000)
}

fn key(path: &[usize], desc: bool) -> OrderKey {
    OrderKey {
        path: FieldPath(path.to_vec()),
        desc,
    }
}

#[test]
fn no_options_and_foreign_parameters_give_the_default_query() {
    assert_eq!(q(&[]), Query::default());
    assert_eq!(
        q(&[("api-version", "20.0"), ("folderId", "$weird")]),
        Query::default()
    );
}

#[test]
fn a_full_fleet_page_request() {
    let query = q(&[
        ("$filter", "Id gt 42"),
        ("$orderby", "CreationTime asc,Id"),
        ("$top", "1000"),
        ("$skip", "2000"),
        ("$count", "true"),
        ("$select", "Id,CreationTime"),
        ("$expand", "Inner"),
        ("$format", "json"),
    ]);
    let want = Query {
        filter: Some(Expr::Cmp {
            path: FieldPath(vec![idx("Id")]),
            op: CmpOp::Gt,
            value: Val::Int(42),
        }),
        orderby: vec![key(&[idx("CreationTime")], false), key(&[idx("Id")], false)],
        top: Some(1000),
        skip: 2000,
        count: true,
        select: Some(vec![idx("Id"), idx("CreationTime")]),
    };
    assert_eq!(query, want);
}

#[test]
fn top_limit_messages_carry_the_real_numbers() {
    assert_eq!(q(&[("$top", "0")]).top, Some(0));
    assert_eq!(
        err(&[("$top", "1001")]),
        "The limit of '1000' for Top query has been exceeded. The value from the incoming \
         request is '1001'."
    );
    assert_eq!(
        parse_query(&pairs(&[("$top", "100")]), &S, 100)
            .unwrap()
            .top,
        Some(100)
    );
    assert_eq!(
        err_with(&[("$top", "101")], 100),
        "The limit of '100' for Top query has been exceeded. The value from the incoming \
         request is '101'."
    );
}

#[test]
fn malformed_numbers_name_their_option() {
    for (name, value) in [
        ("$top", "-1"),
        ("$top", "ten"),
        ("$skip", "1.5"),
        ("$skip", "-3"),
    ] {
        assert_eq!(
            err(&[(name, value)]),
            format!(
                "Invalid value '{value}' for {name} query option found. The {name} query option \
                 requires a non-negative integer value."
            )
        );
    }
    assert_eq!(q(&[("$skip", " 7 ")]).skip, 7);
    assert_eq!(
        err(&[("$count", "yes")]),
        "'yes' is not a valid count option."
    );
    assert!(!q(&[("$count", "false")]).count);
    assert_eq!(
        err(&[("$top", "")]),
        "The value for OData query '$top' cannot be empty."
    );
}

#[test]
fn unknown_repeated_and_miscased_options_are_rejected() {
    assert_eq!(
        err(&[("$xyz", "1")]),
        "The query parameter '$xyz' is not supported."
    );
    assert_eq!(
        err(&[("$Top", "1")]),
        "The query parameter '$Top' is not supported."
    );
    assert_eq!(
        err(&[("$top", "1"), ("$top", "2")]),
        "Query option '$top' was specified more than once, but it must be specified at most once."
    );
    assert_eq!(
        err(&[("$format", "xml")]),
        "The $format 'xml' is not supported by this endpoint; use '$format=json'."
    );
    q(&[("$format", "application/json;odata.metadata=minimal")]);
}

#[test]
fn select_is_deduplicated_and_in_schema_order() {
    assert_eq!(
        q(&[("$select", "Name, Id,Name")]).select,
        Some(vec![idx("Id"), idx("Name")])
    );
    assert_eq!(
        q(&[("$select", "Inner,Key+,State")]).select,
        Some(vec![idx("State"), idx("Key"), idx("Inner")])
    );
    assert_eq!(q(&[("$select", "*")]).select, None);
    assert_eq!(q(&[("$select", "Id,*")]).select, None);
    assert_eq!(
        err(&[("$select", "Id,Foo")]),
        "Could not find a property named 'Foo' on type 'UiPath.Server.Configuration.OData.TestDto'."
    );
    assert_eq!(
        err(&[("$select", "Id,")]),
        "Syntax error at position 3 in 'Id,'."
    );
    assert!(err(&[("$select", "Inner/Reason")]).contains("select 'Inner' instead"));
}

#[test]
fn orderby_keys_nested_paths_and_directions() {
    let inner_code = INNER.index_of("Code").unwrap();
    assert_eq!(
        q(&[("$orderby", "Inner/Code desc, Id asc,Name")]).orderby,
        vec![
            key(&[idx("Inner"), inner_code], true),
            key(&[idx("Id")], false),
            key(&[idx("Name")], false)
        ]
    );
    assert_eq!(
        q(&[("$orderby", "Id+desc")]).orderby,
        vec![key(&[idx("Id")], true)]
    );
    let five = "Id,Name,State,CreationTime,Key";
    assert_eq!(q(&[("$orderby", five)]).orderby.len(), 5);
    assert_eq!(
        err(&[("$orderby", &format!("{five},Score"))]),
        "The number of clauses in $orderby query option exceeded the maximum number 5 allowed."
    );
    for field in ["Inner", "Tags"] {
        assert_eq!(
            err(&[("$orderby", field)]),
            "The $orderby expression must evaluate to a single value of primitive type."
        );
    }
    assert_eq!(
        err(&[("$orderby", "Id,Id desc")]),
        "Duplicate property named 'Id' is not supported in '$orderby'."
    );
    assert_eq!(
        err(&[("$orderby", "Id DESC")]),
        "Syntax error at position 3 in 'Id DESC'."
    );
    assert!(err(&[("$orderby", "Nope")]).contains("named 'Nope'"));
}

#[test]
fn expand_accepts_only_object_fields() {
    q(&[("$expand", "Inner")]);
    q(&[("$expand", "*")]);
    assert_eq!(
        err(&[("$expand", "Inner,Id")]),
        "Property 'Id' on type 'UiPath.Server.Configuration.OData.TestDto' is not a navigation \
         property or complex property. Only navigation properties can be expanded."
    );
    assert_eq!(
        err(&[("$expand", "Robot")]),
        "Could not find a property named 'Robot' on type \
         'UiPath.Server.Configuration.OData.TestDto'."
    );
    assert!(err(&[("$expand", "Inner/Reason")])
        .contains("'Reason' on type 'UiPath.Server.Configuration.OData.InnerDto'"));
    assert!(err(&[("$expand", "Inner/Code/Deeper")])
        .starts_with("The request includes a $expand path which is too deep."));
    assert!(err(&[("$expand", "Inner($select=Reason)")])
        .contains("not implemented by the uipath-sim simulator"));
}

#[test]
fn filter_errors_surface_through_parse_query() {
    assert_eq!(
        err(&[("$filter", "CreationTime ge")]),
        "Expression expected at position 15 in 'CreationTime ge'."
    );
}
