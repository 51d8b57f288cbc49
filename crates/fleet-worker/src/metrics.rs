//! Every metric a worker exports, named `uipath_fleet_worker_<name>_<unit>`. Labels come
//! from small fixed sets (outcomes, lanes, statuses) or the configured source and dataset
//! names — never ids, tokens or error text.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use fleet_reader::Sources;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use uipath_client::client::StatsSnapshot;

/// The worker's metrics, registered in their own registry.
#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    /// Jobs finished by outcome: `completed`, `split`, `retried`, `deferred`, `failed`,
    /// `rejected` (a malformed job), `skipped` (already done or cancelled), `cancelled`,
    /// `released` (shutdown), `abandoned` (left for redelivery after a backend failure).
    pub jobs: IntCounterVec,
    /// Records published (confirmed) by source and dataset.
    pub records: IntCounterVec,
    /// Pages read and published by source and dataset.
    pub pages: IntCounterVec,
    /// Time from taking a job to settling it, by lane and outcome.
    pub slice_seconds: HistogramVec,
    /// Jobs being worked on now.
    pub in_flight: IntGauge,
    /// 1 when the backend (`broker`, `ledger`) answered the last readiness check.
    pub backend_up: IntGaugeVec,
    /// API responses by source and status class (from the clients' own counters).
    pub api_responses: IntCounterVec,
    /// HTTP 429 answers by source.
    pub throttled: IntCounterVec,
    /// Tokens replaced after a 401, by source.
    pub token_refreshes: IntCounterVec,
    /// Calls deferred because the tenant's budget had no near slot, by source.
    pub deferrals: IntCounterVec,
    /// Time spent waiting for rate-limit permits, by source, in seconds.
    pub limiter_wait: prometheus::CounterVec,
    last: Arc<Mutex<HashMap<String, StatsSnapshot>>>,
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(
                Opts::new(format!("uipath_fleet_worker_{name}"), help),
                labels,
            )
            .expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
            c
        };
        let jobs = counter("jobs_total", "Slice jobs finished by outcome", &["outcome"]);
        let records = counter(
            "records_published_total",
            "Records published with confirms, by source and dataset",
            &["source", "dataset"],
        );
        let pages = counter(
            "pages_total",
            "Pages read and published, by source and dataset",
            &["source", "dataset"],
        );
        let api_responses = counter(
            "api_responses_total",
            "UiPath API responses by source and status class",
            &["source", "status"],
        );
        let throttled = counter(
            "throttled_total",
            "HTTP 429 answers from UiPath, by source",
            &["source"],
        );
        let token_refreshes = counter(
            "token_refreshes_total",
            "Access tokens replaced after a 401, by source",
            &["source"],
        );
        let deferrals = counter(
            "deferrals_total",
            "API calls deferred for lack of a near rate-limit slot, by source",
            &["source"],
        );
        let limiter_wait = prometheus::CounterVec::new(
            Opts::new(
                "uipath_fleet_worker_limiter_wait_seconds_total",
                "Time spent waiting for rate-limit permits, by source",
            ),
            &["source"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(limiter_wait.clone()))
            .expect("unique metric");
        let slice_seconds = HistogramVec::new(
            HistogramOpts::new(
                "uipath_fleet_worker_slice_duration_seconds",
                "Time from taking a slice job to settling it, by lane and outcome",
            )
            .buckets(vec![
                0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
            ]),
            &["lane", "outcome"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(slice_seconds.clone()))
            .expect("unique metric");
        let in_flight = IntGauge::new(
            "uipath_fleet_worker_jobs_in_flight",
            "Slice jobs being worked on now",
        )
        .expect("valid metric");
        registry
            .register(Box::new(in_flight.clone()))
            .expect("unique metric");
        let backend_up = IntGaugeVec::new(
            Opts::new(
                "uipath_fleet_worker_backend_up",
                "1 when the backend answered the last readiness check",
            ),
            &["backend"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(backend_up.clone()))
            .expect("unique metric");
        Metrics {
            registry,
            jobs,
            records,
            pages,
            slice_seconds,
            in_flight,
            backend_up,
            api_responses,
            throttled,
            token_refreshes,
            deferrals,
            limiter_wait,
            last: Arc::default(),
        }
    }

    /// Folds the clients' counters into the exported ones (what grew since last time).
    pub fn collect_clients(&self, sources: &Sources) {
        let mut last = self.last.lock().expect("metrics lock");
        for (name, client) in sources.iter() {
            let now = client.stats();
            let before = last.get(name).copied().unwrap_or_default();
            let grew = |a: u64, b: u64| a.saturating_sub(b);
            for (status, n) in [
                ("ok", grew(now.ok, before.ok)),
                ("unauthorized", grew(now.unauthorized, before.unauthorized)),
                ("forbidden", grew(now.forbidden, before.forbidden)),
                ("not_found", grew(now.not_found, before.not_found)),
                ("bad_request", grew(now.bad_request, before.bad_request)),
                ("throttled", grew(now.throttled, before.throttled)),
                (
                    "server_error",
                    grew(now.server_errors, before.server_errors),
                ),
                (
                    "transport_error",
                    grew(now.transport_errors, before.transport_errors),
                ),
                ("malformed", grew(now.malformed, before.malformed)),
            ] {
                self.api_responses
                    .with_label_values(&[name, status])
                    .inc_by(n);
            }
            self.throttled
                .with_label_values(&[name])
                .inc_by(grew(now.throttled, before.throttled));
            self.token_refreshes
                .with_label_values(&[name])
                .inc_by(grew(now.refreshes, before.refreshes));
            self.deferrals
                .with_label_values(&[name])
                .inc_by(grew(now.deferred, before.deferred));
            self.limiter_wait
                .with_label_values(&[name])
                .inc_by(grew(now.permit_wait_ms, before.permit_wait_ms) as f64 / 1000.0);
            last.insert(name.clone(), now);
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding cannot fail");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
