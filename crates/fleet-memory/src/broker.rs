//! In-process broker (placeholder, being written).
pub struct MemoryBroker;
