//! The [`Broker`](fleet_core::Broker) contract suite (placeholder, being written).
pub async fn broker_contract() {}
