//! Reading the dead-letter queue without taking anything off it: [`Fleet::peek`] holds
//! the letters unsettled on a connection of its own, and [`Fleet::give_back`] closes that
//! connection so that RabbitMQ puts them all back, in their order, before the command
//! ends.

use std::time::Duration;

use anyhow::Context as _;
use fleet_amqp::AmqpBroker;
use fleet_core::broker::{Delivery, Feed, Headers, Subscriber, Subscription};
use fleet_core::wire::{headers, SliceJob, WireError};
use fleet_core::{Broker as _, BrokerError};
use fleet_redis::RedisLedger;
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::render::time;
use crate::config::{redact_url, FleetConfig};
use crate::connect::patiently;

/// How long to keep trying RabbitMQ and Redis while they are unreachable.
const CONNECT_WAIT: Duration = Duration::from_secs(15);
/// How long to wait for the first letter once the queue says it has some.
const FIRST_LETTER_WAIT: Duration = Duration::from_secs(10);
/// How long a quiet consumer means the queue has nothing more for us.
const NEXT_LETTER_WAIT: Duration = Duration::from_secs(2);
/// How long to wait for the letters held to be counted in the queue again.
const GIVE_BACK_WAIT: Duration = Duration::from_secs(10);
/// Reason shown for letters without `x-fleet-reason`: dead-lettered by RabbitMQ itself
/// (over the delivery limit, or rejected by a consumer).
const BROKER_REASON: &str = "broker";

/// The consumer on the dead-letter queue, on a connection of its own, and the letters
/// it delivered.
#[derive(Default)]
pub(super) struct Held {
    pub(super) reader: Option<AmqpBroker>,
    pub(super) subscriber: Option<Box<dyn Subscriber>>,
    pub(super) letters: Vec<Letter>,
}

/// The two backends the command needs. Letters are read on a second RabbitMQ
/// connection (see [`Held`]), so that closing it gives them back while this one stays.
pub(super) struct Fleet {
    pub(super) broker: AmqpBroker,
    pub(super) ledger: RedisLedger,
}

/// One dead letter, held unsettled.
pub(super) struct Letter {
    pub(super) message_id: Option<String>,
    pub(super) headers: Headers,
    pub(super) body: Vec<u8>,
    pub(super) job: Result<SliceJob, WireError>,
    /// `None` once settled.
    pub(super) delivery: Option<Delivery>,
}

impl Letter {
    fn new(d: Delivery) -> Letter {
        Letter {
            message_id: d.message_id.clone(),
            headers: d.headers.clone(),
            body: d.body.clone(),
            job: SliceJob::from_bytes(&d.body),
            delivery: Some(d),
        }
    }

    pub(super) fn id(&self) -> &str {
        self.message_id.as_deref().unwrap_or("-")
    }

    pub(super) fn reason(&self) -> &str {
        self.headers
            .get(headers::REASON)
            .map(String::as_str)
            .unwrap_or(BROKER_REASON)
    }

    pub(super) fn error(&self) -> Option<&str> {
        self.headers.get(headers::ERROR).map(String::as_str)
    }

    /// The slice id from the job, or else from the header.
    pub(super) fn slice_id(&self) -> Option<&str> {
        match &self.job {
            Ok(job) => Some(job.slice_id.as_str()),
            Err(_) => self.headers.get(headers::SLICE).map(String::as_str),
        }
    }

    pub(super) fn summary(&self) -> Summary {
        let job = self.job.as_ref().ok();
        Summary {
            message_id: self.message_id.clone(),
            reason: self.reason().to_owned(),
            error: self.error().map(str::to_owned),
            slice_id: self.slice_id().map(str::to_owned),
            request_id: job
                .map(|j| j.request_id.clone())
                .or_else(|| self.headers.get(headers::REQUEST).cloned()),
            source: job
                .map(|j| j.source.clone())
                .or_else(|| self.headers.get(headers::SOURCE).cloned()),
            dataset: job
                .map(|j| j.dataset.clone())
                .or_else(|| self.headers.get(headers::DATASET).cloned()),
            folder: job
                .and_then(|j| j.folder.as_ref().map(|f| f.path.clone()))
                .or_else(|| self.headers.get(headers::FOLDER).cloned()),
            from: job.and_then(|j| j.from).map(time),
            to: job.and_then(|j| j.to).map(time),
            lane: job.map(|j| j.lane.as_str().to_owned()),
            decodable: job.is_some(),
            decode_error: self.job.as_ref().err().map(ToString::to_string),
        }
    }
}

#[derive(Debug, Serialize)]
pub(super) struct Summary {
    pub(super) message_id: Option<String>,
    pub(super) reason: String,
    pub(super) error: Option<String>,
    pub(super) slice_id: Option<String>,
    pub(super) request_id: Option<String>,
    pub(super) source: Option<String>,
    pub(super) dataset: Option<String>,
    pub(super) folder: Option<String>,
    pub(super) from: Option<String>,
    pub(super) to: Option<String>,
    pub(super) lane: Option<String>,
    /// Whether the body is a slice job this build reads (only those can be replayed).
    pub(super) decodable: bool,
    pub(super) decode_error: Option<String>,
}

impl Fleet {
    pub(super) async fn connect(
        config: &FleetConfig,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<Fleet> {
        let amqp = config.broker.amqp_config("uipath-fleet dlq")?;
        let redis_url = config.redis.url_for()?;
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
        let prefix = config.redis.prefix().to_owned();
        let ledger = patiently(
            &what,
            CONNECT_WAIT,
            shutdown,
            |_| true,
            || RedisLedger::connect(redis_url.expose(), prefix.clone()),
        )
        .await;
        match ledger {
            Ok(ledger) => Ok(Fleet { broker, ledger }),
            Err(e) => {
                broker.close().await;
                Err(e)
            }
        }
    }

    /// Takes every letter, oldest first, and holds them unsettled (all of them: a letter
    /// given back goes behind the ones left waiting, so a partial read would reorder the
    /// queue).
    pub(super) async fn peek(&self, held: &mut Held) -> anyhow::Result<()> {
        let queue = self.broker.names().dead();
        let depth = self.broker.queue_depth(&queue).await.with_context(|| {
            format!(
                "reading the dead-letter queue `{queue}` (is the prefix `{}` right?)",
                self.broker.prefix()
            )
        })?;
        let want = usize::try_from(depth).unwrap_or(usize::MAX);
        if want == 0 {
            return Ok(());
        }
        if want > usize::from(u16::MAX) {
            anyhow::bail!(
                "the dead-letter queue `{queue}` holds {depth} letters; this command reads \
                 at most {} (it must hold them all to leave their order unchanged)",
                u16::MAX
            );
        }
        let reader = self
            .broker
            .sibling()
            .await
            .context("opening a second RabbitMQ connection to read the dead letters")?;
        let reader = held.reader.insert(reader);
        let sub = reader
            .subscribe(Subscription {
                queue: String::new(),
                feed: Feed::DeadLetters,
                // Every letter stays unsettled until the end, so the prefetch must hold
                // them all.
                prefetch: u16::try_from(want).unwrap_or(u16::MAX),
            })
            .await
            .with_context(|| format!("consuming the dead-letter queue `{queue}`"))?;
        // Held until the connection is closed: its channel must not close (and give
        // letters back) while others are still being read or settled.
        let sub = held.subscriber.insert(sub);
        let letters = &mut held.letters;
        while letters.len() < want {
            let wait = if letters.is_empty() {
                FIRST_LETTER_WAIT
            } else {
                NEXT_LETTER_WAIT
            };
            match sub.next(wait).await {
                Ok(Some(d)) => letters.push(Letter::new(d)),
                // Fewer than counted: another consumer holds some, or they were taken.
                Ok(None) => break,
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("reading the dead-letter queue `{queue}`"))
                }
            }
        }
        Ok(())
    }

    /// Gives every letter still held back to the queue, in its order, and waits (a
    /// little) until RabbitMQ counts them as ready again, so that a command run right
    /// after this one sees them all.
    pub(super) async fn give_back(&self, held: Held) {
        let Some(reader) = held.reader else { return };
        let unsettled = held.letters.iter().filter(|l| l.delivery.is_some()).count() as u64;
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
        for letter in held.letters {
            if let Some(Delivery { acker, .. }) = letter.delivery {
                // Already given back by the close: settling it now would only fail on
                // the dead channel and log a warning.
                std::mem::forget(acker);
            }
        }
        drop(held.subscriber);
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
