//! The query engine against a brute-force oracle: for random time/id bounds, keyset cursors,
//! orderings, `$skip`/`$top` and overlay changes, `engine::execute` must return exactly the
//! page (and count) that filtering and sorting every generated record would give.
//! This is what proves the index-range narrowing and the streaming merge are sound.

use std::cmp::Ordering;

use chrono::NaiveDate;
use proptest::prelude::*;
use uipath_sim::data::{entities, AsOf, DataConfig, EntityGen, TenantData};
use uipath_sim::engine;
use uipath_sim::odata::{parse_query, Query};
use uipath_sim::overlay::{PartKey, PartOverlay, TenantOverlay};
use uipath_sim::value::{format_datetime, FieldType, Row, Val};

fn config() -> DataConfig {
    DataConfig {
        seed: 5,
        span_start: NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
        span_end: NaiveDate::from_ymd_opt(2024, 1, 15).unwrap(),
        jobs_per_day: 60.0,
        queue_items_per_day: 60.0,
        robot_logs_per_day: 60.0,
        ..DataConfig::default()
    }
}

fn oracle(
    gen: &dyn EntityGen,
    t: &AsOf<'_>,
    part: usize,
    ov: &PartOverlay,
    q: &Query,
) -> (Vec<Row>, u64) {
    let schema = gen.def().schema;
    let mut all: Vec<Row> = (0..gen.len(t, part))
        .filter(|i| !ov.hides(*i))
        .map(|i| gen.row(t, part, i))
        .chain(ov.rows().cloned())
        .filter(|r| q.filter.as_ref().is_none_or(|f| f.eval(r)))
        .collect();
    let id = schema.index_of("Id");
    let order = q.orderby.clone();
    all.sort_by(|a, b| {
        for k in &order {
            let (x, y) = (k.path.get(a), k.path.get(b));
            let ty = schema.fields[k.path.0[0]].ty;
            let o = match (ty, x, y) {
                (FieldType::Enum(vals), Val::Str(x), Val::Str(y)) => {
                    let p = |s: &str| vals.iter().position(|v| *v == s);
                    p(x).cmp(&p(y))
                }
                _ => x.order(y),
            };
            let o = if k.desc { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        // the engine breaks remaining ties by id, in the direction of the last key
        let desc = order.last().is_some_and(|k| k.desc);
        match id {
            Some(i) if desc => b.get(i).order(a.get(i)),
            Some(i) => a.get(i).order(b.get(i)),
            None => Ordering::Equal,
        }
    });
    let total = all.len() as u64;
    let window = gen.def().window.unwrap_or(u64::MAX);
    let take = q
        .top
        .unwrap_or(gen.def().max_top)
        .min(window.saturating_sub(q.skip));
    let page = all
        .into_iter()
        .skip(q.skip as usize)
        .take(take as usize)
        .collect();
    (page, total.min(window))
}

fn ids(rows: &[Row], idx: Option<usize>) -> Vec<String> {
    rows.iter()
        .map(|r| match idx {
            Some(i) => format!("{:?}", r.get(i)),
            None => format!("{:?}", r.0),
        })
        .collect()
}

const ORDERS: &[&str] = &[
    "",
    "CreationTime asc,Id asc",
    "CreationTime desc,Id desc",
    "Id desc",
    "LastModificationTime asc,Id asc",
    "State asc,Id desc",
    "EndTime desc",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn jobs_queries_match_the_oracle(
        from_h in 0i64..340, len_h in 0i64..200, cursor_pick in 0usize..400,
        use_cursor: bool, lm: bool, order in 0usize..ORDERS.len(),
        skip in 0u64..120, top in 0u64..150, count: bool, updates in 0usize..4,
    ) {
        let t = TenantData::build("o", "t", &config());
        let t = t.at_end();
        let gen = entities::by_name("Jobs").unwrap();
        let schema = gen.def().schema;
        let part = 0;
        let base = config().span_start.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp_millis();
        let hour = 3_600_000;
        let (a, b) = (base + from_h * hour, base + (from_h + len_h) * hour);
        let field = if lm { "LastModificationTime" } else { "CreationTime" };
        let mut filter = format!("{field} ge {} and {field} lt {}", format_datetime(a), format_datetime(b));
        let n = gen.len(&t, part);
        prop_assume!(n > 0);
        if use_cursor {
            let c = gen.row(&t, part, cursor_pick as u64 % n);
            let ct = format_datetime(c.get(schema.index_of("CreationTime").unwrap()).as_datetime().unwrap());
            let cid = c.get(schema.index_of("Id").unwrap()).as_i64().unwrap();
            filter = format!("{filter} and (CreationTime gt {ct} or (CreationTime eq {ct} and Id gt {cid}))");
        }
        let overlay = TenantOverlay::default();
        let key = PartKey { entity: "Jobs", part };
        for u in 0..updates {
            let i = (cursor_pick as u64 * 7 + u as u64 * 13) % n;
            let mut row = gen.row(&t, part, i);
            let lmi = schema.index_of("LastModificationTime").unwrap();
            row.0[lmi] = Val::DateTime(a + 1_000 * u as i64);
            overlay.replace(key, i, row);
        }
        let snap = overlay.snapshot(key);
        let mut pairs = vec![("$filter".to_owned(), filter), ("$skip".into(), skip.to_string()), ("$top".into(), top.to_string())];
        if !ORDERS[order].is_empty() {
            pairs.push(("$orderby".into(), ORDERS[order].into()));
        }
        if count {
            pairs.push(("$count".into(), "true".into()));
        }
        let q = parse_query(&pairs, schema, 1000).unwrap();
        let got = engine::execute(gen, &t, part, &snap, &q).unwrap();
        let (want, total) = oracle(gen, &t, part, &snap, &q);
        let idx = schema.index_of("Id");
        prop_assert_eq!(ids(&got.rows, idx), ids(&want, idx));
        prop_assert_eq!(got.count, count.then_some(total));
    }

    #[test]
    fn robot_logs_respect_the_window_and_the_oracle(skip in 0u64..1_200, top in 0u64..1_000) {
        let t = TenantData::build("o", "t", &config());
        let t = t.at_end();
        let gen = entities::by_name("RobotLogs").unwrap();
        let pairs = vec![
            ("$skip".to_owned(), skip.to_string()),
            ("$top".into(), top.to_string()),
            ("$count".into(), "true".into()),
        ];
        let q = parse_query(&pairs, gen.def().schema, 1000).unwrap();
        let empty = PartOverlay::default();
        let got = engine::execute(gen, &t, 0, &empty, &q).unwrap();
        let (want, total) = oracle(gen, &t, 0, &empty, &q);
        prop_assert_eq!(ids(&got.rows, None), ids(&want, None));
        prop_assert_eq!(got.count, Some(total));
    }
}

#[test]
fn robot_logs_stop_at_the_ten_thousand_row_window() {
    let mut c = config();
    c.robot_logs_per_day = 2_000.0;
    let t = TenantData::build("o", "t", &c);
    let t = t.at_end();
    let gen = entities::by_name("RobotLogs").unwrap();
    assert!(gen.len(&t, 0) > 10_000, "need more than the window");
    let q = |skip: u64, top: u64| {
        let pairs = vec![
            ("$skip".to_owned(), skip.to_string()),
            ("$top".into(), top.to_string()),
            ("$count".into(), "true".into()),
        ];
        let q = parse_query(&pairs, gen.def().schema, 1000).unwrap();
        engine::execute(gen, &t, 0, &PartOverlay::default(), &q).unwrap()
    };
    let near = q(9_950, 100);
    assert_eq!(near.rows.len(), 50);
    assert_eq!(
        near.count,
        Some(10_000),
        "the count is capped at the window"
    );
    assert!(q(10_000, 100).rows.is_empty());
}
