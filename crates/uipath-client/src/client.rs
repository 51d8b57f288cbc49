//! SKELETON (helper fills in).

/// Placeholder.
#[derive(Debug)]
pub struct UipathClient;
