//! `[embedded]`: the one-process fleet of `uipath-fleet run` (and `demo`): how many
//! workers it runs and where it keeps its state (the ledger journal). The records go
//! to `[sink].dir`, as the file sink would write them.
//!
//! ```toml
//! [embedded]
//! workers = 2                 # each with [worker].concurrency job slots
//! state_dir = ".uipath-fleet" # the ledger: which slices are done, checkpoints
//! api = true                  # serve the coordinator API on [coordinator].listen
//! ```

use std::path::PathBuf;

use serde::Deserialize;

use super::{invalid, ConfigError};

/// Workers of an embedded fleet unless configured.
pub const DEFAULT_WORKERS: usize = 2;

/// The `[embedded]` section; every field is optional.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmbeddedSection {
    /// Workers in the process, each with `[worker].concurrency` job slots. Default 2.
    pub workers: usize,
    /// The directory of the fleet's state: the ledger journal (`ledger.journal`), which
    /// survives restarts so an interrupted run resumes. Default `.uipath-fleet` in the
    /// working directory.
    pub state_dir: PathBuf,
    /// Serve the coordinator's HTTP API on `[coordinator].listen` (port 0 picks a free
    /// port), so `uipath-fleet status` and friends work against this fleet. Default true.
    pub api: bool,
}

impl Default for EmbeddedSection {
    fn default() -> Self {
        EmbeddedSection {
            workers: DEFAULT_WORKERS,
            state_dir: PathBuf::from(".uipath-fleet"),
            api: true,
        }
    }
}

impl EmbeddedSection {
    /// Workers an embedded fleet may run at most (each is a set of tasks, not a process).
    pub const MAX_WORKERS: usize = 64;

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.workers == 0 || self.workers > Self::MAX_WORKERS {
            invalid!(
                "embedded.workers: must be between 1 and {} (got {})",
                Self::MAX_WORKERS,
                self.workers
            );
        }
        if self.state_dir.as_os_str().is_empty() {
            invalid!("embedded.state_dir: must not be empty");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::FleetConfig;

    #[test]
    fn defaults_and_mistakes() {
        let c = FleetConfig::parse("").unwrap();
        assert_eq!(c.embedded.workers, super::DEFAULT_WORKERS);
        assert_eq!(c.embedded.state_dir.to_str(), Some(".uipath-fleet"));
        assert!(c.embedded.api);
        let c =
            FleetConfig::parse("[embedded]\nworkers = 3\nstate_dir = \"/tmp/s\"\napi = false\n")
                .unwrap();
        assert_eq!(c.embedded.workers, 3);
        assert!(!c.embedded.api);
        for (text, field) in [
            ("[embedded]\nworkers = 0\n", "embedded.workers"),
            ("[embedded]\nstate_dir = \"\"\n", "embedded.state_dir"),
            ("[embedded]\nworker = 2\n", "worker"),
        ] {
            let e = FleetConfig::parse(text).unwrap_err();
            assert!(format!("{e:#}").contains(field), "{text}: {e:#}");
        }
    }
}
