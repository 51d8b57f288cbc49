//! The message broker contract: what the coordinator and workers need from RabbitMQ, and
//! what the in-memory twin must reproduce for the embedded mode.
//!
//! # Topology (declared by [`Broker::declare`], idempotently)
//!
//! - **Job lanes** — one durable work queue per [`Lane`]. Workers take from the sync lane
//!   before the backfill lane ([`Broker::next_job`]), so syncs go ahead of backfills.
//!   Each job queue has a delivery limit: a job delivered more often than that (a worker
//!   crashing on it, over and over) is dead-lettered instead of looping forever.
//! - **Delayed retry** — [`Destination::Retry`] parks a job for a delay and then puts it
//!   back on its lane. Nobody sleeps on it and it holds no consumer slot. Backends may
//!   round the delay *up* to a tier (RabbitMQ uses fixed delay queues), capped at the
//!   longest tier (one hour); a caller that needs longer defers again.
//! - **Dead letters** — one durable queue. Jobs land there when rejected
//!   ([`Delivery::reject`]), over their delivery limit, or published there explicitly
//!   with a reason in [`crate::wire::headers::REASON`].
//! - **Records** — a topic exchange, routing key `<source>.<dataset>`. Consumers bind
//!   their own queues ([`Broker::subscribe`]); the fleet also declares the output queues
//!   named in its config.
//! - **Events** — a topic exchange: `slice.completed`, `slice.failed`,
//!   `request.completed`.
//!
//! # Delivery guarantees
//!
//! - **Publishing**: [`Broker::publish`] returns `Ok` only once the broker has confirmed
//!   every message of the batch (persisted). On `Err`, any subset may have been stored:
//!   the caller publishes the batch again. So delivery is **at-least-once**; consumers
//!   deduplicate by message id.
//! - **Consuming**: a delivery stays owned by its consumer until acked, rejected or
//!   requeued. If the consumer dies (process killed, connection lost) it is redelivered
//!   with `redelivered = true`. A [`Delivery`] dropped without being settled is requeued
//!   the same way. Settling after a reconnect cannot reach the old channel: it is logged
//!   and returns `Ok`, and the message comes again, which at-least-once consumers
//!   already handle.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;

pub use crate::wire::Lane;

/// The retry delay tiers, shortest first: the one definition, used by the RabbitMQ
/// backend (one delay queue per tier), the in-memory twin (its cap) and the worker (the
/// `n`-th retry waits the `n`-th tier). A retry waits in the tier whose delay is the
/// smallest one at least as long as the requested delay ([`retry_tier`]).
///
/// Fixed tiers because RabbitMQ 3.10 without plugins can only delay with a queue-wide
/// TTL: a per-message TTL expires only at the head of the queue, so a 1 s retry behind a
/// 1 h one would wait an hour.
pub const RETRY_TIERS: [Duration; 6] = [
    Duration::from_secs(1),
    Duration::from_secs(5),
    Duration::from_secs(30),
    Duration::from_secs(120),
    Duration::from_secs(600),
    Duration::from_secs(3600),
];

/// The longest delay a retry can wait (the longest tier); a caller that needs longer
/// defers again.
pub const MAX_RETRY_DELAY: Duration = RETRY_TIERS[RETRY_TIERS.len() - 1];

/// The tier a retry of `delay` waits in: rounded *up* to the next tier (never early),
/// capped at [`MAX_RETRY_DELAY`].
pub fn retry_tier(delay: Duration) -> Duration {
    RETRY_TIERS
        .iter()
        .copied()
        .find(|tier| *tier >= delay)
        .unwrap_or(MAX_RETRY_DELAY)
}

/// Message headers: short string values only (ids, names, reasons).
pub type Headers = BTreeMap<String, String>;

/// Where a message goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// A job queue.
    Jobs(Lane),
    /// A job, back onto `lane` after at least `delay`.
    Retry { lane: Lane, delay: Duration },
    /// The dead-letter queue (set [`crate::wire::headers::REASON`]).
    DeadLetter,
    /// The records exchange. Routing key `<source>.<dataset>`. Published as *mandatory*:
    /// if no queue is bound for the key, the publish fails with
    /// [`BrokerError::Unroutable`] rather than dropping records.
    Records { routing_key: String },
    /// The events exchange. Not mandatory: an event nobody listens to is dropped.
    Events { routing_key: String },
}

/// One message to publish. Always persistent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub destination: Destination,
    /// The AMQP `message_id`: a deterministic id consumers dedupe by.
    pub message_id: String,
    pub headers: Headers,
    pub body: Vec<u8>,
}

impl Outgoing {
    pub fn new(destination: Destination, message_id: impl Into<String>, body: Vec<u8>) -> Self {
        Outgoing {
            destination,
            message_id: message_id.into(),
            headers: Headers::new(),
            body,
        }
    }
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.insert(name.to_owned(), value.into());
        self
    }
}

/// A queue of the fleet's own, as an operator would name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueName {
    Jobs(Lane),
    DeadLetter,
}

/// Message counts of the fleet's queues (ready messages; unacked ones are not counted).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Depths {
    pub sync: u64,
    pub backfill: u64,
    /// Jobs waiting in the delay queues.
    pub retrying: u64,
    pub dead: u64,
}

/// What to bind a subscription queue to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Feed {
    /// The records exchange, with topic patterns such as `acme.*` or `#`.
    Records { patterns: Vec<String> },
    /// The events exchange, with topic patterns such as `slice.*`.
    Events { patterns: Vec<String> },
    /// The dead-letter queue itself (no new queue is declared; `queue` is ignored).
    DeadLetters,
}

/// A consumer's own durable queue on one of the fleet's exchanges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// Queue name (the backend adds its prefix). Durable: messages wait while the
    /// consumer is away.
    pub queue: String,
    pub feed: Feed,
    /// Unacked deliveries this subscriber may hold.
    pub prefetch: u16,
}

/// A received message.
pub struct Delivery {
    pub message_id: Option<String>,
    pub headers: Headers,
    pub body: Vec<u8>,
    /// The broker's hint that this message may have been seen before.
    pub redelivered: bool,
    /// Deliveries so far including this one, where the backend counts them (quorum
    /// queues do); 0 when unknown.
    pub delivery_count: u32,
    /// The job lane, for deliveries from [`Broker::next_job`].
    pub lane: Option<Lane>,
    pub acker: Box<dyn Acker>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("message_id", &self.message_id)
            .field("headers", &self.headers)
            .field("len", &self.body.len())
            .field("redelivered", &self.redelivered)
            .field("delivery_count", &self.delivery_count)
            .field("lane", &self.lane)
            .finish()
    }
}

impl Delivery {
    /// Done with it: the broker forgets the message.
    pub async fn ack(self) -> Result<(), BrokerError> {
        self.acker.ack().await
    }
    /// Give it up: it goes to the dead-letter queue (for job and subscription queues
    /// alike; on the dead-letter queue itself it is dropped).
    pub async fn reject(self) -> Result<(), BrokerError> {
        self.acker.reject().await
    }
    /// Put it back at once for any consumer (counts toward the delivery limit).
    pub async fn requeue(self) -> Result<(), BrokerError> {
        self.acker.requeue().await
    }
}

/// Settles one delivery. Each method consumes the acker: a delivery is settled once.
#[async_trait]
pub trait Acker: Send + Sync {
    async fn ack(self: Box<Self>) -> Result<(), BrokerError>;
    async fn reject(self: Box<Self>) -> Result<(), BrokerError>;
    async fn requeue(self: Box<Self>) -> Result<(), BrokerError>;
}

/// Messages from one [`Subscription`], in order of arrival.
#[async_trait]
pub trait Subscriber: Send {
    /// The next delivery, waiting at most `wait`; `None` if nothing arrived.
    async fn next(&mut self, wait: Duration) -> Result<Option<Delivery>, BrokerError>;
}

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// Connection or channel trouble. Retry after a backoff; anything unconfirmed must be
    /// published again and anything unacked will be redelivered.
    #[error("broker unavailable: {0}")]
    Unavailable(String),
    /// The broker refused a message (nack). Publish it again.
    #[error("broker refused {count} message(s)")]
    Nacked { count: usize },
    /// No queue is bound for a mandatory message.
    #[error("no queue is bound for routing key `{routing_key}` on the {exchange} exchange; bind an output queue (e.g. run a sink) or list one in the output config")]
    Unroutable {
        exchange: &'static str,
        routing_key: String,
    },
    /// Declared topology clashes with what exists (e.g. a queue declared with other
    /// arguments by an older version). Needs an operator.
    #[error("broker topology conflict: {0}")]
    Topology(String),
}

impl BrokerError {
    /// Worth trying again later (everything but a topology conflict).
    pub fn is_transient(&self) -> bool {
        !matches!(self, BrokerError::Topology(_))
    }
}

/// The broker. Implementations: `fleet_amqp::AmqpBroker` (RabbitMQ),
/// `fleet_memory::MemoryBroker` (in-process). Held as `Arc<dyn Broker>`.
#[async_trait]
pub trait Broker: Send + Sync + 'static {
    /// Declare the topology. Idempotent; safe to call from every process at start.
    async fn declare(&self) -> Result<(), BrokerError>;

    /// Publish a batch and wait until every message is confirmed. `Ok` means all are
    /// stored; `Err` means some may be (publish the batch again). Confirms are awaited
    /// as a window, not one by one.
    async fn publish(&self, batch: Vec<Outgoing>) -> Result<(), BrokerError>;

    /// The next job, sync lane before backfill lane, waiting up to `wait`. The caller
    /// holds at most as many unsettled jobs as it took: there is no hidden prefetch, so
    /// a job is never stuck behind a busy worker while another is idle.
    async fn next_job(&self, wait: Duration) -> Result<Option<Delivery>, BrokerError>;

    /// Declare (idempotently) and consume a subscription queue.
    async fn subscribe(
        &self,
        subscription: Subscription,
    ) -> Result<Box<dyn Subscriber>, BrokerError>;

    /// Ready-message counts of the fleet's queues.
    async fn depths(&self) -> Result<Depths, BrokerError>;

    /// Whether the broker is reachable right now (for `/readyz`).
    async fn ready(&self) -> bool;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_round_up_to_a_tier_and_cap_at_an_hour() {
        let s = Duration::from_secs;
        assert_eq!(retry_tier(Duration::ZERO), s(1));
        assert_eq!(retry_tier(Duration::from_millis(300)), s(1));
        assert_eq!(retry_tier(s(1)), s(1));
        assert_eq!(retry_tier(Duration::from_millis(1001)), s(5));
        assert_eq!(retry_tier(s(31)), s(120));
        assert_eq!(retry_tier(s(3600)), s(3600));
        assert_eq!(retry_tier(s(86_400)), s(3600));
        assert_eq!(MAX_RETRY_DELAY, s(3600));
    }
}
