//! Declaring the fleet's exchanges and queues, counting their messages, deleting them.
//!
//! Every declare sends the same arguments every time, so declaring is idempotent and
//! every process may do it at start. A queue that exists with *other* arguments makes
//! RabbitMQ refuse the declare (406 PRECONDITION_FAILED); that is reported as
//! [`BrokerError::Topology`] naming the queue and the fix.
//!
//! All queues are quorum queues (replicated, `x-delivery-count`, at-least-once
//! dead-lettering). Settings that matter on 3.10:
//! - job lanes: `x-delivery-limit` (3.10 has no default: a poison job would loop
//!   forever) and dead-lettering to `P.dead`;
//! - every dead-lettering queue: `x-dead-letter-strategy=at-least-once`, which RabbitMQ
//!   only honours together with `x-overflow=reject-publish`; otherwise a message is
//!   dropped if the dead-letter target is briefly unavailable;
//! - delay tiers: a queue-wide `x-message-ttl`, dead-lettering back to `P.jobs` with
//!   the lane as routing key; nobody consumes them.

use fleet_core::broker::{Depths, Lane};
use fleet_core::BrokerError;
use lapin::options::{
    ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Channel, ExchangeKind};

use crate::config::AmqpConfig;
use crate::fault::{declare_error, queue_error, unavailable};
use crate::names::Names;

fn text(v: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(v))
}

fn number(v: u64) -> AMQPValue {
    AMQPValue::LongLongInt(i64::try_from(v).unwrap_or(i64::MAX))
}

/// Arguments shared by every quorum queue that dead-letters into `dlx`.
fn dead_lettering(dlx: &str) -> FieldTable {
    let mut t = FieldTable::default();
    t.insert("x-queue-type".into(), text("quorum"));
    t.insert("x-dead-letter-exchange".into(), text(dlx));
    t.insert("x-dead-letter-strategy".into(), text("at-least-once"));
    t.insert("x-overflow".into(), text("reject-publish"));
    t
}

/// A job lane: limited deliveries, dead letters to `P.dead`.
pub(crate) fn lane_args(names: &Names, delivery_limit: u32) -> FieldTable {
    let mut t = dead_lettering(&names.dead());
    t.insert("x-delivery-limit".into(), number(u64::from(delivery_limit)));
    t
}

/// A delay tier: expires after `ttl_ms` into `P.jobs` with routing key `lane`.
pub(crate) fn retry_args(names: &Names, lane: Lane, ttl_ms: u64) -> FieldTable {
    let mut t = dead_lettering(&names.jobs_exchange());
    t.insert("x-message-ttl".into(), number(ttl_ms));
    t.insert("x-dead-letter-routing-key".into(), text(lane.as_str()));
    t
}

/// Output and subscription queues: a rejected message goes to `P.dead`.
pub(crate) fn consumer_queue_args(names: &Names) -> FieldTable {
    dead_lettering(&names.dead())
}

/// How long a throwaway subscription queue outlives its last consumer if auto-delete
/// never fired (its process died between declaring and consuming).
pub(crate) const THROWAWAY_EXPIRES_MS: u64 = 60_000;

/// A throwaway subscription queue: classic (quorum queues cannot auto-delete), rejected
/// messages to `P.dead`, gone a minute after it was last used at the latest.
pub(crate) fn throwaway_queue_args(names: &Names) -> FieldTable {
    let mut t = FieldTable::default();
    t.insert("x-dead-letter-exchange".into(), text(&names.dead()));
    t.insert("x-expires".into(), number(THROWAWAY_EXPIRES_MS));
    t
}

/// Declares a throwaway queue: not durable, deleted by RabbitMQ when its last consumer
/// goes (auto-delete) or, never consumed, after [`THROWAWAY_EXPIRES_MS`].
pub(crate) async fn declare_throwaway_queue(
    ch: &Channel,
    name: &str,
    args: FieldTable,
) -> Result<(), BrokerError> {
    let options = QueueDeclareOptions {
        durable: false,
        auto_delete: true,
        ..QueueDeclareOptions::default()
    };
    ch.queue_declare(name.into(), options, args)
        .await
        .map(drop)
        .map_err(|e| declare_error("queue", name, &e))
}

/// The dead-letter queue: no limit, no onward dead-lettering (a reject there drops).
fn dead_args() -> FieldTable {
    let mut t = FieldTable::default();
    t.insert("x-queue-type".into(), text("quorum"));
    t
}

pub(crate) async fn declare_exchange(
    ch: &Channel,
    name: &str,
    kind: ExchangeKind,
) -> Result<(), BrokerError> {
    let options = ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    };
    ch.exchange_declare(name.into(), kind, options, FieldTable::default())
        .await
        .map_err(|e| declare_error("exchange", name, &e))
}

pub(crate) async fn declare_queue(
    ch: &Channel,
    name: &str,
    args: FieldTable,
) -> Result<(), BrokerError> {
    ch.queue_declare(name.into(), QueueDeclareOptions::durable(), args)
        .await
        .map(drop)
        .map_err(|e| declare_error("queue", name, &e))
}

pub(crate) async fn bind(
    ch: &Channel,
    queue: &str,
    exchange: &str,
    key: &str,
) -> Result<(), BrokerError> {
    ch.queue_bind(
        queue.into(),
        exchange.into(),
        key.into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .map_err(|e| {
        unavailable(
            format_args!("binding `{queue}` to `{exchange}` with `{key}`"),
            &e,
        )
    })
}

/// Declares the whole fixed topology and the configured output queues.
pub(crate) async fn declare_all(
    ch: &Channel,
    names: &Names,
    config: &AmqpConfig,
) -> Result<(), BrokerError> {
    // Exchanges first: queues dead-letter into them and are bound to them.
    declare_exchange(ch, &names.jobs_exchange(), ExchangeKind::Direct).await?;
    declare_exchange(ch, &names.dead(), ExchangeKind::Fanout).await?;
    declare_exchange(ch, &names.records(), ExchangeKind::Topic).await?;
    declare_exchange(ch, &names.events(), ExchangeKind::Topic).await?;

    declare_queue(ch, &names.dead(), dead_args()).await?;
    bind(ch, &names.dead(), &names.dead(), "").await?;
    for lane in Lane::ALL {
        let q = names.lane(lane);
        declare_queue(ch, &q, lane_args(names, config.delivery_limit)).await?;
        bind(ch, &q, &names.jobs_exchange(), lane.as_str()).await?;
    }
    for (lane, tier, q) in names.retry_queues() {
        let ttl = u64::try_from(tier.as_millis()).unwrap_or(u64::MAX);
        declare_queue(ch, &q, retry_args(names, lane, ttl)).await?;
    }
    for out in &config.output_queues {
        let q = names.output(&out.name);
        declare_queue(ch, &q, consumer_queue_args(names)).await?;
        for pattern in &out.patterns {
            bind(ch, &q, &names.records(), pattern).await?;
        }
    }
    Ok(())
}

/// Ready messages in `queue` (passive declare: fails if it does not exist).
pub(crate) async fn ready(ch: &Channel, queue: &str) -> Result<u64, BrokerError> {
    let options = QueueDeclareOptions {
        passive: true,
        ..QueueDeclareOptions::default()
    };
    ch.queue_declare(queue.into(), options, FieldTable::default())
        .await
        .map(|q| u64::from(q.message_count()))
        .map_err(|e| queue_error("counting messages", queue, &e))
}

pub(crate) async fn depths(ch: &Channel, names: &Names) -> Result<Depths, BrokerError> {
    let mut retrying = 0;
    for (_, _, q) in names.retry_queues() {
        retrying += ready(ch, &q).await?;
    }
    Ok(Depths {
        sync: ready(ch, &names.lane(Lane::Sync)).await?,
        backfill: ready(ch, &names.lane(Lane::Backfill)).await?,
        retrying,
        dead: ready(ch, &names.dead()).await?,
    })
}

/// Deletes the fixed topology, the output queues and `extra_queues` (with their
/// messages). Deleting what does not exist is not an error.
pub(crate) async fn delete_all(
    ch: &Channel,
    names: &Names,
    config: &AmqpConfig,
    extra_queues: &[String],
) -> Result<(), BrokerError> {
    let mut queues: Vec<String> = Lane::ALL.iter().map(|l| names.lane(*l)).collect();
    queues.extend(names.retry_queues().into_iter().map(|(_, _, q)| q));
    queues.push(names.dead());
    queues.extend(config.output_queues.iter().map(|o| names.output(&o.name)));
    queues.extend(extra_queues.iter().cloned());
    for q in &queues {
        ch.queue_delete(q.as_str().into(), QueueDeleteOptions::default())
            .await
            .map_err(|e| unavailable(format_args!("deleting queue `{q}`"), &e))?;
    }
    for x in [
        names.jobs_exchange(),
        names.dead(),
        names.records(),
        names.events(),
    ] {
        ch.exchange_delete(x.as_str().into(), ExchangeDeleteOptions::default())
            .await
            .map_err(|e| unavailable(format_args!("deleting exchange `{x}`"), &e))?;
    }
    Ok(())
}
