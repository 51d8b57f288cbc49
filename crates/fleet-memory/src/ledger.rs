//! File-backed ledger (placeholder, being written).
pub struct FileLedger;
