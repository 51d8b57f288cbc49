//! docs/messages.md cannot drift from the wire code: every JSON example in it is tagged
//! with its type (`<!-- example: SliceJob -->`) and must decode with that type's
//! `from_bytes`, re-encode to the very same JSON (so no documented field is silently
//! ignored), and carry exactly the fields its table lists. The worked record id must be
//! what `wire::record_id` computes, and every `x-fleet-*` header must be documented.

use std::collections::{BTreeMap, BTreeSet};

use fleet_core::wire::{self, Event, EventBody, RecordEnvelope, RecordPage, SliceJob};
use serde_json::Value;

const DOC: &str = include_str!("../../../docs/messages.md");

/// One tagged example: its type, the field names of the table before it, its JSON.
struct Example {
    kind: String,
    line: usize,
    table: Table,
    json: String,
}

struct Doc {
    examples: Vec<Example>,
    /// Field tables by the heading they are under.
    tables: BTreeMap<String, Table>,
    /// `(parts, expected id)` of each `<!-- record_id: … -->` example.
    record_ids: Vec<(Vec<String>, String)>,
}

/// The fields of a table: backticked name → whether the row says "Optional".
type Table = BTreeMap<String, bool>;

/// A field table row: the backticked name in its first cell (`| \`name\` | …`) and
/// whether its last cell starts with "Optional".
fn row_field(line: &str) -> Option<(String, bool)> {
    let cells: Vec<&str> = line
        .trim()
        .strip_prefix('|')?
        .split('|')
        .map(str::trim)
        .collect();
    let name = cells.first()?.strip_prefix('`')?.strip_suffix('`')?;
    let optional = cells
        .iter()
        .rev()
        .find(|c| !c.is_empty())
        .is_some_and(|c| c.starts_with("Optional"));
    Some((name.to_owned(), optional))
}

fn marker<'a>(line: &'a str, tag: &str) -> Option<&'a str> {
    line.trim()
        .strip_prefix("<!--")?
        .strip_suffix("-->")?
        .trim()
        .strip_prefix(tag)
        .map(str::trim)
}

fn parse_doc() -> Doc {
    let lines: Vec<&str> = DOC.lines().collect();
    let mut doc = Doc {
        examples: Vec::new(),
        tables: BTreeMap::new(),
        record_ids: Vec::new(),
    };
    let mut heading = String::new();
    let mut table = Table::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if line.starts_with('#') {
            heading = line.trim_start_matches('#').trim().to_owned();
            table = Table::new();
        } else if let Some((field, optional)) = row_field(line) {
            table.insert(field, optional);
            doc.tables.insert(heading.clone(), table.clone());
        } else if let Some(kind) = marker(line, "example:") {
            assert_eq!(
                lines.get(i + 1).map(|l| l.trim()),
                Some("```json"),
                "line {}: an example marker must be followed by a ```json block",
                i + 1
            );
            let end = (i + 2..lines.len())
                .find(|&j| lines[j].trim() == "```")
                .unwrap_or_else(|| panic!("line {}: unterminated block", i + 1));
            doc.examples.push(Example {
                kind: kind.to_owned(),
                line: i + 1,
                table: table.clone(),
                json: lines[i + 2..end].join("\n"),
            });
            i = end;
        } else if let Some(parts) = marker(line, "record_id:") {
            let block = lines[i + 1..]
                .iter()
                .take_while(|l| !l.trim().is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join("\n");
            let id = block
                .rsplit("= ")
                .next()
                .unwrap()
                .trim_end_matches("```")
                .trim()
                .to_owned();
            doc.record_ids
                .push((parts.split_whitespace().map(String::from).collect(), id));
        } else if line.trim() == "```json" {
            panic!("line {}: a ```json block without an `<!-- example: Type -->` marker can drift from the code; tag it", i + 1);
        }
        i += 1;
    }
    doc
}

/// Decode with the type's own reader and encode again.
fn round_trip(kind: &str, body: &[u8]) -> Result<Value, String> {
    let encoded = match kind {
        "SliceJob" => SliceJob::from_bytes(body).map(|m| m.to_bytes()),
        "RecordEnvelope" => RecordEnvelope::from_bytes(body).map(|m| m.to_bytes()),
        "RecordPage" => RecordPage::from_bytes(body).map(|m| m.to_bytes()),
        "Event" => Event::from_bytes(body).map(|m| m.to_bytes()),
        other => return Err(format!("unknown example type `{other}`")),
    }
    .map_err(|e| e.to_string())?;
    Ok(serde_json::from_slice(&encoded).unwrap())
}

#[test]
fn every_example_decodes_and_matches_its_table() {
    let doc = parse_doc();
    let mut seen = BTreeMap::<&str, usize>::new();
    for ex in &doc.examples {
        let written: Value = serde_json::from_str(&ex.json)
            .unwrap_or_else(|e| panic!("line {}: not JSON: {e}", ex.line));
        let again = round_trip(&ex.kind, ex.json.as_bytes()).unwrap_or_else(|e| {
            panic!("line {}: {} example does not decode: {e}", ex.line, ex.kind)
        });
        assert_eq!(again, written, "line {}: the {} example does not re-encode to itself (a field the code does not know, or a non-canonical value)", ex.line, ex.kind);
        let keys: BTreeSet<String> = written.as_object().unwrap().keys().cloned().collect();
        let listed: BTreeSet<String> = ex.table.keys().cloned().collect();
        let required: BTreeSet<String> = ex
            .table
            .iter()
            .filter(|(_, optional)| !**optional)
            .map(|(k, _)| k.clone())
            .collect();
        assert!(
            keys.is_subset(&listed),
            "line {}: the {} example has fields its table does not list: {:?}",
            ex.line,
            ex.kind,
            keys.difference(&listed).collect::<Vec<_>>()
        );
        assert!(
            required.is_subset(&keys),
            "line {}: the {} example lacks required fields of its table: {:?}",
            ex.line,
            ex.kind,
            required.difference(&keys).collect::<Vec<_>>()
        );
        *seen.entry(ex.kind.as_str()).or_default() += 1;
    }
    for kind in ["SliceJob", "RecordEnvelope", "RecordPage", "Event"] {
        assert!(seen.contains_key(kind), "no example of {kind}");
    }
    // Every event type has its example.
    let mut types = BTreeSet::new();
    for ex in doc.examples.iter().filter(|e| e.kind == "Event") {
        types.insert(
            Event::from_bytes(ex.json.as_bytes())
                .unwrap()
                .body
                .routing_key(),
        );
    }
    let all = [
        EventBody::SliceCompleted {
            request_id: String::new(),
            slice_id: String::new(),
            source: String::new(),
            dataset: String::new(),
            folder: None,
            from: None,
            to: None,
            records: 0,
            pages: 0,
        },
        EventBody::SliceFailed {
            request_id: String::new(),
            slice_id: String::new(),
            source: String::new(),
            dataset: String::new(),
            folder: None,
            reason: String::new(),
            error: String::new(),
            attempts: 0,
        },
        EventBody::RequestCompleted {
            request_id: String::new(),
            slices: 0,
            failed: 0,
            records: 0,
        },
    ];
    for body in &all {
        assert!(
            types.contains(body.routing_key()),
            "no example of event {}",
            body.routing_key()
        );
    }
}

#[test]
fn the_folder_table_matches_the_examples() {
    let doc = parse_doc();
    let table = doc.tables.get("FolderRef").expect("a FolderRef table");
    let job = doc.examples.iter().find(|e| e.kind == "SliceJob").unwrap();
    let job: Value = serde_json::from_str(&job.json).unwrap();
    let keys: BTreeSet<String> = job["folder"]
        .as_object()
        .expect("the job example has a folder")
        .keys()
        .cloned()
        .collect();
    assert_eq!(keys, table.keys().cloned().collect::<BTreeSet<_>>());
}

#[test]
fn the_worked_record_id_is_what_the_code_computes() {
    let doc = parse_doc();
    assert!(
        !doc.record_ids.is_empty(),
        "no `<!-- record_id: … -->` example"
    );
    for (parts, id) in &doc.record_ids {
        let [source, dataset, key, version] = parts.as_slice() else {
            panic!("record_id example needs 4 parts, has {parts:?}");
        };
        assert_eq!(
            &wire::record_id(source, dataset, key, version),
            id,
            "{parts:?}"
        );
        // The envelope example carries the same id.
        assert!(
            DOC.contains(&format!("\"id\": \"{id}\"")),
            "the RecordEnvelope example should use {id}"
        );
    }
}

#[test]
fn every_header_and_the_version_are_documented() {
    use wire::headers::*;
    for h in [
        SOURCE, TENANT, DATASET, FOLDER, SLICE, REQUEST, VERSION, REASON, ERROR, SHAPE,
    ] {
        assert!(
            DOC.contains(&format!("| `{h}` |")),
            "header {h} missing from the header table"
        );
    }
    assert!(
        DOC.contains(&format!("version **{}**", wire::WIRE_VERSION)),
        "the page names another wire version"
    );
}
