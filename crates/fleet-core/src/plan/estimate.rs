//! How many API requests work will cost, per endpoint family, and whether a tenant's
//! budget can pay for it. Pure arithmetic, shared by the sync check at submit (requests
//! per minute a schedule needs) and backfill estimates (requests a plan needs).
//!
//! The unit is one read of one stream (a dataset in one folder): a window of a sync, or a
//! slice of a backfill. What it costs depends on how the dataset is read
//! ([`crate::wire::ReadMode`]):
//! - history, modification windows, append-only sets: one request per page of the
//!   records it holds, at least one (an empty window still asks);
//! - the queue-item feed: one page of events per 100 events (not a budgeted family),
//!   plus one budgeted read per 50 distinct items they name;
//! - a snapshot: the whole set, one request per page.
//!
//! A backfill's records are known from `$count` probes before it runs: [`backfill_unit`]
//! spreads a unit's records evenly over its slices (each slice pays at least one
//! request), and [`minutes_at`] turns the total into time at the tenant's budget for
//! backfills (its `backfill_share`), the slowest limited family deciding.
//!
//! A sync's records per window are not known before it runs; the check counts the
//! requests an idle tenant still costs (one per stream and window, and for the feed one
//! item read per window), which is the floor every sync pays: a schedule refused on it
//! can never run within the budget.

use std::collections::BTreeMap;

use crate::dataset::{by_name, DatasetDef};
use crate::ratelimit::{Budget, EndpointFamily};
use crate::wire::{Lane, ReadMode};

/// Events per page of the queue-item feed, and items per read by Id (uipath-client).
pub const FEED_EVENTS_PER_PAGE: u64 = 100;
pub const FEED_IDS_PER_READ: u64 = 50;

/// Share of a budget above which a sync is accepted with a warning.
pub const WARN_SHARE: f64 = 0.8;

/// Requests per endpoint family.
pub type Requests = BTreeMap<EndpointFamily, f64>;

/// The requests one read of a stream of `dataset` costs in `lane`, when it holds
/// `records` records (for a snapshot: the set's size; for the feed: its events, with
/// `records` distinct items at most).
pub fn read_cost(dataset: &DatasetDef, lane: Lane, records: u64) -> Requests {
    let pages = |n: u64, per: u64| n.div_ceil(per.max(1)).max(1) as f64;
    let page = u64::from(dataset.max_page);
    let mut out = Requests::new();
    match dataset.read_mode(lane) {
        ReadMode::Feed => {
            let events = by_name(feed_events(dataset)).map_or(EndpointFamily::Other, |d| d.family);
            *out.entry(events).or_default() += pages(records, FEED_EVENTS_PER_PAGE);
            *out.entry(dataset.family).or_default() += pages(records, FEED_IDS_PER_READ);
        }
        ReadMode::Created | ReadMode::Modified | ReadMode::Snapshot => {
            *out.entry(dataset.family).or_default() += pages(records, page);
        }
    }
    out
}

fn feed_events(dataset: &DatasetDef) -> &'static str {
    match dataset.change {
        crate::dataset::ChangeMode::Feed { events, .. } => events,
        _ => dataset.slug,
    }
}

/// Requests per minute a sync stream needs: its windows per minute (`interval_secs`
/// apart) times what an idle window costs.
pub fn sync_stream_per_minute(dataset: &DatasetDef, interval_secs: u64) -> Requests {
    let windows = 60.0 / interval_secs.max(1) as f64;
    read_cost(dataset, Lane::Sync, 0)
        .into_iter()
        .map(|(family, n)| (family, n * windows))
        .collect()
}

/// Records per page of a Data Service query (uipath-client reads at most this many).
pub const DATASERVICE_PAGE: u64 = 1_000;

/// The requests a backfill unit (one dataset of one source, in one folder) costs when its
/// `records` records are cut into `slices` slices: the records spread evenly, each slice
/// at least one request. `dataset` is `None` for a Data Service entity (its own family,
/// not budgeted by Orchestrator, pages of [`DATASERVICE_PAGE`]).
pub fn backfill_unit(dataset: Option<&DatasetDef>, slices: u64, records: u64) -> Requests {
    let slices = slices.max(1);
    let per_slice = records.div_ceil(slices);
    let one = match dataset {
        Some(def) => read_cost(def, Lane::Backfill, per_slice),
        None => Requests::from([(
            EndpointFamily::Other,
            per_slice.div_ceil(DATASERVICE_PAGE).max(1) as f64,
        )]),
    };
    one.into_iter()
        .map(|(family, n)| (family, n * slices as f64))
        .collect()
}

/// Minutes a load of requests takes at `budget_per_minute` of each family (`None`: not
/// limited, so it takes no budget time): the slowest family decides.
pub fn minutes_at(
    load: &Requests,
    budget_per_minute: impl Fn(EndpointFamily) -> Option<f64>,
) -> f64 {
    load.iter()
        .filter_map(|(family, n)| {
            let b = budget_per_minute(*family).filter(|b| *b > 0.0)?;
            Some(n / b)
        })
        .fold(0.0, f64::max)
}

/// Adds `b` into `a`.
pub fn add(a: &mut Requests, b: &Requests) {
    for (family, n) in b {
        *a.entry(*family).or_default() += n;
    }
}

/// A budget as requests per minute.
pub fn per_minute(budget: &Budget) -> f64 {
    f64::from(budget.requests) * 60_000.0 / budget.period_ms.max(1) as f64
}

/// What a load means for a budget.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    /// Within [`WARN_SHARE`] of the budget (or the family is not limited).
    Fits,
    /// Above [`WARN_SHARE`]: it runs, with little room for anything else.
    Tight { share: f64 },
    /// More than the budget: it cannot keep up.
    Over { share: f64 },
}

/// Judges `per_minute` requests against a budget of `budget_per_minute` (`None`: the
/// family is not limited).
pub fn verdict(per_minute: f64, budget_per_minute: Option<f64>) -> Verdict {
    let Some(budget) = budget_per_minute.filter(|b| *b > 0.0) else {
        return Verdict::Fits;
    };
    let share = per_minute / budget;
    if share > 1.0 {
        Verdict::Over { share }
    } else if share > WARN_SHARE {
        Verdict::Tight { share }
    } else {
        Verdict::Fits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(name: &str) -> &'static DatasetDef {
        by_name(name).unwrap()
    }

    #[test]
    fn an_idle_window_costs_one_request_per_stream() {
        assert_eq!(
            read_cost(d("jobs"), Lane::Sync, 0),
            Requests::from([(EndpointFamily::Jobs, 1.0)])
        );
        // The feed reads events (not budgeted) and, for its items, the QueueItems budget.
        assert_eq!(
            read_cost(d("queue-items"), Lane::Sync, 0),
            Requests::from([
                (EndpointFamily::Other, 1.0),
                (EndpointFamily::QueueItems, 1.0)
            ])
        );
        assert_eq!(
            read_cost(d("machines"), Lane::Sync, 0),
            Requests::from([(EndpointFamily::Other, 1.0)])
        );
    }

    #[test]
    fn records_cost_pages_of_the_dataset_cap() {
        assert_eq!(
            read_cost(d("jobs"), Lane::Backfill, 2_500)[&EndpointFamily::Jobs],
            3.0
        );
        assert_eq!(
            read_cost(d("queue-items"), Lane::Backfill, 250)[&EndpointFamily::QueueItems],
            3.0
        );
        let feed = read_cost(d("queue-items"), Lane::Sync, 120);
        assert_eq!(feed[&EndpointFamily::Other], 2.0);
        assert_eq!(feed[&EndpointFamily::QueueItems], 3.0);
    }

    #[test]
    fn a_backfill_unit_pays_a_request_per_slice_at_least_and_pages_beyond() {
        // 365 daily slices of 10 jobs each: one request per slice.
        let sparse = backfill_unit(Some(d("jobs")), 365, 3_650);
        assert_eq!(sparse, Requests::from([(EndpointFamily::Jobs, 365.0)]));
        // 30 slices of 2,500 jobs (pages of 1,000): three requests each.
        assert_eq!(
            backfill_unit(Some(d("jobs")), 30, 75_000)[&EndpointFamily::Jobs],
            90.0
        );
        // Data Service: its own family, pages of 1,000.
        assert_eq!(
            backfill_unit(None, 2, 3_000),
            Requests::from([(EndpointFamily::Other, 4.0)])
        );
        // 90 Jobs requests and 300 QueueItems requests at 80 and 100 a minute: the
        // QueueItems family decides; unlimited families cost no time.
        let mut load = Requests::from([(EndpointFamily::Jobs, 90.0)]);
        add(
            &mut load,
            &Requests::from([(EndpointFamily::QueueItems, 300.0)]),
        );
        add(&mut load, &Requests::from([(EndpointFamily::Other, 1e6)]));
        let budget = |f| match f {
            EndpointFamily::Jobs => Some(80.0),
            EndpointFamily::QueueItems => Some(100.0),
            EndpointFamily::Other => None,
        };
        assert_eq!(minutes_at(&load, budget), 3.0);
        assert_eq!(minutes_at(&Requests::new(), budget), 0.0);
    }

    #[test]
    fn ten_second_syncs_of_ten_folders_fit_the_cloud_budget_with_a_warning() {
        // jobs + queue-items, 10 folders, every 10 s: 60 requests a minute in each family.
        let mut load = Requests::new();
        for _ in 0..10 {
            add(&mut load, &sync_stream_per_minute(d("jobs"), 10));
            add(&mut load, &sync_stream_per_minute(d("queue-items"), 10));
        }
        let budget = per_minute(&Budget::per_minute(100));
        assert_eq!(load[&EndpointFamily::Jobs], 60.0);
        assert_eq!(
            verdict(load[&EndpointFamily::Jobs], Some(budget)),
            Verdict::Fits
        );
        // Twenty folders are 120 a minute: more than the budget.
        assert!(matches!(
            verdict(120.0, Some(budget)),
            Verdict::Over { share } if (share - 1.2).abs() < 1e-9
        ));
        assert!(matches!(verdict(90.0, Some(budget)), Verdict::Tight { .. }));
        assert_eq!(verdict(1e9, None), Verdict::Fits);
    }
}
