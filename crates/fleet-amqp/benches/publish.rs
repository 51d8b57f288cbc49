//! Confirmed publish rate: raw lapin (`calibrate::confirmed_publish_rate`) against the
//! fleet's `AmqpBroker::publish`, for 200 B and 2 KB persistent messages to quorum
//! queues, in the same run on the same machine.
//!
//! `cargo bench -p fleet-amqp --bench publish` (about 10 s on a local RabbitMQ).
//! `FLEET_BENCH_MESSAGES` sets the messages per measurement (default 5000),
//! `AMQP_URL` points it at another broker (see `fleet_testkit::amqp_url`).

use std::time::{Duration, Instant};

use fleet_amqp::calibrate::confirmed_publish_rate;
use fleet_amqp::{AmqpBroker, AmqpConfig, OutputQueue};
use fleet_core::broker::{Broker, Destination, Outgoing};
use fleet_testkit::{require_rabbitmq, unique_prefix};

const WINDOW: usize = 256;
/// A worker publishes one API page at a time; 100 records per batch is a small page.
const BATCH: usize = 100;

fn main() {
    // Test runners enumerate bench binaries with `--list`: there are no tests here.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run());
}

async fn run() {
    let messages: usize = std::env::var("FLEET_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000);
    let url = require_rabbitmq().await;
    let prefix = unique_prefix("bench_publish");
    let broker = AmqpBroker::connect(AmqpConfig {
        output_queues: vec![OutputQueue {
            name: "bench".into(),
            patterns: vec!["bench.#".into()],
        }],
        publish_window: WINDOW,
        connection_name: prefix.clone(),
        ..AmqpConfig::new(url.clone(), prefix.clone())
    })
    .await
    .expect("connect");
    broker.declare().await.expect("declare");

    println!("confirmed publish, {messages} persistent messages per run, window {WINDOW}");
    println!(
        "{:>6} {:>16} {:>22} {:>22}",
        "size", "raw lapin", "fleet, one batch", "fleet, batches of 100"
    );
    for size in [200usize, 2048] {
        let raw = confirmed_publish_rate(&url, &prefix, messages, size, WINDOW)
            .await
            .expect("raw lapin rate");
        let one = fleet_rate(&broker, messages, size, messages).await;
        let paged = fleet_rate(&broker, messages, size, BATCH).await;
        println!(
            "{:>5}B {:>12.0} /s {:>12.0} /s ({:>3.0}%) {:>12.0} /s ({:>3.0}%)",
            size,
            raw,
            one,
            100.0 * one / raw,
            paged,
            100.0 * paged / raw
        );
        // Keep the output queue short between runs; the quorum queue's backlog slows it.
        broker.delete_topology().await.expect("reset");
        broker.declare().await.expect("declare");
    }
    broker.delete_topology().await.expect("cleanup");
    broker.close().await;
}

/// Messages per second through `AmqpBroker::publish` in batches of `batch`.
async fn fleet_rate(broker: &AmqpBroker, messages: usize, size: usize, batch: usize) -> f64 {
    let body = vec![b'x'; size];
    let all: Vec<Outgoing> = (0..messages)
        .map(|i| {
            Outgoing::new(
                Destination::Records {
                    routing_key: "bench.records".into(),
                },
                format!("m-{i}"),
                body.clone(),
            )
        })
        .collect();
    let started = Instant::now();
    for chunk in all.chunks(batch.max(1)) {
        broker.publish(chunk.to_vec()).await.expect("fleet publish");
    }
    let secs = started
        .elapsed()
        .max(Duration::from_micros(1))
        .as_secs_f64();
    messages as f64 / secs
}
