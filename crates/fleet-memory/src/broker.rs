//! [`MemoryBroker`]: the [`Broker`] in-process, for the embedded mode and tests.
//!
//! Same contract as the RabbitMQ backend (both pass
//! `fleet_testkit::contract::broker_contract`), with these differences of degree:
//! - retries wait their *exact* delay on tokio's clock (RabbitMQ rounds up to a tier);
//!   both cap at one hour;
//! - publishing is all or nothing: a batch with an unroutable record stores nothing;
//! - nothing survives the process, and output queues have no consumer unless one is
//!   attached with [`MemoryBroker::consume_output`].
//!
//! Clones share one broker. Nothing blocks the runtime: state sits behind a
//! `std::sync::Mutex` held for microseconds and never across an `.await`; waiting is on
//! `tokio::sync::Notify` and tokio timers (so `tokio::time::pause()` drives delays).

mod settle;
mod state;
mod topic;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use fleet_core::broker::{
    Broker, BrokerError, Delivery, Depths, Destination, Feed, Lane, Outgoing, Subscriber,
    Subscription,
};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use settle::MemorySubscriber;
use state::{Exchange, Msg, State, DEAD};

/// AMQP's limit on names, ids and keys; enforced here too so the embedded mode cannot
/// accept what production would refuse.
const MAX_SHORT: usize = 255;

/// The in-process broker. See the module docs.
#[derive(Clone)]
pub struct MemoryBroker {
    state: Arc<Mutex<State>>,
    /// Output queues `declare` creates: (name, patterns).
    outputs: Arc<Vec<(String, Vec<String>)>>,
}

impl std::fmt::Debug for MemoryBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = lock(&self.state);
        f.debug_struct("MemoryBroker")
            .field("delivery_limit", &s.delivery_limit)
            .field("sync", &s.lane_len(Lane::Sync))
            .field("backfill", &s.lane_len(Lane::Backfill))
            .field("retrying", &s.delayed_len())
            .field("dead", &s.queue_len(DEAD))
            .finish()
    }
}

impl Default for MemoryBroker {
    /// Delivery limit 5, like the RabbitMQ backend's default.
    fn default() -> Self {
        MemoryBroker::new(5)
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every mutation under this lock leaves the state consistent before anything that
    // could panic, so a poisoned lock is safe to keep using.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `now + wait`, saturating: a caller may pass `Duration::MAX` for "as long as it takes".
pub(crate) fn deadline_after(wait: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(wait)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 86_400))
}

fn check_len(value: &str, what: &str) -> Result<(), BrokerError> {
    if value.len() > MAX_SHORT {
        // Not transient, as in the RabbitMQ backend: the same message can never pass.
        return Err(BrokerError::Topology(format!(
            "{what} is {} bytes; AMQP allows at most {MAX_SHORT}",
            value.len()
        )));
    }
    Ok(())
}

impl MemoryBroker {
    /// A broker whose job lanes dead-letter a job that came back unsettled more than
    /// `delivery_limit` times (RabbitMQ's `x-delivery-limit`).
    pub fn new(delivery_limit: u32) -> Self {
        MemoryBroker {
            state: Arc::new(Mutex::new(State::new(delivery_limit))),
            outputs: Arc::new(Vec::new()),
        }
    }

    /// Adds an output queue that [`Broker::declare`] creates and binds to the records
    /// exchange with `patterns` (the RabbitMQ backend's `P.out.<name>`).
    pub fn with_output_queue(
        mut self,
        name: impl Into<String>,
        patterns: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Arc::make_mut(&mut self.outputs)
            .push((name.into(), patterns.into_iter().map(Into::into).collect()));
        self
    }

    /// A consumer on output queue `name` (declared by [`Broker::declare`]), for an
    /// in-process sink.
    pub fn consume_output(
        &self,
        name: &str,
        prefetch: u16,
    ) -> Result<Box<dyn Subscriber>, BrokerError> {
        let queue = output_queue(name);
        if !lock(&self.state).queues.contains_key(&queue) {
            return Err(BrokerError::Unavailable(format!(
                "output queue `{name}` does not exist; has `declare()` run?"
            )));
        }
        Ok(self.subscriber(queue, prefetch))
    }

    fn subscriber(&self, queue: String, prefetch: u16) -> Box<dyn Subscriber> {
        Box::new(MemorySubscriber {
            state: self.state.clone(),
            queue,
            prefetch: Arc::new(Semaphore::new(usize::from(prefetch.max(1)))),
        })
    }
}

fn output_queue(name: &str) -> String {
    format!("out.{name}")
}

fn subscription_queue(name: &str) -> String {
    format!("sub.{name}")
}

#[async_trait]
impl Broker for MemoryBroker {
    async fn declare(&self) -> Result<(), BrokerError> {
        let mut s = lock(&self.state);
        for (name, patterns) in self.outputs.iter() {
            s.declare_queue(&output_queue(name), Exchange::Records, patterns);
        }
        Ok(())
    }

    async fn publish(&self, batch: Vec<Outgoing>) -> Result<(), BrokerError> {
        let mut s = lock(&self.state);
        // Check the whole batch before storing any of it.
        for m in &batch {
            check_len(&m.message_id, "the message id")?;
            for name in m.headers.keys() {
                check_len(name, "a header name")?;
            }
            match &m.destination {
                Destination::Records { routing_key } => {
                    check_len(routing_key, "the routing key")?;
                    if s.route(Exchange::Records, routing_key).is_empty() {
                        return Err(BrokerError::Unroutable {
                            exchange: "records",
                            routing_key: routing_key.clone(),
                        });
                    }
                }
                Destination::Events { routing_key } => check_len(routing_key, "the routing key")?,
                _ => {}
            }
        }
        for m in batch {
            let msg = Msg {
                message_id: m.message_id,
                headers: m.headers,
                body: m.body,
                redelivered: false,
                returns: 0,
            };
            match m.destination {
                Destination::Jobs(lane) => s.push_job(lane, msg),
                Destination::Retry { lane, delay } => s.push_delayed(lane, delay, msg),
                Destination::DeadLetter => s.push_queue(DEAD, msg),
                Destination::Records { routing_key } => {
                    for q in s.route(Exchange::Records, &routing_key) {
                        s.push_queue(&q, msg.clone());
                    }
                }
                Destination::Events { routing_key } => {
                    for q in s.route(Exchange::Events, &routing_key) {
                        s.push_queue(&q, msg.clone());
                    }
                }
            }
        }
        Ok(())
    }

    async fn next_job(&self, wait: Duration) -> Result<Option<Delivery>, BrokerError> {
        Ok(settle::next_job(&self.state, deadline_after(wait)).await)
    }

    async fn subscribe(
        &self,
        subscription: Subscription,
    ) -> Result<Box<dyn Subscriber>, BrokerError> {
        let (exchange, patterns) = match &subscription.feed {
            Feed::DeadLetters => return Ok(self.subscriber(DEAD.to_owned(), subscription.prefetch)),
            Feed::Records { patterns } => (Exchange::Records, patterns),
            Feed::Events { patterns } => (Exchange::Events, patterns),
        };
        if subscription.queue.is_empty() {
            return Err(BrokerError::Topology(
                "a subscription needs a queue name".into(),
            ));
        }
        check_len(&subscription.queue, "the subscription queue name")?;
        for p in patterns {
            check_len(p, "a binding pattern")?;
        }
        let queue = subscription_queue(&subscription.queue);
        lock(&self.state).declare_queue(&queue, exchange, patterns);
        Ok(self.subscriber(queue, subscription.prefetch))
    }

    async fn depths(&self) -> Result<Depths, BrokerError> {
        let mut s = lock(&self.state);
        s.promote_due(Instant::now());
        Ok(Depths {
            sync: s.lane_len(Lane::Sync) as u64,
            backfill: s.lane_len(Lane::Backfill) as u64,
            retrying: s.delayed_len() as u64,
            dead: s.queue_len(DEAD) as u64,
        })
    }

    async fn ready(&self) -> bool {
        true
    }
}
