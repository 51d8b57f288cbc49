//! docs/messages.md cannot drift from the wire code: every JSON example in it is tagged
//! with its type (`<!-- example: SliceJob -->`) and must decode with that type's
//! `from_bytes`, re-encode to the very same JSON (so no documented field is silently
//! ignored), and carry exactly the fields its table lists. The worked record and tombstone
//! ids must be what `wire::record_id` / `wire::tombstone_id` compute, every record
//! example's `order_by` and `order` what `wire::version_order` / `wire::order_value`
//! give, the version-order table what the code does for every dataset, and every
//! `x-fleet-*` header must be documented.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use fleet_core::dataset::{self, VersionOrder};
use fleet_core::wire::{
    self, Event, EventBody, Op, PageRecord, RecordEnvelope, RecordPage, SliceJob,
};
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
    /// `(parts, expected id)` of each `<!-- tombstone_id: … -->` example.
    tombstone_ids: Vec<(Vec<String>, String)>,
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
        tombstone_ids: Vec::new(),
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
        } else if let Some((tombstone, parts)) = marker(line, "record_id:")
            .map(|p| (false, p))
            .or_else(|| marker(line, "tombstone_id:").map(|p| (true, p)))
        {
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
            let entry = (parts.split_whitespace().map(String::from).collect(), id);
            if tombstone {
                doc.tombstone_ids.push(entry);
            } else {
                doc.record_ids.push(entry);
            }
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
    assert!(
        !doc.tombstone_ids.is_empty(),
        "no `<!-- tombstone_id: … -->` example"
    );
    for (parts, id) in &doc.tombstone_ids {
        let [source, dataset, key, last] = parts.as_slice() else {
            panic!("tombstone_id example needs 4 parts, has {parts:?}");
        };
        assert_eq!(
            &wire::tombstone_id(source, dataset, key, last),
            id,
            "{parts:?}"
        );
        assert_eq!(
            &wire::record_id(source, dataset, key, &format!("deleted:{last}")),
            id,
            "the rule the page states"
        );
        assert!(
            DOC.contains(&format!("\"id\": \"{id}\"")),
            "the delete example should use {id}"
        );
    }
}

/// Every record in the examples, as (dataset, fetched_at, order_by, record in a page or
/// envelope).
fn example_records(doc: &Doc) -> Vec<(String, String, Option<VersionOrder>, PageRecord)> {
    let mut out = Vec::new();
    for ex in &doc.examples {
        match ex.kind.as_str() {
            "RecordEnvelope" => {
                let e = RecordEnvelope::from_bytes(ex.json.as_bytes()).unwrap();
                out.push((
                    e.provenance.dataset,
                    e.fetched_at.to_rfc3339(),
                    e.order_by,
                    PageRecord {
                        id: e.id,
                        op: e.op,
                        key: e.key,
                        order: e.order,
                        record: e.record,
                    },
                ));
            }
            "RecordPage" => {
                let p = RecordPage::from_bytes(ex.json.as_bytes()).unwrap();
                for r in p.records {
                    out.push((
                        p.provenance.dataset.clone(),
                        p.fetched_at.to_rfc3339(),
                        p.order_by,
                        r,
                    ));
                }
            }
            _ => {}
        }
    }
    out
}

#[test]
fn record_examples_carry_the_identity_the_code_computes() {
    let doc = parse_doc();
    let records = example_records(&doc);
    let ops: BTreeSet<Op> = records.iter().map(|r| r.3.op).collect();
    assert_eq!(ops.len(), 2, "examples of both upserts and deletes");
    for (dataset, fetched_at, order_by, r) in &records {
        let fetched_at: DateTime<Utc> = fetched_at.parse().unwrap();
        assert_eq!(
            *order_by,
            Some(wire::version_order(dataset)),
            "{dataset}: order_by"
        );
        let order = r.order.as_deref().expect("every example has its order");
        assert_eq!(order.len(), "2024-01-01T09:30:12.3450000Z".len(), "{order}");
        match r.op {
            Op::Upsert => {
                let record = r.record.as_ref().unwrap().as_object().unwrap();
                assert_eq!(
                    wire::order_value(dataset, record, fetched_at).as_deref(),
                    Some(order),
                    "{dataset} {}: order",
                    r.id
                );
                let id = record["Id"].to_string();
                assert_eq!(r.key.as_deref(), Some(id.trim_matches('"')), "key = Id");
            }
            Op::Delete => {
                assert_eq!(order, wire::order_time(fetched_at), "a delete's order");
                assert_eq!(*order_by, Some(VersionOrder::ObservedAt), "{dataset}");
                let snapshot = dataset::by_name(dataset).is_some_and(|d| d.sync_reads_whole());
                assert!(
                    snapshot,
                    "deletes come only from snapshot datasets: {dataset}"
                );
            }
        }
    }
}

#[test]
fn the_version_order_table_is_what_the_code_does() {
    let section = DOC
        .split("### Version order")
        .nth(1)
        .expect("a Version order section")
        .split("\n#")
        .next()
        .unwrap();
    let mut rows = BTreeMap::new();
    for line in section.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 4 || !cells[1].starts_with('`') {
            continue;
        }
        let name = cells[1].trim_matches('`').to_owned();
        let order = cells[2].trim_matches('`').to_owned();
        rows.insert(name, (order, cells[3].to_owned()));
    }
    let mut names: Vec<String> = dataset::all().iter().map(|d| d.slug.to_owned()).collect();
    names.push("dataservice/<Entity>".into());
    assert_eq!(
        rows.keys().cloned().collect::<BTreeSet<_>>(),
        names.iter().cloned().collect::<BTreeSet<_>>(),
        "one row per dataset"
    );
    for (name, (order, fields)) in &rows {
        let dataset = name.replace("<Entity>", "Invoice");
        assert_eq!(wire::version_order(&dataset).as_str(), order, "{name}");
        for f in wire::order_fields(&dataset) {
            assert!(
                fields.contains(&format!("`{f}`")),
                "{name} should name `{f}`"
            );
        }
        if order == "observed-at" {
            assert!(fields.contains("`fetched_at`"), "{name}");
        }
    }
}

#[test]
fn order_strings_compare_like_the_versions_they_name() {
    // Times of one record as UiPath may send them: offsets, zone-less, 0 to 7 digits.
    let times = [
        "2024-01-01T09:30:12+01:00",
        "2024-01-01T08:30:12.0000001Z",
        "2024-01-01T08:30:12.02",
        "2024-01-01T08:30:12.1Z",
        "2024-01-01T10:30:12.1000001+02:00",
        "2024-01-01T08:30:13Z",
        "2024-12-31T23:59:59.9999999Z",
    ];
    let orders: Vec<String> = times
        .iter()
        .map(|t| wire::order_time(wire::parse_time(t).unwrap()))
        .collect();
    for w in orders.windows(2) {
        assert!(w[0] < w[1], "{w:?}");
    }
    // Row versions: the counter's order.
    let rv = |n: u64| {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(n.to_be_bytes());
        let mut rec = serde_json::Map::new();
        rec.insert("RowVersion".into(), b64.into());
        wire::order_value("queue-items", &rec, Utc::now()).unwrap()
    };
    let counters = [1u64, 255, 256, 65_535, 1 << 40, u64::MAX];
    for w in counters.windows(2) {
        assert!(rv(w[0]) < rv(w[1]), "{} < {}", w[0], w[1]);
    }
}

#[test]
fn every_header_and_the_version_are_documented() {
    use wire::headers::*;
    for h in [
        SOURCE, TENANT, DATASET, FOLDER, SLICE, REQUEST, VERSION, REASON, ERROR, SHAPE, OP,
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

/// The header table's rows: header → the "On" cell (which messages carry it).
fn header_table() -> BTreeMap<String, String> {
    let start = DOC
        .find("| Header | Value | On |")
        .expect("the header table");
    DOC[start..]
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
            let name = cells[0].trim_matches('`').to_owned();
            (name, cells[2].to_owned())
        })
        .collect()
}

/// Whether a message of `kind` carries a header documented as on `on`. The table's
/// vocabulary: "every message", "jobs", "dead letters", "records" (both shapes),
/// "records of shape `record`".
fn documented_on(on: &str, kind: &str) -> bool {
    let job = matches!(kind, "job" | "retry copy" | "replayed dead letter");
    let record = matches!(kind, "record" | "page");
    on.contains("every message")
        || (job && on.split([',', ' ']).any(|w| w == "jobs"))
        || (kind == "dead letter" && on.contains("dead letters"))
        || if on.contains("records of shape `record`") {
            kind == "record"
        } else {
            record && on.contains("records")
        }
}

/// Every message kind, built by `fleet_core::messages` as the publishers build it,
/// carries exactly the headers the page promises for it (docs/messages.md, "AMQP
/// properties") — `x-fleet-version` included, on every one.
#[test]
fn every_message_kind_carries_the_documented_headers() {
    use fleet_core::broker::{Destination, Headers};
    use fleet_core::messages;
    use fleet_core::wire::{FolderRef, Lane, Provenance};
    use std::time::Duration;

    let folder = FolderRef {
        id: 1,
        key: "6f2c0a7e-0000-4000-8000-000000000001".into(),
        path: "Shared".into(),
    };
    let job = SliceJob {
        version: wire::WIRE_VERSION,
        slice_id: "e42fa6ac01f3976d2a9de38871ae93f6".into(),
        request_id: "bf-184dfec0312e6765666f".into(),
        lane: Lane::Backfill,
        source: "acme".into(),
        dataset: "jobs".into(),
        folder: Some(folder.clone()),
        from: None,
        to: None,
        select: Vec::new(),
        read: Default::default(),
        attempt: 0,
        parent: None,
    };
    let p = Provenance {
        source: "acme".into(),
        tenant: "acmecorp/DefaultTenant".into(),
        dataset: "jobs".into(),
        folder: Some(folder.clone()),
        slice_id: job.slice_id.clone(),
        request_id: job.request_id.clone(),
    };
    let dead = messages::dead_letter(&job, job.to_bytes(), "forbidden", "403 from /odata/Jobs");
    // A letter written before dead letters had a version: the replay adds it.
    let mut old_letter = dead.headers.clone();
    old_letter.remove(wire::headers::VERSION);
    let events = [
        EventBody::SliceCompleted {
            request_id: job.request_id.clone(),
            slice_id: job.slice_id.clone(),
            source: "acme".into(),
            dataset: "jobs".into(),
            folder: Some(folder.clone()),
            from: None,
            to: None,
            records: 1,
            pages: 1,
        },
        EventBody::SliceFailed {
            request_id: job.request_id.clone(),
            slice_id: job.slice_id.clone(),
            source: "acme".into(),
            dataset: "jobs".into(),
            folder: Some(folder),
            reason: "forbidden".into(),
            error: "403".into(),
            attempts: 1,
        },
        EventBody::RequestCompleted {
            request_id: job.request_id.clone(),
            slices: 1,
            failed: 0,
            records: 1,
        },
    ];
    let retry = Destination::Retry {
        lane: Lane::Backfill,
        delay: Duration::from_secs(5),
    };
    let mut kinds = vec![
        ("job", messages::job(&job, Destination::Jobs(job.lane))),
        ("retry copy", messages::job(&job, retry)),
        (
            "record",
            messages::record(&p, "id".into(), Op::Upsert, vec![]),
        ),
        ("page", messages::page(&p, 3, vec![])),
        ("dead letter", dead.clone()),
        (
            "replayed dead letter",
            messages::replayed(&job, Some("m"), &dead.headers, job.to_bytes()),
        ),
        (
            "replayed dead letter",
            messages::replayed(&job, None, &old_letter, job.to_bytes()),
        ),
    ];
    for body in events {
        kinds.push(("event", messages::event(&Event::new(body))));
    }
    let table = header_table();
    assert!(table.len() >= 11, "header table: {table:?}");
    for (kind, m) in &kinds {
        let want: BTreeSet<&str> = table
            .iter()
            .filter(|(_, on)| documented_on(on, kind))
            .map(|(h, _)| h.as_str())
            .collect();
        let got: BTreeSet<&str> = m.headers.keys().map(String::as_str).collect();
        assert_eq!(got, want, "headers of a {kind} ({:?})", m.destination);
        assert_eq!(
            m.headers.get(wire::headers::VERSION).map(String::as_str),
            Some("2"),
            "x-fleet-version of a {kind}"
        );
    }

    // A body no build reads keeps the headers it came with (its version among them), and
    // gets the reason and error.
    let mut came: Headers = Headers::new();
    came.insert(wire::headers::VERSION.into(), "9".into());
    came.insert(wire::headers::SLICE.into(), "s".into());
    came.insert("x-other".into(), "dropped".into());
    let r = messages::rejected(Some("m"), &came, b"{}".to_vec(), "version", "version 9");
    let got: Vec<&str> = r.headers.keys().map(String::as_str).collect();
    assert_eq!(
        got,
        [
            wire::headers::ERROR,
            wire::headers::REASON,
            wire::headers::SLICE,
            wire::headers::VERSION
        ]
    );
    assert_eq!(r.headers[wire::headers::VERSION], "9");
    let bare = messages::rejected(
        None,
        &Headers::new(),
        b"junk".to_vec(),
        "malformed_job",
        "x",
    );
    assert_eq!(bare.message_id, "unreadable");
}
