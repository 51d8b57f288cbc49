//! What the file sink writes: partitions, tombstones, versions, dedupe, refusals,
//! names, restarts and file modes.

use super::*;

#[test]
fn envelopes_and_pages_land_in_their_partitions() {
    let tmp = TempDir::new("partitions");
    let mut sink = FileSink::open(Target::Dir(tmp.0.clone()), true).unwrap();
    let job = json!({"Id": 42, "CreationTime": "2024-01-01T09:30:12.345Z", "State": "Successful", "Amount": 1.25});
    assert_eq!(
        sink.write(&shape("record"), &envelope("jobs", "a1", job.clone()))
            .unwrap(),
        1
    );
    let inv1 = json!({"Id": "X-1", "UpdateTime": "2024-01-02T00:00:00Z"});
    let inv2 = json!({"Id": "X-2", "UpdateTime": "2024-01-03T23:59:59.999Z"});
    let body = page(
        "dataservice/Invoice",
        &[("b1", inv1.clone()), ("b2", inv2.clone())],
    );
    // No shape header: told apart by the body.
    assert_eq!(sink.write(&Headers::new(), &body).unwrap(), 2);
    let machine = json!({"Id": 5, "Name": "m"});
    sink.write(&shape("record"), &envelope("machines", "c1", machine))
        .unwrap();
    sink.flush().unwrap();

    let got = files(&tmp.0);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        [
            "acme/dataservice/Invoice/2024-01-02.ndjson",
            "acme/dataservice/Invoice/2024-01-03.ndjson",
            "acme/jobs/2024-01-01.ndjson",
            // Read whole (no time field): the fetch date.
            "acme/machines/2030-01-01.ndjson",
        ]
    );
    assert_eq!(
        got["acme/jobs/2024-01-01.ndjson"],
        [json!({
            "id": "a1", "op": "upsert", "key": "42", "source": "acme", "tenant": "acme/Prod",
            "dataset": "jobs", "folder": "Shared/Finance", "fetched_at": "2030-01-01T12:00:00Z",
            "order_by": "modified", "order": "2024-01-01T09:30:12.3450000Z", "record": job
        })]
    );
    let line = &got["acme/dataservice/Invoice/2024-01-03.ndjson"][0];
    assert_eq!(line["record"], inv2);
    assert_eq!(line["id"], "b2");
    assert!(line.get("folder").is_none(), "{line}");
    assert_eq!(
        sink.counts()
            .get(&("acme".into(), "dataservice/Invoice".into())),
        Some(&2)
    );
    assert_eq!(sink.counts().values().sum::<u64>(), 4);
}

#[test]
fn a_tombstone_is_a_line_without_a_record_dated_by_its_fetch() {
    let tmp = TempDir::new("tombstone");
    let mut sink = FileSink::open(Target::Dir(tmp.0.clone()), true).unwrap();
    let mut h = shape("record");
    h.insert(headers::OP.into(), "delete".into());
    let body = envelope_of("machines", delete("machines", "7"));
    assert_eq!(sink.write(&h, &body).unwrap(), 1);
    // The same deletion again: the same id, dropped.
    assert_eq!(sink.write(&h, &body).unwrap(), 0);
    sink.flush().unwrap();
    let got = files(&tmp.0);
    assert_eq!(
        got["acme/machines/2030-01-01.ndjson"],
        [json!({
            "id": wire::tombstone_id("acme", "machines", "7", "last-seen"),
            "op": "delete", "key": "7", "source": "acme", "tenant": "acme/Prod",
            "dataset": "machines", "folder": "Shared/Finance",
            "fetched_at": "2030-01-01T12:00:00Z", "order_by": "observed-at",
            "order": "2030-01-01T12:00:00.0000000Z"
        })]
    );
    // A delete of a time-sliced dataset also goes by its fetch date, having no record.
    let body = envelope_of("jobs", delete("jobs", "42"));
    assert_eq!(sink.write(&h, &body).unwrap(), 1);
    sink.flush().unwrap();
    assert!(files(&tmp.0).contains_key("acme/jobs/2030-01-01.ndjson"));
}

#[test]
fn a_mixed_page_writes_upserts_and_deletes_in_order() {
    let tmp = TempDir::new("mixed");
    let mut sink = FileSink::open(Target::Dir(tmp.0.clone()), true).unwrap();
    let body = page_of(
        "sessions",
        vec![
            upsert("sessions", "u1", json!({"Id": 1, "State": "Available"})),
            delete("sessions", "2"),
            upsert("sessions", "u3", json!({"Id": 3, "State": "Busy"})),
        ],
    );
    assert_eq!(sink.write(&shape("page"), &body).unwrap(), 3);
    sink.flush().unwrap();
    let lines = &files(&tmp.0)["acme/sessions/2030-01-01.ndjson"];
    let ops: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| (l["op"].as_str().unwrap(), l["key"].as_str().unwrap()))
        .collect();
    assert_eq!(ops, [("upsert", "1"), ("delete", "2"), ("upsert", "3")]);
    assert!(lines[1].get("record").is_none());
    assert_eq!(lines[0]["record"], json!({"Id": 1, "State": "Available"}));
    for l in lines {
        assert_eq!(l["order_by"], "observed-at");
        assert_eq!(l["order"], "2030-01-01T12:00:00.0000000Z");
    }
    assert!(lines[0].get("folder").is_none());

    // A page with one bad record is refused whole: nothing of it is written.
    let mut bad: Value = serde_json::from_slice(&page_of(
        "sessions",
        vec![
            upsert("sessions", "u4", json!({"Id": 4})),
            delete("sessions", "5"),
        ],
    ))
    .unwrap();
    bad["records"][1]["record"] = json!({"Id": 5});
    let e = sink
        .write(&shape("page"), &serde_json::to_vec(&bad).unwrap())
        .unwrap_err();
    assert!(e.to_string().contains("delete carries no `record`"), "{e}");
    sink.flush().unwrap();
    assert_eq!(files(&tmp.0)["acme/sessions/2030-01-01.ndjson"].len(), 3);
}

#[test]
fn version_1_messages_are_still_written_as_upserts() {
    let tmp = TempDir::new("v1");
    let mut sink = FileSink::open(Target::Dir(tmp.0.clone()), true).unwrap();
    let v1 = json!({
        "version": 1, "id": "old", "source": "acme", "tenant": "acme/Prod", "dataset": "jobs",
        "slice_id": "s", "request_id": "r", "fetched_at": "2030-01-01T12:00:00Z",
        "record": {"Id": 1, "CreationTime": "2024-01-01T00:00:00Z"}
    });
    assert_eq!(
        sink.write(&Headers::new(), &serde_json::to_vec(&v1).unwrap())
            .unwrap(),
        1
    );
    sink.flush().unwrap();
    assert_eq!(
        files(&tmp.0)["acme/jobs/2024-01-01.ndjson"],
        [json!({
            "id": "old", "op": "upsert", "source": "acme", "tenant": "acme/Prod",
            "dataset": "jobs", "fetched_at": "2030-01-01T12:00:00Z",
            "record": {"Id": 1, "CreationTime": "2024-01-01T00:00:00Z"}
        })]
    );
}

#[test]
fn dedupe_skips_ids_already_written_and_can_be_off() {
    let tmp = TempDir::new("dedupe");
    let rec = json!({"Id": 1, "CreationTime": "2024-01-01T00:00:00Z"});
    let body = envelope("jobs", "same", rec.clone());
    let mut sink = FileSink::open(Target::Dir(tmp.0.join("on")), true).unwrap();
    assert_eq!(sink.write(&Headers::new(), &body).unwrap(), 1);
    assert_eq!(sink.write(&Headers::new(), &body).unwrap(), 0);
    sink.flush().unwrap();
    assert_eq!(sink.write(&Headers::new(), &body).unwrap(), 0);
    // Within one page too.
    let twice = page(
        "jobs",
        &[
            ("p", rec.clone()),
            ("p", rec.clone()),
            ("same", rec.clone()),
        ],
    );
    assert_eq!(sink.write(&Headers::new(), &twice).unwrap(), 1);
    sink.flush().unwrap();
    assert_eq!(sink.duplicates(), 4);
    assert_eq!(sink.remembered(), 2);
    assert_eq!(
        files(&tmp.0.join("on"))["acme/jobs/2024-01-01.ndjson"].len(),
        2
    );

    let mut sink = FileSink::open(Target::Dir(tmp.0.join("off")), false).unwrap();
    for _ in 0..3 {
        assert_eq!(sink.write(&Headers::new(), &body).unwrap(), 1);
    }
    sink.flush().unwrap();
    assert_eq!(
        files(&tmp.0.join("off"))["acme/jobs/2024-01-01.ndjson"].len(),
        3
    );
    assert_eq!((sink.duplicates(), sink.remembered()), (0, 0));
}

#[test]
fn malformed_bodies_are_refused_without_writing() {
    let tmp = TempDir::new("malformed");
    let mut sink = FileSink::open(Target::Dir(tmp.0.clone()), true).unwrap();
    let good = json!({"Id": 1});
    let mut bad_record = page("jobs", &[("ok", good.clone()), ("bad", json!("text"))]);
    let mut other_version: Value = serde_json::from_slice(&envelope("jobs", "v", good)).unwrap();
    other_version["version"] = json!(3);
    for (h, body, why) in [
        (Headers::new(), b"\x00\x01".to_vec(), "not JSON"),
        (Headers::new(), b"{}".to_vec(), "neither"),
        (
            shape("record"),
            serde_json::to_vec(&other_version).unwrap(),
            "version 3",
        ),
        (
            shape("page"),
            std::mem::take(&mut bad_record),
            "not a JSON object",
        ),
    ] {
        let e = sink.write(&h, &body).unwrap_err();
        assert!(matches!(e, SinkError::Malformed(_)), "{e}");
        assert!(e.to_string().contains(why), "{e} should say {why}");
    }
    sink.flush().unwrap();
    assert!(files(&tmp.0).is_empty());
    assert!(sink.counts().is_empty());
    // The good record of the refused page was not remembered either.
    let page_ok = page("jobs", &[("ok", json!({"Id": 1}))]);
    assert_eq!(sink.write(&Headers::new(), &page_ok).unwrap(), 1);
}

#[test]
fn hostile_names_stay_inside_the_directory() {
    let tmp = TempDir::new("escape");
    let root = tmp.0.join("out");
    let mut sink = FileSink::open(Target::Dir(root.clone()), true).unwrap();
    let mut p = provenance("../../escaped", None);
    p.source = "..".into();
    let body = RecordEnvelope {
        version: WIRE_VERSION,
        id: "e".into(),
        provenance: p,
        fetched_at: fetched(),
        op: Op::Upsert,
        key: Some("1".into()),
        order_by: None,
        order: None,
        record: Some(json!({"Id": 1})),
    }
    .to_bytes();
    assert_eq!(sink.write(&Headers::new(), &body).unwrap(), 1);
    sink.flush().unwrap();
    let got = files(&root);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        ["__/__/__/escaped/2030-01-01.ndjson"]
    );
    // Nothing was created next to the sink's directory.
    let siblings: Vec<_> = std::fs::read_dir(&tmp.0).unwrap().collect();
    assert_eq!(siblings.len(), 1);
}

#[test]
fn a_restarted_sink_appends_and_files_stay_bounded() {
    let tmp = TempDir::new("append");
    for run in 0..2 {
        let mut sink = FileSink::open_with_limit(Target::Dir(tmp.0.clone()), true, 2).unwrap();
        for day in 1..=5 {
            let rec = json!({"Id": day, "CreationTime": format!("2024-01-0{day}T10:00:00Z")});
            sink.write(
                &Headers::new(),
                &envelope("jobs", &format!("r{run}d{day}"), rec),
            )
            .unwrap();
        }
        sink.flush().unwrap();
    }
    let got = files(&tmp.0);
    assert_eq!(got.len(), 5);
    for lines in got.values() {
        let ids: Vec<_> = lines.iter().map(|l| l["id"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), 2, "{ids:?}");
        assert!(
            ids[0].starts_with("r0") && ids[1].starts_with("r1"),
            "{ids:?}"
        );
    }
}

/// Records are the tenant's data: by default only the sink's user reads them (files
/// 0600, directories 0700); another mode is honoured when configured.
#[test]
fn files_and_directories_are_private_unless_configured_otherwise() {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let job = json!({"Id": 1, "CreationTime": "2024-01-01T09:30:12Z"});

    let tmp = TempDir::new("modes");
    let root = tmp.0.join("private");
    let mut sink = FileSink::open(Target::Dir(root.clone()), true).unwrap();
    sink.write(&shape("record"), &envelope("jobs", "m1", job.clone()))
        .unwrap();
    sink.flush().unwrap();
    let file = root.join("acme/jobs/2024-01-01.ndjson");
    assert_eq!(mode(&file), 0o600, "a record file");
    assert_eq!(
        mode(&root.join("acme/jobs")),
        0o700,
        "a partition directory"
    );
    assert_eq!(mode(&root), 0o700, "the sink's directory");
    drop(sink);

    let shared = tmp.0.join("shared");
    let options = crate::SinkOptions {
        file_mode: 0o640,
        ..crate::SinkOptions::default()
    };
    let mut sink = FileSink::open_with(Target::Dir(shared.clone()), options).unwrap();
    sink.write(&shape("record"), &envelope("jobs", "m2", job))
        .unwrap();
    sink.flush().unwrap();
    assert_eq!(mode(&shared.join("acme/jobs/2024-01-01.ndjson")), 0o640);
    assert_eq!(mode(&shared.join("acme")), 0o750);
}

/// A long-running sink with dedupe keeps a bounded window of ids, not every id ever.
#[test]
fn dedupe_memory_is_bounded_by_its_window() {
    let options = crate::SinkOptions {
        dedupe_window: Some(100),
        ..crate::SinkOptions::default()
    };
    let mut sink = FileSink::to_writer_with(Box::new(std::io::sink()), options);
    for n in 0..5_000u64 {
        let job = json!({"Id": n, "CreationTime": "2024-01-01T09:30:12Z"});
        sink.write(&shape("record"), &envelope("jobs", &format!("id-{n}"), job))
            .unwrap();
        if n % 10 == 9 {
            sink.flush().unwrap();
        }
        assert!(sink.remembered() <= 2 * 100 + 10, "{}", sink.remembered());
    }
    sink.flush().unwrap();
    let job = json!({"Id": 4_999, "CreationTime": "2024-01-01T09:30:12Z"});
    assert_eq!(
        sink.write(&shape("record"), &envelope("jobs", "id-4999", job))
            .unwrap(),
        0,
        "a recent duplicate is still dropped"
    );
    assert_eq!(sink.duplicates(), 1);
}
