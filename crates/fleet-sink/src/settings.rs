//! `[sink]` of the fleet's configuration file: where and how the file sink writes
//! records (`uipath-fleet sink`, and the embedded fleet's output). This crate reads and
//! checks the section itself; errors name `sink.<field>`.
//!
//! ```toml
//! [sink]
//! queue = "sink"                 # the subscription queue: <prefix>.sub.<queue>
//! patterns = ["acme.#"]          # topic patterns over <source>.<dataset> routing keys
//! dir = "out"                    # <dir>/<source>/<dataset>/<YYYY-MM-DD>.ndjson
//! dedupe = true                  # skip record ids this process wrote lately
//! dedupe_window = 500000         # ... remembering at least this many ids (bounded memory)
//! file_mode = "0600"             # new files (directories get 0700): private by default
//! batch = 500                    # messages per flush at most
//! flush_interval_ms = 1000       # the longest a message waits for its flush and ack
//! ```

use std::path::PathBuf;
use std::time::Duration;

use fleet_core::settings::{millis, secs};
use serde::Deserialize;

use crate::{ConsumeOptions, SinkError, SinkOptions, DEFAULT_DEDUPE_WINDOW, DEFAULT_FILE_MODE};

/// The most messages one batch may hold: a batch is also the subscription's prefetch,
/// which AMQP counts in 16 bits.
pub const MAX_BATCH: usize = u16::MAX as usize;

/// The `[sink]` section; every field is optional.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SinkSection {
    /// The sink's own durable queue on the records exchange, `<prefix>.sub.<queue>`
    /// (messages wait there while the sink is stopped). Default `sink`.
    pub queue: String,
    /// Topic patterns over `<source>.<dataset>` routing keys: `#` (everything, the
    /// default), `acme.#` (one source), `*.jobs` (one dataset).
    pub patterns: Vec<String>,
    /// The directory partition files are written under. Default `out`.
    pub dir: PathBuf,
    /// Skip records whose id this process already wrote (default true). Across restarts
    /// duplicates remain possible: consumers dedupe by `id`.
    pub dedupe: bool,
    /// How many distinct ids dedupe remembers at least (default 500,000; at most twice
    /// as many are held, about 40 bytes each). A duplicate arriving after more than this
    /// many other ids were written may be written again.
    pub dedupe_window: usize,
    /// Permission bits of the record files, in octal (default `"0600"`: the sink's user
    /// only); new directories get the matching execute bits (`0700`). Files that exist
    /// keep their mode.
    pub file_mode: String,
    /// Messages written per flush and acknowledgement, at most (also the prefetch).
    /// Default 500.
    pub batch: usize,
    /// `flush_interval_ms`: the longest a written message waits for its flush and
    /// acknowledgement. Default 1000.
    #[serde(rename = "flush_interval_ms", deserialize_with = "millis")]
    pub flush_interval: Duration,
    /// `connect_timeout_secs`: how long to keep trying RabbitMQ at start before giving
    /// up. Default 30.
    #[serde(rename = "connect_timeout_secs", deserialize_with = "secs")]
    pub connect_timeout: Duration,
}

impl Default for SinkSection {
    fn default() -> Self {
        let lib = ConsumeOptions::default();
        SinkSection {
            queue: "sink".into(),
            patterns: vec!["#".into()],
            dir: PathBuf::from("out"),
            dedupe: true,
            dedupe_window: DEFAULT_DEDUPE_WINDOW,
            file_mode: format!("{DEFAULT_FILE_MODE:04o}"),
            batch: lib.batch,
            flush_interval: lib.flush_interval,
            connect_timeout: Duration::from_secs(30),
        }
    }
}

/// Fails with a [`SinkError::Config`] built like `format!`.
macro_rules! invalid {
    ($($arg:tt)*) => {
        return Err(SinkError::Config(format!($($arg)*)))
    };
}

impl SinkSection {
    pub fn validate(&self) -> Result<(), SinkError> {
        if self.queue.is_empty()
            || self.queue.len() > 200
            || !self
                .queue
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            invalid!(
                "sink.queue: `{}` must be 1 to 200 characters of letters, digits, `.`, `_` or `-`",
                self.queue
            );
        }
        if self.patterns.is_empty() {
            invalid!("sink.patterns: give at least one pattern, e.g. [\"#\"] for every record");
        }
        for (i, p) in self.patterns.iter().enumerate() {
            if p.is_empty() || p.len() > 200 || p.contains(char::is_whitespace) {
                invalid!(
                    "sink.patterns[{i}]: `{p}` must be a topic pattern of 1 to 200 characters without spaces, e.g. `acme.#` or `*.jobs`"
                );
            }
        }
        if self.dir.as_os_str().is_empty() {
            invalid!("sink.dir: must name a directory");
        }
        if self.batch == 0 || self.batch > MAX_BATCH {
            invalid!("sink.batch: must be 1 to {MAX_BATCH}");
        }
        let ms = self.flush_interval.as_millis();
        if ms == 0 || ms > 600_000 {
            invalid!("sink.flush_interval_ms: must be 1 to 600000 (ten minutes)");
        }
        if self.connect_timeout < Duration::from_secs(1) {
            invalid!("sink.connect_timeout_secs: must be at least 1");
        }
        if self.dedupe_window == 0 {
            invalid!("sink.dedupe_window: must be at least 1 (or set sink.dedupe = false)");
        }
        self.file_mode_bits()?;
        Ok(())
    }

    /// `file_mode` as permission bits.
    fn file_mode_bits(&self) -> Result<u32, SinkError> {
        let text = self.file_mode.trim();
        let digits = text.strip_prefix("0o").unwrap_or(text);
        match u32::from_str_radix(digits, 8) {
            Ok(mode) if !digits.is_empty() && digits.len() <= 4 && mode <= 0o777 => {
                if mode & 0o600 != 0o600 {
                    invalid!(
                        "sink.file_mode: `{}` must let the sink's own user read and write (0600 at least)",
                        self.file_mode
                    );
                }
                Ok(mode)
            }
            _ => invalid!(
                "sink.file_mode: `{}` is not a file mode; give octal permission bits such as \"0600\" (owner only) or \"0640\" (group may read)",
                self.file_mode
            ),
        }
    }

    /// How the file sink writes, as this section asks (checked by `validate`).
    pub fn sink_options(&self) -> SinkOptions {
        SinkOptions {
            dedupe_window: self.dedupe.then_some(self.dedupe_window),
            file_mode: self.file_mode_bits().unwrap_or(DEFAULT_FILE_MODE),
            ..SinkOptions::default()
        }
    }

    /// The batching this section asks for.
    pub fn consume_options(&self) -> ConsumeOptions {
        ConsumeOptions {
            batch: self.batch,
            flush_interval: self.flush_interval,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(text: &str) -> Result<SinkSection, String> {
        let s: SinkSection = toml::from_str(text).map_err(|e| e.to_string())?;
        s.validate().map_err(|e| e.to_string())?;
        Ok(s)
    }

    #[test]
    fn defaults_and_mistakes_are_named() {
        let c = section("").unwrap();
        assert_eq!(c.queue, "sink");
        assert_eq!(c.patterns, ["#"]);
        assert_eq!(c.dir, PathBuf::from("out"));
        assert!(c.dedupe);
        assert_eq!(c.consume_options(), ConsumeOptions::default());
        assert_eq!(c.sink_options(), SinkOptions::default());
        assert_eq!(c.sink_options().file_mode, 0o600);

        let c = section("file_mode = \"0640\"\ndedupe_window = 1000\n").unwrap();
        let o = c.sink_options();
        assert_eq!((o.file_mode, o.dedupe_window), (0o640, Some(1000)));

        let c = section(
            "queue = \"lake\"\npatterns = [\"acme.#\", \"*.jobs\"]\ndir = \"/data\"\ndedupe = false\nbatch = 10\nflush_interval_ms = 250\n",
        )
        .unwrap();
        assert_eq!(
            c.consume_options(),
            ConsumeOptions {
                batch: 10,
                flush_interval: Duration::from_millis(250)
            }
        );
        assert!(!c.dedupe);

        for (toml, field) in [
            ("queue = \"\"", "sink.queue"),
            ("queue = \"a b\"", "sink.queue"),
            ("patterns = []", "sink.patterns"),
            ("patterns = [\"a b\"]", "sink.patterns[0]"),
            ("dir = \"\"", "sink.dir"),
            ("batch = 0", "sink.batch"),
            ("batch = 70000", "sink.batch"),
            ("flush_interval_ms = 0", "sink.flush_interval_ms"),
            ("flush_interval_ms = 600001", "sink.flush_interval_ms"),
            ("connect_timeout_secs = 0", "sink.connect_timeout_secs"),
            ("dedupe_window = 0", "sink.dedupe_window"),
            ("file_mode = \"0400\"", "sink.file_mode"),
            ("file_mode = \"rw-------\"", "sink.file_mode"),
            ("file_mode = \"01777\"", "sink.file_mode"),
            ("colour = \"red\"", "colour"),
        ] {
            let e = section(toml).unwrap_err();
            assert!(e.contains(field), "{toml}: {e}");
        }
    }
}
