//! Live mode: a tenant read as of an instant. Jobs and queue items move through their
//! states, queue item events follow the items exactly, reference sets change, and the
//! filters a change-feed sync sends return what a brute-force evaluation returns.

mod common;

use chrono::NaiveDate;
use common::{values, Client};
use serde_json::Value;
use uipath_sim::config::{SimConfig, DEMO_ORG, DEMO_TENANT};
use uipath_sim::data::entities;
use uipath_sim::data::live::{reference_changes, RefChangeKind};
use uipath_sim::data::{AsOf, DataConfig, EntityGen, LiveData, TenantData};
use uipath_sim::engine;
use uipath_sim::odata::parse_query;
use uipath_sim::overlay::PartOverlay;
use uipath_sim::value::{format_datetime, Row, Val};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

fn config() -> DataConfig {
    DataConfig {
        seed: 11,
        span_start: NaiveDate::from_ymd_opt(2024, 3, 1).unwrap(),
        span_end: NaiveDate::from_ymd_opt(2024, 3, 15).unwrap(),
        jobs_per_day: 80.0,
        queue_items_per_day: 80.0,
        ..DataConfig::default()
    }
}

fn ms(date: NaiveDate) -> i64 {
    date.and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_millis()
}

/// A live tenant whose span runs five days past the configured end, with a reference
/// change every `every_ms` from the day after the configured end.
fn live_tenant(every_ms: i64) -> TenantData {
    let c = config();
    TenantData::build_live(
        "acme",
        "prod",
        &c,
        NaiveDate::from_ymd_opt(2024, 3, 20).unwrap(),
        LiveData {
            reference_change_ms: every_ms,
            epoch_ms: ms(c.span_end) + DAY,
        },
    )
}

fn gen(name: &str) -> &'static dyn EntityGen {
    entities::by_name(name).unwrap()
}

fn field(g: &dyn EntityGen, row: &Row, name: &str) -> Val {
    row.get(g.def().schema.index_of(name).unwrap()).clone()
}

/// Every record of a partition that exists as of the view.
fn all_rows(g: &dyn EntityGen, t: &AsOf<'_>, part: usize) -> Vec<Row> {
    (0..g.len(t, part))
        .filter(|&i| g.exists(t, part, i))
        .map(|i| g.row(t, part, i))
        .collect()
}

/// Runs a query through the engine.
fn run(
    g: &dyn EntityGen,
    t: &AsOf<'_>,
    part: usize,
    pairs: &[(&str, String)],
) -> (Vec<Row>, Option<u64>) {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let q = parse_query(&pairs, g.def().schema, g.def().max_top).unwrap();
    let page = engine::execute(g, t, part, &PartOverlay::default(), &q).unwrap();
    (page.rows, page.count)
}

fn ids(g: &dyn EntityGen, rows: &[Row]) -> Vec<i64> {
    rows.iter()
        .map(|r| field(g, r, "Id").as_i64().unwrap())
        .collect()
}

#[test]
fn the_days_of_the_configured_span_do_not_depend_on_the_live_end() {
    let frozen = TenantData::build("acme", "prod", &config());
    let live = live_tenant(60_000);
    let at = ms(config().span_end) - 3 * DAY;
    for name in [
        "Jobs",
        "QueueItems",
        "QueueItemEvents",
        "RobotLogs",
        "AuditLogs",
        "Robots",
    ] {
        let g = gen(name);
        for part in 0..entities::partitions(g, &frozen) {
            let (a, b) = (frozen.as_of(at), live.as_of(at));
            assert_eq!(g.len(&a, part), g.len(&b, part), "{name}");
            assert_eq!(
                all_rows(g, &a, part),
                all_rows(g, &b, part),
                "{name}[{part}]"
            );
        }
    }
}

#[test]
fn a_job_moves_from_pending_to_running_to_its_end() {
    let data = live_tenant(0);
    let g = gen("Jobs");
    let end = data.at_end();
    let mut checked = 0;
    for i in 0..g.len(&end, 1) {
        let row = g.row(&end, 1, i);
        let state = field(g, &row, "State");
        if state.as_str() != Some("Successful")
            || !matches!(field(g, &row, "ResumeTime"), Val::Null)
        {
            continue;
        }
        let created = field(g, &row, "CreationTime").as_datetime().unwrap();
        let start = field(g, &row, "StartTime").as_datetime().unwrap();
        let stop = field(g, &row, "EndTime").as_datetime().unwrap();
        if start == created {
            continue;
        }
        let at = |ms: i64| g.row(&data.as_of(ms), 1, i);
        // Not there before it was created.
        assert!(g.len(&data.as_of(created - 1), 1) <= i);
        let pending = at(created);
        assert_eq!(field(g, &pending, "State").as_str(), Some("Pending"));
        assert_eq!(field(g, &pending, "LastModificationTime"), Val::Null);
        assert_eq!(field(g, &pending, "StartTime"), Val::Null);
        let running = at(start);
        assert_eq!(field(g, &running, "State").as_str(), Some("Running"));
        assert_eq!(
            field(g, &running, "LastModificationTime"),
            Val::DateTime(start)
        );
        assert_eq!(field(g, &running, "EndTime"), Val::Null);
        assert_eq!(field(g, &at(stop - 1), "State").as_str(), Some("Running"));
        let done = at(stop);
        assert_eq!(field(g, &done, "State").as_str(), Some("Successful"));
        assert_eq!(field(g, &done, "LastModificationTime"), Val::DateTime(stop));
        assert_eq!(field(g, &done, "EndTime"), Val::DateTime(stop));
        checked += 1;
        if checked == 30 {
            break;
        }
    }
    assert_eq!(checked, 30);
}

#[test]
fn a_tenant_that_does_not_stamp_modifications_has_null_lmt() {
    let data = TenantData::build(
        "acme",
        "prod",
        &DataConfig {
            stamp_modifications: false,
            ..config()
        },
    );
    let t = data.at_end();
    for name in ["Jobs", "Releases", "Robots", "Users"] {
        let g = gen(name);
        let part = if g.def().folder_scoped { 1 } else { 0 };
        let rows = all_rows(g, &t, part);
        assert!(!rows.is_empty());
        for r in rows {
            assert_eq!(field(g, &r, "LastModificationTime"), Val::Null, "{name}");
        }
    }
}

fn row_version(v: &Val) -> u64 {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap())
        .unwrap();
    u64::from_be_bytes(bytes.try_into().unwrap())
}

#[test]
fn row_versions_change_at_each_transition_and_grow_with_time() {
    let data = live_tenant(0);
    let g = gen("QueueItems");
    let end = data.at_end();
    let mut checked = 0;
    for i in 0..g.len(&end, 2) {
        let row = g.row(&end, 2, i);
        let (Some(start), Some(stop)) = (
            field(g, &row, "StartProcessing").as_datetime(),
            field(g, &row, "EndProcessing").as_datetime(),
        ) else {
            continue;
        };
        let created = field(g, &row, "CreationTime").as_datetime().unwrap();
        let v = |at: i64| row_version(&field(g, &g.row(&data.as_of(at), 2, i), "RowVersion"));
        let (a, b, c) = (v(created), v(start), v(stop));
        assert!(a < b && b < c, "{a} {b} {c}");
        assert_eq!(v(stop - 1), b);
        checked += 1;
    }
    assert!(checked > 100);
    // Across items: ordering by RowVersion is ordering by the time of the last change.
    let rows = all_rows(g, &end, 2);
    // (Abandonment and deletion are changes without a time field of their own.)
    let mut by_version: Vec<(u64, i64)> = rows
        .iter()
        .filter(|r| {
            !matches!(
                field(g, r, "Status").as_str(),
                Some("Abandoned" | "Deleted")
            )
        })
        .map(|r| {
            let last = ["CreationTime", "StartProcessing", "EndProcessing"]
                .iter()
                .filter_map(|f| field(g, r, f).as_datetime())
                .max()
                .unwrap();
            (row_version(&field(g, r, "RowVersion")), last)
        })
        .collect();
    by_version.sort();
    assert!(by_version.windows(2).all(|w| w[0].1 <= w[1].1));
}

/// Brute force: every existing record matching the filter, by (Timestamp, Id) or Id.
fn brute(
    g: &dyn EntityGen,
    t: &AsOf<'_>,
    part: usize,
    filter: &str,
    by_time: Option<&str>,
) -> Vec<Row> {
    let q = parse_query(
        &[("$filter".to_string(), filter.to_string())],
        g.def().schema,
        g.def().max_top,
    )
    .unwrap();
    let f = q.filter.unwrap();
    let mut rows: Vec<Row> = all_rows(g, t, part)
        .into_iter()
        .filter(|r| f.eval(r))
        .collect();
    let id = |r: &Row| field(g, r, "Id").as_i64().unwrap();
    match by_time {
        Some(tf) => rows.sort_by_key(|r| (field(g, r, tf).as_datetime().unwrap(), id(r))),
        None => rows.sort_by_key(id),
    }
    rows
}

#[test]
fn event_windows_page_by_timestamp_and_id_exactly() {
    let data = live_tenant(0);
    let g = gen("QueueItemEvents");
    let now = ms(config().span_end) + 2 * DAY + 5 * HOUR;
    let t = data.as_of(now);
    for (from, to) in [
        (now - 30 * HOUR, now - 6 * HOUR),
        (now - 3 * HOUR, now + HOUR),
        (
            ms(config().span_start) + 3 * DAY,
            ms(config().span_start) + 4 * DAY,
        ),
    ] {
        let window = format!(
            "Timestamp ge {} and Timestamp lt {}",
            format_datetime(from),
            format_datetime(to)
        );
        let expected = brute(g, &t, 1, &window, Some("Timestamp"));
        assert!(!expected.is_empty());
        let mut got = Vec::new();
        let mut cursor: Option<(i64, i64)> = None;
        loop {
            let filter = match cursor {
                None => window.clone(),
                Some((ts, id)) => format!(
                    "(Timestamp gt {ts} or (Timestamp eq {ts} and Id gt {id})) and Timestamp lt {}",
                    format_datetime(to),
                    ts = format_datetime(ts)
                ),
            };
            let (page, _) = run(
                g,
                &t,
                1,
                &[
                    ("$filter", filter),
                    ("$orderby", "Timestamp asc,Id asc".into()),
                    ("$top", "37".into()),
                ],
            );
            let Some(last) = page.last() else { break };
            cursor = Some((
                field(g, last, "Timestamp").as_datetime().unwrap(),
                field(g, last, "Id").as_i64().unwrap(),
            ));
            got.extend(page);
        }
        assert_eq!(ids(g, &got), ids(g, &expected));
        for e in &got {
            assert!(field(g, e, "Timestamp").as_datetime().unwrap() <= now);
        }
    }
}

#[test]
fn modification_windows_match_brute_force() {
    let data = live_tenant(5_000);
    let epoch = ms(config().span_end) + DAY;
    let now = epoch + 6 * HOUR;
    let t = data.as_of(now);
    let cases: [(&str, i64, i64); 5] = [
        ("Jobs", now - 20 * HOUR, now - 2 * HOUR),
        ("Jobs", now - 2 * DAY - 3 * HOUR, now - 2 * DAY),
        ("Releases", ms(config().span_start), now),
        ("Robots", now - HOUR, now),
        ("Users", epoch, now),
    ];
    for (name, a, b) in cases {
        let g = gen(name);
        let part = if g.def().folder_scoped { 2 } else { 0 };
        let (a, b) = (format_datetime(a), format_datetime(b));
        let window = format!(
            "((LastModificationTime ge {a} and LastModificationTime lt {b}) or \
             (LastModificationTime eq null and CreationTime ge {a} and CreationTime lt {b}))"
        );
        let expected = brute(g, &t, part, &window, None);
        assert!(!expected.is_empty(), "{name} {a} {b}");
        let after = ids(g, &expected)[expected.len() / 3];
        let filter = format!("{window} and Id gt {after}");
        let expected = brute(g, &t, part, &filter, None);
        let (page, count) = run(
            g,
            &t,
            part,
            &[
                ("$filter", filter.clone()),
                ("$orderby", "Id asc".into()),
                ("$top", "1000".into()),
                ("$count", "true".into()),
            ],
        );
        assert_eq!(ids(g, &page), ids(g, &expected), "{name} {filter}");
        assert_eq!(count, Some(expected.len() as u64));
        let (nulls, _) = run(
            g,
            &t,
            part,
            &[("$filter", "LastModificationTime ne null".into())],
        );
        assert_eq!(
            ids(g, &nulls),
            ids(g, &brute(g, &t, part, "LastModificationTime ne null", None))
        );
    }
}

#[test]
fn id_or_chains_and_in_lists_are_point_lookups() {
    let data = live_tenant(0);
    let g = gen("QueueItems");
    let t = data.at_end();
    let n = g.len(&t, 1);
    let mut wanted: Vec<i64> = (0..45).map(|k| g.id_at(&t, 1, (k * 7919) % n)).collect();
    wanted.extend([1, i64::MAX / 4, g.id_at(&t, 1, 0) - 1]);
    let chain = wanted
        .iter()
        .map(|id| format!("Id eq {id}"))
        .collect::<Vec<_>>()
        .join(" or ");
    let list = format!(
        "Id in ({})",
        wanted
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",")
    );
    let expected = brute(g, &t, 1, &chain, None);
    assert_eq!(expected.len(), 45);
    for filter in [chain, list] {
        let (page, count) = run(
            g,
            &t,
            1,
            &[
                ("$filter", filter),
                ("$top", "100".into()),
                ("$count", "true".into()),
            ],
        );
        assert_eq!(ids(g, &page), ids(g, &expected));
        assert_eq!(count, Some(45));
    }
}

#[test]
fn reference_changes_are_visible_from_their_instant_on() {
    let data = live_tenant(3_000);
    let epoch = ms(config().span_end) + DAY;
    let changes = reference_changes(&data, epoch, epoch + HOUR);
    assert!(changes.len() > 1000, "{}", changes.len());
    assert!(changes.windows(2).all(|w| w[0].at < w[1].at));
    let mut kinds = std::collections::BTreeSet::new();
    for c in changes.iter().step_by(7).take(150) {
        kinds.insert(format!("{:?}", c.kind));
        let g = gen(c.entity);
        let part = c.folder.unwrap_or(0);
        let find = |t: &AsOf<'_>| {
            all_rows(g, t, part)
                .into_iter()
                .find(|r| field(g, r, "Id").as_i64() == Some(c.id))
        };
        let (before, after) = (find(&data.as_of(c.at - 1)), find(&data.as_of(c.at)));
        match c.kind {
            RefChangeKind::RobotRenamed => {
                let (b, a) = (before.unwrap(), after.unwrap());
                assert_eq!(field(g, &a, "Name").as_str(), c.value.as_str());
                assert_ne!(field(g, &b, "Name"), field(g, &a, "Name"));
                assert_eq!(field(g, &a, "LastModificationTime"), Val::DateTime(c.at));
            }
            RefChangeKind::MachineRemoved => {
                assert!(before.is_some() && after.is_none());
            }
            RefChangeKind::MachineAdded => {
                assert!(before.is_none() && after.is_some());
            }
            RefChangeKind::QueueSlaChanged => {
                let a = after.unwrap();
                assert_eq!(field(g, &a, "SlaInMinutes").as_i64(), c.value.as_i64());
            }
            RefChangeKind::ScheduleToggled => {
                let (b, a) = (before.unwrap(), after.unwrap());
                assert_eq!(
                    field(g, &a, "Enabled"),
                    Val::Bool(c.value.as_bool().unwrap())
                );
                assert_ne!(field(g, &b, "Enabled"), field(g, &a, "Enabled"));
            }
            RefChangeKind::UserModified => {
                let a = after.unwrap();
                assert_eq!(field(g, &a, "LastModificationTime"), Val::DateTime(c.at));
            }
        }
    }
    assert_eq!(kinds.len(), 6, "{kinds:?}");
    // Nothing changes before the epoch, and a frozen tenant never changes.
    assert!(reference_changes(&data, 0, epoch).is_empty());
    let frozen = TenantData::build("acme", "prod", &config());
    assert!(reference_changes(&frozen, 0, i64::MAX).is_empty());
}

async fn body(
    c: &Client,
    token: &str,
    entity: &str,
    as_of: &str,
    query: &[(&str, &str)],
) -> (u16, String) {
    let resp = c
        .http
        .get(c.odata_url(entity))
        .bearer_auth(token)
        .header("X-UIPATH-FolderPath", "Finance")
        .header("X-Sim-As-Of", as_of)
        .query(query)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

#[tokio::test]
async fn two_live_simulators_answer_an_instant_identically() {
    let config = SimConfig::default().live();
    let (a, b) = (
        Client::start(config.clone()).await,
        Client::start(config).await,
    );
    let (ta, tb) = (a.all_scopes().await, b.all_scopes().await);
    let now = uipath_sim::server::wall_clock_ms();
    let instant = (now - 2 * HOUR).to_string();
    for entity in [
        "Jobs",
        "QueueItems",
        "QueueItemEvents",
        "Robots",
        "Machines",
        "ProcessSchedules",
    ] {
        let q = [("$top", "100"), ("$orderby", "Id desc")];
        let (sa, ba) = body(&a, &ta, entity, &instant, &q).await;
        let (sb, bb) = body(&b, &tb, entity, &instant, &q).await;
        assert_eq!((sa, sb), (200, 200), "{entity}: {ba}");
        assert_eq!(ba, bb, "{entity}");
    }
    // RFC 3339 names the same instant.
    let rfc = chrono::DateTime::from_timestamp_millis(now - 2 * HOUR)
        .unwrap()
        .to_rfc3339();
    let q = [("$top", "50")];
    assert_eq!(
        body(&a, &ta, "Jobs", &instant, &q).await,
        body(&a, &ta, "Jobs", &rfc, &q).await
    );
    // Without the header a live tenant answers as of now: the newest jobs are recent.
    let latest = a
        .get_ok(
            "Jobs",
            &ta,
            Some("Finance"),
            &[("$top", "1"), ("$orderby", "CreationTime desc")],
        )
        .await;
    let created = values(&latest)[0]["CreationTime"]
        .as_str()
        .unwrap()
        .to_owned();
    let created = chrono::DateTime::parse_from_rfc3339(&created)
        .unwrap()
        .timestamp_millis();
    assert!(created <= uipath_sim::server::wall_clock_ms() && created > now - 7 * DAY);
    let (status, text) = body(&a, &ta, "Jobs", "not-a-time", &q).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("X-Sim-As-Of"));
    let changes = a
        .control(
            reqwest::Method::GET,
            &format!("/_sim/changes/{DEMO_ORG}/{DEMO_TENANT}"),
            Value::Null,
        )
        .await;
    assert!(changes["changes"].is_array() && changes["now"].is_i64());
}

#[tokio::test]
async fn a_filter_of_more_than_100_expressions_is_refused() {
    let c = Client::demo().await;
    let token = c.all_scopes().await;
    let chain = |n: usize| {
        (0..n)
            .map(|k| format!("Id eq {k}"))
            .collect::<Vec<_>>()
            .join(" or ")
    };
    let ok = c
        .get(
            "QueueItems",
            &token,
            Some("Finance"),
            &[("$filter", &chain(100)), ("$top", "100")],
        )
        .await;
    assert_eq!(ok.status(), 200);
    let refused = c
        .get(
            "QueueItems",
            &token,
            Some("Finance"),
            &[("$filter", &chain(101))],
        )
        .await;
    assert_eq!(refused.status(), 400);
    let text = refused.text().await.unwrap();
    assert!(text.contains("node count limit of '100'"), "{text}");
}

#[test]
fn unbounded_event_reads_by_timestamp_stream_in_order() {
    let data = live_tenant(0);
    let g = gen("QueueItemEvents");
    let t = data.as_of(ms(config().span_end) + DAY + 7 * HOUR);
    let mut expected = brute(g, &t, 3, "Id gt 0", Some("Timestamp"));
    for (order, skip) in [
        ("Timestamp asc,Id asc", 0),
        ("Timestamp asc", 777),
        ("Timestamp desc,Id desc", 5),
    ] {
        if order.contains("desc") {
            expected.reverse();
        }
        let (page, count) = run(
            g,
            &t,
            3,
            &[
                ("$orderby", order.into()),
                ("$skip", skip.to_string()),
                ("$top", "300".into()),
                ("$count", "true".into()),
            ],
        );
        let want: Vec<Row> = expected.iter().skip(skip).take(300).cloned().collect();
        assert_eq!(ids(g, &page), ids(g, &want), "{order}");
        assert_eq!(count, Some(expected.len() as u64));
        if order.contains("desc") {
            expected.reverse();
        }
    }
}
