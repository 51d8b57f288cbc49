//! Faults on the real broker: connections cut by the server (`rabbitmqctl
//! close_connection`) while publishing and while holding unacked jobs. Measured the
//! way reliability tests do it: every message has an id, and the checks are
//! lost = 0 and duplicates ≤ what was in flight when the fault hit.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fleet_amqp::{AmqpBroker, AmqpConfig};
use fleet_core::broker::{Broker, BrokerError, Destination, Feed, Lane, Outgoing, Subscription};
use tokio::time::Instant;

use common::proxy::{authority, via, Proxy};
use common::{broker, config, Cleanup};

/// Runs `rabbitmqctl args` off the runtime's threads; its output.
async fn rabbitmqctl(args: &[&str]) -> std::process::Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new("rabbitmqctl")
            .args(&args)
            .output()
            .expect("run rabbitmqctl (the fault tests need it on PATH, as root)")
    })
    .await
    .expect("rabbitmqctl task")
}

/// The broker-side pid of the connection named `name`, once it exists.
async fn connection_pid(name: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let out = rabbitmqctl(&["list_connections", "pid", "client_properties", "--silent"]).await;
        let text = String::from_utf8_lossy(&out.stdout);
        // The line is `<pid>\t[..., {"connection_name","<name>"}, ...]`.
        let needle = format!("{{\"connection_name\",\"{name}\"}}");
        if let Some(line) = text.lines().find(|l| l.contains(&needle)) {
            if let Some(pid) = line.split_whitespace().next() {
                return pid.to_owned();
            }
        }
        assert!(
            Instant::now() < deadline,
            "no connection named {name} in rabbitmqctl list_connections:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Closes connection `pid` from the server side, as a network fault or an operator would.
async fn cut(pid: &str) {
    let out = rabbitmqctl(&["close_connection", pid, "chaos"]).await;
    assert!(
        out.status.success(),
        "rabbitmqctl close_connection {pid} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn job(n: usize) -> Outgoing {
    Outgoing::new(
        Destination::Jobs(Lane::Backfill),
        format!("job-{n}"),
        format!("{{\"version\":1,\"n\":{n}}}").into_bytes(),
    )
}

const JOBS: usize = 5_000;
const BATCH: usize = 50;

/// Takes every job with `consumers` handles at once (acking each) until the lanes stay
/// empty for a while; how often each id was seen and how many came redelivered.
async fn drain(consumers: Vec<AmqpBroker>) -> (HashMap<String, usize>, usize) {
    let mut tasks = tokio::task::JoinSet::new();
    for c in consumers {
        for _ in 0..2 {
            let c = c.clone();
            tasks.spawn(async move {
                let mut seen = Vec::new();
                let mut redelivered = 0;
                loop {
                    match c.next_job(Duration::from_millis(500)).await {
                        Ok(Some(d)) => {
                            redelivered += usize::from(d.redelivered);
                            seen.push(d.message_id.clone().unwrap_or_default());
                            d.ack().await.expect("ack");
                        }
                        Ok(None) => break,
                        Err(e) => panic!("next_job while draining: {e}"),
                    }
                }
                (seen, redelivered)
            });
        }
    }
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut redelivered = 0;
    while let Some(r) = tasks.join_next().await {
        let (seen, r) = r.expect("consumer task");
        redelivered += r;
        for id in seen {
            *counts.entry(id).or_default() += 1;
        }
    }
    (counts, redelivered)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_cut_mid_stream_loses_no_published_job() {
    let cfg = config("amqp_cut_publish").await;
    let name = cfg.connection_name.clone();
    let publisher = broker(cfg.clone()).await;
    let cleanup = Cleanup(publisher.clone());
    publisher.declare().await.unwrap();

    // The cut is started once JOBS / 5 jobs are confirmed. The publisher publishes back
    // to back, so the cut meets batches in flight, and goes on until it has published
    // JOBS jobs *and* a few batches after the cut, however long rabbitmqctl takes.
    let old_pid = connection_pid(&name).await;
    let progress = Arc::new(AtomicUsize::new(0));
    let cut_at = Arc::new(AtomicUsize::new(usize::MAX));
    let killer = {
        let (progress, cut_at, pid) = (progress.clone(), cut_at.clone(), old_pid.clone());
        tokio::spawn(async move {
            while progress.load(Ordering::SeqCst) < JOBS / 5 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            cut(&pid).await;
            cut_at.store(progress.load(Ordering::SeqCst), Ordering::SeqCst);
        })
    };

    let mut failed_batches = 0usize;
    let mut published = 0usize;
    let started = Instant::now();
    while published < JOBS || published < cut_at.load(Ordering::SeqCst).saturating_add(10 * BATCH) {
        assert!(published < 20 * JOBS, "the cut never happened");
        let batch: Vec<Outgoing> = (published..published + BATCH).map(job).collect();
        // The publisher's loop: a failed batch is published again, whole, after a pause.
        let mut attempts = 0;
        loop {
            attempts += 1;
            match publisher.publish(batch.clone()).await {
                Ok(()) => break,
                Err(e) => {
                    assert!(e.is_transient(), "only transient errors expected: {e}");
                    assert!(
                        attempts < 100,
                        "still failing after {attempts} attempts: {e}"
                    );
                    failed_batches += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        published += BATCH;
        progress.store(published, Ordering::SeqCst);
    }
    let published_in = started.elapsed();
    killer.await.expect("killer task");
    let progress_at_cut = cut_at.load(Ordering::SeqCst);
    // The publisher is on a new connection now (lapin recovered or we rebuilt).
    let new_pid = connection_pid(&cfg.connection_name).await;
    assert_ne!(
        new_pid, old_pid,
        "the publisher's connection was really cut"
    );

    let mut consumers = Vec::new();
    for _ in 0..4 {
        consumers.push(publisher.sibling().await.unwrap());
    }
    let draining = Instant::now();
    let (counts, _) = drain(consumers).await;
    let drained_in = draining.elapsed();
    let lost = (0..published)
        .filter(|n| !counts.contains_key(&format!("job-{n}")))
        .count();
    let duplicates: usize = counts.values().map(|c| c - 1).sum();
    let unexpected = counts.len() + lost - published;
    eprintln!(
        "cut at {progress_at_cut} of {published}; published in {published_in:?}; \
         failed batches {failed_batches}; lost {lost}; duplicates {duplicates}; \
         drained in {drained_in:?}"
    );
    assert_eq!(lost, 0, "confirmed jobs lost to the cut");
    assert_eq!(unexpected, 0, "jobs nobody published");
    // Only a batch in flight when the connection went can be stored twice.
    assert!(
        duplicates <= failed_batches * BATCH,
        "{duplicates} duplicates, more than the {failed_batches} failed batches of {BATCH}"
    );
    cleanup.run().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacked_jobs_of_a_cut_consumer_come_back() {
    const HELD: usize = 10;
    const TOTAL: usize = 20;
    let cfg = config("amqp_cut_consumer").await;
    let admin = broker(AmqpConfig {
        connection_name: format!("{}-admin", cfg.connection_name),
        ..cfg.clone()
    })
    .await;
    let cleanup = Cleanup(admin.clone());
    admin.declare().await.unwrap();
    admin.publish((0..TOTAL).map(job).collect()).await.unwrap();

    let consumer = broker(cfg.clone()).await;
    let mut held = Vec::new();
    for _ in 0..HELD {
        held.push(
            consumer
                .next_job(Duration::from_secs(5))
                .await
                .unwrap()
                .unwrap(),
        );
    }
    let held_ids: Vec<String> = held.iter().filter_map(|d| d.message_id.clone()).collect();
    cut(&connection_pid(&cfg.connection_name).await).await;

    let (counts, redelivered) = drain(vec![admin.clone()]).await;
    let lost = (0..TOTAL)
        .filter(|n| !counts.contains_key(&format!("job-{n}")))
        .count();
    assert_eq!(lost, 0, "jobs lost with the cut consumer: {counts:?}");
    assert_eq!(
        counts.values().sum::<usize>(),
        TOTAL,
        "each job once: {counts:?}"
    );
    assert_eq!(
        redelivered, HELD,
        "exactly the held jobs come back redelivered"
    );
    for id in &held_ids {
        assert_eq!(counts.get(id), Some(&1), "held job {id} came back");
    }
    // The cut consumer's settles cannot reach the broker; they are not errors.
    for d in held {
        d.ack().await.expect("a settle after a cut is swallowed");
    }

    // And the cut consumer works again, on a recovered or rebuilt connection.
    admin.publish(vec![job(TOTAL)]).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let recovered = loop {
        match consumer.next_job(Duration::from_millis(500)).await {
            Ok(Some(d)) => break d,
            Ok(None) | Err(_) if Instant::now() < deadline => {}
            other => panic!("the cut consumer never recovered: {other:?}"),
        }
    };
    assert_eq!(
        recovered.message_id.as_deref(),
        Some(format!("job-{TOTAL}").as_str())
    );
    recovered.ack().await.unwrap();
    cleanup.run().await;
}

/// Publishes the next job (`*n + 1`); its id and the outcome.
async fn publish_next(b: &AmqpBroker, n: &mut usize) -> (usize, Result<(), BrokerError>) {
    *n += 1;
    (*n, b.publish(vec![job(*n)]).await)
}

/// Publishes until a publish is confirmed (within 30 s); how long that took.
async fn until_published(b: &AmqpBroker, n: &mut usize, confirmed: &mut Vec<usize>) -> Duration {
    let started = Instant::now();
    loop {
        let (id, r) = publish_next(b, n).await;
        match r {
            Ok(()) => {
                confirmed.push(id);
                return started.elapsed();
            }
            Err(e) => {
                assert!(e.is_transient(), "{e}");
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "still failing 30 s after the broker came back: {e}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_fails_fast_and_heals() {
    let direct = config("amqp_outage").await;
    let proxy = Proxy::start(&authority(&direct.url)).await;
    let b = broker(AmqpConfig {
        url: via(&direct.url, proxy.addr()),
        ..direct.clone()
    })
    .await;
    let cleanup = Cleanup(
        broker(AmqpConfig {
            connection_name: format!("{}-admin", direct.connection_name),
            ..direct
        })
        .await,
    );
    b.declare().await.unwrap();
    let subscription = Subscription {
        queue: "sink".into(),
        feed: Feed::Records {
            patterns: vec!["acme.#".into()],
        },
        prefetch: 10,
    };
    // Declared through the direct handle too, so that its cleanup knows the queue.
    drop(cleanup.0.subscribe(subscription.clone()).await.unwrap());
    let mut sub = b.subscribe(subscription).await.unwrap();
    let (mut n, mut confirmed) = (0, Vec::new());
    until_published(&b, &mut n, &mut confirmed).await;

    // A short outage: lapin reconnects the same connection once the proxy is back.
    proxy.stop();
    let started = Instant::now();
    let (_, r) = publish_next(&b, &mut n).await;
    let failed_in = started.elapsed();
    assert!(
        matches!(r, Err(BrokerError::Unavailable(_))),
        "publish during an outage: {r:?}"
    );
    assert!(
        failed_in < Duration::from_secs(8),
        "publish failed only after {failed_in:?}"
    );
    let started = Instant::now();
    let r = b.next_job(Duration::from_secs(1)).await;
    assert!(r.is_err(), "next_job during an outage reports it: {r:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(!b.ready().await, "not ready during an outage");
    proxy.restart();
    let healed = until_published(&b, &mut n, &mut confirmed).await;
    eprintln!("short outage: publish failed in {failed_in:?}, healed {healed:?} after restart");

    // A long outage: lapin gives up; the supervisor then rebuilds the connection with
    // its own backoff, which it reports in the error.
    proxy.stop();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match publish_next(&b, &mut n).await.1 {
            Err(BrokerError::Unavailable(msg)) if msg.contains("reconnect") => break,
            Err(BrokerError::Unavailable(_)) => {}
            other => panic!("publish during a long outage: {other:?}"),
        }
        assert!(
            Instant::now() < deadline,
            "lapin never gave up; no rebuild attempted"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    proxy.restart();
    let healed = until_published(&b, &mut n, &mut confirmed).await;
    eprintln!("long outage: healed {healed:?} after restart, on a rebuilt connection");
    assert!(b.ready().await);

    // The subscriber consumes again, on the rebuilt connection.
    let record = Outgoing::new(
        Destination::Records {
            routing_key: "acme.jobs".into(),
        },
        "after-the-outage",
        b"{}".to_vec(),
    );
    b.publish(vec![record]).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        assert!(Instant::now() < deadline, "the subscriber never resumed");
        if let Ok(Some(d)) = sub.next(Duration::from_millis(500)).await {
            assert_eq!(d.message_id.as_deref(), Some("after-the-outage"));
            d.ack().await.unwrap();
            break;
        }
    }

    // Everything confirmed is there (what failed may be there too: at-least-once).
    let (counts, _) = drain(vec![b.clone()]).await;
    for id in &confirmed {
        assert!(
            counts.contains_key(&format!("job-{id}")),
            "confirmed job-{id} lost"
        );
    }
    cleanup.run().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_subscriber_resumes_and_gets_its_unacked_records_again() {
    const RECORDS: usize = 200;
    let cfg = config("amqp_cut_subscriber").await;
    let publisher = broker(AmqpConfig {
        connection_name: format!("{}-publisher", cfg.connection_name),
        ..cfg.clone()
    })
    .await;
    publisher.declare().await.unwrap();
    let subscriber = broker(cfg.clone()).await;
    // The subscriber knows its subscription queue; it cleans up.
    let cleanup = Cleanup(subscriber.clone());
    let mut sub = subscriber
        .subscribe(Subscription {
            queue: "sink".into(),
            feed: Feed::Records {
                patterns: vec!["acme.#".into()],
            },
            prefetch: 20,
        })
        .await
        .unwrap();
    let record = |n: usize| {
        Outgoing::new(
            Destination::Records {
                routing_key: "acme.jobs".into(),
            },
            format!("rec-{n}"),
            b"{}".to_vec(),
        )
    };
    publisher
        .publish((0..RECORDS / 2).map(record).collect())
        .await
        .unwrap();

    // Take (and ack) a few, then hold one unacked while the connection is cut.
    let mut counts: HashMap<String, usize> = HashMap::new();
    for _ in 0..10 {
        let d = sub
            .next(Duration::from_secs(5))
            .await
            .unwrap()
            .expect("a record");
        *counts.entry(d.message_id.clone().unwrap()).or_default() += 1;
        d.ack().await.unwrap();
    }
    let held = sub
        .next(Duration::from_secs(5))
        .await
        .unwrap()
        .expect("a record");
    let held_id = held.message_id.clone().unwrap();
    cut(&connection_pid(&cfg.connection_name).await).await;
    publisher
        .publish((RECORDS / 2..RECORDS).map(record).collect())
        .await
        .unwrap();
    held.ack().await.expect("an ack after the cut is swallowed");

    let deadline = Instant::now() + Duration::from_secs(20);
    let mut held_again = false;
    while counts.len() < RECORDS {
        assert!(
            Instant::now() < deadline,
            "only {} of {RECORDS} records",
            counts.len()
        );
        // Nothing (or an error) while the connection comes back.
        if let Ok(Some(d)) = sub.next(Duration::from_millis(500)).await {
            let id = d.message_id.clone().unwrap();
            held_again |= id == held_id && d.redelivered;
            *counts.entry(id).or_default() += 1;
            d.ack().await.unwrap();
        }
    }
    let duplicates: usize = counts.values().map(|c| c - 1).sum();
    assert!(
        held_again,
        "the record held across the cut came back redelivered"
    );
    // Only what the subscriber held (prefetch 20) can come twice.
    assert!(duplicates <= 20, "{duplicates} duplicates");
    cleanup.run().await;
}
