//! Subscriptions: a durable queue of the subscriber's own on the records or events
//! exchange (or the dead-letter queue itself), consumed with a prefetch; or a
//! *throwaway* queue that goes away with its consumer.
//!
//! Guarantees:
//! - The queue (`P.sub.<queue>`, quorum, rejects to `P.dead`) and its bindings are
//!   declared before consuming, idempotently; bindings only accumulate (a pattern
//!   dropped from a later subscribe stays bound until an operator unbinds it).
//! - A throwaway queue (`P.tmp.<queue>.<tag>`, classic, auto-delete, rejects to
//!   `P.dead`) is deleted by RabbitMQ when its consumer goes — process exit, kill or
//!   closed connection — and at the latest a minute after its last use (`x-expires`),
//!   so nothing fills up after a one-off consumer. It is declared again (with its
//!   bindings) whenever the consumer is re-created after a reconnect; records published
//!   while no queue existed are not kept for it (it is throwaway).
//! - At most `prefetch` unsettled deliveries per subscriber.
//! - The consumer lives on a channel of its own. lapin's auto-recover re-creates it
//!   after a reconnect (the stream pauses, no error). If the connection is replaced by
//!   the supervisor instead, the next `next` call consumes afresh on the new one.
//!   Either way unacked deliveries of the old channel come back redelivered.
//! - Dropping the subscriber closes its channel: its unacked deliveries go back.

use std::time::Duration;

use async_trait::async_trait;
use fleet_core::broker::{Delivery, Feed, Subscriber, Subscription};
use fleet_core::BrokerError;
use futures::StreamExt;
use lapin::options::{BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Consumer};
use std::sync::Arc;

use crate::config::MAX_NAME;
use crate::consume::delivery;
use crate::fault::{queue_error, unavailable};
use crate::names::Names;
use crate::recovery::{deadline_after, usable, wait_recovered};
use crate::session::{Session, Supervisor};
use crate::topology::{
    bind, consumer_queue_args, declare_queue, declare_throwaway_queue, throwaway_queue_args,
};

/// A throwaway queue's declaration, repeated each time its consumer is (re-)created.
#[derive(Debug, Clone)]
pub(crate) struct Throwaway {
    args: FieldTable,
    exchange: String,
    patterns: Vec<String>,
}

impl Throwaway {
    async fn declare(&self, ch: &Channel, queue: &str) -> Result<(), BrokerError> {
        declare_throwaway_queue(ch, queue, self.args.clone()).await?;
        for p in &self.patterns {
            bind(ch, queue, &self.exchange, p).await?;
        }
        Ok(())
    }
}

/// Declares the subscription's queue and bindings; returns the queue to consume and,
/// for a throwaway subscription, how to declare it again. `tag` makes a throwaway
/// queue's name unique; `None` asks for the durable `P.sub.<queue>`.
pub(crate) async fn declare(
    supervisor: &Supervisor,
    names: &Names,
    sub: &Subscription,
    tag: Option<&str>,
) -> Result<(String, Option<Throwaway>), BrokerError> {
    let (exchange, patterns) = match &sub.feed {
        Feed::DeadLetters => return Ok((names.dead(), None)),
        Feed::Records { patterns } => (names.records(), patterns),
        Feed::Events { patterns } => (names.events(), patterns),
    };
    let (queue, empty) = match tag {
        None => (names.subscription(&sub.queue), names.subscription("")),
        Some(tag) => (names.throwaway(&sub.queue, tag), names.throwaway("", tag)),
    };
    if sub.queue.is_empty() || queue.len() > MAX_NAME {
        return Err(BrokerError::Topology(format!(
            "subscription queue name {:?} must be 1 to {} bytes",
            sub.queue,
            MAX_NAME - empty.len()
        )));
    }
    if let Some(p) = patterns.iter().find(|p| p.len() > MAX_NAME) {
        return Err(BrokerError::Topology(format!(
            "subscription {:?}: pattern over {MAX_NAME} bytes ({} bytes)",
            sub.queue,
            p.len()
        )));
    }
    let session = supervisor.session().await?;
    let ch = session.channel().await?;
    if tag.is_some() {
        let throwaway = Throwaway {
            args: throwaway_queue_args(names),
            exchange,
            patterns: patterns.clone(),
        };
        throwaway.declare(&ch, &queue).await?;
        return Ok((queue, Some(throwaway)));
    }
    declare_queue(&ch, &queue, consumer_queue_args(names)).await?;
    for p in patterns {
        bind(&ch, &queue, &exchange, p).await?;
    }
    Ok((queue, None))
}

/// A consumer on one subscription queue; see the module docs.
pub(crate) struct AmqpSubscriber {
    /// Keeps the connection this subscriber may need to re-consume on.
    pub(crate) supervisor: Arc<Supervisor>,
    pub(crate) queue: String,
    pub(crate) prefetch: u16,
    /// For a throwaway queue: declared again before each consume, since a reconnect
    /// may have let RabbitMQ delete it.
    pub(crate) throwaway: Option<Throwaway>,
    /// The live consumer, the channel it runs on (dropping the channel closes it) and
    /// the session that channel belongs to.
    pub(crate) current: Option<Consuming>,
}

pub(crate) struct Consuming {
    session: Arc<Session>,
    channel: Channel,
    consumer: Consumer,
}

impl AmqpSubscriber {
    async fn consume(&self, session: Arc<Session>) -> Result<Consuming, BrokerError> {
        let ch = session.channel().await?;
        if let Some(t) = &self.throwaway {
            t.declare(&ch, &self.queue).await?;
        }
        ch.basic_qos(self.prefetch, BasicQosOptions::default())
            .await
            .map_err(|e| unavailable("setting the prefetch", &e))?;
        let consumer = ch
            .basic_consume(
                self.queue.as_str().into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| queue_error("consuming", &self.queue, &e))?;
        Ok(Consuming {
            session,
            channel: ch,
            consumer,
        })
    }
}

#[async_trait]
impl Subscriber for AmqpSubscriber {
    async fn next(&mut self, wait: Duration) -> Result<Option<Delivery>, BrokerError> {
        let deadline = deadline_after(wait);
        loop {
            // Also what drives the supervisor: a dead session is replaced here.
            let session = self.supervisor.session().await?;
            let stale = self.current.as_ref().is_some_and(|c| {
                // Closed for good, or on a connection the supervisor has replaced.
                !usable(&c.channel) || !Arc::ptr_eq(&c.session, &session)
            });
            if stale {
                self.current = None;
            }
            if self.current.is_none() {
                let consuming = tokio::time::timeout(
                    self.supervisor.config().operation_timeout,
                    self.consume(session),
                )
                .await
                .map_err(|_| {
                    BrokerError::Unavailable(format!("consuming `{}`: no answer", self.queue))
                })??;
                self.current = Some(consuming);
            }
            let Some(Consuming {
                channel: ch,
                consumer,
                ..
            }) = self.current.as_mut()
            else {
                continue;
            };
            let item = match tokio::time::timeout_at(deadline, consumer.next()).await {
                Ok(item) => item,
                Err(_) if ch.status().connected() => return Ok(None),
                Err(_) => {
                    return Err(BrokerError::Unavailable(format!(
                        "consumer on `{}`: waiting for the connection to come back",
                        self.queue
                    )))
                }
            };
            match item {
                Some(Ok(d)) => return Ok(Some(delivery(d, None, &self.queue))),
                Some(Err(e)) => {
                    let ch = ch.clone();
                    if wait_recovered(&ch, deadline).await {
                        // Same consumer, replayed by lapin on the recovered channel.
                        continue;
                    }
                    self.current = None;
                    return Err(queue_error("consuming", &self.queue, &e));
                }
                None => {
                    // Cancelled: the queue was deleted or the channel closed for good.
                    self.current = None;
                    return Err(BrokerError::Unavailable(format!(
                        "consumer on `{}` was cancelled; it is re-created on the next call",
                        self.queue
                    )));
                }
            }
        }
    }
}
