//! Deliveries of the in-memory broker: how they are settled, and subscribers.
//!
//! A [`MemoryAcker`] owns the message it delivered until it is settled. Dropping it
//! unsettled is what a lost connection is to RabbitMQ: the message goes back to the
//! front of its queue flagged redelivered (and, on a job lane, counts toward the
//! delivery limit). A subscriber's prefetch is a semaphore: each delivery holds a permit
//! until it is settled or dropped, so at most `prefetch` are out at once.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use fleet_core::broker::{Acker, Delivery, Subscriber};
use fleet_core::BrokerError;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::state::{Msg, Source, State};
use super::{deadline_after, lock};

/// Builds the delivery handed to a consumer; the acker keeps the message.
pub(crate) fn deliver(
    state: &Arc<Mutex<State>>,
    source: Source,
    msg: Msg,
    permit: Option<OwnedSemaphorePermit>,
) -> Delivery {
    let lane = match &source {
        Source::Lane(l) => Some(*l),
        Source::Queue(_) => None,
    };
    Delivery {
        message_id: Some(msg.message_id.clone()),
        headers: msg.headers.clone(),
        body: msg.body.clone(),
        redelivered: msg.redelivered,
        delivery_count: msg.returns.saturating_add(1),
        lane,
        acker: Box::new(MemoryAcker {
            state: state.clone(),
            source,
            msg: Some(msg),
            _permit: permit,
        }),
    }
}

pub(crate) struct MemoryAcker {
    state: Arc<Mutex<State>>,
    source: Source,
    /// `None` once settled.
    msg: Option<Msg>,
    /// Released when the acker goes, settled or not.
    _permit: Option<OwnedSemaphorePermit>,
}

#[async_trait]
impl Acker for MemoryAcker {
    async fn ack(mut self: Box<Self>) -> Result<(), BrokerError> {
        self.msg = None;
        Ok(())
    }

    async fn reject(mut self: Box<Self>) -> Result<(), BrokerError> {
        if let Some(m) = self.msg.take() {
            lock(&self.state).reject(self.source.clone(), m);
        }
        Ok(())
    }

    async fn requeue(mut self: Box<Self>) -> Result<(), BrokerError> {
        if let Some(m) = self.msg.take() {
            lock(&self.state).give_back(self.source.clone(), m);
        }
        Ok(())
    }
}

impl Drop for MemoryAcker {
    fn drop(&mut self) {
        if let Some(m) = self.msg.take() {
            lock(&self.state).give_back(self.source.clone(), m);
        }
    }
}

/// A consumer on one queue of the in-memory broker.
pub(crate) struct MemorySubscriber {
    pub(crate) state: Arc<Mutex<State>>,
    pub(crate) queue: String,
    pub(crate) prefetch: Arc<Semaphore>,
}

#[async_trait]
impl Subscriber for MemorySubscriber {
    async fn next(&mut self, wait: Duration) -> Result<Option<Delivery>, BrokerError> {
        let deadline = deadline_after(wait);
        let Ok(Ok(permit)) =
            tokio::time::timeout_at(deadline, self.prefetch.clone().acquire_owned()).await
        else {
            // Still holding `prefetch` unsettled deliveries: nothing more for now.
            return Ok(None);
        };
        let Some(notify) = lock(&self.state)
            .queues
            .get(&self.queue)
            .map(|q| q.notify.clone())
        else {
            return Err(BrokerError::Unavailable(format!(
                "queue `{}` does not exist",
                self.queue
            )));
        };
        loop {
            // Register for wake-ups before looking, so a push between the look and the
            // wait is not missed.
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            // Bound first, so the lock is released before the delivery exists (an
            // acker's Drop takes the same lock).
            let taken = lock(&self.state).take_from(&self.queue);
            if let Some(m) = taken {
                return Ok(Some(deliver(
                    &self.state,
                    Source::Queue(self.queue.clone()),
                    m,
                    Some(permit),
                )));
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Ok(None);
            }
        }
    }
}

/// The next job, sync first, waiting until `deadline` (and waking for delayed jobs
/// falling due).
pub(crate) async fn next_job(state: &Arc<Mutex<State>>, deadline: Instant) -> Option<Delivery> {
    let notify = lock(state).jobs.clone();
    loop {
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let (job, next_due) = {
            let mut s = lock(state);
            s.promote_due(Instant::now());
            (s.take_job(), s.next_due())
        };
        if let Some((lane, m)) = job {
            return Some(deliver(state, Source::Lane(lane), m, None));
        }
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        let wake = next_due.map_or(deadline, |d| d.min(deadline));
        tokio::select! {
            _ = notified => {}
            _ = tokio::time::sleep_until(wake) => {}
        }
    }
}
