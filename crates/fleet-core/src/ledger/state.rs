//! The state names of requests and slices: the one place they are spelled. Serde, the
//! Redis ledger's hash fields and Lua scripts, the file ledger, progress counters and
//! the API all use these spellings ([`RequestState::as_str`], [`SliceState::as_str`]);
//! the Lua scripts cannot import them, so fleet-redis checks every literal its ledger
//! scripts use against them in a test.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestState {
    /// Accepted; slices are being planned and published.
    Planning,
    /// Every slice is planned (backfill), or the schedule is active (sync).
    Running,
    /// Every slice reached a terminal state and none failed.
    Completed,
    /// Every slice reached a terminal state and some failed (see the dead-letter queue).
    Failed,
    /// Cancelled by a user: queued slices are dropped, running ones stop at their next
    /// page, syncs plan no more windows.
    Cancelled,
}

impl RequestState {
    pub const ALL: [RequestState; 5] = [
        RequestState::Planning,
        RequestState::Running,
        RequestState::Completed,
        RequestState::Failed,
        RequestState::Cancelled,
    ];

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RequestState::Completed | RequestState::Failed | RequestState::Cancelled
        )
    }

    /// The state's name, as serde, the ledgers and the API spell it.
    pub const fn as_str(self) -> &'static str {
        match self {
            RequestState::Planning => "planning",
            RequestState::Running => "running",
            RequestState::Completed => "completed",
            RequestState::Failed => "failed",
            RequestState::Cancelled => "cancelled",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SliceState {
    /// In the ledger, job not yet confirmed on the broker.
    Planned,
    /// Job confirmed on the broker, waiting for a worker (or waiting for a retry).
    Queued,
    /// A worker is reading it.
    Running,
    Completed,
    /// Given up (dead-lettered); the reason is in `last_error`.
    Failed,
    /// Replaced by children covering the same range.
    Split,
    Cancelled,
}

impl SliceState {
    pub const ALL: [SliceState; 7] = [
        SliceState::Planned,
        SliceState::Queued,
        SliceState::Running,
        SliceState::Completed,
        SliceState::Failed,
        SliceState::Split,
        SliceState::Cancelled,
    ];

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            SliceState::Completed | SliceState::Failed | SliceState::Split | SliceState::Cancelled
        )
    }

    /// The state's name, as serde, the ledgers, the progress counters and the API spell it.
    pub const fn as_str(self) -> &'static str {
        match self {
            SliceState::Planned => "planned",
            SliceState::Queued => "queued",
            SliceState::Running => "running",
            SliceState::Completed => "completed",
            SliceState::Failed => "failed",
            SliceState::Split => "split",
            SliceState::Cancelled => "cancelled",
        }
    }
}

/// A name that is no state of its kind. Names the text (a state is never a secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a {kind} state; expected one of {expected}")]
pub struct UnknownState {
    kind: &'static str,
    text: String,
    expected: String,
}

fn unknown(
    kind: &'static str,
    text: &str,
    names: impl Iterator<Item = &'static str>,
) -> UnknownState {
    let mut text = text.to_owned();
    if let Some((end, _)) = text.char_indices().nth(40) {
        text.truncate(end);
    }
    UnknownState {
        kind,
        text,
        expected: names.collect::<Vec<_>>().join(", "),
    }
}

impl FromStr for RequestState {
    type Err = UnknownState;
    fn from_str(s: &str) -> Result<Self, UnknownState> {
        RequestState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                unknown(
                    "request",
                    s,
                    RequestState::ALL.into_iter().map(RequestState::as_str),
                )
            })
    }
}

impl FromStr for SliceState {
    type Err = UnknownState;
    fn from_str(s: &str) -> Result<Self, UnknownState> {
        SliceState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                unknown(
                    "slice",
                    s,
                    SliceState::ALL.into_iter().map(SliceState::as_str),
                )
            })
    }
}

impl fmt::Display for RequestState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for SliceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_serdes_spelling() {
        for st in RequestState::ALL {
            assert_eq!(st.as_str().parse::<RequestState>(), Ok(st));
            assert_eq!(serde_json::to_value(st).unwrap(), st.as_str());
            assert_eq!(st.to_string(), st.as_str());
        }
        for st in SliceState::ALL {
            assert_eq!(st.as_str().parse::<SliceState>(), Ok(st));
            assert_eq!(serde_json::to_value(st).unwrap(), st.as_str());
            assert_eq!(st.to_string(), st.as_str());
        }
    }

    #[test]
    fn an_unknown_name_says_which_names_exist() {
        let e = "canceled".parse::<RequestState>().unwrap_err().to_string();
        assert!(e.contains("`canceled` is not a request state"), "{e}");
        assert!(e.contains("cancelled"), "{e}");
        let e = "Queued".parse::<SliceState>().unwrap_err().to_string();
        assert!(e.contains("slice state") && e.contains("queued"), "{e}");
    }
}
