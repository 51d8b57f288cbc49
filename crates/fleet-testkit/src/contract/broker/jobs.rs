//! The job-lane checks: round trip, lane order, redelivery, dead letters, the delivery
//! limit, delayed retries and depths.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use fleet_core::broker::{
    Broker, Depths, Destination, Feed, Lane, Outgoing, Subscriber, Subscription,
};
use fleet_core::wire::headers;
use tokio::time::Instant;

use super::{body, id_of, nothing_more, quiet, receive, take, Run, ARRIVES, DELIVERY_LIMIT, QUIET};
use crate::contract::{late, EARLY};

pub(super) async fn jobs_round_trip(run: &Run, a: &dyn Broker, b: &dyn Broker) {
    let sent = run
        .job("round-trip", Lane::Backfill)
        .header(headers::SLICE, "slice-1")
        .header(headers::SOURCE, "acme");
    a.publish(vec![sent.clone()]).await.expect("publish a job");
    let d = take(b, "the published job").await;
    assert_eq!(
        d.message_id.as_deref(),
        Some(sent.message_id.as_str()),
        "message_id kept"
    );
    assert_eq!(d.body, sent.body, "body kept");
    for (name, value) in &sent.headers {
        assert_eq!(
            d.headers.get(name),
            Some(value),
            "header {name} kept: {d:?}"
        );
    }
    assert_eq!(d.lane, Some(Lane::Backfill), "next_job names the lane");
    assert!(!d.redelivered, "a first delivery is not redelivered");
    assert!(
        d.delivery_count <= 1,
        "a first delivery counts 1 (or 0 if unknown): {d:?}"
    );
    d.ack().await.expect("ack");

    let started = Instant::now();
    assert!(
        b.next_job(QUIET).await.unwrap().is_none(),
        "an acked job is gone"
    );
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

pub(super) async fn sync_goes_before_backfill(run: &Run, a: &dyn Broker, b: &dyn Broker) {
    a.publish(vec![
        run.job("old-1", Lane::Backfill),
        run.job("old-2", Lane::Backfill),
    ])
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

pub(super) async fn unsettled_jobs_come_back<F, Fut>(run: &Run, make: &F, b: &dyn Broker)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn Broker>>,
{
    // A delivery dropped without a settle.
    b.publish(vec![run.job("dropped", Lane::Sync)])
        .await
        .unwrap();
    let d = take(b, "the job to drop").await;
    drop(d);
    let again = take(b, "the dropped job again").await;
    assert_eq!(id_of(&again), run.id("dropped"));
    assert!(
        again.redelivered,
        "a dropped delivery comes back redelivered"
    );
    assert!(
        again.delivery_count == 2 || again.delivery_count == 0,
        "second delivery counts 2: {again:?}"
    );
    again.ack().await.unwrap();

    // A consumer that goes away: its handle and its delivery.
    let c = make().await;
    b.publish(vec![run.job("orphan", Lane::Backfill)])
        .await
        .unwrap();
    let d = take(&*c, "the job to orphan").await;
    drop(c);
    drop(d);
    let again = take(b, "the orphaned job again").await;
    assert_eq!(id_of(&again), run.id("orphan"));
    assert!(
        again.redelivered,
        "a dead consumer's job comes back redelivered"
    );
    again.ack().await.unwrap();
    nothing_more(b, "redeliveries").await;
}

pub(super) async fn rejects_and_dead_letters_arrive(
    run: &Run,
    a: &dyn Broker,
    b: &dyn Broker,
    dead: &mut dyn Subscriber,
) {
    a.publish(vec![run
        .job("poison", Lane::Sync)
        .header(headers::SLICE, "s-poison")])
        .await
        .unwrap();
    take(b, "the job to reject")
        .await
        .reject()
        .await
        .expect("reject");
    let d = receive(dead, "the rejected job").await;
    assert_eq!(id_of(&d), run.id("poison"), "reject dead-letters the job");
    assert_eq!(d.body, body("poison"), "body kept through dead-lettering");
    assert_eq!(
        d.headers.get(headers::SLICE).map(String::as_str),
        Some("s-poison")
    );
    assert_eq!(
        d.headers.get("x-first-death-reason").map(String::as_str),
        Some("rejected"),
        "dead letters say why: {d:?}"
    );
    d.ack().await.unwrap();
    nothing_more(b, "a reject").await;

    let explicit = Outgoing::new(
        Destination::DeadLetter,
        run.id("given-up"),
        body("given-up"),
    )
    .header(headers::REASON, "wire_version");
    a.publish(vec![explicit])
        .await
        .expect("publish to DeadLetter");
    let d = receive(dead, "the explicit dead letter").await;
    assert_eq!(id_of(&d), run.id("given-up"));
    assert_eq!(
        d.headers.get(headers::REASON).map(String::as_str),
        Some("wire_version")
    );
    d.ack().await.unwrap();
    quiet(dead, "two dead letters").await;
}

pub(super) async fn delivery_limit_dead_letters(
    run: &Run,
    a: &dyn Broker,
    b: &dyn Broker,
    dead: &mut dyn Subscriber,
) {
    a.publish(vec![run.job("crashy", Lane::Backfill)])
        .await
        .unwrap();
    let mut seen = Vec::new();
    while let Some(d) = b.next_job(QUIET).await.unwrap() {
        assert_eq!(id_of(&d), run.id("crashy"));
        seen.push((d.redelivered, d.delivery_count));
        assert!(
            seen.len() <= 10,
            "delivery limit: still delivered after {seen:?}"
        );
        d.requeue().await.expect("requeue");
    }
    let expected = DELIVERY_LIMIT as usize + 1;
    assert_eq!(
        seen.len(),
        expected,
        "delivery limit {DELIVERY_LIMIT}: delivered exactly {expected} times: {seen:?}"
    );
    for (i, (redelivered, count)) in seen.iter().enumerate() {
        assert_eq!(
            *redelivered,
            i > 0,
            "only the first delivery is fresh: {seen:?}"
        );
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

pub(super) async fn retry_waits_its_delay(run: &Run, a: &dyn Broker, b: &dyn Broker) {
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
    assert_eq!(
        depths.retrying, 1,
        "depths: a parked retry counts as retrying: {depths:?}"
    );
    assert_eq!(
        depths.sync, 0,
        "depths: a parked retry is not on its lane yet"
    );

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
    assert!(
        back + EARLY >= delay,
        "Retry {{ {delay:?} }}: back after only {back:?}"
    );
    let bound = delay + late(delay) + Duration::from_millis(1500);
    assert!(
        back <= bound,
        "Retry {{ {delay:?} }}: back only after {back:?} (> {bound:?})"
    );
    d.ack().await.unwrap();
    assert_eq!(
        a.depths().await.unwrap().retrying,
        0,
        "depths: nothing parked any more"
    );
}

pub(super) async fn depths_count_each_queue(run: &Run, a: &dyn Broker, b: &dyn Broker) {
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
        assert!(
            Instant::now() < deadline,
            "depths: expected {expected:?}, got {depths:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let held = take(b, "a counted job").await;
    let depths = b.depths().await.unwrap();
    assert_eq!(
        depths.sync, 1,
        "depths: a delivered job is not ready: {depths:?}"
    );
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
    receive(&mut *dead, "the counted dead letter")
        .await
        .ack()
        .await
        .unwrap();
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
