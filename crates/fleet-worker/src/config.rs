//! How a worker behaves: concurrency, output shape, slice budgets, retries, shutdown.

use std::time::Duration;

use serde::{Deserialize, Serialize};

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
