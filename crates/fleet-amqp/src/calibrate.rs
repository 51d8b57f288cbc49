//! What this machine's broker can do, measured with nothing of the fleet in the way.
//!
//! [`confirmed_publish_rate`] publishes persistent messages straight through lapin to a
//! throw-away quorum queue, with the same kind of async confirm window the fleet uses,
//! and reports messages per second. Benchmarks run it beside the fleet's own publish
//! path in the same run (same machine, same load), so "the fleet reaches 85% of raw
//! lapin" means something where an absolute number would not. It lives here because
//! only this crate may import lapin.

use std::time::Instant;

use fleet_core::BrokerError;
use futures::stream::{FuturesUnordered, StreamExt};
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Confirmation, Connection, ConnectionProperties};

use crate::config::redact_url;
use crate::fault::unavailable;

/// Publishes `messages` persistent messages of `size` bytes to a temporary quorum queue
/// `<prefix>.calibrate.<uuid>` with at most `window` unconfirmed, and returns the
/// confirmed rate in messages per second. The queue is deleted afterwards (also when
/// publishing failed).
pub async fn confirmed_publish_rate(
    url: &str,
    prefix: &str,
    messages: usize,
    size: usize,
    window: usize,
) -> Result<f64, BrokerError> {
    let conn = Connection::connect(
        url,
        ConnectionProperties::default().with_connection_name("uipath-fleet calibrate".into()),
    )
    .await
    .map_err(|e| unavailable(format_args!("connecting to {}", redact_url(url)), &e))?;
    let ch = conn
        .create_channel()
        .await
        .map_err(|e| unavailable("opening a channel", &e))?;
    let queue = format!("{prefix}.calibrate.{}", uuid::Uuid::new_v4().simple());
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString(LongString::from("quorum")),
    );
    ch.queue_declare(queue.as_str().into(), QueueDeclareOptions::durable(), args)
        .await
        .map_err(|e| unavailable("declaring the calibration queue", &e))?;

    let measured = async {
        ch.confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| unavailable("enabling confirms", &e))?;
        let body = vec![b'x'; size];
        let window = window.max(1);
        let started = Instant::now();
        let mut pending = FuturesUnordered::new();
        let mut confirmed = 0usize;
        for i in 0..messages {
            while pending.len() >= window {
                if let Some(r) = pending.next().await {
                    confirmed += check(r)?;
                }
            }
            let props = BasicProperties::default()
                .with_delivery_mode(2)
                .with_message_id(i.to_string().into());
            let confirm = ch
                .basic_publish(
                    "".into(),
                    queue.as_str().into(),
                    BasicPublishOptions::default(),
                    &body,
                    props,
                )
                .await
                .map_err(|e| unavailable("publishing", &e))?;
            pending.push(confirm);
        }
        while let Some(r) = pending.next().await {
            confirmed += check(r)?;
        }
        let secs = started.elapsed().as_secs_f64().max(f64::EPSILON);
        Ok(confirmed as f64 / secs)
    }
    .await;

    let deleted = ch
        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await
        .map_err(|e| unavailable("deleting the calibration queue", &e));
    // A failed close leaves nothing behind that the queue delete did not already remove.
    let _ = conn.close(200, "calibrated".into()).await;
    let rate = measured?;
    deleted?;
    Ok(rate)
}

fn check(r: Result<Confirmation, lapin::Error>) -> Result<usize, BrokerError> {
    match r {
        Ok(Confirmation::Ack(_)) => Ok(1),
        Ok(_) => Err(BrokerError::Nacked { count: 1 }),
        Err(e) => Err(unavailable("awaiting a confirm", &e)),
    }
}
