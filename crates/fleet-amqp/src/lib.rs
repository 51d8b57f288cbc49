//! The fleet's [`Broker`](fleet_core::Broker) on RabbitMQ (placeholder, being written).
