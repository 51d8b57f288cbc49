//! The shared broker contract suite on RabbitMQ, plus what only the AMQP backend does:
//! the exact topology (names and arguments an operator sees), conflicts reported as
//! `Topology`, retries rounded up to a delay tier, output queues, closing a handle.

mod common;

use std::sync::Arc;
use std::time::Duration;

use fleet_amqp::{AmqpConfig, OutputQueue};
use fleet_core::broker::{Broker, BrokerError, Destination, Lane, Outgoing, QueueName};
use fleet_testkit::contract::broker_contract;

use common::{broker, config, Cleanup};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_broker_meets_the_contract() {
    let root = broker(config("amqp_contract").await).await;
    let cleanup = Cleanup(root.clone());
    // Every handle its own connection, so that dropping one closes it; siblings share
    // the record of subscription queues for the cleanup.
    broker_contract(|| {
        let root = root.clone();
        async move { Arc::new(root.sibling().await.expect("sibling")) as Arc<dyn Broker> }
    })
    .await;
    cleanup.run().await;
}

#[tokio::test]
async fn declare_conflicts_name_the_queue_and_the_fix() {
    let cfg = config("amqp_conflict").await;
    let a = broker(cfg.clone()).await;
    let cleanup = Cleanup(a.clone());
    a.declare().await.unwrap();
    // Same prefix, another delivery limit: the lanes exist with other arguments.
    let b = broker(AmqpConfig {
        delivery_limit: 7,
        ..cfg
    })
    .await;
    let err = b.declare().await.unwrap_err();
    let BrokerError::Topology(msg) = &err else {
        panic!("a clashing declare must be Topology, got {err}");
    };
    assert!(!err.is_transient());
    assert!(
        msg.contains(&a.queue_name(QueueName::Jobs(Lane::Sync))),
        "{msg}"
    );
    assert!(msg.contains("another prefix"), "{msg}");
    // The failed declare did not break the handle.
    assert!(b.depths().await.is_ok());
    cleanup.run().await;
}

#[tokio::test]
async fn retries_round_up_to_a_tier() {
    let a = broker(config("amqp_tiers").await).await;
    let cleanup = Cleanup(a.clone());
    a.declare().await.unwrap();
    assert_eq!(
        a.retry_queue_name(Lane::Sync, Duration::from_millis(1500)),
        format!("{}.retry.sync.5s", a.prefix())
    );
    let started = tokio::time::Instant::now();
    a.publish(vec![Outgoing::new(
        Destination::Retry {
            lane: Lane::Sync,
            delay: Duration::from_millis(300),
        },
        "tiered",
        b"{}".to_vec(),
    )])
    .await
    .unwrap();
    let d = a.next_job(Duration::from_secs(5)).await.unwrap().unwrap();
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(995),
        "a 300 ms retry waits the 1 s tier, came back after {waited:?}"
    );
    d.ack().await.unwrap();
    cleanup.run().await;
}

#[tokio::test]
async fn output_queues_keep_records_for_absent_consumers() {
    let mut cfg = config("amqp_outputs").await;
    cfg.output_queues = vec![OutputQueue {
        name: "lake".into(),
        patterns: vec!["acme.*".into()],
    }];
    let a = broker(cfg).await;
    let cleanup = Cleanup(a.clone());
    a.declare().await.unwrap();
    let record = |key: &str| {
        Outgoing::new(
            Destination::Records {
                routing_key: key.into(),
            },
            key,
            b"{}".to_vec(),
        )
    };
    a.publish(vec![record("acme.jobs"), record("acme.queues")])
        .await
        .expect("records to the output queue's patterns are routable");
    let err = a.publish(vec![record("other.jobs")]).await.unwrap_err();
    assert!(matches!(err, BrokerError::Unroutable { .. }), "{err}");
    let count = common::queue_depth(&a, &a.names().output("lake")).await;
    assert_eq!(count, 2, "both records wait in the output queue");
    cleanup.run().await;
}

#[tokio::test]
async fn a_closed_handle_releases_its_jobs_and_refuses_work() {
    let a = broker(config("amqp_close").await).await;
    let cleanup = Cleanup(a.clone());
    a.declare().await.unwrap();
    let b = a.sibling().await.unwrap();
    a.publish(vec![Outgoing::new(
        Destination::Jobs(Lane::Sync),
        "held",
        b"{}".to_vec(),
    )])
    .await
    .unwrap();
    let held = b.next_job(Duration::from_secs(5)).await.unwrap().unwrap();
    b.close().await;
    assert!(!b.ready().await);
    let err = b.next_job(Duration::ZERO).await.unwrap_err();
    assert!(matches!(err, BrokerError::Unavailable(_)), "{err}");
    // The held delivery can no longer be acked; that is not an error for the caller.
    held.ack().await.expect("an ack after close is swallowed");
    let again = a.next_job(Duration::from_secs(5)).await.unwrap().unwrap();
    assert_eq!(again.message_id.as_deref(), Some("held"));
    assert!(again.redelivered);
    again.ack().await.unwrap();
    cleanup.run().await;
}
