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
//! About 5 s on a local RabbitMQ and 2 s in memory: the 1 s retry and the 300 ms waits
//! that show nothing more arrives.

mod concurrency;
mod jobs;
mod routing;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use fleet_core::broker::{
    Broker, Delivery, Depths, Destination, Feed, Lane, Outgoing, Subscriber, Subscription,
};

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
    b.declare()
        .await
        .expect("declare: a second handle declares the same topology");
    a.declare().await.expect("declare: twice is fine");
    assert!(a.ready().await, "ready: a connected broker is ready");
    assert_eq!(
        a.depths().await.unwrap(),
        Depths::default(),
        "depths: a fresh namespace"
    );

    jobs::jobs_round_trip(&run, &*a, &*b).await;
    jobs::sync_goes_before_backfill(&run, &*a, &*b).await;
    jobs::unsettled_jobs_come_back(&run, &make, &*b).await;
    let mut dead = b
        .subscribe(Subscription {
            queue: "contract-ignored".into(),
            feed: Feed::DeadLetters,
            prefetch: 10,
        })
        .await
        .expect("subscribe: DeadLetters");
    jobs::rejects_and_dead_letters_arrive(&run, &*a, &*b, &mut *dead).await;
    jobs::delivery_limit_dead_letters(&run, &*a, &*b, &mut *dead).await;
    jobs::retry_waits_its_delay(&run, &*a, &*b).await;
    routing::records_route_by_pattern(&run, &*a, &*b).await;
    routing::events_route_by_pattern(&*a, &*b).await;
    // A live consumer holds what it prefetched, and held messages are not ready.
    drop(dead);
    jobs::depths_count_each_queue(&run, &*a, &*b).await;
    concurrency::concurrent_records_arrive_once(&run, &a, &b).await;
    concurrency::concurrent_jobs_are_taken_once(&run, &a, &b).await;
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
    serde_json::to_vec(&serde_json::json!({ "version": 1, "name": name })).expect("json serializes")
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
