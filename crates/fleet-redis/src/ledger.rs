//! Redis ledger (placeholder, being written).
pub struct RedisLedger;
