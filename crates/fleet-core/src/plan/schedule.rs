//! Sync schedules and the windows their ticks plan.
//!
//! An interval schedule ticks at multiples of the interval since the Unix epoch (UTC),
//! so `every 15m` ticks at :00, :15, :30, :45 on every replica alike. A cron schedule
//! ticks at its cron times (UTC), parsed by `croner`.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// Every so many seconds (≥ 60).
    Every(u64),
    /// A cron expression (5 fields, or 6 with seconds), UTC.
    Cron(String),
}

impl Schedule {
    /// Parse an interval such as `15m`, `1h`, `90s` (humantime syntax), 1 minute to 7 days.
    pub fn every(text: &str) -> Result<Schedule, String> {
        todo!("{text}")
    }

    /// Parse a cron expression; the error says what is wrong with it.
    pub fn cron(text: &str) -> Result<Schedule, String> {
        todo!("{text}")
    }

    /// The latest tick at or before `now`.
    pub fn last_tick(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        todo!("{now}")
    }

    /// The first tick strictly after `t`.
    pub fn next_tick(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        todo!("{t}")
    }
}

/// The window a sync stream should plan now, if any.
///
/// `tick = schedule.last_tick(now)`, `end = tick - settle`. Nothing to do when `end` is
/// not after the stream's `planned_to` (or `start` for a new stream). Otherwise the
/// window is `[planned_to - lookback, end)` — or `[start, end)` for a new stream — so
/// consecutive windows overlap by `lookback` and late updates are read again.
pub fn next_window(
    schedule: &Schedule,
    start: DateTime<Utc>,
    planned_to: Option<DateTime<Utc>>,
    lookback: Duration,
    settle: Duration,
    now: DateTime<Utc>,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    todo!("{schedule:?}{start}{planned_to:?}{lookback}{settle}{now}")
}
