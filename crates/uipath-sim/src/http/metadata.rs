//! `GET …/odata/$metadata`: the service document of the simulated Orchestrator, generated
//! from the simulator's own schemas, so what it declares is exactly what it serves.
//!
//! As Orchestrator: CSDL (OData v4) describing one `EntityType` per DTO with its
//! `Property Name Type Nullable`, a `ComplexType` per nested object, an `EnumType` per
//! string enum (members in declaration order, valued 0, 1, …), and an `EntitySet` per
//! entity set in the container. JSON CSDL by default, XML with `$format=xml` or an
//! `Accept` that asks for XML (uipath-api.md §4). Needs a valid bearer token of the
//! tenant, no scope and no folder. Navigation properties are not declared: the
//! simulator's list answers leave them out, and the document says what it serves.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use crate::data::entities;
use crate::value::{FieldType, Schema};

/// The namespace of every declared type.
pub const NAMESPACE: &str = "UiPath.Server.Configuration.OData";

/// A declared type: entity, complex or enum.
enum Decl {
    Entity {
        key: Option<&'static str>,
        schema: &'static Schema,
    },
    Complex(&'static Schema),
    Enum(&'static [&'static str]),
}

/// Every type the entity sets need, by name, and the entity sets with their type.
struct Model {
    types: BTreeMap<String, Decl>,
    sets: Vec<(&'static str, &'static str)>,
}

fn model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| {
        let mut m = Model {
            types: BTreeMap::new(),
            sets: Vec::new(),
        };
        for g in entities::all() {
            let def = g.def();
            m.sets.push((def.name, def.schema.dto));
            m.types.insert(
                def.schema.dto.to_owned(),
                Decl::Entity {
                    key: def.id_field,
                    schema: def.schema,
                },
            );
            nested(&mut m.types, def.schema);
        }
        m
    })
}

/// Declares the complex and enum types `schema`'s fields use, recursively.
fn nested(types: &mut BTreeMap<String, Decl>, schema: &'static Schema) {
    for f in schema.fields {
        match f.ty {
            FieldType::Object(inner) if !types.contains_key(inner.dto) => {
                types.insert(inner.dto.to_owned(), Decl::Complex(inner));
                nested(types, inner);
            }
            FieldType::Enum(values) => {
                types
                    .entry(enum_name(schema, f.name))
                    .or_insert(Decl::Enum(values));
            }
            _ => {}
        }
    }
}

/// `JobDto` + `State` → `JobDtoState`, the name UiPath's description gives the enum.
fn enum_name(schema: &Schema, field: &str) -> String {
    format!("{}{}", schema.dto, field)
}

/// The qualified CSDL type of a field.
fn type_name(schema: &Schema, name: &str, ty: FieldType) -> String {
    match ty {
        FieldType::Int64 => "Edm.Int64".into(),
        FieldType::Int32 => "Edm.Int32".into(),
        FieldType::Double => "Edm.Double".into(),
        FieldType::Bool => "Edm.Boolean".into(),
        FieldType::String => "Edm.String".into(),
        FieldType::DateTime => "Edm.DateTimeOffset".into(),
        FieldType::Guid => "Edm.Guid".into(),
        FieldType::Enum(_) => format!("{NAMESPACE}.{}", enum_name(schema, name)),
        FieldType::Object(inner) => format!("{NAMESPACE}.{}", inner.dto),
        FieldType::Json => "Edm.Untyped".into(),
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The document as CSDL XML.
pub fn csdl_xml() -> &'static str {
    static XML: OnceLock<String> = OnceLock::new();
    XML.get_or_init(|| {
        let m = model();
        let mut out = String::from(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<edmx:Edmx Version=\"4.0\" xmlns:edmx=\"http://docs.oasis-open.org/odata/ns/edmx\">\n<edmx:DataServices>\n",
        );
        out.push_str(&format!(
            "<Schema Namespace=\"{NAMESPACE}\" xmlns=\"http://docs.oasis-open.org/odata/ns/edm\">\n"
        ));
        for (name, decl) in &m.types {
            match decl {
                Decl::Entity { key, schema } => {
                    out.push_str(&format!("<EntityType Name=\"{}\">\n", escape(name)));
                    if let Some(k) = key {
                        out.push_str(&format!("<Key><PropertyRef Name=\"{k}\"/></Key>\n"));
                    }
                    properties_xml(&mut out, schema, *key);
                    out.push_str("</EntityType>\n");
                }
                Decl::Complex(schema) => {
                    out.push_str(&format!("<ComplexType Name=\"{}\">\n", escape(name)));
                    properties_xml(&mut out, schema, None);
                    out.push_str("</ComplexType>\n");
                }
                Decl::Enum(values) => {
                    out.push_str(&format!("<EnumType Name=\"{}\">\n", escape(name)));
                    for (i, v) in values.iter().enumerate() {
                        out.push_str(&format!("<Member Name=\"{}\" Value=\"{i}\"/>\n", escape(v)));
                    }
                    out.push_str("</EnumType>\n");
                }
            }
        }
        out.push_str("<EntityContainer Name=\"Default\">\n");
        for (set, ty) in &m.sets {
            out.push_str(&format!(
                "<EntitySet Name=\"{set}\" EntityType=\"{NAMESPACE}.{ty}\"/>\n"
            ));
        }
        out.push_str("</EntityContainer>\n</Schema>\n</edmx:DataServices>\n</edmx:Edmx>\n");
        out
    })
}

fn properties_xml(out: &mut String, schema: &Schema, key: Option<&str>) {
    for f in schema.fields {
        let nullable = if key == Some(f.name) {
            " Nullable=\"false\""
        } else {
            ""
        };
        out.push_str(&format!(
            "<Property Name=\"{}\" Type=\"{}\"{nullable}/>\n",
            escape(f.name),
            escape(&type_name(schema, f.name, f.ty))
        ));
    }
}

/// The document as JSON CSDL (OData 4.01 §"CSDL JSON").
pub fn csdl_json() -> &'static Value {
    static JSON: OnceLock<Value> = OnceLock::new();
    JSON.get_or_init(|| {
        let m = model();
        let mut ns = Map::new();
        let props = |schema: &Schema, key: Option<&str>| {
            let mut o = Map::new();
            for f in schema.fields {
                let mut p = Map::new();
                p.insert("$Type".into(), json!(type_name(schema, f.name, f.ty)));
                if key != Some(f.name) {
                    p.insert("$Nullable".into(), json!(true));
                }
                o.insert(f.name.into(), Value::Object(p));
            }
            o
        };
        for (name, decl) in &m.types {
            let v = match decl {
                Decl::Entity { key, schema } => {
                    let mut o = props(schema, *key);
                    o.insert("$Kind".into(), json!("EntityType"));
                    if let Some(k) = key {
                        o.insert("$Key".into(), json!([k]));
                    }
                    o
                }
                Decl::Complex(schema) => {
                    let mut o = props(schema, None);
                    o.insert("$Kind".into(), json!("ComplexType"));
                    o
                }
                Decl::Enum(values) => {
                    let mut o = Map::new();
                    o.insert("$Kind".into(), json!("EnumType"));
                    for (i, v) in values.iter().enumerate() {
                        o.insert((*v).into(), json!(i));
                    }
                    o
                }
            };
            ns.insert(name.clone(), Value::Object(v));
        }
        let mut container = Map::new();
        container.insert("$Kind".into(), json!("EntityContainer"));
        for (set, ty) in &m.sets {
            container.insert(
                (*set).into(),
                json!({"$Collection": true, "$Type": format!("{NAMESPACE}.{ty}")}),
            );
        }
        ns.insert("Default".into(), Value::Object(container));
        json!({
            "$Version": "4.0",
            "$EntityContainer": format!("{NAMESPACE}.Default"),
            NAMESPACE: ns,
        })
    })
}

/// The answer to `$metadata`: XML when `$format=xml` or `Accept` asks for XML, else JSON.
pub fn response(query: Option<&str>, headers: &HeaderMap) -> Response {
    let format = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "$format")
        .map(|(_, v)| v.to_ascii_lowercase());
    let accept_xml = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("xml") && !a.contains("json"));
    let xml = match format.as_deref() {
        Some(f) => f.contains("xml"),
        None => accept_xml,
    };
    if xml {
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/xml")],
            csdl_xml(),
        )
            .into_response()
    } else {
        (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/json; odata.metadata=minimal",
            )],
            csdl_json().to_string(),
        )
            .into_response()
    }
}
