use chrono::TimeZone;
use fleet_core::dataset::by_name;
use serde_json::json;

use super::*;

fn at(d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, d, h, 0, 0).unwrap()
}

fn pairs(q: &PageQuery) -> Vec<(&str, &str)> {
    q.pairs
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect()
}

fn records(values: serde_json::Value) -> Vec<Record> {
    values
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_object().unwrap().clone())
        .collect()
}

#[test]
fn keyset_pages_seek_past_the_last_time_and_id() {
    let jobs = by_name("jobs").unwrap();
    let spec = SliceSpec::new(jobs)
        .folder("k")
        .range(Some(at(1, 0)), Some(at(2, 0)))
        .page_size(50);
    let first = spec.page_query(&Cursor::Start).unwrap();
    assert_eq!(
        pairs(&first),
        [
            ("$filter", "(CreationTime ge 2025-03-01T00:00:00.000Z) and (CreationTime lt 2025-03-02T00:00:00.000Z)"),
            ("$orderby", "CreationTime asc,Id asc"),
            ("$top", "50"),
        ]
    );
    let cursor = Cursor::After {
        time: "2025-03-01T10:11:12.345Z".into(),
        id: 77,
    };
    let next = spec.page_query(&cursor).unwrap();
    assert_eq!(
        pairs(&next)[0],
        (
            "$filter",
            "(CreationTime gt 2025-03-01T10:11:12.345Z or (CreationTime eq 2025-03-01T10:11:12.345Z and Id gt 77)) \
             and (CreationTime lt 2025-03-02T00:00:00.000Z)"
        )
    );
    // An open range still orders and seeks by the key.
    let open = SliceSpec::new(jobs).page_query(&cursor).unwrap();
    assert_eq!(
        pairs(&open)[0].1,
        "CreationTime gt 2025-03-01T10:11:12.345Z or (CreationTime eq 2025-03-01T10:11:12.345Z and Id gt 77)"
    );
}

#[test]
fn top_never_exceeds_the_cloud_cap() {
    let qi = by_name("queue-items").unwrap();
    assert_eq!(SliceSpec::new(qi).top(), 100);
    assert_eq!(SliceSpec::new(qi).page_size(1000).top(), 100);
    assert_eq!(SliceSpec::new(qi).page_size(0).top(), 1);
    assert_eq!(SliceSpec::new(by_name("jobs").unwrap()).top(), 1000);
}

#[test]
fn select_always_carries_the_cursor_fields() {
    let jobs = by_name("jobs").unwrap();
    let q = SliceSpec::new(jobs)
        .select(["State", "id"])
        .page_query(&Cursor::Start)
        .unwrap();
    assert_eq!(
        pairs(&q).last().unwrap(),
        &("$select", "State,id,CreationTime")
    );
    let bad = SliceSpec::new(jobs)
        .select(["State,Id"])
        .page_query(&Cursor::Start);
    assert!(matches!(bad, Err(ClientError::Config(_))));
}

#[test]
fn a_huge_select_is_deduplicated_in_linear_time() {
    // 200,000 names, every other one a case variant of its neighbour: the pairwise scan
    // this replaced made 10^10 comparisons here (minutes, per page, on a runtime thread).
    let jobs = by_name("jobs").unwrap();
    let names: Vec<String> = (0..100_000)
        .flat_map(|i| [format!("Field{i}"), format!("FIELD{i}")])
        .collect();
    let q = SliceSpec::new(jobs)
        .select(names)
        .page_query(&Cursor::Start)
        .unwrap();
    let select = pairs(&q).last().unwrap().1.to_owned();
    let out: Vec<&str> = select.split(',').collect();
    assert_eq!(
        out.len(),
        100_000 + 2,
        "each name once, plus the cursor's two"
    );
    assert_eq!(
        &out[..2],
        ["Field0", "Field1"],
        "first spelling kept, order kept"
    );
    assert_eq!(&out[100_000..], ["CreationTime", "Id"]);
}

#[test]
fn untimed_sets_page_by_id_and_refuse_ranges() {
    let machines = by_name("machines").unwrap();
    let q = SliceSpec::new(machines)
        .page_query(&Cursor::AfterId { id: 9 })
        .unwrap();
    assert_eq!(
        pairs(&q),
        [
            ("$filter", "Id gt 9"),
            ("$orderby", "Id asc"),
            ("$top", "1000")
        ]
    );
    let e = SliceSpec::new(machines)
        .range(Some(at(1, 0)), None)
        .page_query(&Cursor::Start);
    assert!(matches!(e, Err(ClientError::Config(m)) if m.contains("no time field")));
}

#[test]
fn robot_logs_skip_within_the_window_and_stop_at_its_edge() {
    let logs = by_name("robot-logs").unwrap();
    let spec = SliceSpec::new(logs).range(Some(at(1, 0)), Some(at(1, 6)));
    let first = spec.page_query(&Cursor::Start).unwrap();
    assert!(first.count);
    assert_eq!(
        pairs(&first)[1..],
        [
            ("$orderby", "TimeStamp asc"),
            ("$top", "1000"),
            ("$count", "true")
        ]
    );
    let later = spec.page_query(&Cursor::Skip { skip: 9_500 }).unwrap();
    assert_eq!((later.top, later.skip, later.count), (500, 9_500, false));
    assert!(pairs(&later).contains(&("$skip", "9500")));
    let beyond = spec.page_query(&Cursor::Skip { skip: 10_000 });
    assert!(matches!(
        beyond,
        Err(ClientError::WindowExceeded { window: 10_000, .. })
    ));
}

#[test]
fn cursors_of_the_wrong_kind_or_unsafe_times_are_refused() {
    let jobs = by_name("jobs").unwrap();
    let e = SliceSpec::new(jobs).page_query(&Cursor::Skip { skip: 5 });
    assert!(matches!(e, Err(ClientError::Config(m)) if m.contains("`skip` cursor")));
    let evil = Cursor::After {
        time: "2025-01-01T00:00:00Z or Id gt 0".into(),
        id: 1,
    };
    assert!(matches!(
        SliceSpec::new(jobs).page_query(&evil),
        Err(ClientError::Config(_))
    ));
    let inverted = SliceSpec::new(jobs).range(Some(at(2, 0)), Some(at(1, 0)));
    assert!(inverted.page_query(&Cursor::Start).is_err());
}

#[test]
fn next_cursor_follows_the_last_record_and_stops_on_a_short_page() {
    let jobs = by_name("jobs").unwrap();
    let spec = SliceSpec::new(jobs).page_size(2);
    let q = spec.page_query(&Cursor::Start).unwrap();
    let paging = spec.paging().unwrap();
    let full = records(json!([
        {"Id": 1, "CreationTime": "2025-03-01T00:00:00.000Z"},
        {"Id": 5, "CreationTime": "2025-03-01T00:00:00.5Z"}
    ]));
    assert_eq!(
        next_cursor(paging, &q, &full).unwrap(),
        Some(Cursor::After {
            time: "2025-03-01T00:00:00.5Z".into(),
            id: 5
        })
    );
    assert_eq!(next_cursor(paging, &q, &full[..1]).unwrap(), None);
    let broken = records(
        json!([{"Id": "not-a-number-1", "CreationTime": "2025-03-01T00:00:00Z"}, {"Id": 2}]),
    );
    assert!(next_cursor(paging, &q, &broken)
        .unwrap_err()
        .contains("not an integer"));
    let no_time = records(
        json!([{"Id": 1, "CreationTime": "2025-03-01T00:00:00Z"}, {"Id": 2, "CreationTime": null}]),
    );
    assert!(next_cursor(paging, &q, &no_time)
        .unwrap_err()
        .contains("CreationTime"));
}

#[test]
fn cursors_round_trip_through_json() {
    for c in [
        Cursor::Start,
        Cursor::After {
            time: "2025-03-01T00:00:00.123Z".into(),
            id: i64::MAX,
        },
        Cursor::AfterId { id: 3 },
        Cursor::Skip { skip: 9_000 },
    ] {
        let text = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<Cursor>(&text).unwrap(), c, "{text}");
    }
    assert_eq!(
        serde_json::to_value(Cursor::After {
            time: "t".into(),
            id: 1
        })
        .unwrap(),
        json!({"kind": "after", "time": "t", "id": 1})
    );
}

#[test]
fn count_queries_ask_for_nothing_but_the_count() {
    let spec = SliceSpec::new(by_name("audit-logs").unwrap()).range(Some(at(1, 0)), None);
    assert_eq!(
        spec.count_query().unwrap(),
        [
            (
                "$filter".to_owned(),
                "ExecutionTime ge 2025-03-01T00:00:00.000Z".to_owned()
            ),
            ("$top".to_owned(), "0".to_owned()),
            ("$count".to_owned(), "true".to_owned())
        ]
    );
}

#[test]
fn a_window_of_changes_reads_modified_and_never_modified_records_by_id() {
    let jobs = by_name("jobs").unwrap();
    let spec = SliceSpec::new(jobs)
        .folder("k")
        .range(Some(at(1, 0)), Some(at(1, 1)))
        .modified("LastModificationTime")
        .select(["State"]);
    let window = "(LastModificationTime ge 2025-03-01T00:00:00.000Z and LastModificationTime lt 2025-03-01T01:00:00.000Z) \
                  or (LastModificationTime eq null and CreationTime ge 2025-03-01T00:00:00.000Z and CreationTime lt 2025-03-01T01:00:00.000Z)";
    let first = spec.page_query(&Cursor::Start).unwrap();
    assert_eq!(
        pairs(&first),
        [
            ("$filter", window),
            ("$orderby", "Id asc"),
            ("$top", "1000"),
            ("$select", "State,LastModificationTime,CreationTime,Id"),
        ]
    );
    let next = spec.page_query(&Cursor::AfterId { id: 41 }).unwrap();
    assert_eq!(pairs(&next)[0].1, format!("({window}) and (Id gt 41)"));
    // The count probe asks the same window.
    assert_eq!(spec.count_query().unwrap()[0].1, window);
    // Full page: the cursor moves past the last Id, whatever its times.
    let q = SliceSpec::new(jobs)
        .modified("LastModificationTime")
        .page_size(2)
        .page_query(&Cursor::Start)
        .unwrap();
    let page = records(json!([
        {"Id": 7, "LastModificationTime": null, "CreationTime": "2025-03-01T00:10:00Z"},
        {"Id": 9, "LastModificationTime": "2025-03-01T00:20:00Z", "CreationTime": "2025-02-01T00:00:00Z"}
    ]));
    assert_eq!(
        next_cursor(
            SliceSpec::new(jobs)
                .modified("LastModificationTime")
                .paging()
                .unwrap(),
            &q,
            &page
        ),
        Ok(Some(Cursor::AfterId { id: 9 }))
    );
    // A keyset cursor of a history read does not fit a window of changes.
    let after = Cursor::After {
        time: "2025-03-01T00:00:00Z".into(),
        id: 1,
    };
    assert!(spec.page_query(&after).is_err());
    // Sets without a creation time cannot be read this way.
    let machines = by_name("machines").unwrap();
    assert!(SliceSpec::new(machines)
        .modified("LastModificationTime")
        .page_query(&Cursor::Start)
        .is_err());
}

#[test]
fn reads_by_id_are_or_chains_within_the_expression_limit() {
    let items = by_name("queue-items").unwrap();
    let spec = SliceSpec::new(items).folder("k").ids(vec![5, 9, 12]);
    let q = spec.page_query(&Cursor::Start).unwrap();
    assert_eq!(
        pairs(&q),
        [
            ("$filter", "Id eq 5 or Id eq 9 or Id eq 12"),
            ("$orderby", "Id asc"),
            ("$top", "100"),
        ]
    );
    let q = spec.page_query(&Cursor::AfterId { id: 9 }).unwrap();
    assert_eq!(
        pairs(&q)[0].1,
        "(Id eq 5 or Id eq 9 or Id eq 12) and (Id gt 9)"
    );
    let too_many = SliceSpec::new(items).ids((0..=MAX_IDS_PER_QUERY as i64).collect());
    assert!(too_many.page_query(&Cursor::Start).is_err());
    assert!(SliceSpec::new(items)
        .ids(vec![])
        .page_query(&Cursor::Start)
        .is_err());
    let ranged = SliceSpec::new(items)
        .ids(vec![1])
        .range(Some(at(1, 0)), None);
    assert!(ranged.page_query(&Cursor::Start).is_err());
    // 50 comparisons and 49 `or`s: inside Orchestrator's 100-expression limit.
    let full = SliceSpec::new(items).ids((1..=MAX_IDS_PER_QUERY as i64).collect());
    let filter = full.page_query(&Cursor::Start).unwrap().pairs[0].1.clone();
    assert_eq!(
        filter.matches(" eq ").count() + filter.matches(" or ").count(),
        99
    );
}
