//! THE parser of UiPath times: every crate that reads a time UiPath served (a record's
//! field, a keyset cursor, a sink partition) reads it here, so they cannot disagree.
//!
//! What UiPath sends:
//! - **With a zone** — RFC 3339, `Z` or an offset, 0–7 fractional digits
//!   (`2024-04-04T12:00:47.264Z`, `2024-04-04T14:00:47.2633333+02:00`). Orchestrator
//!   always sends one.
//! - **Without a zone** — some Data Service fields and RobotLogs
//!   (`2024-04-04T12:00:47.264`). UiPath stores them as UTC, so they are read as UTC.
//! - **A date** — `2024-04-04` (Data Service `Date` fields): it stays a date, never
//!   becomes an instant in some zone ([`UiPathTime::Date`]).
//!
//! Anything else is a [`TimeError`] that says which forms are accepted. User input
//! (request bounds) is parsed here too, but its reader refuses a zone-less time rather
//! than guess ([`UiPathTime::Instant::zoned`]).

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone as _, Utc};

/// A time as UiPath wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UiPathTime {
    /// A point in time, in UTC. `zoned` says whether the text named its zone (else it was
    /// read as UTC).
    Instant { at: DateTime<Utc>, zoned: bool },
    /// A calendar date without a time.
    Date(NaiveDate),
}

impl UiPathTime {
    /// The calendar date: an instant's UTC date, or the date itself.
    pub fn date(self) -> NaiveDate {
        match self {
            UiPathTime::Instant { at, .. } => at.date_naive(),
            UiPathTime::Date(d) => d,
        }
    }

    /// The instant it starts at: an instant itself, a date's midnight UTC.
    pub fn start(self) -> DateTime<Utc> {
        match self {
            UiPathTime::Instant { at, .. } => at,
            UiPathTime::Date(d) => Utc.from_utc_datetime(&d.and_time(chrono::NaiveTime::MIN)),
        }
    }
}

/// A text that is not a UiPath time. Names the text (cut short; a time is never a secret)
/// and the accepted forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error(
        "`{0}` is not a time: expected RFC 3339 such as 2024-01-01T09:30:12.345Z \
         (without a zone it is read as UTC) or a date such as 2024-01-01"
    )]
    Malformed(String),
    #[error("`{0}` is a date without a time of day, where a time is expected")]
    DateOnly(String),
}

/// The longest text quoted back in an error.
const MAX_QUOTED: usize = 40;

fn quoted(text: &str) -> String {
    match text.char_indices().nth(MAX_QUOTED) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// Parses a time as UiPath writes it (see the module docs). Surrounding whitespace is
/// ignored.
pub fn parse(text: &str) -> Result<UiPathTime, TimeError> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(UiPathTime::Instant {
            at: t.with_timezone(&Utc),
            zoned: true,
        });
    }
    // `T` only: chrono's `%.f` also takes no fraction, and 1–9 digits.
    if let Ok(t) = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f") {
        return Ok(UiPathTime::Instant {
            at: t.and_utc(),
            zoned: false,
        });
    }
    // Exactly ten characters: chrono would also take `2024-1-1`, which is no ISO date.
    if text.len() == 10 {
        if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            return Ok(UiPathTime::Date(d));
        }
    }
    Err(TimeError::Malformed(quoted(text)))
}

/// Parses a time that must be an instant (with or without a zone; zone-less is UTC): a
/// date alone is refused, because it is not a point that can be compared with one.
pub fn parse_instant(text: &str) -> Result<DateTime<Utc>, TimeError> {
    match parse(text)? {
        UiPathTime::Instant { at, .. } => Ok(at),
        UiPathTime::Date(_) => Err(TimeError::DateOnly(quoted(text.trim()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Timelike as _;

    fn utc(y: i32, m: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, mi, s).unwrap()
    }

    #[test]
    fn a_time_with_a_zone_is_that_instant_in_utc() {
        assert_eq!(
            parse("2024-04-04T12:00:47Z").unwrap(),
            UiPathTime::Instant {
                at: utc(2024, 4, 4, 12, 0, 47),
                zoned: true
            }
        );
        assert_eq!(
            parse_instant("2024-04-04T14:00:47+02:00").unwrap(),
            utc(2024, 4, 4, 12, 0, 47)
        );
        // Late in the evening west of Greenwich is the next day in UTC.
        assert_eq!(
            parse("2024-04-04T22:00:00-05:00").unwrap().date(),
            NaiveDate::from_ymd_opt(2024, 4, 5).unwrap()
        );
    }

    #[test]
    fn a_time_without_a_zone_is_read_as_utc() {
        assert_eq!(
            parse("2024-04-04T12:00:47.264").unwrap(),
            UiPathTime::Instant {
                at: utc(2024, 4, 4, 12, 0, 47) + chrono::Duration::milliseconds(264),
                zoned: false
            }
        );
        assert_eq!(
            parse_instant(" 2024-04-04T23:59:59 ").unwrap(),
            utc(2024, 4, 4, 23, 59, 59)
        );
    }

    #[test]
    fn a_date_stays_a_date() {
        let d = NaiveDate::from_ymd_opt(2024, 4, 4).unwrap();
        assert_eq!(parse("2024-04-04").unwrap(), UiPathTime::Date(d));
        assert_eq!(parse("2024-04-04").unwrap().date(), d);
        assert_eq!(
            parse("2024-04-04").unwrap().start(),
            utc(2024, 4, 4, 0, 0, 0)
        );
        let e = parse_instant("2024-04-04").unwrap_err();
        assert!(matches!(e, TimeError::DateOnly(_)), "{e}");
    }

    #[test]
    fn fractional_seconds_keep_every_digit_uipath_sends() {
        for (text, nanos) in [
            ("2024-04-04T12:00:47.2Z", 200_000_000),
            ("2024-04-04T12:00:47.264Z", 264_000_000),
            ("2024-04-04T12:00:47.2633333Z", 263_333_300),
            ("2024-04-04T12:00:47.2633333", 263_333_300),
            ("2024-04-04T12:00:47.123456789+00:00", 123_456_789),
        ] {
            assert_eq!(parse_instant(text).unwrap().nanosecond(), nanos, "{text}");
        }
    }

    #[test]
    fn anything_else_is_refused_with_the_forms_that_would_do() {
        for text in [
            "",
            "yesterday",
            "2024-1-4",
            "04/04/2024",
            "2024-13-04T12:00:47Z",
            "2024-04-04 12:00",
            "1712232047",
            "2024-04-04T12:00:47Z) or (Id gt 0",
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains("expected RFC 3339"), "{text}: {e}");
            assert!(e.contains("read as UTC"), "{text}: {e}");
        }
        let long = "x".repeat(500);
        assert!(parse(&long).unwrap_err().to_string().len() < 200);
    }
}
