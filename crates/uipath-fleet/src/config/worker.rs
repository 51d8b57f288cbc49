//! `[worker]`: how a `uipath-fleet worker` process behaves, and [`WorkerSettings`], the
//! section turned into the library's [`WorkerConfig`] and [`ClientOptions`].
//!
//! Defaults come from [`WorkerConfig::default`] so the library and the binary cannot
//! drift apart.

use std::net::SocketAddr;
use std::time::Duration;

use fleet_worker::{OutputMode, WorkerConfig};
use serde::Deserialize;
use uipath_client::client::ClientOptions;

use super::{invalid, ConfigError};

/// The `[worker]` section; every field is optional.
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
    /// On SIGTERM, how long running jobs may take to reach their next page boundary
    /// before they are left to redelivery. Default 20.
    pub drain_deadline_secs: u64,
    /// How long a job may wait for a rate-limit permit before it is deferred and the
    /// slot serves other work. Default 10.
    pub defer_after_secs: u64,
    /// The address of `/healthz`, `/readyz` and `/metrics`. Default `127.0.0.1:9091`;
    /// `0.0.0.0:9091` in a container; port 0 picks a free port.
    pub listen: SocketAddr,
    /// How long to keep trying RabbitMQ and Redis at start before giving up. Default 30.
    pub connect_timeout_secs: u64,
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
            drain_deadline_secs: lib.drain_deadline.as_secs(),
            defer_after_secs: ClientOptions::default().max_wait.as_secs(),
            listen: SocketAddr::from(([127, 0, 0, 1], 9091)),
            connect_timeout_secs: 30,
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
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        self.settings().map(|_| ())
    }

    /// The library settings this section asks for.
    pub fn settings(&self) -> Result<WorkerSettings, ConfigError> {
        if let Some(id) = &self.id {
            if id.is_empty() || id.contains(char::is_control) {
                invalid!("worker.id: must be non-empty printable text");
            }
        }
        if self.defer_after_secs == 0 {
            invalid!("worker.defer_after_secs: must be at least 1");
        }
        if self.drain_deadline_secs == 0 {
            invalid!(
                "worker.drain_deadline_secs: must be at least 1 so running jobs can hand back their progress"
            );
        }
        let worker = WorkerConfig {
            id: self.id.clone().unwrap_or_else(default_id),
            concurrency: self.concurrency,
            output: self.output,
            page_size: self.page_size,
            record_budget: self.record_budget,
            max_attempts: self.max_attempts,
            drain_deadline: Duration::from_secs(self.drain_deadline_secs),
            ..WorkerConfig::default()
        };
        worker.validate().map_err(|e| ConfigError(e.to_string()))?;
        let client = ClientOptions {
            max_wait: Duration::from_secs(self.defer_after_secs),
            ..ClientOptions::default()
        };
        Ok(WorkerSettings {
            worker,
            client,
            listen: self.listen,
            connect_timeout: Duration::from_secs(self.connect_timeout_secs),
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
    use super::super::tests::SOURCE;
    use super::super::FleetConfig;
    use super::*;

    #[test]
    fn the_worker_section_maps_onto_the_library() {
        let c = FleetConfig::parse(&format!(
            "{SOURCE}
[worker]
id = \"w-1\"
concurrency = 3
output = \"page\"
page_size = 100
record_budget = 0
max_attempts = 2
drain_deadline_secs = 5
defer_after_secs = 7
listen = \"0.0.0.0:0\"
"
        ))
        .unwrap();
        let s = c.worker.settings().unwrap();
        assert_eq!(s.worker.id, "w-1");
        assert_eq!(s.worker.concurrency, 3);
        assert_eq!(s.worker.output, OutputMode::Page);
        assert_eq!(s.worker.page_size, Some(100));
        assert_eq!(s.worker.record_budget, 0);
        assert_eq!(s.worker.max_attempts, 2);
        assert_eq!(s.worker.drain_deadline, Duration::from_secs(5));
        assert_eq!(s.client.max_wait, Duration::from_secs(7));
        assert_eq!(s.listen.port(), 0);

        let d = FleetConfig::parse(SOURCE)
            .unwrap()
            .worker
            .settings()
            .unwrap();
        assert_eq!(d.worker.concurrency, WorkerConfig::default().concurrency);
        assert_eq!(d.listen.to_string(), "127.0.0.1:9091");
    }

    #[test]
    fn worker_mistakes_name_the_field() {
        let e = |t: &str| {
            FleetConfig::parse(&format!("{SOURCE}[worker]\n{t}\n"))
                .unwrap_err()
                .to_string()
        };
        assert!(e("concurrency = 0").contains("worker.concurrency"));
        assert!(e("concurency = 2").contains("concurency"));
        assert!(e("output = \"csv\"").contains("csv"));
        assert!(e("page_size = 0").contains("worker.page_size"));
        assert!(e("defer_after_secs = 0").contains("worker.defer_after_secs"));
        assert!(e("listen = \"nowhere\"").contains("listen"));
    }
}
