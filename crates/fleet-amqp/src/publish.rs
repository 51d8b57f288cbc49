//! Publishing a batch with publisher confirms, awaited as a window.
//!
//! Guarantees of [`publish`]:
//! - `Ok` only when the broker acked every message of the batch (persistent messages on
//!   quorum queues: a quorum has it on disk).
//! - A `basic.return` for any message of the batch (mandatory, unroutable) fails the
//!   batch with `Unroutable`, a `basic.nack` with `Nacked`; the rest of the batch is
//!   still awaited, so the channel goes back to the pool with nothing in flight.
//! - Connection or channel trouble is `Unavailable`, and nothing is retried after the
//!   first message went out: the caller republishes the batch (duplicates, never loss).
//!   Only a batch that could not even start (the channel was being recovered) waits for
//!   the recovery and starts once more.
//! - Bounded: a batch that could not start waits at most [`RECOVERY_WAIT`] for the
//!   connection; confirms are abandoned as soon as the connection is lost; and the
//!   whole call ends within the configured `operation_timeout` in any case.
//!
//! Each call has a confirm channel to itself (see `Session::checkout_confirm`), so
//! concurrent publishers never see each other's returns.

use std::time::Duration;

use fleet_core::broker::{Destination, Outgoing};
use fleet_core::BrokerError;
use futures::stream::{FuturesUnordered, StreamExt};
use lapin::options::BasicPublishOptions;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};

use lapin::{BasicProperties, Channel, Confirmation, PublisherConfirm};
use tokio::time::Instant;

use crate::config::MAX_NAME;
use crate::fault::describe;
use crate::names::Names;
use crate::recovery::{deadline_after, wait_recovered, Watch};
use crate::session::Supervisor;

/// The longest a publish waits for lapin to bring a lost connection back before it
/// reports `Unavailable`: publishing during an outage fails within about this long.
pub(crate) const RECOVERY_WAIT: Duration = Duration::from_secs(5);

/// Where one message goes, resolved before anything is sent, so that a message the
/// broker could never take (a 300-byte id) fails the batch up front.
struct Route {
    exchange: ShortString,
    routing_key: ShortString,
    mandatory: bool,
    properties: BasicProperties,
}

/// AMQP short strings (names, ids, keys) are at most 255 bytes.
fn short(value: &str, what: &str) -> Result<ShortString, BrokerError> {
    ShortString::try_new(value).map_err(|_| {
        // Topology: not transient; publishing the same message again cannot succeed.
        BrokerError::Topology(format!(
            "{what} is {} bytes; AMQP allows at most {MAX_NAME}",
            value.len()
        ))
    })
}

fn route(names: &Names, msg: &Outgoing) -> Result<Route, BrokerError> {
    // Everything is mandatory except events: a job or record the broker cannot route
    // must fail loudly, not vanish. An event nobody listens to is fine to drop.
    let (exchange, routing_key, mandatory) = match &msg.destination {
        Destination::Jobs(lane) => (names.jobs_exchange(), lane.as_str().to_owned(), true),
        // The default exchange routes by queue name straight into the delay tier.
        Destination::Retry { lane, delay } => (String::new(), names.retry(*lane, *delay), true),
        Destination::DeadLetter => (names.dead(), String::new(), true),
        Destination::Records { routing_key } => (names.records(), routing_key.clone(), true),
        Destination::Events { routing_key } => (names.events(), routing_key.clone(), false),
    };
    let mut headers = FieldTable::default();
    for (name, value) in &msg.headers {
        headers.insert(
            short(name, "a header name")?,
            AMQPValue::LongString(LongString::from(value.as_str())),
        );
    }
    let properties = BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type(fleet_core::messages::CONTENT_TYPE.into())
        .with_message_id(short(&msg.message_id, "the message id")?)
        .with_headers(headers);
    Ok(Route {
        exchange: short(&exchange, "the exchange name")?,
        routing_key: short(&routing_key, "the routing key")?,
        mandatory,
        properties,
    })
}

/// How a fully confirmed batch went.
#[derive(Default)]
struct Outcome {
    nacked: usize,
    /// (exchange, routing key) of a returned message.
    returned: Option<(String, String)>,
}

/// A send that failed on the channel; `started` says whether any message went out.
struct SendFailure {
    error: String,
    started: bool,
}

impl SendFailure {
    fn lapin(e: &lapin::Error, started: bool) -> Self {
        SendFailure {
            error: describe(e),
            started,
        }
    }

    /// The connection went while confirms were outstanding: lapin would only fail them
    /// once it has reconnected, so they are given up on now.
    fn lost() -> Self {
        SendFailure {
            error: "connection lost before every message was confirmed".into(),
            started: true,
        }
    }
}

/// Records one confirm in `outcome`; the error if the confirm failed.
fn settle(res: Result<Confirmation, lapin::Error>, outcome: &mut Outcome) -> Option<lapin::Error> {
    match res {
        Ok(Confirmation::Ack(None)) => {}
        Ok(Confirmation::Ack(Some(ret))) | Ok(Confirmation::Nack(Some(ret))) => {
            outcome.returned = Some((
                ret.delivery.exchange.to_string(),
                ret.delivery.routing_key.to_string(),
            ));
        }
        Ok(Confirmation::Nack(None)) => outcome.nacked += 1,
        // The channel is in confirm mode, so this cannot happen; if it did, nothing
        // would be known about the message, which must count as not stored.
        Ok(Confirmation::NotRequested) => outcome.nacked += 1,
        Err(e) => return Some(e),
    }
    None
}

/// The confirms of one batch: those still outstanding, what the settled ones said, and
/// the first failure.
#[derive(Default)]
struct Confirms {
    pending: FuturesUnordered<PublisherConfirm>,
    outcome: Outcome,
    failure: Option<lapin::Error>,
}

impl Confirms {
    /// Waits for the next outstanding confirm and records it: `Ok(false)` when none is
    /// outstanding, an error when the connection went meanwhile.
    async fn settle_next(&mut self, watch: &mut Watch<'_>) -> Result<bool, SendFailure> {
        match watch.run(self.pending.next()).await {
            Some(Some(res)) => {
                if let Some(e) = settle(res, &mut self.outcome) {
                    self.failure.get_or_insert(e);
                }
                Ok(true)
            }
            Some(None) => Ok(false),
            None => Err(SendFailure::lost()),
        }
    }
}

async fn send(
    ch: &Channel,
    batch: &[Outgoing],
    routes: &[Route],
    window: usize,
) -> Result<Outcome, SendFailure> {
    let mut confirms = Confirms::default();
    let mut watch = Watch::new(ch);
    for (i, (msg, r)) in batch.iter().zip(routes).enumerate() {
        while confirms.pending.len() >= window {
            if !confirms.settle_next(&mut watch).await? {
                break;
            }
        }
        if confirms.failure.is_some() {
            // The channel failed: its other confirms fail too; stop sending.
            break;
        }
        let options = BasicPublishOptions {
            mandatory: r.mandatory,
            ..BasicPublishOptions::default()
        };
        let sent = ch.basic_publish(
            r.exchange.clone(),
            r.routing_key.clone(),
            options,
            &msg.body,
            r.properties.clone(),
        );
        match watch.run(sent).await {
            Some(Ok(confirm)) => confirms.pending.push(confirm),
            Some(Err(e)) => return Err(SendFailure::lapin(&e, i > 0)),
            None => return Err(SendFailure::lost()),
        }
    }
    // Await the rest even after a failure: on a failed channel they fail at once, and on
    // a healthy one (a return or nack) the channel must be drained before reuse.
    while confirms.settle_next(&mut watch).await? {}
    match confirms.failure {
        Some(e) => Err(SendFailure::lapin(&e, true)),
        None => Ok(confirms.outcome),
    }
}

/// Publishes `batch` through `supervisor`'s connection; see the module docs.
pub(crate) async fn publish(
    supervisor: &Supervisor,
    names: &Names,
    batch: Vec<Outgoing>,
) -> Result<(), BrokerError> {
    if batch.is_empty() {
        return Ok(());
    }
    let routes = batch
        .iter()
        .map(|m| route(names, m))
        .collect::<Result<Vec<_>, _>>()?;
    let config = supervisor.config();
    let deadline = deadline_after(config.operation_timeout);
    let attempt = async {
        let mut may_wait = true;
        loop {
            let session = supervisor.session().await?;
            let ch = session.checkout_confirm().await?;
            match send(&ch, &batch, &routes, config.publish_window).await {
                Ok(outcome) => {
                    session.checkin_confirm(ch);
                    return outcome_result(names, outcome);
                }
                Err(SendFailure { error, started }) => {
                    if !started && may_wait {
                        may_wait = false;
                        let until = deadline.min(Instant::now() + RECOVERY_WAIT);
                        if wait_recovered(&ch, until).await {
                            session.checkin_confirm(ch);
                            continue;
                        }
                    }
                    // Whatever of this batch was pending on the channel is failed by
                    // lapin (now, or when it recovers), so the channel can be reused.
                    session.checkin_confirm(ch);
                    return Err(BrokerError::Unavailable(format!(
                        "publishing a batch of {}: {error}",
                        batch.len()
                    )));
                }
            }
        }
    };
    match tokio::time::timeout_at(deadline, attempt).await {
        Ok(result) => result,
        Err(_) => Err(BrokerError::Unavailable(format!(
            "publishing a batch of {}: not confirmed within {:?}",
            batch.len(),
            config.operation_timeout
        ))),
    }
}

fn outcome_result(names: &Names, outcome: Outcome) -> Result<(), BrokerError> {
    if let Some((exchange, routing_key)) = outcome.returned {
        let exchange = if exchange == names.records() {
            "records"
        } else if exchange == names.jobs_exchange() {
            "jobs"
        } else if exchange == names.dead() {
            "dead-letter"
        } else if exchange == names.events() {
            "events"
        } else {
            "default"
        };
        return Err(BrokerError::Unroutable {
            exchange,
            routing_key,
        });
    }
    if outcome.nacked > 0 {
        return Err(BrokerError::Nacked {
            count: outcome.nacked,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleet_core::broker::Lane;

    #[test]
    fn routes_follow_the_topology() {
        let n = Names::new("p");
        let r = |d: Destination| route(&n, &Outgoing::new(d, "id", vec![])).unwrap();
        let jobs = r(Destination::Jobs(Lane::Sync));
        assert_eq!(
            (jobs.exchange.as_str(), jobs.routing_key.as_str()),
            ("p.jobs", "sync")
        );
        assert!(jobs.mandatory);
        let retry = r(Destination::Retry {
            lane: Lane::Backfill,
            delay: Duration::from_secs(7),
        });
        assert_eq!(retry.exchange.as_str(), "");
        assert_eq!(retry.routing_key.as_str(), "p.retry.backfill.30s");
        let events = r(Destination::Events {
            routing_key: "slice.completed".into(),
        });
        assert!(!events.mandatory);
        assert_eq!(
            jobs.properties.delivery_mode(),
            &Some(2),
            "messages are persistent"
        );
    }

    #[test]
    fn oversized_names_fail_up_front_and_for_good() {
        let n = Names::new("p");
        let msg = Outgoing::new(Destination::Jobs(Lane::Sync), "x".repeat(256), vec![]);
        let Err(err) = route(&n, &msg) else {
            panic!("a 256-byte id must be refused")
        };
        assert!(!err.is_transient(), "{err}");
        assert!(err.to_string().contains("message id"), "{err}");
    }
}
