//! Reading one record message: a [`RecordEnvelope`] (one record) or a [`RecordPage`]
//! (one API page), told apart by the `x-fleet-shape` header the worker sets and, when a
//! message lacks it, by the body's shape.
//!
//! Wire versions 1 and 2 are read; a version-1 record is an upsert without `key` or
//! `order`.
//!
//! Everything is checked before anything is written: a message is either read whole or
//! refused with a [`SinkError::Malformed`] naming what is wrong (bad JSON, another wire
//! version, a missing field, an empty record id or key, an upsert whose record is not a
//! JSON object, a delete with a record).

use chrono::{DateTime, Utc};
use fleet_core::broker::Headers;
use fleet_core::dataset::VersionOrder;
use fleet_core::wire::{headers, Op, PageRecord, Provenance, RecordEnvelope, RecordPage};
use serde_json::Value;

use crate::SinkError;

/// One record message, read and checked.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Message {
    pub provenance: Provenance,
    pub fetched_at: DateTime<Utc>,
    /// What the records' `order` is (absent in version 1).
    pub order_by: Option<VersionOrder>,
    /// The records in the order they were published; an envelope's as a one-record page.
    pub records: Vec<PageRecord>,
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
                order_by: env.order_by,
                records: vec![PageRecord {
                    id: env.id,
                    op: env.op,
                    key: env.key,
                    order: env.order,
                    record: env.record,
                }],
            }
        }
        Shape::Page => {
            let page = RecordPage::from_bytes(body).map_err(malformed)?;
            Message {
                provenance: page.provenance,
                fetched_at: page.fetched_at,
                order_by: page.order_by,
                records: page.records,
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
    // The wire readers already checked that an upsert has its record and a delete has
    // a key and no record.
    for (i, r) in message.records.iter().enumerate() {
        let id = &r.id;
        if id.is_empty() {
            return Err(SinkError::Malformed(format!(
                "record {i}: field `id` is empty"
            )));
        }
        if r.key.as_deref() == Some("") {
            return Err(SinkError::Malformed(format!(
                "record {i} (id {id}): field `key` is empty"
            )));
        }
        if r.op == Op::Upsert && !r.record.as_ref().is_some_and(|v| v.is_object()) {
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
            "fetched_at": "2024-01-02T03:04:05Z", "op": "upsert", "key": "1",
            "order_by": "modified", "record": {"Id": 1}
        })
    }

    fn bytes(v: &Value) -> Vec<u8> {
        serde_json::to_vec(v).unwrap()
    }

    #[test]
    fn shape_comes_from_the_header_or_the_body() {
        let none = Headers::new();
        let m = decode(&none, &bytes(&envelope())).unwrap();
        assert_eq!(m.records.len(), 1);
        assert_eq!(
            (m.records[0].id.as_str(), &m.records[0].record),
            ("a1", &Some(json!({"Id": 1})))
        );
        assert_eq!(m.order_by, Some(VersionOrder::Modified));

        let mut page = envelope();
        let obj = page.as_object_mut().unwrap();
        obj.remove("id");
        obj.remove("record");
        obj.insert("page".into(), json!(0));
        obj.insert(
            "records".into(),
            json!([{"id": "b", "key": "2", "op": "upsert", "record": {"Id": 2}},
                   {"id": "c", "key": "3", "op": "delete"}]),
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
            (
                {
                    let mut v = envelope();
                    v["key"] = json!("");
                    bytes(&v)
                },
                "`key` is empty",
            ),
            (
                {
                    let mut v = envelope();
                    v["op"] = json!("delete");
                    bytes(&v)
                },
                "delete carries no `record`",
            ),
            (
                {
                    let mut v = envelope();
                    v["op"] = json!("merge");
                    bytes(&v)
                },
                "merge",
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
