//! How a worker behaves: concurrency, output shape, slice budgets, retries, shutdown;
//! and [`WorkerSection`], the `[worker]` section of the fleet's configuration file, which
//! this crate reads and checks itself (errors name `worker.<field>`).

use std::net::SocketAddr;
use std::time::Duration;

use fleet_core::settings::secs;
use serde::{Deserialize, Serialize};
use uipath_client::client::ClientOptions;

use crate::error::WorkerError;

/// How records go onto the records exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputMode {
    /// One message per record (`RecordEnvelope`): friendliest for event-driven consumers.
    #[default]
    Record,
    /// One message per page (`RecordPage`, a JSON array): far fewer messages.
    Page,
}

impl OutputMode {
    pub fn as_str(self) -> &'static str {
        match self {
            OutputMode::Record => "record",
            OutputMode::Page => "page",
        }
    }
}

/// A worker's settings.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Names this worker in logs (e.g. the pod name).
    pub id: String,
    /// Jobs held and worked on at once. Each job slot takes one job from the broker at a
    /// time, so this is also the worker's prefetch.
    pub concurrency: usize,
    pub output: OutputMode,
    /// Records per page asked of the API; `None`: each dataset's cap (1,000; 100 for queue
    /// items).
    pub page_size: Option<u32>,
    /// A slice that has published more records than this splits its unread remainder into
    /// two slices, so no one job runs for hours. 0: no budget.
    pub record_budget: u64,
    /// Slices are not split below this width; a narrower slice past a paging window is
    /// dead-lettered.
    pub min_split: Duration,
    /// Trips through the delayed-retry queues (transient failures) before a slice is
    /// given up and dead-lettered.
    pub max_attempts: u32,
    /// How long one wait for a job lasts before the slot checks for shutdown again.
    pub poll: Duration,
    /// On shutdown, how long in-flight jobs may run to their next page boundary before
    /// they are abandoned to redelivery.
    pub drain_deadline: Duration,
    /// How long a job keeps retrying a ledger or broker call that fails (Redis or RabbitMQ
    /// reconnecting) before it lets the job go for redelivery.
    pub infra_patience: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            id: "worker".into(),
            concurrency: 4,
            output: OutputMode::Record,
            page_size: None,
            record_budget: 250_000,
            min_split: Duration::from_secs(1),
            max_attempts: 8,
            poll: Duration::from_secs(1),
            drain_deadline: Duration::from_secs(20),
            infra_patience: Duration::from_secs(30),
        }
    }
}

impl WorkerConfig {
    pub fn validate(&self) -> Result<(), WorkerError> {
        let bad = |field, problem: &str| {
            Err(WorkerError::Config {
                field,
                problem: problem.to_owned(),
            })
        };
        if self.concurrency == 0 || self.concurrency > 1024 {
            let problem = format!("{} must be between 1 and 1024", self.concurrency);
            return bad("concurrency", &problem);
        }
        if self.page_size == Some(0) {
            return bad("page_size", "must be at least 1");
        }
        if self.max_attempts == 0 {
            return bad("max_attempts", "must be at least 1");
        }
        if self.poll.is_zero() {
            return bad("poll", "must be positive");
        }
        Ok(())
    }
}

/// `[worker]`: how a `uipath-fleet worker` process behaves; every field is optional and
/// the defaults are [`WorkerConfig::default`]'s.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerSection {
    /// This worker's name in logs and in RabbitMQ's connection list. Default: `$HOSTNAME`
    /// (the pod name on Kubernetes), else `worker-<pid>`.
    pub id: Option<String>,
    /// Slice jobs worked on at once (also the worker's prefetch). Default 4.
    pub concurrency: usize,
    /// `"record"`: one message per record; `"page"`: one message per page.
    pub output: OutputMode,
    /// Records asked per API page; default: each dataset's cap (1,000; 100 for queue items).
    pub page_size: Option<u32>,
    /// A slice that has published more records than this splits its unread rest in two
    /// (0: never). Default 250,000.
    pub record_budget: u64,
    /// Delayed retries of a slice before it is dead-lettered. Default 8.
    pub max_attempts: u32,
    /// `drain_deadline_secs`: on SIGTERM, how long running jobs may take to reach their
    /// next page boundary before they are left to redelivery. Default 20.
    #[serde(rename = "drain_deadline_secs", deserialize_with = "secs")]
    pub drain_deadline: Duration,
    /// `defer_after_secs`: how long a job may wait for a rate-limit permit before it is
    /// deferred and the slot serves other work. Default 10.
    #[serde(rename = "defer_after_secs", deserialize_with = "secs")]
    pub defer_after: Duration,
    /// The address of `/healthz`, `/readyz` and `/metrics`. Default `127.0.0.1:9091`;
    /// `0.0.0.0:9091` in a container; port 0 picks a free port.
    pub listen: SocketAddr,
    /// `connect_timeout_secs`: how long to keep trying RabbitMQ and Redis at start before
    /// giving up. Default 30.
    #[serde(rename = "connect_timeout_secs", deserialize_with = "secs")]
    pub connect_timeout: Duration,
}

impl Default for WorkerSection {
    fn default() -> Self {
        let lib = WorkerConfig::default();
        WorkerSection {
            id: None,
            concurrency: lib.concurrency,
            output: lib.output,
            page_size: lib.page_size,
            record_budget: lib.record_budget,
            max_attempts: lib.max_attempts,
            drain_deadline: lib.drain_deadline,
            defer_after: ClientOptions::default().max_wait,
            listen: SocketAddr::from(([127, 0, 0, 1], 9091)),
            connect_timeout: Duration::from_secs(30),
        }
    }
}

/// A worker process's settings, resolved and checked.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub worker: WorkerConfig,
    pub client: ClientOptions,
    pub listen: SocketAddr,
    pub connect_timeout: Duration,
}

impl WorkerSection {
    pub fn validate(&self) -> Result<(), WorkerError> {
        self.settings().map(|_| ())
    }

    /// The library settings this section asks for.
    pub fn settings(&self) -> Result<WorkerSettings, WorkerError> {
        let bad = |field, problem: &str| {
            Err(WorkerError::Config {
                field,
                problem: problem.to_owned(),
            })
        };
        if let Some(id) = &self.id {
            if id.is_empty() || id.contains(char::is_control) {
                return bad("id", "must be non-empty printable text");
            }
        }
        if self.defer_after < Duration::from_secs(1) {
            return bad("defer_after_secs", "must be at least 1");
        }
        if self.drain_deadline < Duration::from_secs(1) {
            return bad(
                "drain_deadline_secs",
                "must be at least 1 so running jobs can hand back their progress",
            );
        }
        let worker = WorkerConfig {
            id: self.id.clone().unwrap_or_else(default_id),
            concurrency: self.concurrency,
            output: self.output,
            page_size: self.page_size,
            record_budget: self.record_budget,
            max_attempts: self.max_attempts,
            drain_deadline: self.drain_deadline,
            ..WorkerConfig::default()
        };
        worker.validate()?;
        let client = ClientOptions {
            max_wait: self.defer_after,
            ..ClientOptions::default()
        };
        Ok(WorkerSettings {
            worker,
            client,
            listen: self.listen,
            connect_timeout: self.connect_timeout,
        })
    }
}

/// `$HOSTNAME` (set by Kubernetes to the pod name), else `worker-<pid>`.
fn default_id() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .unwrap_or_else(|| format!("worker-{}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(text: &str) -> Result<WorkerSettings, String> {
        let s: WorkerSection = toml::from_str(text).map_err(|e| e.to_string())?;
        s.settings().map_err(|e| e.to_string())
    }

    #[test]
    fn the_worker_section_maps_onto_the_library() {
        let s = section(
            "id = \"w-1\"
concurrency = 3
output = \"page\"
page_size = 100
record_budget = 0
max_attempts = 2
drain_deadline_secs = 5
defer_after_secs = 7
listen = \"0.0.0.0:0\"
",
        )
        .unwrap();
        assert_eq!(s.worker.id, "w-1");
        assert_eq!(s.worker.concurrency, 3);
        assert_eq!(s.worker.output, OutputMode::Page);
        assert_eq!(s.worker.page_size, Some(100));
        assert_eq!(s.worker.record_budget, 0);
        assert_eq!(s.worker.max_attempts, 2);
        assert_eq!(s.worker.drain_deadline, Duration::from_secs(5));
        assert_eq!(s.client.max_wait, Duration::from_secs(7));
        assert_eq!(s.listen.port(), 0);

        let d = section("").unwrap();
        assert_eq!(d.worker.concurrency, WorkerConfig::default().concurrency);
        assert_eq!(d.listen.to_string(), "127.0.0.1:9091");
    }

    #[test]
    fn worker_mistakes_name_the_field() {
        let e = |t: &str| section(t).unwrap_err();
        assert!(e("concurrency = 0").contains("worker.concurrency"));
        assert!(e("concurency = 2").contains("concurency"));
        assert!(e("output = \"csv\"").contains("csv"));
        assert!(e("page_size = 0").contains("worker.page_size"));
        assert!(e("defer_after_secs = 0").contains("worker.defer_after_secs"));
        assert!(e("drain_deadline_secs = 0").contains("worker.drain_deadline_secs"));
        assert!(e("listen = \"nowhere\"").contains("listen"));
    }
}
