//! The fleet's [`Broker`] on RabbitMQ 3.10+ through lapin. The only crate of the
//! workspace that imports lapin.
//!
//! [`AmqpBroker`] implements the contract of [`fleet_core::broker`] (and passes the
//! shared suite `fleet_testkit::contract::broker_contract`):
//!
//! - [`names`]: every queue and exchange name, from one prefix (a retry queue per delay
//!   tier of `fleet_core::broker::RETRY_TIERS`).
//! - `topology`: idempotent declares with fixed arguments (quorum queues, delivery
//!   limit, at-least-once dead-lettering, TTL delay tiers); conflicts become
//!   [`BrokerError::Topology`] with the fix in the message.
//! - `publish`: batches on a confirm channel of their own, confirms awaited as a window;
//!   returns and nacks fail the batch.
//! - `consume`: `basic.get` polling, sync lane first, no prefetch; settling.
//! - `subscribe`: durable subscription queues, consumed with a prefetch; throwaway ones
//!   ([`AmqpBroker::subscribe_throwaway`]) that go away with their consumer.
//! - `session`: the connection supervisor (lapin auto-recover, then rebuild);
//!   `recovery`: bounded waits on channels while lapin recovers.
//! - [`calibrate`]: the raw lapin publish rate, for benchmarks to compare against.
//!
//! # Handles
//!
//! An `AmqpBroker` is one connection; clones share it (cheap, `Arc`). Dropping the
//! last clone (and every subscriber made from it) closes the connection, and the broker
//! requeues whatever it had delivered unacked; [`AmqpBroker::close`] does the same
//! explicitly. [`AmqpBroker::sibling`] opens another connection with the same settings.

pub mod calibrate;
mod config;
mod consume;
mod fault;
pub mod names;
mod publish;
mod recovery;
mod session;
mod subscribe;
mod topology;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use fleet_core::broker::{
    Broker, BrokerError, Delivery, Depths, Outgoing, QueueName, Subscriber, Subscription,
};
use fleet_core::wire::Lane;

pub use config::{AmqpConfig, OutputQueue};
pub use names::Names;

use session::Supervisor;

/// The fleet's broker on RabbitMQ. See the crate docs.
#[derive(Clone)]
pub struct AmqpBroker {
    inner: Arc<Inner>,
}

struct Inner {
    supervisor: Arc<Supervisor>,
    names: Names,
    /// Subscription queues declared through this handle or its siblings, so that
    /// [`AmqpBroker::delete_topology`] can remove them (AMQP cannot list queues).
    subscriptions: Arc<Mutex<BTreeSet<String>>>,
}

impl std::fmt::Debug for AmqpBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpBroker")
            .field("url", &self.inner.supervisor.config().redacted_url())
            .field("prefix", &self.inner.names.prefix())
            .field("connected", &self.inner.supervisor.is_connected())
            .finish()
    }
}

impl AmqpBroker {
    /// Validates `config` and connects. Fails with `Unavailable` if the broker cannot be
    /// reached now (the caller decides whether to wait and retry) and with `Topology`
    /// for a config RabbitMQ would refuse. Does not declare anything: call
    /// [`Broker::declare`].
    pub async fn connect(config: AmqpConfig) -> Result<AmqpBroker, BrokerError> {
        config.validate()?;
        let names = Names::new(config.prefix.clone());
        let supervisor = Supervisor::connect(config).await?;
        Ok(AmqpBroker {
            inner: Arc::new(Inner {
                supervisor: Arc::new(supervisor),
                names,
                subscriptions: Arc::new(Mutex::new(BTreeSet::new())),
            }),
        })
    }

    /// Another handle on its own connection with the same settings (it shares the
    /// record of declared subscription queues, see [`AmqpBroker::delete_topology`]).
    /// Closing or dropping one does not affect the other.
    pub async fn sibling(&self) -> Result<AmqpBroker, BrokerError> {
        let supervisor = Supervisor::connect(self.inner.supervisor.config().clone()).await?;
        Ok(AmqpBroker {
            inner: Arc::new(Inner {
                supervisor: Arc::new(supervisor),
                names: self.inner.names.clone(),
                subscriptions: self.inner.subscriptions.clone(),
            }),
        })
    }

    /// Closes the connection now. Later calls on this handle (and its clones) fail with
    /// `Unavailable`; unsettled deliveries go back to their queues.
    pub async fn close(&self) {
        self.inner.supervisor.close().await;
    }

    pub fn prefix(&self) -> &str {
        self.inner.names.prefix()
    }

    /// Every name of this fleet's topology.
    pub fn names(&self) -> &Names {
        &self.inner.names
    }

    /// The queue an operator would look at for `q`, e.g. `uipath-fleet.jobs.sync`.
    pub fn queue_name(&self, q: QueueName) -> String {
        self.inner.names.queue(q)
    }

    /// The delay queue a retry of `delay` on `lane` waits in.
    pub fn retry_queue_name(&self, lane: Lane, delay: Duration) -> String {
        self.inner.names.retry(lane, delay)
    }

    /// Deletes this fleet's queues and exchanges, messages included: the fixed
    /// topology, the configured output queues and the subscription queues declared
    /// through this handle or its siblings. For tests and decommissioning; other
    /// processes' subscription queues are not known here and stay.
    pub async fn delete_topology(&self) -> Result<(), BrokerError> {
        let session = self.inner.supervisor.session().await?;
        let ch = session.channel().await?;
        let subs: Vec<String> = self
            .inner
            .subscriptions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect();
        topology::delete_all(
            &ch,
            &self.inner.names,
            self.inner.supervisor.config(),
            &subs,
        )
        .await
    }

    /// Ready messages in any queue of the broker (e.g. an output queue, from
    /// [`Names::output`]); `Unavailable` if it does not exist.
    pub async fn queue_depth(&self, queue: &str) -> Result<u64, BrokerError> {
        self.bounded("counting messages", async {
            let session = self.inner.supervisor.session().await?;
            let ch = session.channel().await?;
            topology::ready(&ch, queue).await
        })
        .await
    }

    /// Like [`Broker::subscribe`], but on a *throwaway* queue of this consumer's own,
    /// `P.tmp.<queue>.<random tag>`, that RabbitMQ deletes when the consumer goes (see
    /// the `subscribe` module): for one-off consumers (`uipath-fleet sink --stdout`)
    /// that must not leave a queue behind to fill forever. Records published while the
    /// consumer is away are not kept for it. Returns the queue's name too.
    pub async fn subscribe_throwaway(
        &self,
        subscription: Subscription,
    ) -> Result<(String, Box<dyn Subscriber>), BrokerError> {
        if matches!(subscription.feed, fleet_core::broker::Feed::DeadLetters) {
            return Err(BrokerError::Topology(
                "the dead-letter queue cannot be consumed through a throwaway queue".into(),
            ));
        }
        let uuid = uuid::Uuid::new_v4().simple().to_string();
        let tag = &uuid[..12];
        let (queue, throwaway) = self
            .bounded(
                "declaring a throwaway subscription",
                subscribe::declare(
                    &self.inner.supervisor,
                    &self.inner.names,
                    &subscription,
                    Some(tag),
                ),
            )
            .await?;
        let subscriber = subscribe::AmqpSubscriber {
            supervisor: self.inner.supervisor.clone(),
            queue: queue.clone(),
            prefetch: subscription.prefetch.max(1),
            throwaway,
            current: None,
        };
        Ok((queue, Box::new(subscriber)))
    }

    async fn bounded<T>(
        &self,
        what: &str,
        op: impl std::future::Future<Output = Result<T, BrokerError>>,
    ) -> Result<T, BrokerError> {
        let limit = self.inner.supervisor.config().operation_timeout;
        tokio::time::timeout(limit, op).await.unwrap_or_else(|_| {
            Err(BrokerError::Unavailable(format!(
                "{what}: no answer within {limit:?}"
            )))
        })
    }
}

#[async_trait]
impl Broker for AmqpBroker {
    async fn declare(&self) -> Result<(), BrokerError> {
        self.bounded("declaring the topology", async {
            let session = self.inner.supervisor.session().await?;
            // A channel of its own: a 406 on a clashing queue closes it.
            let ch = session.channel().await?;
            topology::declare_all(&ch, &self.inner.names, self.inner.supervisor.config()).await
        })
        .await
    }

    async fn publish(&self, batch: Vec<Outgoing>) -> Result<(), BrokerError> {
        publish::publish(&self.inner.supervisor, &self.inner.names, batch).await
    }

    async fn next_job(&self, wait: Duration) -> Result<Option<Delivery>, BrokerError> {
        consume::next_job(&self.inner.supervisor, &self.inner.names, wait).await
    }

    async fn subscribe(
        &self,
        subscription: Subscription,
    ) -> Result<Box<dyn Subscriber>, BrokerError> {
        let (queue, _) = self
            .bounded(
                "declaring a subscription",
                subscribe::declare(
                    &self.inner.supervisor,
                    &self.inner.names,
                    &subscription,
                    None,
                ),
            )
            .await?;
        if queue != self.inner.names.dead() {
            self.inner
                .subscriptions
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(queue.clone());
        }
        Ok(Box::new(subscribe::AmqpSubscriber {
            supervisor: self.inner.supervisor.clone(),
            queue,
            prefetch: subscription.prefetch.max(1),
            throwaway: None,
            current: None,
        }))
    }

    async fn depths(&self) -> Result<Depths, BrokerError> {
        self.bounded("counting messages", async {
            let session = self.inner.supervisor.session().await?;
            let ch = session.channel().await?;
            topology::depths(&ch, &self.inner.names).await
        })
        .await
    }

    /// Connected right now. If not, gives the supervisor one chance (up to a second) to
    /// reconnect first, so an idle process does not stay unready after an outage.
    async fn ready(&self) -> bool {
        let supervisor = &self.inner.supervisor;
        if supervisor.is_connected() {
            return true;
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), supervisor.session()).await;
        supervisor.is_connected()
    }
}
