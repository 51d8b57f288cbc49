//! Golden captures of published messages: what the fleet sent, with the values that change
//! from run to run (times, slice and record ids, request ids, counts, record contents)
//! replaced by placeholders, so that the many messages of one kind collapse into one
//! entry and a run compares equal to the last one.
//!
//! [`assert_golden`] compares the distinct normalised messages with a JSON file, or writes
//! it when `UPDATE_GOLDEN=1` is set. A header or body field added, removed or renamed on
//! any kind shows up as a diff of that file.

use std::collections::BTreeSet;
use std::path::Path;

use fleet_core::broker::{Destination, Outgoing};
use serde_json::{json, Map, Value};

fn is_hex(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_time(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 19 && b[4] == b'-' && b[7] == b'-' && b[10] == b'T' && b[13] == b':'
}

/// A string with its volatile parts replaced: slice and record ids, request ids, times.
fn norm_str(s: &str) -> String {
    if s.contains('/') && !s.contains(' ') {
        return s.split('/').map(norm_word).collect::<Vec<_>>().join("/");
    }
    s.split(' ')
        .map(|w| {
            let trimmed = w.trim_matches(|c: char| "`,;:()".contains(c));
            if trimmed.is_empty() || norm_word(trimmed) == trimmed {
                w.to_owned()
            } else {
                w.replace(trimmed, &norm_word(trimmed))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn norm_word(w: &str) -> String {
    if is_hex(w, 32) {
        "<id>".into()
    } else if (w.starts_with("bf-") || w.starts_with("sy-")) && is_hex(&w[3..], 20) {
        format!("<request:{}>", &w[..2])
    } else if is_time(w) {
        "<time>".into()
    } else if w.len() >= 10 && w.bytes().all(|b| b.is_ascii_digit()) {
        "<ms>".into()
    } else {
        w.to_owned()
    }
}

/// Body fields whose values differ between messages of one kind.
const VOLATILE: [&str; 6] = ["key", "order", "record", "page", "records", "pages"];

fn norm_value(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(norm_str(s)),
        Value::Array(items) => {
            // A page's records: one entry per distinct shape.
            let set: BTreeSet<String> = items.iter().map(|i| norm_value(i).to_string()).collect();
            Value::Array(
                set.iter()
                    .map(|s| serde_json::from_str(s).unwrap())
                    .collect(),
            )
        }
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let v = match (k.as_str(), v) {
                    ("records", Value::Array(_)) => norm_value(v),
                    (k, Value::Number(_)) if VOLATILE.contains(&k) => json!("<n>"),
                    ("record", _) => json!("<record>"),
                    (k, _) if VOLATILE.contains(&k) => json!(format!("<{k}>")),
                    _ => norm_value(v),
                };
                out.insert(k.clone(), v);
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

pub fn destination(d: &Destination) -> String {
    match d {
        Destination::Jobs(lane) => format!("jobs.{}", lane.as_str()),
        Destination::Retry { lane, delay } => {
            format!("retry.{}.{}s", lane.as_str(), delay.as_secs())
        }
        Destination::DeadLetter => "dead".into(),
        Destination::Records { routing_key } => format!("records {routing_key}"),
        Destination::Events { routing_key } => format!("events {routing_key}"),
    }
}

pub fn normalise(m: &Outgoing) -> Value {
    let body = match serde_json::from_slice::<Value>(&m.body) {
        Ok(v) => norm_value(&v),
        Err(_) => json!(format!("<not json: {} bytes>", m.body.len())),
    };
    let headers: Map<String, Value> = m
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), json!(norm_str(v))))
        .collect();
    json!({
        "destination": destination(&m.destination),
        "message_id": norm_str(&m.message_id),
        "headers": headers,
        "body": body,
    })
}

/// The distinct normalised messages, compared with (or, with `UPDATE_GOLDEN=1`, written
/// to) `tests/golden/<name>.json`.
///
/// `dir` is the directory of the golden files, usually
/// `concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden")`.
pub fn assert_golden(dir: &str, name: &str, messages: &[Outgoing]) {
    let distinct: BTreeSet<String> = messages
        .iter()
        .map(|m| serde_json::to_string(&normalise(m)).unwrap())
        .collect();
    let list: Vec<Value> = distinct
        .iter()
        .map(|s| serde_json::from_str(s).unwrap())
        .collect();
    let text = serde_json::to_string_pretty(&list).unwrap() + "\n";
    let path = Path::new(dir).join(format!("{name}.json"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with UPDATE_GOLDEN=1 to capture it",
            path.display()
        )
    });
    assert_eq!(
        text,
        want,
        "messages differ from {} (UPDATE_GOLDEN=1 rewrites it once the change is intended)",
        path.display()
    );
}
