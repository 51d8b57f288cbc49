//! `[embedded]` (being built).

use serde::Deserialize;

use super::ConfigError;

/// `[embedded]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedSection {}

impl EmbeddedSection {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        Ok(())
    }
}
