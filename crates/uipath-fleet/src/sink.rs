//! `uipath-fleet sink`: a downstream consumer of a distributed fleet. It binds its own
//! durable queue to the records exchange and writes the records as newline-delimited
//! JSON files (`<dir>/<source>/<dataset>/<YYYY-MM-DD>.ndjson`) or to stdout, with
//! [`fleet_sink`]. With `--stdout` the queue is a throwaway one that RabbitMQ deletes
//! when the process ends (`--durable` keeps the durable one): a look at the stream must
//! not leave a queue behind that fills forever.
//!
//! Order of events: apply flags over the file and check the result; open the output
//! (the directory is locked: one sink per directory); connect RabbitMQ (retried for
//! `sink.connect_timeout_secs`), declare the topology and the sink's queue with its
//! bindings; print one ready line; consume until `shutdown` — batches written, flushed
//! to disk, then acknowledged; at shutdown flush and acknowledge the last batch, close
//! the connection, print a one-line summary.
//!
//! Guarantees: an acknowledged record is on disk; a killed sink loses nothing (its
//! unacknowledged messages are delivered again, so at most one batch is written twice);
//! a malformed message is dead-lettered with a warning. stdout carries the two lines —
//! or, with `--stdout`, only the records, and the two lines go to stderr.

use std::io::Write;
use std::path::{Path, PathBuf};

use fleet_assembly::{SinkProcess, SinkProcessOptions};
use fleet_core::broker::{Feed, Subscription};
use fleet_sink::{ConsumeSummary, FileSink, Target};
use tokio_util::sync::CancellationToken;

use crate::cli::BackendArgs;
use crate::config::{ConfigError, FleetConfig};

/// Flags of `uipath-fleet sink`. Each overrides its `[sink]` field.
#[derive(Debug, Clone, clap::Args)]
pub struct SinkArgs {
    /// The configuration file (TOML); optional: flags and `UIPATH_FLEET_*` variables
    /// are enough.
    #[arg(long, value_name = "FILE", env = "UIPATH_FLEET_CONFIG")]
    pub config: Option<PathBuf>,

    #[command(flatten)]
    pub backends: BackendArgs,

    /// The sink's queue, `<prefix>.sub.<NAME>` (overrides sink.queue; default `sink`).
    #[arg(long, value_name = "NAME")]
    pub queue: Option<String>,

    /// A topic pattern over `<source>.<dataset>` routing keys, e.g. `acme.#` or
    /// `*.jobs`; repeat for several (overrides sink.patterns; default `#`).
    #[arg(long = "pattern", value_name = "PATTERN")]
    pub patterns: Vec<String>,

    /// The directory to write under (overrides sink.dir; default `out`).
    #[arg(long, value_name = "DIR", conflicts_with = "stdout")]
    pub dir: Option<PathBuf>,

    /// Write the records to stdout instead of files (the ready and summary lines then go
    /// to stderr). The queue is then a throwaway one, `<prefix>.tmp.<NAME>.<tag>`, that
    /// RabbitMQ deletes when this process ends (unless --durable).
    #[arg(long)]
    pub stdout: bool,

    /// With --stdout: consume the durable `<prefix>.sub.<NAME>` instead of a throwaway
    /// queue, so records wait there while no sink runs (and keep filling it until it is
    /// deleted).
    #[arg(long, requires = "stdout")]
    pub durable: bool,

    /// Write every record received, even an id this process already wrote.
    #[arg(long)]
    pub no_dedupe: bool,
}

impl SinkArgs {
    /// The configuration file the command reads, if any.
    pub fn config_path(&self) -> Option<&Path> {
        self.config.as_deref()
    }

    /// Writes the flags (and their environment variables) over the file's values.
    pub fn apply(&self, config: &mut FleetConfig) {
        self.backends.apply(config);
        let s = &mut config.sink;
        if let Some(queue) = &self.queue {
            s.queue = queue.clone();
        }
        if !self.patterns.is_empty() {
            s.patterns = self.patterns.clone();
        }
        if let Some(dir) = &self.dir {
            s.dir = dir.clone();
        }
        if self.no_dedupe {
            s.dedupe = false;
        }
    }
}

/// Runs `uipath-fleet sink` until `shutdown`.
pub async fn run(
    args: &SinkArgs,
    config: &FleetConfig,
    shutdown: CancellationToken,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let config = crate::with_flags(config, |c| args.apply(c))?;
    let settings = &config.sink;
    let mut stderr = std::io::stderr();
    // With --stdout, stdout is the data: the two lines go to stderr.
    let lines: &mut dyn Write = if args.stdout { &mut stderr } else { out };

    let amqp = config
        .broker
        .amqp_config(&format!("uipath-fleet sink {}", settings.queue))
        .map_err(ConfigError::from)?;
    // A sink writing files is the durable consumer of its queue; a stdout sink is a
    // look at the stream, and must not leave a queue behind that fills forever.
    let throwaway = args.stdout && !args.durable;
    let (target, target_text) = if args.stdout {
        (Target::Stdout, "stdout".to_owned())
    } else {
        (
            Target::Dir(settings.dir.clone()),
            settings.dir.display().to_string(),
        )
    };
    let options = SinkProcessOptions {
        amqp,
        connect_timeout: settings.connect_timeout,
        subscription: Subscription {
            queue: settings.queue.clone(),
            feed: Feed::Records {
                patterns: settings.patterns.clone(),
            },
            // A batch holds its deliveries until it is flushed.
            prefetch: u16::try_from(settings.batch).unwrap_or(u16::MAX),
        },
        throwaway,
        target,
        sink: settings.sink_options(),
        consume: settings.consume_options(),
    };
    let Some(sink) = SinkProcess::start(options, &shutdown).await? else {
        writeln!(lines, "sink stopped before it was ready")?;
        return Ok(());
    };

    writeln!(
        lines,
        "sink ready: {} queue {}, patterns {}, writing to {target_text} (dedupe {})",
        if throwaway { "throwaway" } else { "durable" },
        sink.queue(),
        settings.patterns.join(" "),
        if settings.dedupe { "on" } else { "off" },
    )?;
    lines.flush()?;

    let (summary, sink) = sink.run(shutdown).await?;
    writeln!(lines, "sink stopped: {}", describe(&summary, &sink))?;
    lines.flush()?;
    Ok(())
}

/// "3 records (acme.jobs 2, acme.queue-items 1); 1 duplicate skipped; 0 malformed rejected"
pub fn describe(summary: &ConsumeSummary, sink: &FileSink) -> String {
    let per_dataset: Vec<String> = sink
        .counts()
        .iter()
        .map(|((source, dataset), n)| format!("{source}.{dataset} {n}"))
        .collect();
    let per_dataset = if per_dataset.is_empty() {
        String::new()
    } else {
        format!(" ({})", per_dataset.join(", "))
    };
    format!(
        "{} records{per_dataset} in {} messages; {} duplicates skipped; {} malformed rejected",
        summary.records, summary.messages, summary.duplicates, summary.malformed
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser as _;

    #[test]
    fn flags_override_the_file() {
        let cli = Cli::try_parse_from([
            "uipath-fleet",
            "sink",
            "--amqp-url",
            "amqp://u:s3cret@h:5672/%2f",
            "--prefix",
            "p1",
            "--queue",
            "lake",
            "--pattern",
            "acme.#",
            "--pattern",
            "*.jobs",
            "--dir",
            "/data",
            "--no-dedupe",
        ])
        .unwrap();
        let Command::Sink(args) = &cli.command else {
            panic!("not sink")
        };
        assert!(!format!("{args:?}").contains("s3cret"));
        assert_eq!(args.config_path(), None);
        let mut config = FleetConfig::parse("[sink]\nqueue = \"file\"\n").unwrap();
        args.apply(&mut config);
        config.validate().unwrap();
        assert_eq!(config.broker.prefix(), "p1");
        assert_eq!(config.sink.queue, "lake");
        assert_eq!(config.sink.patterns, ["acme.#", "*.jobs"]);
        assert_eq!(config.sink.dir, PathBuf::from("/data"));
        assert!(!config.sink.dedupe);
        assert!(Cli::try_parse_from(["uipath-fleet", "sink", "--stdout", "--dir", "x"]).is_err());
    }

    #[test]
    fn the_summary_line_reads_well() {
        let sink = FileSink::to_writer(Box::new(std::io::sink()), true);
        let s = ConsumeSummary {
            messages: 2,
            records: 0,
            duplicates: 1,
            malformed: 1,
        };
        assert_eq!(
            describe(&s, &sink),
            "0 records in 2 messages; 1 duplicates skipped; 1 malformed rejected"
        );
    }

    #[tokio::test]
    async fn a_missing_broker_url_is_a_configuration_error() {
        let args = SinkArgs {
            config: None,
            backends: BackendArgs::default(),
            queue: None,
            patterns: vec![],
            dir: Some(std::env::temp_dir().join("uipath-fleet-sink-unused")),
            stdout: false,
            durable: false,
            no_dedupe: false,
        };
        let config = FleetConfig::parse("").unwrap();
        let e = run(&args, &config, CancellationToken::new(), &mut Vec::new())
            .await
            .unwrap_err();
        assert!(
            e.downcast_ref::<crate::config::ConfigError>().is_some(),
            "{e:#}"
        );
        assert!(format!("{e:#}").contains("broker.amqp_url"), "{e:#}");
    }
}
