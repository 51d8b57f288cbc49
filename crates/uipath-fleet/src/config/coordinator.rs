//! `[coordinator]` (being built).

use serde::Deserialize;

use super::ConfigError;

/// `[coordinator]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoordinatorSection {}

impl CoordinatorSection {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        Ok(())
    }
}
