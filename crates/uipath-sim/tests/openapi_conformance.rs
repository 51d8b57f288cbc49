//! Checks that what the simulator serves is shaped like Orchestrator's own DTOs.
//!
//! The facts (entity set → DTO, each DTO's field names, JSON types, formats, enum values,
//! nested references, required fields) live in `tests/fixtures/orchestrator-dtos.json`,
//! extracted from UiPath's OpenAPI description. Three things are checked:
//! - the fixture equals a fresh extraction from the YAML when the YAML is available
//!   (`UIPATH_OPENAPI_YAML`, else `../shared/reference/` next to the workspace), so it cannot
//!   drift; `UPDATE_FIXTURES=1` rewrites it;
//! - every schema the generators declare maps onto its DTO: same field names, matching
//!   types, enum values identical and in the same order, nested objects recursively;
//! - rows generated across folders, serialized as served, parse as JSON whose every value
//!   fits the DTO (integers in range, RFC 3339 date-times, UUIDs, base64, enum members).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use base64::Engine;
use serde_json::{json, Map, Value};
use uipath_sim::data::entities::{all, partitions};
use uipath_sim::data::{DataConfig, TenantData};
use uipath_sim::value::{write_row, FieldType, Schema};

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture_path() -> PathBuf {
    manifest_dir().join("tests/fixtures/orchestrator-dtos.json")
}

fn yaml_path() -> PathBuf {
    match std::env::var_os("UIPATH_OPENAPI_YAML") {
        Some(p) => PathBuf::from(p),
        None => manifest_dir().join("../../../shared/reference/uipath-orchestrator-openapi.yaml"),
    }
}

fn entity_names() -> Vec<&'static str> {
    all().iter().map(|g| g.def().name).collect()
}

// ---- extraction of the facts from the OpenAPI description ----

fn ref_name(r: &serde_yaml::Value) -> Option<String> {
    r.as_str()
        .map(|s| s.rsplit('/').next().unwrap_or(s).to_string())
}

/// The facts of one property schema; `refs` collects the DTOs it points at.
fn property_facts(p: &serde_yaml::Value, refs: &mut BTreeSet<String>) -> Value {
    let mut out = Map::new();
    if let Some(name) = p.get("$ref").and_then(ref_name) {
        refs.insert(name.clone());
        out.insert("ref".into(), json!(name));
        return Value::Object(out);
    }
    if let Some(name) = p
        .get("allOf")
        .and_then(|a| a.get(0))
        .and_then(|a| a.get("$ref"))
        .and_then(ref_name)
    {
        refs.insert(name.clone());
        out.insert("ref".into(), json!(name));
        return Value::Object(out);
    }
    for key in ["type", "format"] {
        if let Some(v) = p.get(key).and_then(|v| v.as_str()) {
            out.insert(key.into(), json!(v));
        }
    }
    if let Some(values) = p.get("enum").and_then(|e| e.as_sequence()) {
        let values: Vec<Value> = values
            .iter()
            .filter_map(|v| v.as_str())
            .map(|s| json!(s))
            .collect();
        out.insert("enum".into(), Value::Array(values));
    }
    for key in ["maxLength", "minLength", "minimum", "maximum"] {
        if let Some(v) = p.get(key).and_then(|v| v.as_i64()) {
            out.insert(key.into(), json!(v));
        }
    }
    if let Some(items) = p.get("items") {
        out.insert("items".into(), property_facts(items, refs));
    }
    if let Some(extra) = p.get("additionalProperties") {
        let facts = if extra.is_mapping() {
            property_facts(extra, refs)
        } else {
            json!(true)
        };
        out.insert("additionalProperties".into(), facts);
    }
    Value::Object(out)
}

/// A DTO's properties (including those it inherits through `allOf`) and required fields.
fn dto_facts(schemas: &serde_yaml::Value, name: &str, refs: &mut BTreeSet<String>) -> Value {
    let s = &schemas[name];
    let mut props = Map::new();
    let mut required = BTreeSet::new();
    let mut collect = |s: &serde_yaml::Value, props: &mut Map<String, Value>| {
        if let Some(map) = s.get("properties").and_then(|p| p.as_mapping()) {
            for (k, v) in map {
                props.insert(
                    k.as_str().unwrap_or_default().to_string(),
                    property_facts(v, refs),
                );
            }
        }
        for r in s
            .get("required")
            .and_then(|r| r.as_sequence())
            .into_iter()
            .flatten()
        {
            required.insert(r.as_str().unwrap_or_default().to_string());
        }
    };
    for base in s
        .get("allOf")
        .and_then(|a| a.as_sequence())
        .into_iter()
        .flatten()
    {
        if let Some(base) = base.get("$ref").and_then(ref_name) {
            collect(&schemas[base.as_str()], &mut props);
        }
    }
    collect(s, &mut props);
    json!({ "properties": props, "required": required })
}

/// The facts for the given entity sets: which DTO each list endpoint returns, and every
/// DTO reachable from those.
fn extract(yaml: &serde_yaml::Value, entity_sets: &[&str]) -> Value {
    let schemas = &yaml["components"]["schemas"];
    let mut sets = Map::new();
    let mut pending: Vec<String> = Vec::new();
    for name in entity_sets {
        let path = format!("/odata/{name}");
        let envelope = yaml["paths"][path.as_str()]["get"]["responses"]["200"]["content"]
            ["application/json"]["schema"]["$ref"]
            .clone();
        let envelope = ref_name(&envelope).unwrap_or_else(|| panic!("no list response for {path}"));
        let dto = ref_name(&schemas[envelope.as_str()]["properties"]["value"]["items"]["$ref"])
            .unwrap_or_else(|| panic!("{envelope} is not a list envelope"));
        sets.insert((*name).to_string(), json!(dto));
        pending.push(dto);
    }
    let mut dtos = BTreeMap::new();
    while let Some(name) = pending.pop() {
        if dtos.contains_key(&name) {
            continue;
        }
        let mut refs = BTreeSet::new();
        dtos.insert(name.clone(), dto_facts(schemas, &name, &mut refs));
        pending.extend(refs);
    }
    json!({ "entity_sets": sets, "dtos": dtos })
}

fn load_facts() -> Value {
    let text = std::fs::read_to_string(fixture_path()).expect(
        "tests/fixtures/orchestrator-dtos.json is missing; regenerate it with UPDATE_FIXTURES=1",
    );
    serde_json::from_str(&text).expect("fixture is JSON")
}

#[test]
fn fixture_matches_the_openapi_description() {
    let path = yaml_path();
    let Ok(text) = std::fs::read_to_string(&path) else {
        assert!(
            std::env::var_os("UPDATE_FIXTURES").is_none(),
            "UPDATE_FIXTURES=1 needs the OpenAPI YAML at {} (or UIPATH_OPENAPI_YAML)",
            path.display()
        );
        println!(
            "OpenAPI YAML not found at {}: conformance checked against the fixture only",
            path.display()
        );
        return;
    };
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text).expect("OpenAPI YAML parses");
    let facts = extract(&yaml, &entity_names());
    if std::env::var_os("UPDATE_FIXTURES").is_some_and(|v| v == "1") {
        let pretty = serde_json::to_string_pretty(&facts).expect("facts serialize") + "\n";
        std::fs::write(fixture_path(), pretty).expect("fixture written");
        println!("rewrote {}", fixture_path().display());
        return;
    }
    assert!(
        facts == load_facts(),
        "tests/fixtures/orchestrator-dtos.json differs from {}; rerun with UPDATE_FIXTURES=1 and review the diff",
        path.display()
    );
}

// ---- the generators' schemas against the DTOs ----

fn dto<'a>(facts: &'a Value, name: &str) -> &'a Value {
    let d = &facts["dtos"][name];
    assert!(d.is_object(), "DTO {name} is not in the fixture");
    d
}

/// Checks that `ty` is the simulator's mapping of the property `p`.
fn check_field_type(facts: &Value, at: &str, ty: FieldType, p: &Value) {
    let (t, f) = (p["type"].as_str(), p["format"].as_str());
    match ty {
        FieldType::Int64 => assert!(
            t == Some("integer") && f == Some("int64"),
            "{at}: Int64 vs {p}"
        ),
        FieldType::Int32 => assert!(
            t == Some("integer") && f == Some("int32"),
            "{at}: Int32 vs {p}"
        ),
        FieldType::Double => assert_eq!(t, Some("number"), "{at}: Double vs {p}"),
        FieldType::Bool => assert_eq!(t, Some("boolean"), "{at}: Bool vs {p}"),
        FieldType::DateTime => assert!(
            t == Some("string") && f == Some("date-time"),
            "{at}: DateTime vs {p}"
        ),
        FieldType::Guid => assert!(
            t == Some("string") && f == Some("uuid"),
            "{at}: Guid vs {p}"
        ),
        FieldType::String => assert!(
            t == Some("string")
                && p.get("enum").is_none()
                && !matches!(f, Some("date-time" | "uuid")),
            "{at}: String vs {p}"
        ),
        FieldType::Enum(values) => {
            let expected: Vec<&str> = p["enum"]
                .as_array()
                .map(|v| v.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            assert_eq!(
                values,
                expected.as_slice(),
                "{at}: enum values or their order differ"
            );
        }
        FieldType::Object(schema) => {
            assert_eq!(
                p["ref"].as_str(),
                Some(schema.dto),
                "{at}: nested object vs {p}"
            );
            check_schema(facts, schema);
        }
        FieldType::Json => assert!(
            t == Some("array") || (t == Some("object") && p.get("additionalProperties").is_some()),
            "{at}: Json vs {p}"
        ),
    }
}

fn check_schema(facts: &Value, schema: &Schema) {
    let d = dto(facts, schema.dto);
    for field in schema.fields {
        let at = format!("{}.{}", schema.dto, field.name);
        let p = &d["properties"][field.name];
        assert!(p.is_object(), "{at} is not a field of the DTO");
        check_field_type(facts, &at, field.ty, p);
    }
    for req in d["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        assert!(
            schema.index_of(req).is_some(),
            "{}: required field {req} is missing",
            schema.dto
        );
    }
}

#[test]
fn schemas_map_onto_their_dtos() {
    let facts = load_facts();
    for g in all() {
        let def = g.def();
        assert_eq!(
            facts["entity_sets"][def.name].as_str(),
            Some(def.schema.dto),
            "{} should serve the DTO its list endpoint returns",
            def.name
        );
        check_schema(&facts, def.schema);
    }
}

// ---- generated rows against the DTOs ----

fn check_json(facts: &Value, at: &str, p: &Value, v: &Value) {
    if v.is_null() {
        return;
    }
    if let Some(name) = p["ref"].as_str() {
        check_object(facts, at, name, v);
        return;
    }
    match p["type"].as_str() {
        Some("integer") => {
            let i = v
                .as_i64()
                .unwrap_or_else(|| panic!("{at}: {v} is not an integer"));
            if p["format"] == "int32" {
                assert!(i32::try_from(i).is_ok(), "{at}: {i} overflows int32");
            }
            if let Some(min) = p["minimum"].as_i64() {
                assert!(i >= min, "{at}: {i} < {min}");
            }
            if let Some(max) = p["maximum"].as_i64() {
                assert!(i <= max, "{at}: {i} > {max}");
            }
        }
        Some("number") => assert!(v.is_number(), "{at}: {v} is not a number"),
        Some("boolean") => assert!(v.is_boolean(), "{at}: {v} is not a boolean"),
        Some("string") => {
            let s = v
                .as_str()
                .unwrap_or_else(|| panic!("{at}: {v} is not a string"));
            match p["format"].as_str() {
                Some("date-time") => {
                    chrono::DateTime::parse_from_rfc3339(s)
                        .unwrap_or_else(|e| panic!("{at}: {s}: {e}"));
                }
                Some("uuid") => {
                    uuid::Uuid::parse_str(s).unwrap_or_else(|e| panic!("{at}: {s}: {e}"));
                }
                Some("byte") => {
                    base64::engine::general_purpose::STANDARD
                        .decode(s)
                        .unwrap_or_else(|e| panic!("{at}: {s}: {e}"));
                }
                Some("email") => assert!(s.contains('@'), "{at}: {s} is not an e-mail address"),
                _ => {}
            }
            if let Some(values) = p["enum"].as_array() {
                assert!(
                    values.iter().any(|e| e == s),
                    "{at}: {s} is not one of {values:?}"
                );
            }
            if let Some(max) = p["maxLength"].as_u64() {
                assert!(s.chars().count() as u64 <= max, "{at}: longer than {max}");
            }
        }
        Some("array") => {
            let items = v
                .as_array()
                .unwrap_or_else(|| panic!("{at}: {v} is not an array"));
            for (k, item) in items.iter().enumerate() {
                check_json(facts, &format!("{at}[{k}]"), &p["items"], item);
            }
        }
        Some("object") => assert!(v.is_object(), "{at}: {v} is not an object"),
        other => panic!("{at}: unexpected type {other:?} in the facts"),
    }
}

fn check_object(facts: &Value, at: &str, dto_name: &str, v: &Value) {
    let d = dto(facts, dto_name);
    let obj = v
        .as_object()
        .unwrap_or_else(|| panic!("{at}: {v} is not an object"));
    for (k, val) in obj {
        let p = &d["properties"][k.as_str()];
        assert!(p.is_object(), "{at}: {k} is not a field of {dto_name}");
        check_json(facts, &format!("{at}.{k}"), p, val);
    }
    for req in d["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if let Some(val) = obj.get(req) {
            assert!(!val.is_null(), "{at}: required field {req} is null");
        }
    }
}

#[test]
fn generated_rows_conform_to_their_dtos() {
    let facts = load_facts();
    let config = DataConfig {
        queue_items_per_day: 40.0,
        ..DataConfig::default()
    };
    let tenant = TenantData::build("conformance", "prod", &config);
    let tenant = tenant.at_end();
    for g in all() {
        let def = g.def();
        let mut checked = 0;
        for part in 0..partitions(*g, &tenant) {
            let n = g.len(&tenant, part);
            // Spread over the span: early, late (in-flight states) and in between.
            let step = (n / 60).max(1);
            let picks = (0..n.min(20))
                .chain((0..n).step_by(step as usize))
                .chain(n.saturating_sub(20)..n);
            for i in picks {
                let mut out = Vec::new();
                write_row(&mut out, def.schema, &g.row(&tenant, part, i), None);
                let v: Value = serde_json::from_slice(&out)
                    .unwrap_or_else(|e| panic!("{}[{part}][{i}] is not JSON: {e}", def.name));
                check_object(
                    &facts,
                    &format!("{}[{part}][{i}]", def.name),
                    def.schema.dto,
                    &v,
                );
                checked += 1;
            }
        }
        assert!(checked > 0, "{}: no rows generated", def.name);
    }
}
