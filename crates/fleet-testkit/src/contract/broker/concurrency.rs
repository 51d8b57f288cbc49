//! Many publishers and consumers at once, through several handles: every message
//! exactly once.

use std::collections::HashMap;
use std::sync::Arc;

use fleet_core::broker::{Broker, Destination, Feed, Lane, Outgoing, Subscription};
use tokio::task::JoinSet;

use super::{body, id_of, quiet, Run, ARRIVES, QUIET};

const PUBLISHERS: usize = 8;
const PER_PUBLISHER: usize = 200;
const BATCH: usize = 25;

pub(super) async fn concurrent_records_arrive_once(
    run: &Run,
    a: &Arc<dyn Broker>,
    b: &Arc<dyn Broker>,
) {
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
    assert_eq!(
        lost, 0,
        "concurrent publish: {lost} of {total} records lost"
    );
    assert_eq!(
        duplicates, 0,
        "concurrent publish without faults: {duplicates} duplicates"
    );
    quiet(&mut *sub, "every record").await;
}

pub(super) async fn concurrent_jobs_are_taken_once(
    run: &Run,
    a: &Arc<dyn Broker>,
    b: &Arc<dyn Broker>,
) {
    const TASKS: usize = 4;
    const JOBS: usize = 50;
    let mut tasks = JoinSet::new();
    for t in 0..TASKS {
        let broker = if t % 2 == 0 { a.clone() } else { b.clone() };
        let prefix = run.id("many");
        tasks.spawn(async move {
            let batch = (0..JOBS)
                .map(|n| {
                    let lane = if n % 2 == 0 {
                        Lane::Sync
                    } else {
                        Lane::Backfill
                    };
                    Outgoing::new(
                        Destination::Jobs(lane),
                        format!("{prefix}-{t}-{n}"),
                        body("j"),
                    )
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
    assert_eq!(
        lost, 0,
        "concurrent next_job: {lost} of {total} jobs never taken"
    );
    assert_eq!(
        duplicates, 0,
        "concurrent next_job: {duplicates} jobs taken twice"
    );
}
