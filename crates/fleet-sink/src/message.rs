//! Reading one record message: a [`RecordEnvelope`] (one record) or a [`RecordPage`]
//! (one API page), told apart by the `x-fleet-shape` header the worker sets and, when a
//! message lacks it, by the body's shape.
//!
//! Everything is checked before anything is written: a message is either read whole or
//! refused with a [`SinkError::Malformed`] naming what is wrong (bad JSON, another wire
//! version, a missing field, an empty record id, a record that is not a JSON object).

use chrono::{DateTime, Utc};
use fleet_core::broker::Headers;
use fleet_core::wire::{headers, Provenance, RecordEnvelope, RecordPage};
use serde_json::Value;

use crate::SinkError;

/// One record message, read and checked.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Message {
    pub provenance: Provenance,
    pub fetched_at: DateTime<Utc>,
    /// `(record id, record)` in the order they were published.
    pub records: Vec<(String, Value)>,
}

/// Which wire type a message claims to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Record,
    Page,
}

fn shape(headers: &Headers, body: &[u8]) -> Result<Shape, SinkError> {
    match headers.get(headers::SHAPE).map(String::as_str) {
        Some("record") => return Ok(Shape::Record),
        Some("page") => return Ok(Shape::Page),
        Some(other) => {
            return Err(SinkError::Malformed(format!(
                "header `{}` is `{other}`; expected `record` or `page`",
                headers::SHAPE
            )))
        }
        None => {}
    }
    // No header (a message published by hand, or by another tool): a page is the one
    // with a `records` array.
    let probe: Value = serde_json::from_slice(body)
        .map_err(|e| SinkError::Malformed(format!("body is not JSON: {e}")))?;
    match (probe.get("records"), probe.get("record")) {
        (Some(_), None) => Ok(Shape::Page),
        (None, Some(_)) => Ok(Shape::Record),
        _ => Err(SinkError::Malformed(
            "body is neither a record envelope (field `record`) nor a record page (field `records`)"
                .into(),
        )),
    }
}

/// Reads a record message. See the module docs.
pub(crate) fn decode(headers: &Headers, body: &[u8]) -> Result<Message, SinkError> {
    let malformed = |e: fleet_core::wire::WireError| SinkError::Malformed(e.to_string());
    let message = match shape(headers, body)? {
        Shape::Record => {
            let env = RecordEnvelope::from_bytes(body).map_err(malformed)?;
            Message {
                provenance: env.provenance,
                fetched_at: env.fetched_at,
                records: vec![(env.id, env.record)],
            }
        }
        Shape::Page => {
            let page = RecordPage::from_bytes(body).map_err(malformed)?;
            Message {
                provenance: page.provenance,
                fetched_at: page.fetched_at,
                records: page.records.into_iter().map(|r| (r.id, r.record)).collect(),
            }
        }
    };
    let p = &message.provenance;
    if p.source.is_empty() {
        return Err(SinkError::Malformed("field `source` is empty".into()));
    }
    if p.dataset.is_empty() {
        return Err(SinkError::Malformed("field `dataset` is empty".into()));
    }
    for (i, (id, record)) in message.records.iter().enumerate() {
        if id.is_empty() {
            return Err(SinkError::Malformed(format!(
                "record {i}: field `id` is empty"
            )));
        }
        if !record.is_object() {
            return Err(SinkError::Malformed(format!(
                "record {i} (id {id}): `record` is not a JSON object"
            )));
        }
    }
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleet_core::wire::WIRE_VERSION;
    use serde_json::json;

    fn envelope() -> Value {
        json!({
            "version": WIRE_VERSION, "id": "a1", "source": "acme", "tenant": "org/T",
            "dataset": "jobs", "slice_id": "s", "request_id": "r",
            "fetched_at": "2024-01-02T03:04:05Z", "record": {"Id": 1}
        })
    }

    fn bytes(v: &Value) -> Vec<u8> {
        serde_json::to_vec(v).unwrap()
    }

    #[test]
    fn shape_comes_from_the_header_or_the_body() {
        let none = Headers::new();
        let m = decode(&none, &bytes(&envelope())).unwrap();
        assert_eq!(m.records, vec![("a1".to_owned(), json!({"Id": 1}))]);

        let mut page = envelope();
        let obj = page.as_object_mut().unwrap();
        obj.remove("id");
        obj.remove("record");
        obj.insert("page".into(), json!(0));
        obj.insert(
            "records".into(),
            json!([{"id": "b", "record": {"Id": 2}}, {"id": "c", "record": {"Id": 3}}]),
        );
        assert_eq!(decode(&none, &bytes(&page)).unwrap().records.len(), 2);

        let mut h = Headers::new();
        h.insert(headers::SHAPE.into(), "page".into());
        let e = decode(&h, &bytes(&envelope())).unwrap_err();
        assert!(e.to_string().contains("record page"), "{e}");
        h.insert(headers::SHAPE.into(), "csv".into());
        let e = decode(&h, &bytes(&envelope())).unwrap_err();
        assert!(e.to_string().contains("`csv`"), "{e}");
    }

    #[test]
    fn bad_bodies_are_named() {
        let none = Headers::new();
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"{not json".to_vec(), "not JSON"),
            (bytes(&json!({"hello": 1})), "neither"),
            (
                {
                    let mut v = envelope();
                    v["version"] = json!(9);
                    bytes(&v)
                },
                "version 9",
            ),
            (
                {
                    let mut v = envelope();
                    v.as_object_mut().unwrap().remove("source");
                    bytes(&v)
                },
                "source",
            ),
            (
                {
                    let mut v = envelope();
                    v["id"] = json!("");
                    bytes(&v)
                },
                "`id` is empty",
            ),
            (
                {
                    let mut v = envelope();
                    v["record"] = json!([1, 2]);
                    bytes(&v)
                },
                "not a JSON object",
            ),
        ];
        for (body, expected) in cases {
            let e = decode(&none, &body).unwrap_err();
            assert!(matches!(e, SinkError::Malformed(_)));
            assert!(
                e.to_string().contains(expected),
                "{e} should name {expected}"
            );
        }
    }
}
