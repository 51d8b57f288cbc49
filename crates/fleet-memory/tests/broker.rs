//! The shared broker contract suite (`fleet_testkit::contract::broker_contract`) on the
//! in-process [`MemoryBroker`], plus what only the in-memory twin promises: exact delays
//! on tokio's clock and output queues consumed in-process.

use std::sync::Arc;
use std::time::Duration;

use fleet_core::broker::{Broker, BrokerError, Destination, Lane, Outgoing};
use fleet_memory::MemoryBroker;
use fleet_testkit::contract::broker_contract;

/// The suite requires a delivery limit of 2 on the job lanes.
const CONTRACT_DELIVERY_LIMIT: u32 = 2;

#[tokio::test]
async fn memory_broker_meets_the_contract() {
    let broker = MemoryBroker::new(CONTRACT_DELIVERY_LIMIT);
    broker_contract(|| std::future::ready(Arc::new(broker.clone()) as Arc<dyn Broker>)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_broker_meets_the_contract_on_threads() {
    let broker = MemoryBroker::new(CONTRACT_DELIVERY_LIMIT);
    broker_contract(|| std::future::ready(Arc::new(broker.clone()) as Arc<dyn Broker>)).await;
}

#[tokio::test(start_paused = true)]
async fn retries_wait_their_exact_delay_capped_at_an_hour() {
    let broker = MemoryBroker::default();
    let retry = |id: &str, secs: u64| {
        Outgoing::new(
            Destination::Retry {
                lane: Lane::Backfill,
                delay: Duration::from_secs(secs),
            },
            id,
            vec![],
        )
    };
    broker
        .publish(vec![retry("seven", 7), retry("day", 86_400)])
        .await
        .unwrap();
    let start = tokio::time::Instant::now();
    // Waiting on virtual time: the job wakes the waiter exactly when it falls due.
    let d = broker
        .next_job(Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.message_id.as_deref(), Some("seven"));
    assert_eq!(start.elapsed(), Duration::from_secs(7));
    d.ack().await.unwrap();
    assert!(broker
        .next_job(Duration::from_secs(3500))
        .await
        .unwrap()
        .is_none());
    assert_eq!(broker.depths().await.unwrap().retrying, 1);
    let d = broker
        .next_job(Duration::from_secs(200))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.message_id.as_deref(), Some("day"));
    assert_eq!(
        start.elapsed(),
        Duration::from_secs(3600),
        "capped at one hour"
    );
    d.ack().await.unwrap();
}

#[tokio::test]
async fn output_queues_take_records_once_declared() {
    let broker = MemoryBroker::default().with_output_queue("lake", ["acme.#"]);
    let record = Outgoing::new(
        Destination::Records {
            routing_key: "acme.jobs".into(),
        },
        "r1",
        b"{}".to_vec(),
    );
    let err = broker.publish(vec![record.clone()]).await.unwrap_err();
    assert!(
        matches!(err, BrokerError::Unroutable { .. }),
        "before declare nothing is bound: {err}"
    );
    assert!(broker.consume_output("lake", 1).is_err());
    broker.declare().await.unwrap();
    broker.publish(vec![record]).await.unwrap();
    let mut lake = broker.consume_output("lake", 1).unwrap();
    let d = lake.next(Duration::from_secs(1)).await.unwrap().unwrap();
    assert_eq!(d.message_id.as_deref(), Some("r1"));
    // Prefetch 1: the unsettled delivery holds the only slot.
    broker
        .publish(vec![Outgoing::new(
            Destination::Records {
                routing_key: "acme.queues".into(),
            },
            "r2",
            b"{}".to_vec(),
        )])
        .await
        .unwrap();
    assert!(lake
        .next(Duration::from_millis(50))
        .await
        .unwrap()
        .is_none());
    d.ack().await.unwrap();
    let d = lake.next(Duration::from_secs(1)).await.unwrap().unwrap();
    assert_eq!(d.message_id.as_deref(), Some("r2"));
    d.ack().await.unwrap();
}

#[tokio::test]
async fn oversized_ids_are_refused_for_good() {
    let broker = MemoryBroker::default();
    let err = broker
        .publish(vec![Outgoing::new(
            Destination::Jobs(Lane::Sync),
            "x".repeat(256),
            vec![],
        )])
        .await
        .unwrap_err();
    assert!(!err.is_transient(), "{err}");
    assert_eq!(
        broker.depths().await.unwrap().sync,
        0,
        "nothing of the batch stored"
    );
}
