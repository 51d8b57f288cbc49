//! Inserting and updating Orchestrator records at run time (through `/_sim/data/...`), so a
//! test can change the data while a fleet is reading it.
//!
//! An insert takes the newest generated record of the partition as a template (so every
//! field is plausible), gives it a fresh id and key and the current time, then applies the
//! caller's fields. An update applies the caller's fields to the record's current version
//! and moves its `LastModificationTime` to now, as Orchestrator does on every change.

use serde_json::{Map, Value};

use crate::data::EntityGen;
use crate::odata::parse_datetime;
use crate::overlay::PartKey;
use crate::server::Tenant;
use crate::value::{FieldType, Row, Schema, Val};

/// Ids for entities without one (RobotLogs) are drawn above this, so they never collide
/// with anything generated.
const SYNTHETIC_ID_BASE: i64 = 1 << 60;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Converts a JSON value to a field value of type `ty`, naming `field` in the error.
pub fn json_to_val(field: &str, ty: FieldType, v: &Value) -> Result<Val, String> {
    let bad = |what: &str| format!("field '{field}': expected {what}, got {v}");
    if v.is_null() {
        return Ok(Val::Null);
    }
    Ok(match ty {
        FieldType::Int64 | FieldType::Int32 => {
            Val::Int(v.as_i64().ok_or_else(|| bad("an integer"))?)
        }
        FieldType::Double => Val::Float(v.as_f64().ok_or_else(|| bad("a number"))?),
        FieldType::Bool => Val::Bool(v.as_bool().ok_or_else(|| bad("a boolean"))?),
        FieldType::String => Val::string(v.as_str().ok_or_else(|| bad("a string"))?.to_owned()),
        FieldType::DateTime => Val::DateTime(
            v.as_str()
                .and_then(parse_datetime)
                .ok_or_else(|| bad("an ISO-8601 date-time"))?,
        ),
        FieldType::Guid => Val::Guid(
            v.as_str()
                .and_then(|s| uuid::Uuid::parse_str(s).ok())
                .ok_or_else(|| bad("a uuid"))?,
        ),
        FieldType::Enum(values) => {
            let s = v.as_str().ok_or_else(|| bad("a string"))?;
            let canon = values
                .iter()
                .find(|x| x.eq_ignore_ascii_case(s))
                .ok_or_else(|| bad(&format!("one of {values:?}")))?;
            Val::str(canon)
        }
        FieldType::Object(schema) => {
            let obj = v.as_object().ok_or_else(|| bad("an object"))?;
            let mut row = Row(vec![Val::Null; schema.fields.len()]);
            apply(schema, &mut row, obj)?;
            Val::Object(Box::new(row))
        }
        FieldType::Json => Val::Raw(v.to_string().into()),
    })
}

/// Applies `fields` to `row`; unknown field names are an error.
fn apply(schema: &Schema, row: &mut Row, fields: &Map<String, Value>) -> Result<(), String> {
    for (name, v) in fields {
        let idx = schema
            .index_of(name)
            .ok_or_else(|| format!("field '{name}' does not exist on {}", schema.dto))?;
        row.0[idx] = json_to_val(name, schema.fields[idx].ty, v)?;
    }
    Ok(())
}

fn set_if_present(schema: &Schema, row: &mut Row, name: &str, v: Val) {
    if let Some(i) = schema.index_of(name) {
        row.0[i] = v;
    }
}

/// Inserts a record into partition `part`; returns it.
pub fn insert(
    tenant: &Tenant,
    gen: &'static dyn EntityGen,
    part: usize,
    fields: &Map<String, Value>,
) -> Result<Row, String> {
    let def = gen.def();
    let schema = def.schema;
    let view = tenant.view();
    let parts = if def.folder_scoped {
        tenant.data.folders.len()
    } else {
        1
    };
    let template_part = std::iter::once(part)
        .chain(0..parts)
        .find(|p| gen.len(&view, *p) > 0)
        .ok_or_else(|| format!("{} has no records to model an insert on", def.name))?;
    let last = gen.len(&view, template_part) - 1;
    let mut row = gen.row(&view, template_part, last);
    let max_generated = (0..parts)
        .filter(|p| gen.len(&view, *p) > 0)
        .map(|p| gen.id_at(&view, p, gen.len(&view, p) - 1))
        .max()
        .unwrap_or(0);
    let floor = if def.id_field.is_some() {
        max_generated
    } else {
        SYNTHETIC_ID_BASE
    };
    let id = tenant
        .overlay
        .max_inserted_id(def.name)
        .unwrap_or(floor)
        .max(floor)
        + 1;
    let now = now_ms();
    if def.id_field.is_some() {
        set_if_present(schema, &mut row, "Id", Val::Int(id));
    }
    set_if_present(schema, &mut row, "Key", Val::Guid(uuid::Uuid::new_v4()));
    if let Some(t) = def.time_field {
        set_if_present(schema, &mut row, t, Val::DateTime(now));
    }
    for (lagged, _) in def.lagged {
        set_if_present(schema, &mut row, lagged, Val::Null);
    }
    set_if_present(schema, &mut row, "LastModificationTime", Val::DateTime(now));
    apply(schema, &mut row, fields)?;
    tenant.overlay.insert(
        PartKey {
            entity: def.name,
            part,
        },
        id,
        row.clone(),
    );
    Ok(row)
}

/// Updates the record with `id` in partition `part`; returns its new version.
pub fn update(
    tenant: &Tenant,
    gen: &'static dyn EntityGen,
    part: usize,
    id: i64,
    fields: &Map<String, Value>,
) -> Result<Row, String> {
    let def = gen.def();
    let schema = def.schema;
    if def.id_field.is_none() {
        return Err(format!(
            "{} records have no id and cannot be updated",
            def.name
        ));
    }
    let key = PartKey {
        entity: def.name,
        part,
    };
    let snapshot = tenant.overlay.snapshot(key);
    let stamp = |row: &mut Row| -> Result<(), String> {
        set_if_present(schema, row, "LastModificationTime", Val::DateTime(now_ms()));
        apply(schema, row, fields)
    };
    if let Some(row) = snapshot.inserted(id) {
        let mut row = row.clone();
        stamp(&mut row)?;
        tenant.overlay.insert(key, id, row.clone());
        return Ok(row);
    }
    let view = tenant.view();
    let len = gen.len(&view, part);
    let (mut lo, mut hi) = (0u64, len);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if gen.id_at(&view, part, mid) < id {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if lo >= len || gen.id_at(&view, part, lo) != id {
        return Err(format!("{} record {id} not found in this folder", def.name));
    }
    let mut row = snapshot
        .replaced(lo)
        .cloned()
        .unwrap_or_else(|| gen.row(&view, part, lo));
    stamp(&mut row)?;
    tenant.overlay.replace(key, lo, row.clone());
    Ok(row)
}
