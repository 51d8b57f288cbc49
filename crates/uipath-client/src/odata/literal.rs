//! Datetime literals as Orchestrator and Data Service accept them, and the check that a
//! served time value can go back into a `$filter` unchanged.
//!
//! UiPath writes times as ISO-8601 UTC (`2024-04-04T12:00:47.264Z`) and accepts them
//! unquoted in `$filter` (`CreationTime ge 2024-04-04T12:00:47.264Z`). A keyset cursor
//! must reproduce the exact value a record was served with, or `eq` would miss it, so the
//! cursor keeps the served text and this module only checks that it is a datetime made of
//! datetime characters (a ledger is outside input; nothing else may reach a filter).

use chrono::{DateTime, SecondsFormat, Utc};

/// A slice bound as a literal: milliseconds when the bound is a whole millisecond (the
/// precision UiPath serves), else the 100 ns ticks .NET keeps, so no bound is ever moved.
pub(crate) fn format_datetime(t: &DateTime<Utc>) -> String {
    if t.timestamp_subsec_nanos().is_multiple_of(1_000_000) {
        t.to_rfc3339_opts(SecondsFormat::Millis, true)
    } else {
        // Seven fractional digits: truncate nanoseconds to ticks.
        let ticks = t.timestamp_subsec_nanos() / 100;
        format!("{}.{ticks:07}Z", t.format("%Y-%m-%dT%H:%M:%S"))
    }
}

/// Parses a served datetime (any offset, any fraction length; without a zone it is
/// UTC) with fleet-core's one UiPath time parser. A date alone is no datetime.
pub fn parse_datetime(text: &str) -> Option<DateTime<Utc>> {
    fleet_core::time::parse_instant(text).ok()
}

/// Whether `text` can be put unquoted into a filter: a valid datetime spelled only with
/// digits, `-`, `:`, `.`, `+`, `T` and `Z`.
pub(crate) fn is_safe_datetime(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 40
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || b"-:.+TZtz".contains(&b))
        && parse_datetime(text).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn bounds_format_like_the_served_values() {
        let t = Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 47).unwrap();
        assert_eq!(format_datetime(&t), "2025-03-01T12:00:47.000Z");
        let t = t + chrono::Duration::milliseconds(264);
        assert_eq!(format_datetime(&t), "2025-03-01T12:00:47.264Z");
        let t = t + chrono::Duration::nanoseconds(123_456);
        assert_eq!(format_datetime(&t), "2025-03-01T12:00:47.2641234Z");
        assert_eq!(
            parse_datetime(&format_datetime(&t)).unwrap(),
            t - chrono::Duration::nanoseconds(56)
        );
    }

    #[test]
    fn a_served_time_without_a_zone_is_read_as_utc() {
        // Some Data Service fields come without a zone; the sink reads them as UTC, and
        // so must the cursor and the stamp check.
        let t = Utc.with_ymd_and_hms(2024, 4, 4, 12, 0, 47).unwrap()
            + chrono::Duration::milliseconds(264);
        assert_eq!(parse_datetime("2024-04-04T12:00:47.264"), Some(t));
        assert!(is_safe_datetime("2024-04-04T12:00:47.264"));
        // A date is no instant a keyset cursor could resume after.
        assert_eq!(parse_datetime("2024-04-04"), None);
        assert!(!is_safe_datetime("2024-04-04"));
    }

    #[test]
    fn only_datetimes_pass_into_a_filter() {
        assert!(is_safe_datetime("2024-04-04T12:00:47.264Z"));
        assert!(is_safe_datetime("2024-04-04T12:00:47.2633333Z"));
        assert!(is_safe_datetime("2024-04-04T14:00:47+02:00"));
        assert!(!is_safe_datetime("2024-04-04T12:00:47Z) or (Id gt 0"));
        assert!(!is_safe_datetime("2024-13-04T12:00:47Z"));
        assert!(!is_safe_datetime(""));
        assert!(!is_safe_datetime("12345"));
    }
}
