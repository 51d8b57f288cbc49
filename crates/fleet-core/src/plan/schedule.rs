//! Sync schedules and the windows their ticks plan.
//!
//! An interval schedule ticks at multiples of the interval since the Unix epoch (UTC),
//! so `every 15m` ticks at :00, :15, :30, :45 on every replica alike. A cron schedule
//! ticks at its cron times (UTC), parsed by `croner`. Ticks depend only on the schedule
//! and the clock, never on when a process started, so any coordinator replica that takes
//! over plans the same windows.

use chrono::{DateTime, Duration, Utc};
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;
use serde::{Deserialize, Serialize};

/// The shortest interval between ticks: fresh enough for a p95 of changes under half a
/// minute (see README "what a sync delivers"); shorter only produces empty windows, and
/// the coordinator refuses syncs whose windows the tenant's budget cannot feed.
pub const MIN_INTERVAL_SECS: u64 = 10;
/// The longest interval: a sync that ticks less than weekly is a backfill.
pub const MAX_INTERVAL_SECS: u64 = 7 * 86_400;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// Every so many seconds (60 to 604 800).
    Every(u64),
    /// A cron expression (5 fields, or 6 with seconds), UTC.
    Cron(String),
}

fn cron_parser() -> CronParser {
    CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .build()
}

/// A reference instant to probe cron expressions from (any fixed instant works; a fixed
/// one keeps validation deterministic).
fn probe_origin() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(1_704_067_200, 0).unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

impl Schedule {
    /// Parse an interval such as `15m`, `1h`, `90s` (humantime syntax), 1 minute to 7 days,
    /// in whole seconds.
    pub fn every(text: &str) -> Result<Schedule, String> {
        let d = humantime::parse_duration(text.trim()).map_err(|e| {
            format!("`{text}` is not a duration ({e}); write e.g. \"15m\", \"1h\" or \"1h 30m\"")
        })?;
        if d.subsec_nanos() != 0 {
            return Err(format!("`{text}` is not a whole number of seconds"));
        }
        let secs = d.as_secs();
        if !(MIN_INTERVAL_SECS..=MAX_INTERVAL_SECS).contains(&secs) {
            return Err(format!(
                "`{text}` is out of range; the interval must be between 10s and 7d"
            ));
        }
        Ok(Schedule::Every(secs))
    }

    /// Parse a cron expression (5 fields, or 6 with seconds first; UTC); the error says
    /// what is wrong with it. Refused too: expressions that never fire, and ones that
    /// fire more often than once a minute (e.g. `*/10 * * * * *`).
    pub fn cron(text: &str) -> Result<Schedule, String> {
        // One space between fields, so that spacing never changes a sync's request id.
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let text = text.as_str();
        let cron = cron_parser()
            .parse(text)
            .map_err(|e| format!("`{text}` is not a cron expression: {e}"))?;
        // Probe a few ticks: catches expressions that never fire (`0 0 30 2 *`) and
        // sub-minute ones. Not exhaustive, but the common mistakes show at once.
        let mut at = probe_origin();
        let mut previous: Option<DateTime<Utc>> = None;
        for _ in 0..4 {
            let next = cron
                .find_next_occurrence(&at, false)
                .map_err(|_| format!("`{text}` never fires"))?;
            if let Some(p) = previous {
                if (next - p).num_seconds() < MIN_INTERVAL_SECS as i64 {
                    return Err(format!(
                        "`{text}` fires more often than every {MIN_INTERVAL_SECS} seconds; use `every` for short intervals"
                    ));
                }
            }
            previous = Some(next);
            at = next;
        }
        Ok(Schedule::Cron(text.to_owned()))
    }

    fn parsed_cron(text: &str) -> Option<Cron> {
        cron_parser().parse(text).ok()
    }

    /// The latest tick at or before `now`. `None` only for a cron expression that never
    /// fired (or does not parse, which [`Schedule::cron`] prevents).
    pub fn last_tick(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Schedule::Every(secs) => {
                let n = i64::try_from((*secs).max(1)).ok()?;
                DateTime::<Utc>::from_timestamp(now.timestamp().div_euclid(n) * n, 0)
            }
            // croner compares whole seconds, so a tick at 10:00:00 is "at or before"
            // 10:00:00.5 — as it should be.
            Schedule::Cron(text) => Self::parsed_cron(text)?
                .find_previous_occurrence(&now, true)
                .ok(),
        }
    }

    /// The first tick strictly after `t`.
    pub fn next_tick(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Schedule::Every(secs) => {
                let n = i64::try_from((*secs).max(1)).ok()?;
                let next = t.timestamp().div_euclid(n).checked_add(1)?.checked_mul(n)?;
                DateTime::<Utc>::from_timestamp(next, 0)
            }
            Schedule::Cron(text) => Self::parsed_cron(text)?
                .find_next_occurrence(&t, false)
                .ok(),
        }
    }
}

impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Schedule::Every(secs) => write!(
                f,
                "every {}",
                humantime::format_duration(std::time::Duration::from_secs(*secs))
            ),
            Schedule::Cron(text) => write!(f, "cron `{text}`"),
        }
    }
}

/// The window a sync stream should plan now, if any.
///
/// `tick = schedule.last_tick(now)`, `end = tick - settle`. Nothing to do when there is
/// no tick yet, or when `end` is not after the stream's `planned_to` (or `start` for a
/// new stream). Otherwise the window is `[max(planned_to - lookback, start), end)` — or
/// `[start, end)` for a new stream — so consecutive windows overlap by `lookback` and
/// late updates are read again, but nothing before the sync's `start` is ever read.
///
/// Because each window starts at or before the previous window's end, the windows of a
/// stream cover time from `start` without gaps, however irregular the calls.
pub fn next_window(
    schedule: &Schedule,
    start: DateTime<Utc>,
    planned_to: Option<DateTime<Utc>>,
    lookback: Duration,
    settle: Duration,
    now: DateTime<Utc>,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let tick = schedule.last_tick(now)?;
    let end = tick.checked_sub_signed(settle)?;
    let from = match planned_to {
        None => {
            if end <= start {
                return None;
            }
            start
        }
        Some(planned_to) => {
            if end <= planned_to {
                return None;
            }
            planned_to
                .checked_sub_signed(lookback)
                .unwrap_or(start)
                .max(start)
        }
    };
    Some((from, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn intervals_parse_within_bounds() {
        assert_eq!(Schedule::every("15m"), Ok(Schedule::Every(900)));
        assert_eq!(Schedule::every("1h 30m"), Ok(Schedule::Every(5400)));
        assert_eq!(Schedule::every("90s"), Ok(Schedule::Every(90)));
        assert_eq!(Schedule::every("7days"), Ok(Schedule::Every(604_800)));
        assert_eq!(Schedule::every("10s"), Ok(Schedule::Every(10)));
        for bad in ["9s", "8d", "1500ms", "soon", "", "-5m"] {
            assert!(Schedule::every(bad).is_err(), "{bad}");
        }
        assert!(Schedule::every("5s")
            .unwrap_err()
            .contains("between 10s and 7d"));
    }

    #[test]
    fn cron_expressions_are_checked() {
        assert_eq!(
            Schedule::cron(" */15  * *\t* * "),
            Ok(Schedule::Cron("*/15 * * * *".into()))
        );
        assert!(
            Schedule::cron("0 */5 * * * *").is_ok(),
            "six fields, with seconds"
        );
        let err = Schedule::cron("61 * * * *").unwrap_err();
        assert!(err.contains("not a cron expression"), "{err}");
        assert!(Schedule::cron("* * *").is_err());
        assert!(Schedule::cron("0 0 0 * * * 2030").is_err(), "no year field");
        assert!(Schedule::cron("0 0 30 2 *")
            .unwrap_err()
            .contains("never fires"));
        assert!(Schedule::cron("*/10 * * * * *").is_ok(), "every 10 seconds");
        let err = Schedule::cron("*/5 * * * * *").unwrap_err();
        assert!(err.contains("every 10 seconds"), "{err}");
    }

    #[test]
    fn interval_ticks_are_epoch_multiples() {
        let s = Schedule::Every(900);
        let now = t("2024-06-01T10:07:31.250Z");
        assert_eq!(s.last_tick(now), Some(t("2024-06-01T10:00:00Z")));
        assert_eq!(s.next_tick(now), Some(t("2024-06-01T10:15:00Z")));
        // On a tick: last_tick is that tick, next_tick the one after.
        let on = t("2024-06-01T10:15:00Z");
        assert_eq!(s.last_tick(on), Some(on));
        assert_eq!(s.next_tick(on), Some(t("2024-06-01T10:30:00Z")));
    }

    #[test]
    fn cron_ticks_are_utc() {
        let s = Schedule::cron("30 2 * * *").unwrap();
        let now = t("2024-06-01T10:07:31.5Z");
        assert_eq!(s.last_tick(now), Some(t("2024-06-01T02:30:00Z")));
        assert_eq!(s.next_tick(now), Some(t("2024-06-02T02:30:00Z")));
        let on = t("2024-06-01T02:30:00Z");
        assert_eq!(s.last_tick(on), Some(on));
        assert_eq!(s.last_tick(t("2024-06-01T02:30:00.9Z")), Some(on));
        assert_eq!(s.next_tick(on), Some(t("2024-06-02T02:30:00Z")));
    }

    #[test]
    fn windows_follow_ticks_settle_and_lookback() {
        let s = Schedule::Every(900);
        let start = t("2024-06-01T09:00:00Z");
        let (lb, settle) = (Duration::minutes(15), Duration::minutes(2));
        let now = t("2024-06-01T10:07:00Z");
        // New stream: from start to the last tick minus settle.
        assert_eq!(
            next_window(&s, start, None, lb, settle, now),
            Some((start, t("2024-06-01T09:58:00Z")))
        );
        // Already planned to there: nothing until the next tick.
        let planned = Some(t("2024-06-01T09:58:00Z"));
        assert_eq!(next_window(&s, start, planned, lb, settle, now), None);
        let later = t("2024-06-01T10:15:00Z");
        assert_eq!(
            next_window(&s, start, planned, lb, settle, later),
            Some((t("2024-06-01T09:43:00Z"), t("2024-06-01T10:13:00Z")))
        );
        // The lookback never reaches before start.
        let planned = Some(t("2024-06-01T09:05:00Z"));
        assert_eq!(
            next_window(&s, start, planned, lb, settle, later),
            Some((start, t("2024-06-01T10:13:00Z")))
        );
        // A start in the future plans nothing yet.
        assert_eq!(
            next_window(&s, t("2024-06-02T00:00:00Z"), None, lb, settle, now),
            None
        );
    }
}
