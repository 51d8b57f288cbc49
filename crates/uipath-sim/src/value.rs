//! The simulator's record model: a schema per entity and rows of typed values.
//!
//! Every entity the simulator serves (Jobs, QueueItems, Data Service records, ...) is a
//! [`Schema`] — an ordered list of fields with their OData types, taken from UiPath's
//! OpenAPI description — plus rows of [`Val`] in schema order. One model serves all
//! entities, so `$filter`, `$orderby` and `$select` are written once, and rows are written
//! straight to JSON bytes without an intermediate `serde_json::Value` (serving speed matters:
//! the simulator must never be the bottleneck of a fleet benchmark).

use std::borrow::Cow;
use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// The OData type of a field, as declared in UiPath's OpenAPI description.
#[derive(Debug, Clone, Copy)]
pub enum FieldType {
    Int64,
    Int32,
    Double,
    Bool,
    String,
    /// `format: date-time`; values are [`Val::DateTime`] (milliseconds since the Unix epoch, UTC).
    DateTime,
    /// `format: uuid`; values are [`Val::Guid`].
    Guid,
    /// A string enum with its allowed values in declaration order (the order gives the
    /// numeric value UiPath accepts in filters such as `Status eq '0'`).
    Enum(&'static [&'static str]),
    /// A nested object with its own schema (e.g. `ProcessingException`, `Robot`).
    Object(&'static Schema),
    /// Free-form JSON (`additionalProperties` objects, arrays of primitives); values are
    /// [`Val::Raw`] holding serialized JSON text, or [`Val::Null`].
    Json,
}

/// One field of a schema.
#[derive(Debug)]
pub struct Field {
    pub name: &'static str,
    pub ty: FieldType,
}

/// An ordered list of fields. Rows hold their values in this order.
#[derive(Debug)]
pub struct Schema {
    /// The DTO name in UiPath's OpenAPI description (e.g. `JobDto`).
    pub dto: &'static str,
    pub fields: &'static [Field],
}

impl Schema {
    /// Position of a field by its exact (case-sensitive, as OData is) name.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }
}

/// A typed value. Strings borrow `'static` text where the generator draws from fixed pools,
/// so producing a row allocates little.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Cow<'static, str>),
    /// Milliseconds since the Unix epoch, UTC.
    DateTime(i64),
    Guid(Uuid),
    Object(Box<Row>),
    /// Serialized JSON text, written verbatim.
    Raw(Cow<'static, str>),
}

impl Val {
    pub fn str(s: &'static str) -> Val {
        Val::Str(Cow::Borrowed(s))
    }

    pub fn string(s: String) -> Val {
        Val::Str(Cow::Owned(s))
    }

    pub fn opt_datetime(ms: Option<i64>) -> Val {
        ms.map_or(Val::Null, Val::DateTime)
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Val::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_datetime(&self) -> Option<i64> {
        match self {
            Val::DateTime(t) => Some(*t),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Val::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Total order used by `$orderby`: nulls first (as SQL Server sorts ascending), then by
    /// value. Values of different kinds never meet in one column, but the order is still
    /// total so sorting cannot panic.
    pub fn order(&self, other: &Val) -> Ordering {
        fn rank(v: &Val) -> u8 {
            match v {
                Val::Null => 0,
                Val::Bool(_) => 1,
                Val::Int(_) | Val::Float(_) => 2,
                Val::Str(_) => 3,
                Val::DateTime(_) => 4,
                Val::Guid(_) => 5,
                Val::Object(_) => 6,
                Val::Raw(_) => 7,
            }
        }
        match (self, other) {
            (Val::Bool(a), Val::Bool(b)) => a.cmp(b),
            (Val::Int(a), Val::Int(b)) => a.cmp(b),
            (Val::Float(a), Val::Float(b)) => a.total_cmp(b),
            (Val::Int(a), Val::Float(b)) => (*a as f64).total_cmp(b),
            (Val::Float(a), Val::Int(b)) => a.total_cmp(&(*b as f64)),
            (Val::Str(a), Val::Str(b)) => a.cmp(b),
            (Val::DateTime(a), Val::DateTime(b)) => a.cmp(b),
            (Val::Guid(a), Val::Guid(b)) => a.cmp(b),
            (Val::Raw(a), Val::Raw(b)) => a.cmp(b),
            _ => rank(self).cmp(&rank(other)),
        }
    }
}

/// One record: values in the order of its schema's fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Row(pub Vec<Val>);

impl Row {
    pub fn get(&self, idx: usize) -> &Val {
        &self.0[idx]
    }
}

/// Writes `row` as a JSON object. `select` lists the field positions to write (in schema
/// order, as `$select` does); `None` writes every field.
pub fn write_row(out: &mut Vec<u8>, schema: &Schema, row: &Row, select: Option<&[usize]>) {
    write_object(out, schema.fields.len(), select, |out, idx| {
        out.push(b'"');
        out.extend_from_slice(schema.fields[idx].name.as_bytes());
        out.extend_from_slice(b"\":");
        write_val(out, schema.fields[idx].ty, &row.0[idx]);
    });
}

/// Writes a JSON object with one member per field position: those in `select`, in its
/// order, or with `None` all `fields` positions in order. `member` writes one
/// `"name":value` pair; the braces and commas are written here.
pub fn write_object(
    out: &mut Vec<u8>,
    fields: usize,
    select: Option<&[usize]>,
    mut member: impl FnMut(&mut Vec<u8>, usize),
) {
    out.push(b'{');
    let mut first = true;
    let mut field = |out: &mut Vec<u8>, idx: usize| {
        if !first {
            out.push(b',');
        }
        first = false;
        member(out, idx);
    };
    match select {
        Some(cols) => cols.iter().for_each(|&i| field(out, i)),
        None => (0..fields).for_each(|i| field(out, i)),
    }
    out.push(b'}');
}

/// Writes one value as JSON.
pub fn write_val(out: &mut Vec<u8>, ty: FieldType, val: &Val) {
    match val {
        Val::Null => out.extend_from_slice(b"null"),
        Val::Bool(true) => out.extend_from_slice(b"true"),
        Val::Bool(false) => out.extend_from_slice(b"false"),
        Val::Int(i) => out.extend_from_slice(itoa::Buffer::new().format(*i).as_bytes()),
        Val::Float(f) if f.is_finite() => out.extend_from_slice(format!("{f}").as_bytes()),
        Val::Float(_) => out.extend_from_slice(b"null"),
        Val::Str(s) => write_json_str(out, s),
        Val::DateTime(ms) => {
            out.push(b'"');
            write_datetime(out, *ms);
            out.push(b'"');
        }
        Val::Guid(g) => {
            out.push(b'"');
            out.extend_from_slice(
                g.hyphenated()
                    .encode_lower(&mut Uuid::encode_buffer())
                    .as_bytes(),
            );
            out.push(b'"');
        }
        Val::Object(row) => match ty {
            FieldType::Object(schema) => write_row(out, schema, row, None),
            // A nested row without an object schema is a generator bug; write null rather
            // than invalid JSON.
            _ => out.extend_from_slice(b"null"),
        },
        Val::Raw(json) => out.extend_from_slice(json.as_bytes()),
    }
}

/// Writes a JSON string literal with the escapes RFC 8259 requires.
pub fn write_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => {
                out.extend_from_slice(&bytes[start..i]);
                out.extend_from_slice(format!("\\u{b:04x}").as_bytes());
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Writes `ms` (Unix milliseconds, UTC) as `2024-04-04T12:00:47.264Z`, the form Orchestrator
/// serves. This is on the hot path of every page (a Job has six timestamps), so it does the
/// civil-date arithmetic directly instead of going through chrono; a test pins it to chrono.
pub fn write_datetime(out: &mut Vec<u8>, ms: i64) {
    let (days, ms_of_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (year, month, day) = civil_from_days(days);
    let secs = ms_of_day / 1000;
    let mut buf = [0u8; 24];
    let put = |buf: &mut [u8], at: usize, v: i64, width: usize| {
        let mut v = v;
        for k in (0..width).rev() {
            buf[at + k] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(&mut buf, 0, year.clamp(0, 9999), 4);
    buf[4] = b'-';
    put(&mut buf, 5, month, 2);
    buf[7] = b'-';
    put(&mut buf, 8, day, 2);
    buf[10] = b'T';
    put(&mut buf, 11, secs / 3600, 2);
    buf[13] = b':';
    put(&mut buf, 14, secs / 60 % 60, 2);
    buf[16] = b':';
    put(&mut buf, 17, secs % 60, 2);
    buf[19] = b'.';
    put(&mut buf, 20, ms_of_day % 1000, 3);
    buf[23] = b'Z';
    out.extend_from_slice(&buf);
}

/// (year, month, day) of the proleptic Gregorian calendar for days since 1970-01-01
/// (the well-known era-based conversion: 400-year eras of 146,097 days).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Converts Unix milliseconds to a chrono datetime (clamped to chrono's range).
pub fn datetime(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Formats Unix milliseconds the way Orchestrator does.
pub fn format_datetime(ms: i64) -> String {
    let mut out = Vec::with_capacity(24);
    write_datetime(&mut out, ms);
    String::from_utf8(out).expect("datetime is ascii")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::entities::schema;

    static INNER: Schema = schema!("InnerDto" { Reason: String });
    static OUTER: Schema = schema!("OuterDto" {
        Id: Int64,
        Name: String,
        When: DateTime,
        Key: Guid,
        Inner: Object(&INNER),
        Tags: Json,
    });

    fn sample() -> Row {
        Row(vec![
            Val::Int(-42),
            Val::str("quote \" backslash \\ newline \n ctl \u{1}"),
            Val::DateTime(1_712_232_047_264),
            Val::Guid(Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef)),
            Val::Object(Box::new(Row(vec![Val::str("boom")]))),
            Val::Raw(Cow::Borrowed("[\"a\",\"b\"]")),
        ])
    }

    #[test]
    fn rows_serialize_to_json_that_serde_reads_back() {
        let mut out = Vec::new();
        write_row(&mut out, &OUTER, &sample(), None);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["Id"], -42);
        assert_eq!(v["Name"], "quote \" backslash \\ newline \n ctl \u{1}");
        assert_eq!(v["When"], "2024-04-04T12:00:47.264Z");
        assert_eq!(v["Key"], "01234567-89ab-cdef-0123-456789abcdef");
        assert_eq!(v["Inner"]["Reason"], "boom");
        assert_eq!(v["Tags"], serde_json::json!(["a", "b"]));
    }

    #[test]
    fn select_writes_only_the_chosen_fields_in_schema_order() {
        let mut out = Vec::new();
        write_row(&mut out, &OUTER, &sample(), Some(&[0, 2]));
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#"{"Id":-42,"When":"2024-04-04T12:00:47.264Z"}"#
        );
    }

    #[test]
    fn datetime_formatting_matches_chrono() {
        for ms in [
            0,
            1,
            999,
            86_399_999,
            1_700_000_000_123,
            253_402_300_799_999,
        ] {
            let expected = datetime(ms).format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
            assert_eq!(format_datetime(ms), expected);
        }
    }

    #[test]
    fn ordering_puts_nulls_first_and_compares_within_kind() {
        assert_eq!(Val::Null.order(&Val::Int(0)), Ordering::Less);
        assert_eq!(Val::Int(2).order(&Val::Int(10)), Ordering::Less);
        assert_eq!(Val::DateTime(5).order(&Val::DateTime(5)), Ordering::Equal);
        assert_eq!(Val::str("b").order(&Val::str("a")), Ordering::Greater);
    }
}
