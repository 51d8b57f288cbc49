//! Taking jobs (`basic.get`, sync lane first) and settling deliveries.
//!
//! Why `basic.get` and not a consumer: a consumer with prefetch N would hold N jobs the
//! worker is not running, stuck behind a busy worker while another sits idle, and a
//! consumer on each lane could not serve sync strictly first. A get holds exactly the
//! job the worker asked for. The price is polling while both lanes are empty: 20 ms
//! doubling to 250 ms, a few cheap round trips a second per idle worker.
//!
//! Settling ([`AmqpAcker`]):
//! - `ack`, `reject` (→ dead letters) and `requeue` (→ back at once, counted toward the
//!   delivery limit: it is a `basic.reject` with requeue, which every RabbitMQ version
//!   counts, unlike `basic.nack` from 4.3 on) go out on the channel that delivered.
//! - If that channel or connection is gone (a reconnect happened), the settle cannot
//!   reach the broker; the broker has already put the message back and will deliver it
//!   again. That is logged and reported as `Ok`: the caller can do nothing better, and
//!   at-least-once consumers handle the redelivery.
//! - A delivery dropped unsettled is requeued (as if its consumer had died), so a
//!   worker that loses a job to a bug does not pin it until the connection closes.
//!
//! `delivery_count` is the quorum queue's `x-delivery-count` (deliveries before this
//! one) plus one; a first delivery carries no header and counts 1. Every fleet queue is
//! a quorum queue, so the count is always known.

use std::time::Duration;

use async_trait::async_trait;
use fleet_core::broker::{Acker, Delivery, Headers, Lane};
use fleet_core::{Backoff, BrokerError};
use futures::FutureExt;
use lapin::options::{BasicAckOptions, BasicGetOptions, BasicRejectOptions};
use lapin::types::AMQPValue;
use tokio::time::Instant;
use tracing::warn;

use crate::fault::{describe, queue_error};
use crate::names::Names;
use crate::recovery::{deadline_after, wait_recovered, while_connected};
use crate::session::Supervisor;

/// The pause between polls of empty lanes: 20 ms doubling to 250 ms.
const POLL: Backoff = Backoff::new(Duration::from_millis(20), Duration::from_millis(250));

/// A lapin delivery as the fleet's [`Delivery`].
pub(crate) fn delivery(d: lapin::message::Delivery, lane: Option<Lane>, queue: &str) -> Delivery {
    let props = &d.properties;
    let mut headers = Headers::new();
    let mut previous_deliveries = 0u32;
    if let Some(table) = props.headers() {
        for (name, value) in table {
            match value {
                AMQPValue::LongString(s) => {
                    headers.insert(name.to_string(), s.to_string());
                }
                AMQPValue::ShortString(s) => {
                    headers.insert(name.to_string(), s.to_string());
                }
                _ if name.as_str() == "x-delivery-count" => {
                    previous_deliveries = as_count(value);
                }
                // Arrays and tables (`x-death`) and numbers have no place in the
                // fleet's string headers.
                _ => {}
            }
        }
    }
    Delivery {
        message_id: props.message_id().as_ref().map(|s| s.to_string()),
        headers,
        body: d.data,
        redelivered: d.redelivered,
        delivery_count: previous_deliveries.saturating_add(1),
        lane,
        acker: Box::new(AmqpAcker {
            acker: Some(d.acker),
            queue: queue.to_owned(),
        }),
    }
}

fn as_count(v: &AMQPValue) -> u32 {
    let n: i64 = match v {
        AMQPValue::ShortShortInt(n) => i64::from(*n),
        AMQPValue::ShortShortUInt(n) => i64::from(*n),
        AMQPValue::ShortInt(n) => i64::from(*n),
        AMQPValue::ShortUInt(n) => i64::from(*n),
        AMQPValue::LongInt(n) => i64::from(*n),
        AMQPValue::LongUInt(n) => i64::from(*n),
        AMQPValue::LongLongInt(n) => *n,
        _ => 0,
    };
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

/// Settles one delivery on the channel it came from; see the module docs.
pub(crate) struct AmqpAcker {
    /// `None` once settled, so `Drop` knows not to requeue.
    acker: Option<lapin::Acker>,
    /// For logs.
    queue: String,
}

impl AmqpAcker {
    fn outcome(&self, op: &str, result: Result<bool, lapin::Error>) -> Result<(), BrokerError> {
        match result {
            Ok(true) => {}
            Ok(false) => warn!(
                queue = %self.queue,
                op,
                "channel of this delivery is gone; the broker will deliver the message again"
            ),
            Err(e) => warn!(
                queue = %self.queue,
                op,
                error = %describe(&e),
                "settle failed; the broker will deliver the message again"
            ),
        }
        Ok(())
    }
}

#[async_trait]
impl Acker for AmqpAcker {
    async fn ack(mut self: Box<Self>) -> Result<(), BrokerError> {
        let Some(acker) = self.acker.take() else {
            return Ok(());
        };
        let result = acker.ack(BasicAckOptions::default()).await;
        self.outcome("ack", result)
    }

    async fn reject(mut self: Box<Self>) -> Result<(), BrokerError> {
        let Some(acker) = self.acker.take() else {
            return Ok(());
        };
        let result = acker.reject(BasicRejectOptions { requeue: false }).await;
        self.outcome("reject", result)
    }

    async fn requeue(mut self: Box<Self>) -> Result<(), BrokerError> {
        let Some(acker) = self.acker.take() else {
            return Ok(());
        };
        let result = acker.reject(BasicRejectOptions { requeue: true }).await;
        self.outcome("requeue", result)
    }
}

impl Drop for AmqpAcker {
    fn drop(&mut self) {
        if let Some(acker) = self.acker.take() {
            // Polling the settle once hands the reject to lapin's IO loop, which sends it
            // whether or not anyone awaits the reply; no task is spawned from a Drop.
            let _ = acker
                .reject(BasicRejectOptions { requeue: true })
                .now_or_never();
            warn!(queue = %self.queue, "delivery dropped unsettled; requeued");
        }
    }
}

/// One `basic.get` on `lane`; `Ok(None)` if the lane is empty.
async fn get(
    supervisor: &Supervisor,
    names: &Names,
    lane: Lane,
    deadline: Instant,
) -> Result<Option<Delivery>, BrokerError> {
    let queue = names.lane(lane);
    let limit = supervisor.config().operation_timeout;
    let mut may_wait = true;
    loop {
        let session = supervisor.session().await?;
        let mut guard = session.get_channel().await?;
        let Some(ch) = guard.as_ref() else {
            return Err(BrokerError::Unavailable("no channel for basic.get".into()));
        };
        let op = ch.basic_get(queue.as_str().into(), BasicGetOptions { no_ack: false });
        let result = match tokio::time::timeout(limit, while_connected(ch, op)).await {
            Ok(Some(r)) => r,
            Ok(None) => {
                // Lost mid-get; lapin fails the get when it reconnects.
                let ch = ch.clone();
                drop(guard);
                if may_wait && wait_recovered(&ch, deadline).await {
                    may_wait = false;
                    continue;
                }
                return Err(BrokerError::Unavailable(format!(
                    "basic.get on `{queue}`: connection lost"
                )));
            }
            Err(_) => {
                // A late get-ok would leave a message unacked on this channel with no
                // one to settle it; closing the channel puts it back.
                *guard = None;
                return Err(BrokerError::Unavailable(format!(
                    "basic.get on `{queue}`: no answer within {limit:?}"
                )));
            }
        };
        match result {
            Ok(Some(msg)) => return Ok(Some(delivery(msg.delivery, Some(lane), &queue))),
            Ok(None) => return Ok(None),
            Err(e) => {
                let ch = ch.clone();
                drop(guard);
                if may_wait && wait_recovered(&ch, deadline).await {
                    may_wait = false;
                    continue;
                }
                return Err(queue_error("basic.get", &queue, &e));
            }
        }
    }
}

/// The next job, sync before backfill, polling until `wait` has passed.
pub(crate) async fn next_job(
    supervisor: &Supervisor,
    names: &Names,
    wait: Duration,
) -> Result<Option<Delivery>, BrokerError> {
    let deadline = deadline_after(wait);
    let mut pauses = POLL.delays();
    loop {
        for lane in Lane::ALL {
            if let Some(d) = get(supervisor, names, lane, deadline).await? {
                return Ok(Some(d));
            }
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(pauses.next_or_max().min(deadline - now)).await;
    }
}
