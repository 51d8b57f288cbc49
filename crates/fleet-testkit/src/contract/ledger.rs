//! The [`Ledger`](fleet_core::Ledger) contract suite (placeholder, being written).
pub async fn ledger_contract() {}
