//! The [`Broker`] contract suite (see the module docs of [`crate::contract`]).
//!
//! What it checks, through several handles onto one broker:
//! - `declare` is idempotent, from any handle;
//! - a job round-trips with its message id, headers, body and lane; `next_job` waits
//!   about `wait` when there is nothing, and an acked job is gone;
//! - the sync lane is served before the backfill lane;
//! - a job whose delivery is dropped, or whose consumer (handle *and* delivery) goes
//!   away, comes back with `redelivered = true`;
//! - `reject` and explicit dead-letter publishes reach a `DeadLetters` subscription;
//! - the delivery limit: a job requeued over and over is dead-lettered after exactly
//!   [`DELIVERY_LIMIT`] + 1 deliveries, with rising `delivery_count`;
//! - `Retry { 1 s }` is not back before 1 s, is back soon after, and counts as
//!   `retrying` meanwhile;
//! - records reach subscriptions by topic pattern (`*` one word, `#` zero or more) and
//!   an unbound routing key is `Unroutable`; events route by pattern and an unbound
//!   event is dropped without error;
//! - `depths` counts each queue;
//! - concurrency: 8 tasks × 200 records through two handles, and 200 jobs published by
//!   4 tasks and taken by 4 concurrent consumers: every message exactly once.
//!
//! # What the backend must provide
//!
//! - **Delivery limit [`DELIVERY_LIMIT`]** (2) on the job lanes.
//! - **A fresh namespace**: empty lanes and dead letters at the start (a new prefix, a
//!   new in-memory broker), and no output queue bound to `#`. Subscription queues the
//!   suite declares start with `contract-`.
//! - **Handles that die with their last reference**: dropping every `Arc` of a handle
//!   (and the deliveries it gave out) must release its deliveries, as a lost
//!   connection does. For RabbitMQ that means closing the connection on drop.
//!
//! About 3 s on a local RabbitMQ, most of it the 1 s retry.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use fleet_core::broker::{
    Broker, BrokerError, Delivery, Depths, Destination, Feed, Lane, Outgoing, Subscriber,
    Subscription,
};
use fleet_core::wire::headers;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::{late, EARLY};

/// The delivery limit the backend under test must be configured with.
pub const DELIVERY_LIMIT: u32 = 2;

/// Long enough for anything that should arrive, on a loaded 2-core machine.
const ARRIVES: Duration = Duration::from_secs(5);
/// How long to wait before concluding that nothing more will arrive.
const QUIET: Duration = Duration::from_millis(300);

/// Runs every check of the broker contract against handles from `make` (each call a
/// handle onto the same broker and namespace). Panics, naming the contract, on the first
/// violation.
pub async fn broker_contract<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn Broker>>,
{
    let run = Run::new();
    let a = make().await;
    let b = make().await;
    a.declare().await.expect("declare");
    b.declare().await.expect("declare: a second handle declares the same topology");
    a.declare().await.expect("declare: twice is fine");
    assert!(a.ready().await, "ready: a connected broker is ready");
    assert_eq!(a.depths().await.unwrap(), Depths::default(), "depths: a fresh namespace");

    jobs_round_trip(&run, &*a, &*b).await;
    sync_goes_before_backfill(&run, &*a, &*b).await;
    unsettled_jobs_come_back(&run, &make, &*b).await;
    let mut dead = b
        .subscribe(Subscription {
            queue: "contract-ignored".into(),
            feed: Feed::DeadLetters,
            prefetch: 10,
        })
        .await
        .expect("subscribe: DeadLetters");
    rejects_and_dead_letters_arrive(&run, &*a, &*b, &mut *dead).await;
    delivery_limit_dead_letters(&run, &*a, &*b, &mut *dead).await;
    retry_waits_its_delay(&run, &*a, &*b).await;
    records_route_by_pattern(&run, &*a, &*b).await;
    events_route_by_pattern(&*a, &*b).await;
    // A live consumer holds what it prefetched, and held messages are not ready.
    drop(dead);
    depths_count_each_queue(&run, &*a, &*b).await;
    concurrent_records_arrive_once(&run, &a, &b).await;
    concurrent_jobs_are_taken_once(&run, &a, &b).await;
}

/// Names for one run of the suite.
struct Run {
    id: String,
}

impl Run {
    fn new() -> Self {
        Run {
            id: crate::unique_prefix("broker-contract"),
        }
    }

    fn id(&self, name: &str) -> String {
        format!("{}-{name}", self.id)
    }

    fn job(&self, name: &str, lane: Lane) -> Outgoing {
        Outgoing::new(Destination::Jobs(lane), self.id(name), body(name))
    }

    /// A routing-key word no other run uses (no dots).
    fn word(&self, name: &str) -> String {
        self.id(name)
    }
}

fn body(name: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "version": 1, "name": name }))
        .expect("json serializes")
}

fn id_of(d: &Delivery) -> String {
    d.message_id.clone().unwrap_or_default()
}

async fn take(broker: &dyn Broker, what: &str) -> Delivery {
    match broker.next_job(ARRIVES).await {
        Ok(Some(d)) => d,
        Ok(None) => panic!("next_job: expected {what} within {ARRIVES:?}, got nothing"),
        Err(e) => panic!("next_job: expected {what}, got {e}"),
    }
}

async fn nothing_more(broker: &dyn Broker, after: &str) {
    if let Some(d) = broker.next_job(QUIET).await.unwrap() {
        panic!("next_job: nothing should be left after {after}, got {d:?}");
    }
}

async fn receive(sub: &mut dyn Subscriber, what: &str) -> Delivery {
    match sub.next(ARRIVES).await {
        Ok(Some(d)) => d,
        Ok(None) => panic!("subscriber: expected {what} within {ARRIVES:?}, got nothing"),
        Err(e) => panic!("subscriber: expected {what}, got {e}"),
    }
}

async fn quiet(sub: &mut dyn Subscriber, after: &str) {
    if let Some(d) = sub.next(QUIET).await.unwrap() {
        panic!("subscriber: nothing more should arrive after {after}, got {d:?}");
    }
}

async fn jobs_round_trip(run: &Run, a: &dyn Broker, b: &dyn Broker) {
    let sent = run
        .job("round-trip", Lane::Backfill)
        .header(headers::SLICE, "slice-1")
        .header(headers::SOURCE, "acme");
    a.publish(vec![sent.clone()]).await.expect("publish a job");
    let d = take(b, "the published job").await;
    assert_eq!(d.message_id.as_deref(), Some(sent.message_id.as_str()), "message_id kept");
    assert_eq!(d.body, sent.body, "body kept");
    for (name, value) in &sent.headers {
        assert_eq!(d.headers.get(name), Some(value), "header {name} kept: {d:?}");
    }
    assert_eq!(d.lane, Some(Lane::Backfill), "next_job names the lane");
    assert!(!d.redelivered, "a first delivery is not redelivered");
    assert!(d.delivery_count <= 1, "a first delivery counts 1 (or 0 if unknown): {d:?}");
    d.ack().await.expect("ack");

    let started = Instant::now();
    assert!(b.next_job(QUIET).await.unwrap().is_none(), "an acked job is gone");
    let waited = started.elapsed();
    assert!(
        waited + EARLY >= QUIET && waited <= QUIET + late(QUIET) + Duration::from_millis(250),
        "next_job on empty lanes waits about `wait`: asked {QUIET:?}, waited {waited:?}"
    );
    let started = Instant::now();
    assert!(a.next_job(Duration::ZERO).await.unwrap().is_none());
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "next_job(0) returns at once"
    );
}

async fn sync_goes_before_backfill(run: &Run, a: &dyn Broker, b: &dyn Broker) {
    a.publish(vec![run.job("old-1", Lane::Backfill), run.job("old-2", Lane::Backfill)])
        .await
        .unwrap();
    a.publish(vec![run.job("fresh", Lane::Sync)]).await.unwrap();
    let mut order = Vec::new();
    for _ in 0..3 {
        let d = take(b, "one of three jobs").await;
        order.push((id_of(&d), d.lane));
        d.ack().await.unwrap();
    }
    assert_eq!(
        order,
        vec![
            (run.id("fresh"), Some(Lane::Sync)),
            (run.id("old-1"), Some(Lane::Backfill)),
            (run.id("old-2"), Some(Lane::Backfill)),
        ],
        "sync before backfill, each lane in publish order"
    );
    nothing_more(b, "three jobs").await;
}

async fn unsettled_jobs_come_back<F, Fut>(run: &Run, make: &F, b: &dyn Broker)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn Broker>>,
{
    // A delivery dropped without a settle.
    b.publish(vec![run.job("dropped", Lane::Sync)]).await.unwrap();
    let d = take(b, "the job to drop").await;
    drop(d);
    let again = take(b, "the dropped job again").await;
    assert_eq!(id_of(&again), run.id("dropped"));
    assert!(again.redelivered, "a dropped delivery comes back redelivered");
    assert!(
        again.delivery_count == 2 || again.delivery_count == 0,
        "second delivery counts 2: {again:?}"
    );
    again.ack().await.unwrap();

    // A consumer that goes away: its handle and its delivery.
    let c = make().await;
    b.publish(vec![run.job("orphan", Lane::Backfill)]).await.unwrap();
    let d = take(&*c, "the job to orphan").await;
    drop(c);
    drop(d);
    let again = take(b, "the orphaned job again").await;
    assert_eq!(id_of(&again), run.id("orphan"));
    assert!(again.redelivered, "a dead consumer's job comes back redelivered");
    again.ack().await.unwrap();
    nothing_more(b, "redeliveries").await;
}

async fn rejects_and_dead_letters_arrive(
    run: &Run,
    a: &dyn Broker,
    b: &dyn Broker,
    dead: &mut dyn Subscriber,
) {
    a.publish(vec![run.job("poison", Lane::Sync).header(headers::SLICE, "s-poison")])
        .await
        .unwrap();
    take(b, "the job to reject").await.reject().await.expect("reject");
    let d = receive(dead, "the rejected job").await;
    assert_eq!(id_of(&d), run.id("poison"), "reject dead-letters the job");
    assert_eq!(d.body, body("poison"), "body kept through dead-lettering");
    assert_eq!(d.headers.get(headers::SLICE).map(String::as_str), Some("s-poison"));
    assert_eq!(
        d.headers.get("x-first-death-reason").map(String::as_str),
        Some("rejected"),
        "dead letters say why: {d:?}"
    );
    d.ack().await.unwrap();
    nothing_more(b, "a reject").await;

    let explicit = Outgoing::new(Destination::DeadLetter, run.id("given-up"), body("given-up"))
        .header(headers::REASON, "wire_version");
    a.publish(vec![explicit]).await.expect("publish to DeadLetter");
    let d = receive(dead, "the explicit dead letter").await;
    assert_eq!(id_of(&d), run.id("given-up"));
    assert_eq!(d.headers.get(headers::REASON).map(String::as_str), Some("wire_version"));
    d.ack().await.unwrap();
    quiet(dead, "two dead letters").await;
}

async fn delivery_limit_dead_letters(
    run: &Run,
    a: &dyn Broker,
    b: &dyn Broker,
    dead: &mut dyn Subscriber,
) {
    a.publish(vec![run.job("crashy", Lane::Backfill)]).await.unwrap();
    let mut seen = Vec::new();
    while let Some(d) = b.next_job(QUIET).await.unwrap() {
        assert_eq!(id_of(&d), run.id("crashy"));
        seen.push((d.redelivered, d.delivery_count));
        assert!(seen.len() <= 10, "delivery limit: still delivered after {seen:?}");
        d.requeue().await.expect("requeue");
    }
    let expected = DELIVERY_LIMIT as usize + 1;
    assert_eq!(
        seen.len(),
        expected,
        "delivery limit {DELIVERY_LIMIT}: delivered exactly {expected} times: {seen:?}"
    );
    for (i, (redelivered, count)) in seen.iter().enumerate() {
        assert_eq!(*redelivered, i > 0, "only the first delivery is fresh: {seen:?}");
        assert!(
            *count == 0 || *count as usize == i + 1,
            "delivery_count counts deliveries: {seen:?}"
        );
    }
    let d = receive(dead, "the job over its delivery limit").await;
    assert_eq!(id_of(&d), run.id("crashy"));
    assert_eq!(
        d.headers.get("x-first-death-reason").map(String::as_str),
        Some("delivery_limit"),
        "{d:?}"
    );
    d.ack().await.unwrap();
}

async fn retry_waits_its_delay(run: &Run, a: &dyn Broker, b: &dyn Broker) {
    let delay = Duration::from_secs(1);
    let published = Instant::now();
    a.publish(vec![Outgoing::new(
        Destination::Retry {
            lane: Lane::Sync,
            delay,
        },
        run.id("retry"),
        body("retry"),
    )])
    .await
    .expect("publish a retry");
    let depths = a.depths().await.unwrap();
    assert_eq!(depths.retrying, 1, "depths: a parked retry counts as retrying: {depths:?}");
    assert_eq!(depths.sync, 0, "depths: a parked retry is not on its lane yet");

    let early = (published + delay).saturating_duration_since(Instant::now());
    let early = early.saturating_sub(EARLY * 4);
    if let Some(d) = b.next_job(early).await.unwrap() {
        panic!(
            "Retry {{ {delay:?} }}: back after {:?}: {d:?}",
            published.elapsed()
        );
    }
    // The lane is polled, and RabbitMQ dead-letters expired messages through a publish:
    // allow for both, but stay below what the next delay tier (5 s) would give.
    let d = take(b, "the retried job").await;
    let back = published.elapsed();
    assert_eq!(id_of(&d), run.id("retry"));
    assert_eq!(d.lane, Some(Lane::Sync), "a retry comes back on its lane");
    assert!(back + EARLY >= delay, "Retry {{ {delay:?} }}: back after only {back:?}");
    let bound = delay + late(delay) + Duration::from_millis(1500);
    assert!(back <= bound, "Retry {{ {delay:?} }}: back only after {back:?} (> {bound:?})");
    d.ack().await.unwrap();
    assert_eq!(a.depths().await.unwrap().retrying, 0, "depths: nothing parked any more");
}

fn record(run: &Run, key: &str, name: &str) -> Outgoing {
    Outgoing::new(
        Destination::Records {
            routing_key: key.to_owned(),
        },
        run.id(name),
        body(name),
    )
}

async fn records_route_by_pattern(run: &Run, a: &dyn Broker, b: &dyn Broker) {
    let (one, many) = (run.word("one"), run.word("many"));
    let mut sub = b
        .subscribe(Subscription {
            queue: "contract-records".into(),
            feed: Feed::Records {
                patterns: vec![format!("{one}.*"), format!("{many}.#")],
            },
            prefetch: 10,
        })
        .await
        .expect("subscribe: records");
    // `#` matches zero words, so `<many>` itself is routed; `*` is exactly one word.
    for (key, name) in [
        (format!("{one}.jobs"), "r1"),
        (many.clone(), "r2"),
        (format!("{many}.a.b"), "r3"),
    ] {
        a.publish(vec![record(run, &key, name)])
            .await
            .unwrap_or_else(|e| panic!("publish: a record to bound key {key}: {e}"));
    }
    for key in [format!("{one}.jobs.extra"), one.clone(), run.word("nobody")] {
        match a.publish(vec![record(run, &key, "lost")]).await {
            Err(BrokerError::Unroutable {
                exchange,
                routing_key,
            }) => {
                assert_eq!(exchange, "records");
                assert_eq!(routing_key, key, "Unroutable names the key");
            }
            other => panic!("publish: a record to unbound key {key} must be Unroutable: {other:?}"),
        }
    }
    for name in ["r1", "r2", "r3"] {
        let d = receive(&mut *sub, name).await;
        assert_eq!(id_of(&d), run.id(name), "records arrive in publish order");
        assert_eq!(d.body, body(name));
        assert_eq!(d.lane, None, "records have no lane");
        d.ack().await.unwrap();
    }
    quiet(&mut *sub, "three routed records").await;
}

async fn events_route_by_pattern(a: &dyn Broker, b: &dyn Broker) {
    let mut sub = b
        .subscribe(Subscription {
            queue: "contract-events".into(),
            feed: Feed::Events {
                patterns: vec!["slice.*".into()],
            },
            prefetch: 10,
        })
        .await
        .expect("subscribe: events");
    let event = |key: &str| {
        Outgoing::new(
            Destination::Events {
                routing_key: key.into(),
            },
            format!("event-{key}"),
            body(key),
        )
    };
    a.publish(vec![
        event("slice.completed"),
        event("request.completed"),
        event("slice.failed"),
    ])
    .await
    .expect("publish: an event nobody listens to is dropped, not an error");
    for key in ["slice.completed", "slice.failed"] {
        let d = receive(&mut *sub, key).await;
        assert_eq!(id_of(&d), format!("event-{key}"));
        d.ack().await.unwrap();
    }
    quiet(&mut *sub, "two slice events").await;
}

async fn depths_count_each_queue(run: &Run, a: &dyn Broker, b: &dyn Broker) {
    a.publish(vec![
        run.job("d-sync-1", Lane::Sync),
        run.job("d-sync-2", Lane::Sync),
        run.job("d-backfill", Lane::Backfill),
        Outgoing::new(
            Destination::Retry {
                lane: Lane::Backfill,
                delay: Duration::from_secs(3600),
            },
            run.id("d-retry"),
            body("d-retry"),
        ),
        Outgoing::new(Destination::DeadLetter, run.id("d-dead"), body("d-dead")),
    ])
    .await
    .unwrap();
    let expected = Depths {
        sync: 2,
        backfill: 1,
        retrying: 1,
        dead: 1,
    };
    // The previous dead-letter consumer may still be closing; allow it a moment.
    let deadline = Instant::now() + ARRIVES;
    loop {
        let depths = b.depths().await.unwrap();
        if depths == expected {
            break;
        }
        assert!(Instant::now() < deadline, "depths: expected {expected:?}, got {depths:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let held = take(b, "a counted job").await;
    let depths = b.depths().await.unwrap();
    assert_eq!(depths.sync, 1, "depths: a delivered job is not ready: {depths:?}");
    held.ack().await.unwrap();
    for _ in 0..2 {
        take(b, "a counted job").await.ack().await.unwrap();
    }
    let mut dead = b
        .subscribe(Subscription {
            queue: "contract-ignored".into(),
            feed: Feed::DeadLetters,
            prefetch: 1,
        })
        .await
        .expect("subscribe: DeadLetters again");
    receive(&mut *dead, "the counted dead letter").await.ack().await.unwrap();
    let depths = b.depths().await.unwrap();
    assert_eq!(
        depths,
        Depths {
            retrying: 1,
            ..Depths::default()
        },
        "depths: drained queues count 0"
    );
}

const PUBLISHERS: usize = 8;
const PER_PUBLISHER: usize = 200;
const BATCH: usize = 25;

async fn concurrent_records_arrive_once(run: &Run, a: &Arc<dyn Broker>, b: &Arc<dyn Broker>) {
    let key = run.word("bulk");
    let mut sub = b
        .subscribe(Subscription {
            queue: "contract-bulk".into(),
            feed: Feed::Records {
                patterns: vec![format!("{key}.#")],
            },
            prefetch: 100,
        })
        .await
        .expect("subscribe: bulk");
    let mut tasks = JoinSet::new();
    for t in 0..PUBLISHERS {
        let broker = if t % 2 == 0 { a.clone() } else { b.clone() };
        let (prefix, key) = (run.id("bulk"), key.clone());
        tasks.spawn(async move {
            for chunk in 0..PER_PUBLISHER / BATCH {
                let batch = (0..BATCH)
                    .map(|i| {
                        let n = chunk * BATCH + i;
                        Outgoing::new(
                            Destination::Records {
                                routing_key: format!("{key}.t{t}"),
                            },
                            format!("{prefix}-{t}-{n}"),
                            body(&format!("{t}-{n}")),
                        )
                    })
                    .collect();
                broker.publish(batch).await.expect("concurrent publish");
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("publisher task");
    }
    let total = PUBLISHERS * PER_PUBLISHER;
    let mut seen: HashMap<String, usize> = HashMap::new();
    while seen.values().sum::<usize>() < total {
        let Some(d) = sub.next(ARRIVES).await.unwrap() else {
            break;
        };
        *seen.entry(id_of(&d)).or_default() += 1;
        d.ack().await.unwrap();
    }
    let lost = total - seen.len();
    let duplicates: usize = seen.values().map(|n| n - 1).sum();
    assert_eq!(lost, 0, "concurrent publish: {lost} of {total} records lost");
    assert_eq!(duplicates, 0, "concurrent publish without faults: {duplicates} duplicates");
    quiet(&mut *sub, "every record").await;
}

async fn concurrent_jobs_are_taken_once(run: &Run, a: &Arc<dyn Broker>, b: &Arc<dyn Broker>) {
    const TASKS: usize = 4;
    const JOBS: usize = 50;
    let mut tasks = JoinSet::new();
    for t in 0..TASKS {
        let broker = if t % 2 == 0 { a.clone() } else { b.clone() };
        let prefix = run.id("many");
        tasks.spawn(async move {
            let batch = (0..JOBS)
                .map(|n| {
                    let lane = if n % 2 == 0 { Lane::Sync } else { Lane::Backfill };
                    Outgoing::new(Destination::Jobs(lane), format!("{prefix}-{t}-{n}"), body("j"))
                })
                .collect();
            broker.publish(batch).await.expect("concurrent job publish");
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("publisher task");
    }
    let mut consumers = JoinSet::new();
    for t in 0..TASKS {
        let broker = if t % 2 == 0 { a.clone() } else { b.clone() };
        consumers.spawn(async move {
            let mut ids = Vec::new();
            while let Some(d) = broker.next_job(QUIET).await.expect("concurrent next_job") {
                ids.push(id_of(&d));
                d.ack().await.expect("ack");
            }
            ids
        });
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    while let Some(r) = consumers.join_next().await {
        for id in r.expect("consumer task") {
            *seen.entry(id).or_default() += 1;
        }
    }
    let total = TASKS * JOBS;
    let lost = total - seen.len();
    let duplicates: usize = seen.values().map(|n| n - 1).sum();
    assert_eq!(lost, 0, "concurrent next_job: {lost} of {total} jobs never taken");
    assert_eq!(duplicates, 0, "concurrent next_job: {duplicates} jobs taken twice");
}
