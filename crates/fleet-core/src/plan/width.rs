//! Slice widths aligned to UTC boundaries.
//!
//! A width is one of a fixed ladder — 15m, 30m, 1h, 2h, 3h, 4h, 6h, 12h, 1d, 7d, 1mo —
//! whose boundaries fall on UTC wall-clock marks: multiples of the width since midnight
//! for sub-day widths, midnights for 1d, Monday midnights for 7d, the first of the month
//! for 1mo. Cutting `[from, to)` gives slices whose interior boundaries are aligned; the
//! first starts at `from` and the last ends at `to`, so the slices cover the range
//! exactly, without gaps or overlaps.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A slice width. Serialized as its text form (`"15m"`, `"1d"`, `"1mo"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Width {
    /// A divisor of a day, in minutes (15, 30, 60, 120, 180, 240, 360, 720).
    Minutes(u32),
    /// 1 (midnights) or 7 (Monday midnights).
    Days(u32),
    /// Calendar months (first of the month, midnight).
    Month,
}

impl Width {
    /// The ladder, narrowest first.
    pub const LADDER: [Width; 11] = [
        Width::Minutes(15),
        Width::Minutes(30),
        Width::Minutes(60),
        Width::Minutes(120),
        Width::Minutes(180),
        Width::Minutes(240),
        Width::Minutes(360),
        Width::Minutes(720),
        Width::Days(1),
        Width::Days(7),
        Width::Month,
    ];

    /// Parse `15m`, `30m`, `1h`, `2h`, `3h`, `4h`, `6h`, `12h`, `1d`, `7d`/`1w`, `1mo`
    /// (also `24h` = `1d`, `60m` = `1h`). Anything off the ladder is an error that lists
    /// the ladder.
    pub fn parse(text: &str) -> Result<Width, String> {
        todo!("{text}")
    }

    /// Nominal length in seconds (a month counts as 30 days), for density arithmetic.
    pub fn nominal_secs(self) -> i64 {
        todo!()
    }

    /// The aligned boundary at or before `t`.
    pub fn floor(self, t: DateTime<Utc>) -> DateTime<Utc> {
        todo!("{t}")
    }

    /// The first aligned boundary strictly after `t`.
    pub fn next_boundary(self, t: DateTime<Utc>) -> DateTime<Utc> {
        todo!("{t}")
    }

    /// Cut `[from, to)` into consecutive slices (empty if `from >= to`).
    pub fn cut(self, from: DateTime<Utc>, to: DateTime<Utc>) -> impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)> {
        let _ = (from, to);
        std::iter::empty::<(DateTime<Utc>, DateTime<Utc>)>()
    }

    /// How many slices `cut(from, to)` yields, without materializing them.
    pub fn count(self, from: DateTime<Utc>, to: DateTime<Utc>) -> u64 {
        todo!("{from}{to}")
    }

    /// Pick a width for a dataset that has `records` records in `[from, to)`: the widest
    /// rung whose expected records per slice (assuming an even spread) stay at or below
    /// `target`. Too dense for even 15m gives 15m (workers split further); an empty range
    /// gives the widest rung. Never returns a width that would make more than `max_slices`
    /// slices if a wider one stays under `target`... (see tests).
    pub fn auto(records: u64, from: DateTime<Utc>, to: DateTime<Utc>, target: u64) -> Width {
        todo!("{records}{from}{to}{target}")
    }
}

impl std::fmt::Display for Width {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Width::Minutes(m) if m % 60 == 0 => write!(f, "{}h", m / 60),
            Width::Minutes(m) => write!(f, "{m}m"),
            Width::Days(d) => write!(f, "{d}d"),
            Width::Month => write!(f, "1mo"),
        }
    }
}

impl TryFrom<String> for Width {
    type Error = String;
    fn try_from(s: String) -> Result<Width, String> {
        Width::parse(&s)
    }
}

impl From<Width> for String {
    fn from(w: Width) -> String {
        w.to_string()
    }
}
