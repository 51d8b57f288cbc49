//! Set-up shared by the RabbitMQ tests: a unique prefix per test, the contract's
//! delivery limit, and cleanup of everything the prefix declared.
#![allow(dead_code)] // Each test file uses a different subset.

pub mod proxy;

use fleet_amqp::{AmqpBroker, AmqpConfig};
use fleet_testkit::{require_rabbitmq, unique_prefix};

/// The delivery limit `fleet_testkit::contract::broker_contract` requires.
pub const CONTRACT_DELIVERY_LIMIT: u32 = 2;

/// A config on the local RabbitMQ (panics with how to start it if it is down) with a
/// prefix of its own, also used as the connection name so fault tests can find it.
pub async fn config(test: &str) -> AmqpConfig {
    let url = require_rabbitmq().await;
    let prefix = unique_prefix(test);
    AmqpConfig {
        connection_name: prefix.clone(),
        delivery_limit: CONTRACT_DELIVERY_LIMIT,
        ..AmqpConfig::new(url, prefix)
    }
}

pub async fn broker(config: AmqpConfig) -> AmqpBroker {
    AmqpBroker::connect(config)
        .await
        .expect("connect to RabbitMQ")
}

/// Deletes the test's queues and exchanges: explicitly at the end of a passing test
/// ([`Cleanup::run`]), and from `Drop` when the test panics, so a failing test does not
/// leave quorum queues behind on the shared broker either.
pub struct Cleanup(pub AmqpBroker);

impl Cleanup {
    pub async fn run(self) {
        self.0
            .delete_topology()
            .await
            .expect("delete the test's topology");
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        // On a new connection that shares the record of subscription queues.
        let broker = self.0.clone();
        fleet_testkit::after_panic(move || async move {
            if let Ok(sibling) = broker.sibling().await {
                let _ = sibling.delete_topology().await;
                sibling.close().await;
            }
        });
    }
}

pub async fn queue_depth(broker: &AmqpBroker, queue: &str) -> u64 {
    broker.queue_depth(queue).await.expect("queue depth")
}
