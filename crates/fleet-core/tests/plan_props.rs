//! Property tests of the planner's arithmetic: slice widths cut any range exactly along
//! aligned boundaries, `count` agrees with `cut`, slice and request ids are stable and
//! distinct, and sync schedules tick and window without gaps.

use chrono::{DateTime, Duration, Utc};
use fleet_core::ledger::RequestKind;
use fleet_core::plan::request::Catalog;
use fleet_core::plan::{request_id, schedule, slice_id, BackfillRequest, Schedule, Width};
use fleet_core::wire::FolderRef;
use proptest::prelude::*;
use serde_json::json;

fn config(cases: u32) -> ProptestConfig {
    // Integration tests have no lib.rs for proptest to anchor regression files to;
    // failures print their minimal input instead.
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// 2000-01-01 and 2040-01-01, in seconds since the epoch.
const Y2000: i64 = 946_684_800;
const Y2040: i64 = 2_208_988_800;

fn at(secs: i64, nanos: u32) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(secs, nanos).unwrap()
}

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn width() -> impl Strategy<Value = Width> {
    proptest::sample::select(Width::LADDER.to_vec())
}

/// An instant in 2000..2040: often on a quarter hour, midnight or month start (where
/// off-by-one mistakes live), otherwise anywhere, sometimes with a fraction of a second.
fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    (
        Y2000..Y2040,
        0u32..4,
        prop_oneof![Just(0u32), 0u32..1_000_000_000],
    )
        .prop_map(|(secs, snap, nanos)| match snap {
            0 => at(secs - secs.rem_euclid(900), 0),
            1 => Width::Month.floor(at(secs, 0)),
            _ => at(secs, nanos),
        })
}

/// A width and a range `[from, to)` inside 2000..2040 short enough to cut into at most
/// a few hundred slices (counting alone is checked on long ranges separately).
fn width_and_range() -> impl Strategy<Value = (Width, DateTime<Utc>, DateTime<Utc>)> {
    (width(), instant(), 1u32..=400, 0u32..4).prop_map(|(w, from, widths, snap)| {
        let span = Duration::seconds(w.nominal_secs() * i64::from(widths) / 3)
            .max(Duration::nanoseconds(1));
        let mut to = (from + span).min(at(Y2040, 0));
        if snap == 0 {
            // Sometimes end exactly on a boundary.
            to = w.floor(to).max(from + Duration::nanoseconds(1));
        }
        let from = from.min(to - Duration::nanoseconds(1));
        (w, from, to)
    })
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn cut_covers_the_range_exactly((w, from, to) in width_and_range()) {
        let slices: Vec<_> = w.cut(from, to).collect();
        prop_assert!(!slices.is_empty());
        prop_assert_eq!(slices[0].0, from);
        prop_assert_eq!(slices[slices.len() - 1].1, to);
        for (a, b) in slices.iter().zip(slices.iter().skip(1)) {
            prop_assert_eq!(a.1, b.0, "no gap, no overlap");
        }
        for (f, e) in &slices {
            prop_assert!(f < e, "empty or reversed slice {f}..{e}");
            // A slice never crosses a boundary: it ends at or before the next one.
            prop_assert!(*e <= w.next_boundary(*f));
        }
        for (_, e) in &slices[..slices.len() - 1] {
            prop_assert_eq!(w.floor(*e), *e, "interior boundary {} not aligned", e);
        }
        prop_assert_eq!(w.count(from, to), slices.len() as u64);
    }

    #[test]
    fn count_agrees_with_cut_on_reversed_and_empty_ranges(w in width(), a in instant(), b in instant()) {
        let (from, to) = (a.max(b), a.min(b));
        prop_assert_eq!(w.count(from, to), 0);
        prop_assert_eq!(w.cut(from, to).count(), 0);
    }

    #[test]
    fn count_on_long_ranges_is_the_number_of_periods_touched(
        // Only widths whose boundaries are cheap to walk over 40 years.
        w in proptest::sample::select(vec![Width::Days(1), Width::Days(7), Width::Month]),
        a in instant(),
        b in instant(),
    ) {
        let (from, to) = (a.min(b), a.max(b) + Duration::nanoseconds(1));
        // Independent of count's arithmetic: walk the aligned boundaries.
        let mut n = 0u64;
        let mut boundary = w.floor(from);
        while boundary < to {
            n += 1;
            boundary = w.next_boundary(boundary);
        }
        prop_assert_eq!(w.count(from, to), n);
    }

    #[test]
    fn boundaries_are_aligned_and_ordered(w in width(), x in instant()) {
        let floor = w.floor(x);
        let next = w.next_boundary(x);
        prop_assert!(floor <= x);
        prop_assert!(next > x);
        prop_assert_eq!(w.floor(floor), floor, "floor is aligned");
        prop_assert_eq!(w.floor(next), next, "next boundary is aligned");
        prop_assert!(x < w.next_boundary(floor));
        prop_assert_eq!(w.next_boundary(floor), next, "no boundary between floor and next");
        prop_assert_eq!(floor.timestamp_subsec_nanos(), 0);
    }

    #[test]
    fn slice_ids_are_unique_within_a_plan_and_stable((w, from, to) in width_and_range()) {
        let folder = FolderRef { id: 7, key: "f-key".into(), path: "Shared".into() };
        let ids = |w: Width| -> Vec<String> {
            w.cut(from, to)
                .map(|(f, e)| slice_id("bf-1", "acme", "jobs", Some(&folder), Some(f), Some(e)))
                .collect()
        };
        let first = ids(w);
        let unique: std::collections::BTreeSet<_> = first.iter().collect();
        prop_assert_eq!(unique.len(), first.len());
        prop_assert_eq!(ids(w), first);
    }

    #[test]
    fn slice_ids_change_with_every_part(which in 0usize..7, a in instant(), b in instant()) {
        let folder = FolderRef { id: 1, key: "k1".into(), path: "A".into() };
        let other = FolderRef { id: 1, key: "k2".into(), path: "A".into() };
        let base = slice_id("bf-1", "acme", "jobs", Some(&folder), Some(a), Some(b));
        let later = |t: DateTime<Utc>| t + Duration::seconds(1);
        let changed = match which {
            0 => slice_id("bf-2", "acme", "jobs", Some(&folder), Some(a), Some(b)),
            1 => slice_id("bf-1", "globex", "jobs", Some(&folder), Some(a), Some(b)),
            2 => slice_id("bf-1", "acme", "robots", Some(&folder), Some(a), Some(b)),
            3 => slice_id("bf-1", "acme", "jobs", Some(&other), Some(a), Some(b)),
            4 => slice_id("bf-1", "acme", "jobs", None, Some(a), Some(b)),
            5 => slice_id("bf-1", "acme", "jobs", Some(&folder), Some(later(a)), Some(b)),
            _ => slice_id("bf-1", "acme", "jobs", Some(&folder), Some(a), Some(later(b))),
        };
        prop_assert_ne!(base, changed);
    }

    #[test]
    fn interval_ticks_bracket_now(secs in schedule::MIN_INTERVAL_SECS..=schedule::MAX_INTERVAL_SECS, now in instant()) {
        let s = Schedule::Every(secs);
        let last = s.last_tick(now).unwrap();
        let next = s.next_tick(last).unwrap();
        prop_assert!(last <= now && now < next, "{last} <= {now} < {next}");
        prop_assert_eq!(last.timestamp() % secs as i64, 0, "ticks are epoch multiples");
        prop_assert_eq!((next - last).num_seconds(), secs as i64);
    }

    #[test]
    fn windows_follow_each_other_without_gaps(
        secs in proptest::sample::select(vec![60u64, 300, 900, 3600, 86_400]),
        start in instant(),
        steps in proptest::collection::vec(0i64..10_000, 1..40),
        lookback in 0i64..7_200,
        settle in 0i64..600,
    ) {
        check_windows(&Schedule::Every(secs), start, &steps, secs as i64, lookback, settle)?;
    }
}

proptest! {
    // Cron searches cost more than interval arithmetic: fewer cases.
    #![proptest_config(config(48))]

    #[test]
    fn cron_ticks_bracket_now(
        expr in proptest::sample::select(vec!["*/15 * * * *", "0 2 * * *", "30 6 * * 1-5", "0 0 1 * *", "0 */5 * * * *"]),
        now in instant(),
    ) {
        let s = Schedule::cron(expr).unwrap();
        let last = s.last_tick(now).unwrap();
        let next = s.next_tick(last).unwrap();
        prop_assert!(last <= now && now < next, "{expr}: {last} <= {now} < {next}");
        prop_assert_eq!(s.next_tick(now), Some(next));
    }

    #[test]
    fn cron_windows_follow_each_other_without_gaps(
        expr in proptest::sample::select(vec!["*/15 * * * *", "0 * * * *", "5 3 * * *"]),
        start in instant(),
        steps in proptest::collection::vec(0i64..20_000, 1..20),
        lookback in 0i64..7_200,
        settle in 0i64..600,
    ) {
        check_windows(&Schedule::cron(expr).unwrap(), start, &steps, 3600, lookback, settle)?;
    }
}

/// Advance `now` by `steps` (scaled to the schedule's period) from `start`, feeding each
/// window's end back as `planned_to`, and check that windows chain without gaps.
fn check_windows(
    s: &Schedule,
    start: DateTime<Utc>,
    steps: &[i64],
    period: i64,
    lookback: i64,
    settle: i64,
) -> Result<(), TestCaseError> {
    let (lookback, settle) = (Duration::seconds(lookback), Duration::seconds(settle));
    let mut now = start;
    let mut planned_to: Option<DateTime<Utc>> = None;
    for step in steps {
        now += Duration::seconds(step * period / 2_000);
        let Some((from, end)) = schedule::next_window(s, start, planned_to, lookback, settle, now)
        else {
            // Nothing to do only when the settled tick is not past what is planned.
            let tick = s.last_tick(now).unwrap();
            prop_assert!(tick - settle <= planned_to.unwrap_or(start));
            continue;
        };
        prop_assert!(from < end);
        prop_assert!(from >= start, "never before start");
        prop_assert!(end <= now - settle, "only settled data");
        match planned_to {
            None => prop_assert_eq!(from, start),
            Some(p) => {
                prop_assert!(from <= p, "gap between {p} and {from}");
                prop_assert!(end > p, "window does not advance");
                prop_assert!(
                    from >= (p - lookback).max(start),
                    "reaches back only by lookback"
                );
            }
        }
        planned_to = Some(end);
    }
    Ok(())
}

#[test]
fn ids_are_stable_across_builds() {
    // Regression guard: these ids are stored in ledgers and carried by messages, so a
    // change in how they are computed would re-plan every request. Do not update these
    // values without a migration.
    let spec = json!({"sources": ["acme"], "datasets": ["jobs"],
        "from": "2024-01-01T00:00:00Z", "to": "2024-02-01T00:00:00Z"});
    let rid = request_id(RequestKind::Backfill, &spec);
    assert_eq!(rid, "bf-184dfec0312e6765666f");
    let folder = FolderRef {
        id: 1,
        key: "6f2c0a7e-0000-4000-8000-000000000001".into(),
        path: "Shared".into(),
    };
    let sid = slice_id(
        &rid,
        "acme",
        "jobs",
        Some(&folder),
        Some(t("2024-01-01T00:00:00Z")),
        Some(t("2024-01-02T00:00:00Z")),
    );
    assert_eq!(sid, "e42fa6ac01f3976d2a9de38871ae93f6");
    assert_ne!(
        request_id(RequestKind::Sync, &spec),
        rid,
        "the kind is part of the id"
    );
    // The same request as a user would submit it: normalization yields the same JSON,
    // hence the same id.
    let catalog = Catalog {
        sources: vec!["acme".into()],
        now: t("2025-01-01T00:00:00Z"),
        max_slices: 1000,
    };
    let body =
        br#"{"source": "acme", "datasets": ["Jobs"], "from": "2024-01-01", "to": "2024-02-01"}"#;
    let parsed = BackfillRequest::parse(body, &catalog).unwrap();
    assert_eq!(request_id(RequestKind::Backfill, &parsed.normalized()), rid);
}
