//! Every metric the coordinator exports, defined once, named
//! `uipath_fleet_coordinator_<name>_<unit>`. Labels come from small fixed sets (kinds,
//! lanes, states, routes, status codes) — never ids or error text.

use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// The coordinator's metrics, registered in their own registry.
#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    /// API calls by route template and status code.
    pub api_requests: IntCounterVec,
    /// Submitted requests by kind (`backfill`, `sync`) and outcome (`created`,
    /// `existing`, `rejected`).
    pub submitted: IntCounterVec,
    /// Slice jobs published (confirmed) by lane.
    pub slices_published: IntCounterVec,
    /// Sync windows planned.
    pub windows_planned: IntCounterVec,
    /// Requests that reached a terminal state, by state.
    pub requests_finished: IntCounterVec,
    /// Planning failures by kind (`source`, `ledger`, `broker`).
    pub planning_errors: IntCounterVec,
    /// Time to plan a backfill (units, slices, publish), seconds.
    pub plan_seconds: HistogramVec,
    /// 1 while this replica holds the schedule lease.
    pub leader: IntGauge,
    /// Ready jobs on the broker by queue (`sync`, `backfill`, `retrying`, `dead`), read at
    /// scrape time.
    pub queue_depth: IntGaugeVec,
    /// Unix time of the last completed leader tick.
    pub last_tick: Gauge,
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(
                Opts::new(format!("uipath_fleet_coordinator_{name}"), help),
                labels,
            )
            .expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
            c
        };
        let api_requests = counter(
            "api_requests_total",
            "HTTP API calls by route and status",
            &["route", "status"],
        );
        let submitted = counter(
            "requests_submitted_total",
            "Requests submitted by kind and outcome",
            &["kind", "outcome"],
        );
        let slices_published = counter(
            "slices_published_total",
            "Slice jobs published and confirmed, by lane",
            &["lane"],
        );
        let windows_planned = counter(
            "sync_windows_planned_total",
            "Sync windows planned",
            &["source"],
        );
        let requests_finished = counter(
            "requests_finished_total",
            "Requests that reached a terminal state, by state",
            &["state"],
        );
        let planning_errors = counter(
            "planning_errors_total",
            "Planning failures by kind",
            &["kind"],
        );
        let plan_seconds = HistogramVec::new(
            HistogramOpts::new(
                "uipath_fleet_coordinator_plan_duration_seconds",
                "Time to plan and publish a backfill",
            )
            .buckets(vec![0.01, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 1800.0]),
            &["kind"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(plan_seconds.clone()))
            .expect("unique metric");
        let leader = IntGauge::new(
            "uipath_fleet_coordinator_leader",
            "1 while this replica holds the schedule lease",
        )
        .expect("valid metric");
        registry
            .register(Box::new(leader.clone()))
            .expect("unique metric");
        let queue_depth = IntGaugeVec::new(
            Opts::new(
                "uipath_fleet_coordinator_queue_depth_messages",
                "Ready messages on the fleet's queues",
            ),
            &["queue"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(queue_depth.clone()))
            .expect("unique metric");
        let last_tick = Gauge::new(
            "uipath_fleet_coordinator_last_tick_timestamp_seconds",
            "Unix time of the last completed leader tick",
        )
        .expect("valid metric");
        registry
            .register(Box::new(last_tick.clone()))
            .expect("unique metric");
        Metrics {
            registry,
            api_requests,
            submitted,
            slices_published,
            windows_planned,
            requests_finished,
            planning_errors,
            plan_seconds,
            leader,
            queue_depth,
            last_tick,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding of gathered metrics");
        String::from_utf8(out).expect("prometheus text is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
