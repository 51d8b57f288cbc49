//! Slice widths aligned to UTC boundaries.
//!
//! A width is one of a fixed ladder — 15m, 30m, 1h, 2h, 3h, 4h, 6h, 12h, 1d, 7d, 1mo —
//! whose boundaries fall on UTC wall-clock marks: multiples of the width since midnight
//! for sub-day widths, midnights for 1d, Monday midnights for 7d, the first of the month
//! for 1mo. Cutting `[from, to)` gives slices whose interior boundaries are aligned; the
//! first starts at `from` and the last ends at `to`, so the slices cover the range
//! exactly, without gaps or overlaps.
//!
//! Alignment is what makes slices reproducible: two requests over overlapping ranges cut
//! their common part at the same instants, and a re-plan after a crash cuts the very same
//! slices. Cutting is lazy (a ten-year backfill at 15m is 350k slices) and
//! [`Width::count`] is arithmetic, so a plan's size can be checked before it is cut.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
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

const DAY_SECS: i64 = 86_400;
/// 1970-01-01 was a Thursday; the first Monday midnight is four days later.
const FIRST_MONDAY_SECS: i64 = 4 * DAY_SECS;
const NANOS: i128 = 1_000_000_000;

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

    /// The ladder as text, for error messages: `15m, 30m, 1h, …, 1mo`.
    pub fn ladder_text() -> String {
        Width::LADDER
            .iter()
            .map(|w| w.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Parse `15m`, `30m`, `1h`, `2h`, `3h`, `4h`, `6h`, `12h`, `1d`, `7d`/`1w`, `1mo`
    /// (also any other spelling of a rung in whole minutes, hours, days or weeks:
    /// `24h` = `1d`, `60m` = `1h`). Units are lower case (`1M` would be ambiguous).
    /// Anything off the ladder is an error that lists the ladder.
    pub fn parse(text: &str) -> Result<Width, String> {
        let off_ladder = || {
            format!(
                "`{text}` is not a slice width; use one of {}",
                Width::ladder_text()
            )
        };
        let t = text.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (digits, unit) = t.split_at(split);
        let n: u64 = digits.parse().map_err(|_| off_ladder())?;
        let minutes = match unit {
            "m" | "min" => n,
            "h" => n.saturating_mul(60),
            "d" => n.saturating_mul(1440),
            "w" => n.saturating_mul(10_080),
            "mo" if n == 1 => return Ok(Width::Month),
            _ => return Err(off_ladder()),
        };
        match minutes {
            1440 => Ok(Width::Days(1)),
            10_080 => Ok(Width::Days(7)),
            15 | 30 | 60 | 120 | 180 | 240 | 360 | 720 => Ok(Width::Minutes(minutes as u32)),
            _ => Err(off_ladder()),
        }
    }

    /// The fixed length of the width in seconds, `None` for months (which vary).
    /// Zero-sized variants (only constructible in code) count as their unit, so that no
    /// arithmetic divides by zero.
    fn fixed_secs(self) -> Option<i64> {
        match self {
            Width::Minutes(m) => Some(i64::from(m.max(1)) * 60),
            Width::Days(d) => Some(i64::from(d.max(1)) * DAY_SECS),
            Width::Month => None,
        }
    }

    /// Where fixed widths count their multiples from, in seconds since the epoch: the
    /// epoch itself (a midnight) except for weeks, which start on Monday.
    fn origin_secs(self) -> i64 {
        match self {
            Width::Days(7) => FIRST_MONDAY_SECS,
            _ => 0,
        }
    }

    /// Nominal length in seconds (a month counts as 30 days), for density arithmetic.
    pub fn nominal_secs(self) -> i64 {
        self.fixed_secs().unwrap_or(30 * DAY_SECS)
    }

    /// The aligned boundary at or before `t`.
    pub fn floor(self, t: DateTime<Utc>) -> DateTime<Utc> {
        match self.fixed_secs() {
            Some(w) => {
                let origin = self.origin_secs();
                let secs = (t.timestamp() - origin).div_euclid(w) * w + origin;
                from_secs(secs)
            }
            None => month_start(t.year(), t.month()),
        }
    }

    /// The first aligned boundary strictly after `t`.
    pub fn next_boundary(self, t: DateTime<Utc>) -> DateTime<Utc> {
        let floor = self.floor(t);
        match self.fixed_secs() {
            Some(w) => floor
                .checked_add_signed(Duration::seconds(w))
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
            None => {
                let (y, m) = (floor.year(), floor.month());
                let (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                month_start(y, m)
            }
        }
    }

    /// Cut `[from, to)` into consecutive slices (empty if `from >= to`): the first starts
    /// at `from`, the last ends at `to`, and every boundary in between is aligned. Lazy.
    pub fn cut(
        self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)> {
        let mut cursor = from;
        std::iter::from_fn(move || {
            if cursor >= to {
                return None;
            }
            let end = self.next_boundary(cursor).min(to);
            let slice = (cursor, end);
            cursor = end;
            Some(slice)
        })
    }

    /// How many slices `cut(from, to)` yields, without materializing them.
    pub fn count(self, from: DateTime<Utc>, to: DateTime<Utc>) -> u64 {
        if from >= to {
            return 0;
        }
        // The slices are the aligned periods that `[from, to)` touches: the period
        // holding `from` up to the period holding the last instant before `to`.
        let n = match self.fixed_secs() {
            Some(w) => {
                let w = i128::from(w) * NANOS;
                let origin = i128::from(self.origin_secs()) * NANOS;
                let first = (nanos(from) - origin).div_euclid(w);
                let last = (nanos(to) - origin - 1).div_euclid(w);
                last - first + 1
            }
            None => {
                let month_index =
                    |t: DateTime<Utc>| i128::from(t.year()) * 12 + i128::from(t.month0());
                let last = to - Duration::nanoseconds(1);
                month_index(last) - month_index(from) + 1
            }
        };
        u64::try_from(n).unwrap_or(u64::MAX)
    }

    /// Pick a width for a dataset that has `records` records in `[from, to)`.
    ///
    /// The rule, assuming the records are spread evenly over the range:
    /// - the widest rung whose expected records per slice,
    ///   `records × nominal_secs / span_secs`, is at or below `target`;
    /// - if even 15m expects more than `target` (or `target` is 0), 15m — workers split
    ///   denser slices further;
    /// - if `records` is 0, or the range is empty, the widest rung (1mo). That is never
    ///   absurd: [`Width::cut`] clips the first and last slice to the range, so a short
    ///   range still gives one slice.
    ///
    /// The widest such rung is also the one with the fewest slices, so no narrower rung
    /// would ever be better for the plan's size.
    pub fn auto(records: u64, from: DateTime<Utc>, to: DateTime<Utc>, target: u64) -> Width {
        let span = (to - from).num_seconds();
        if records == 0 || span <= 0 {
            return Width::Month;
        }
        // records × nominal / span ≤ target  ⇔  records × nominal ≤ target × span
        // (u128: a billion records over years cannot overflow).
        let budget = u128::from(target) * span.unsigned_abs() as u128;
        Width::LADDER
            .iter()
            .rev()
            .copied()
            .find(|w| u128::from(records) * w.nominal_secs().unsigned_abs() as u128 <= budget)
            .unwrap_or(Width::Minutes(15))
    }
}

fn from_secs(secs: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(secs, 0).unwrap_or(if secs < 0 {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    })
}

fn month_start(year: i32, month: u32) -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(year, month, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| Utc.from_utc_datetime(&d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Nanoseconds since the epoch, for every representable instant (chrono's own
/// `timestamp_nanos_opt` stops at 2262).
fn nanos(t: DateTime<Utc>) -> i128 {
    i128::from(t.timestamp()) * NANOS + i128::from(t.timestamp_subsec_nanos())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn parses_the_ladder_and_its_aliases() {
        for w in Width::LADDER {
            assert_eq!(Width::parse(&w.to_string()), Ok(w));
        }
        assert_eq!(Width::parse("24h"), Ok(Width::Days(1)));
        assert_eq!(Width::parse("60m"), Ok(Width::Minutes(60)));
        assert_eq!(Width::parse("1w"), Ok(Width::Days(7)));
        assert_eq!(Width::parse(" 7d "), Ok(Width::Days(7)));
        for bad in ["", "5m", "45m", "2d", "2mo", "1M", "h", "1.5h", "-1h", "1y"] {
            let err = Width::parse(bad).unwrap_err();
            assert!(
                err.contains("15m, 30m, 1h, 2h, 3h, 4h, 6h, 12h, 1d, 7d, 1mo"),
                "{err}"
            );
        }
        let json = serde_json::to_string(&Width::Minutes(120)).unwrap();
        assert_eq!(json, r#""2h""#);
        assert!(serde_json::from_str::<Width>(r#""5m""#).is_err());
    }

    #[test]
    fn floors_to_utc_marks() {
        let x = t("2024-05-15T13:47:12.5Z"); // a Wednesday
        assert_eq!(Width::Minutes(15).floor(x), t("2024-05-15T13:45:00Z"));
        assert_eq!(Width::Minutes(180).floor(x), t("2024-05-15T12:00:00Z"));
        assert_eq!(Width::Minutes(720).floor(x), t("2024-05-15T12:00:00Z"));
        assert_eq!(Width::Days(1).floor(x), t("2024-05-15T00:00:00Z"));
        assert_eq!(Width::Days(7).floor(x), t("2024-05-13T00:00:00Z"));
        assert_eq!(Width::Month.floor(x), t("2024-05-01T00:00:00Z"));
        assert_eq!(Width::Month.next_boundary(x), t("2024-06-01T00:00:00Z"));
        assert_eq!(
            Width::Month.next_boundary(t("2024-12-01T00:00:00Z")),
            t("2025-01-01T00:00:00Z")
        );
        assert_eq!(
            Width::Days(7).next_boundary(t("2024-05-13T00:00:00Z")),
            t("2024-05-20T00:00:00Z")
        );
        // Before the epoch too (div_euclid, not truncation).
        assert_eq!(
            Width::Days(7).floor(t("1969-12-31T12:00:00Z")),
            t("1969-12-29T00:00:00Z")
        );
    }

    #[test]
    fn cuts_cover_the_range_with_aligned_interior_boundaries() {
        let (from, to) = (t("2024-01-30T22:10:00Z"), t("2024-03-02T01:00:00Z"));
        let slices: Vec<_> = Width::Month.cut(from, to).collect();
        assert_eq!(
            slices,
            vec![
                (from, t("2024-02-01T00:00:00Z")),
                (t("2024-02-01T00:00:00Z"), t("2024-03-01T00:00:00Z")),
                (t("2024-03-01T00:00:00Z"), to),
            ]
        );
        assert_eq!(Width::Month.count(from, to), 3);
        assert_eq!(Width::Days(1).count(from, to), 33);
        assert_eq!(Width::Days(1).cut(from, to).count(), 33);
        assert_eq!(Width::Days(1).count(to, from), 0);
        assert_eq!(Width::Days(1).cut(from, from).count(), 0);
        // Aligned ends add no sliver slice.
        let day = (t("2024-01-01T00:00:00Z"), t("2024-01-02T00:00:00Z"));
        assert_eq!(Width::Minutes(15).count(day.0, day.1), 96);
        assert_eq!(Width::Month.count(day.0, day.1), 1);
    }

    #[test]
    fn cutting_is_lazy_and_counting_is_arithmetic() {
        let (from, to) = (t("2000-01-01T00:00:00Z"), t("2040-01-01T00:00:00Z"));
        assert_eq!(Width::Minutes(15).count(from, to), 14_610 * 96);
        let first: Vec<_> = Width::Minutes(15).cut(from, to).take(2).collect();
        assert_eq!(
            first[1],
            (t("2000-01-01T00:15:00Z"), t("2000-01-01T00:30:00Z"))
        );
    }

    #[test]
    fn auto_picks_the_widest_rung_under_the_target() {
        let (from, to) = (t("2023-01-01T00:00:00Z"), t("2024-01-01T00:00:00Z"));
        // 1e6 over 365 days ≈ 2740/day ≤ 5000; a week would be ≈ 19k.
        assert_eq!(Width::auto(1_000_000, from, to, 5000), Width::Days(1));
        // ≈ 114/h: 12h gives ≈ 1370 ≤ 2000, 1d ≈ 2740 > 2000.
        assert_eq!(Width::auto(1_000_000, from, to, 2000), Width::Minutes(720));
        assert_eq!(Width::auto(1_000, from, to, 5000), Width::Month);
        assert_eq!(Width::auto(0, from, to, 5000), Width::Month);
        assert_eq!(Width::auto(10, to, from, 5000), Width::Month);
        // Too dense for anything: the narrowest rung.
        assert_eq!(
            Width::auto(1_000_000_000, from, to, 5000),
            Width::Minutes(15)
        );
        assert_eq!(Width::auto(1, from, to, 0), Width::Minutes(15));
        // Exactly on the target still fits: 96 per day at 15m = 1 per slice.
        let day = (from, t("2023-01-02T00:00:00Z"));
        assert_eq!(Width::auto(96, day.0, day.1, 1), Width::Minutes(15));
        assert_eq!(Width::auto(48, day.0, day.1, 1), Width::Minutes(30));
    }
}
