//! Serde adapters for the fleet's configuration file, defined once for every crate that
//! reads its own section: durations are written as whole seconds (`*_secs`) or
//! milliseconds (`*_ms`) and read into [`Duration`]s.
//!
//! ```ignore
//! #[serde(rename = "drain_deadline_secs", deserialize_with = "fleet_core::settings::secs")]
//! pub drain_deadline: Duration,
//! ```

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// A whole number of seconds as a [`Duration`].
pub fn secs<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    u64::deserialize(d).map(Duration::from_secs)
}

/// A whole number of milliseconds as a [`Duration`].
pub fn millis<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    u64::deserialize(d).map(Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Section {
        #[serde(rename = "wait_secs", deserialize_with = "secs")]
        wait: Duration,
        #[serde(rename = "tick_ms", deserialize_with = "millis")]
        tick: Duration,
    }

    #[test]
    fn whole_units_become_durations() {
        let s: Section = serde_json::from_str(r#"{"wait_secs": 5, "tick_ms": 250}"#).unwrap();
        assert_eq!(
            (s.wait, s.tick),
            (Duration::from_secs(5), Duration::from_millis(250))
        );
        assert!(serde_json::from_str::<Section>(r#"{"wait_secs": -1, "tick_ms": 1}"#).is_err());
    }
}
