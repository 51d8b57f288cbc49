//! `[sink]` (being built).

use serde::Deserialize;

use super::ConfigError;

/// `[sink]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkSection {}

impl SinkSection {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        Ok(())
    }
}
