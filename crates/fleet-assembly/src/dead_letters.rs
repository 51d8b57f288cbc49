//! The connections of the dead-letter commands: [`DeadLetters::peek`] holds the letters
//! unsettled on a RabbitMQ connection of their own, and [`DeadLetters::give_back`]
//! closes that connection so that RabbitMQ puts them all back, in their order. What to
//! do with each letter is `fleet_coordinator::dlq`'s; showing it is the binary's.

use std::time::Duration;

use fleet_amqp::{AmqpBroker, AmqpConfig};
use fleet_coordinator::dlq::Held;
use fleet_core::{BrokerError, Secret};
use fleet_redis::RedisLedger;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::backends::redact_url;
use crate::connect::patiently;
use crate::error::{Context as _, Error};

/// How long to keep trying RabbitMQ and Redis while they are unreachable.
const CONNECT_WAIT: Duration = Duration::from_secs(15);
/// How long to wait for the letters held to be counted in the queue again.
const GIVE_BACK_WAIT: Duration = Duration::from_secs(10);

/// The two backends the dead-letter commands need. Letters are read on a second
/// RabbitMQ connection (see [`DeadLetters::peek`]), so that closing it gives them back
/// while this one stays.
pub struct DeadLetters {
    pub broker: AmqpBroker,
    pub ledger: RedisLedger,
}

impl std::fmt::Debug for DeadLetters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadLetters")
            .field("prefix", &self.broker.prefix())
            .finish_non_exhaustive()
    }
}

impl DeadLetters {
    /// Connects to RabbitMQ (`amqp`) and to the ledger in Redis (`redis_url`, keys under
    /// `redis_prefix`), retrying for a while when either is not reachable yet.
    pub async fn connect(
        amqp: AmqpConfig,
        redis_url: &Secret,
        redis_prefix: String,
        shutdown: &CancellationToken,
    ) -> Result<DeadLetters, Error> {
        let what = format!("RabbitMQ at {}", amqp.redacted_url());
        let broker = patiently(
            &what,
            CONNECT_WAIT,
            shutdown,
            |e: &BrokerError| e.is_transient(),
            || AmqpBroker::connect(amqp.clone()),
        )
        .await?;
        let what = format!("Redis at {}", redact_url(redis_url));
        let ledger = patiently(
            &what,
            CONNECT_WAIT,
            shutdown,
            |_| true,
            || RedisLedger::connect(redis_url.expose(), redis_prefix.clone()),
        )
        .await;
        match ledger {
            Ok(ledger) => Ok(DeadLetters { broker, ledger }),
            Err(e) => {
                broker.close().await;
                Err(e)
            }
        }
    }

    /// Takes every letter, oldest first, and holds them unsettled on a connection of
    /// their own, `reader` (see `fleet_coordinator::dlq::Held`).
    pub async fn peek(
        &self,
        reader: &mut Option<AmqpBroker>,
        held: &mut Held,
    ) -> Result<(), Error> {
        let queue = self.broker.names().dead();
        let depth = self.broker.queue_depth(&queue).await.with_context(|| {
            format!(
                "reading the dead-letter queue `{queue}` (is the prefix `{}` right?)",
                self.broker.prefix()
            )
        })?;
        if depth == 0 {
            return Ok(());
        }
        let reader_ = self
            .broker
            .sibling()
            .await
            .context("opening a second RabbitMQ connection to read the dead letters")?;
        let reader = reader.insert(reader_);
        Ok(held.take(reader, &queue, depth).await?)
    }

    /// Gives every letter still held back to the queue, in its order, and waits (a
    /// little) until RabbitMQ counts them as ready again, so that a command run right
    /// after this one sees them all.
    pub async fn give_back(&self, reader: Option<AmqpBroker>, held: Held) {
        let Some(reader) = reader else { return };
        let unsettled = held.unsettled();
        let queue = self.broker.names().dead();
        // Letters ready now arrived after the peek: the held ones come on top.
        let expected = match self.broker.queue_depth(&queue).await {
            Ok(ready) => ready + unsettled,
            Err(_) => unsettled,
        };
        // Closing the connection returns its unsettled deliveries all at once; a quorum
        // queue puts them back in delivery order, ahead of newer letters. (Requeueing
        // them one by one on a live consumer would hand each straight back to it.)
        reader.close().await;
        held.release();
        let deadline = tokio::time::Instant::now() + GIVE_BACK_WAIT;
        loop {
            match self.broker.queue_depth(&queue).await {
                Ok(depth) if depth >= expected => return,
                Ok(_) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Ok(depth) => {
                    warn!(
                        queue,
                        depth, expected, "the dead letters are not all back yet"
                    );
                    return;
                }
                Err(e) => {
                    warn!(queue, error = %e, "cannot count the dead letters given back");
                    return;
                }
            }
        }
    }
}
