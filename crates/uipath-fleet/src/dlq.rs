//! `uipath-fleet dlq list|show|replay`: the jobs the fleet gave up on, read from the
//! dead-letter queue on RabbitMQ and matched with their slices in the Redis ledger.
//! What is read, and what a replay does with each letter (requeue before publish, ack
//! after the confirm), is `fleet_coordinator::dlq`; this is the command around it.
//!
//! - `list` and `show` change nothing: the letters are held unsettled on a connection of
//!   their own and given back, in their order, by closing it. `list --limit` only limits
//!   what is printed.
//! - `replay` prints one line per chosen letter: what happened to it and why;
//!   `--dry-run` prints the same lines as "would ..." and changes nothing. Ids that
//!   match no letter are refused (exit 1) before anything changes.

mod render;

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{ArgGroup, Args, Subcommand};
use fleet_coordinator::dlq::{Choice, Held, Replay};
use tokio_util::sync::CancellationToken;

use crate::cli::BackendArgs;
use crate::config::FleetConfig;
use fleet_assembly::dead_letters::DeadLetters;

/// Flags of `uipath-fleet dlq`.
#[derive(Debug, Clone, clap::Args)]
pub struct DlqArgs {
    #[command(subcommand)]
    pub action: DlqAction,
}

/// What to do with the dead letters.
#[derive(Debug, Clone, Subcommand)]
pub enum DlqAction {
    /// The dead-lettered jobs, oldest first, with their reasons (nothing is removed).
    List(ListArgs),
    /// One dead letter in full: headers, job, and its slice in the ledger.
    Show(ShowArgs),
    /// Send dead-lettered jobs back to their lanes after fixing the cause.
    Replay(ReplayArgs),
}

/// Where the fleet is: the configuration file and the backend flags.
#[derive(Debug, Clone, Args)]
pub struct Target {
    /// The configuration file (TOML) with `[broker]` and `[redis]`.
    #[arg(long, value_name = "FILE", env = "UIPATH_FLEET_CONFIG")]
    pub config: Option<PathBuf>,

    #[command(flatten)]
    pub backends: BackendArgs,
}

/// Flags of `uipath-fleet dlq list`.
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub target: Target,

    /// Print at most this many letters (the oldest); the counts cover them all.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub limit: usize,

    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Flags of `uipath-fleet dlq show`.
#[derive(Debug, Clone, Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub target: Target,

    /// The letter's message id (the slice id, for the fleet's own dead letters).
    #[arg(value_name = "MESSAGE_ID")]
    pub id: String,

    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Flags of `uipath-fleet dlq replay`.
#[derive(Debug, Clone, Args)]
#[command(group(ArgGroup::new("which").required(true).args(["ids", "reason", "all"])))]
pub struct ReplayArgs {
    #[command(flatten)]
    pub target: Target,

    /// The message ids of the letters to replay.
    #[arg(value_name = "MESSAGE_ID")]
    pub ids: Vec<String>,

    /// Replay every letter with this `x-fleet-reason` (`broker` for letters RabbitMQ
    /// dead-lettered itself).
    #[arg(long, value_name = "REASON")]
    pub reason: Option<String>,

    /// Replay every letter.
    #[arg(long)]
    pub all: bool,

    /// Say what would happen; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

impl DlqArgs {
    /// The configuration file the command reads, if any.
    pub fn config_path(&self) -> Option<&Path> {
        self.target().config.as_deref()
    }

    fn target(&self) -> &Target {
        match &self.action {
            DlqAction::List(a) => &a.target,
            DlqAction::Show(a) => &a.target,
            DlqAction::Replay(a) => &a.target,
        }
    }
}

/// Runs `uipath-fleet dlq`.
pub async fn run(
    args: &DlqArgs,
    config: &FleetConfig,
    shutdown: CancellationToken,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let mut config = config.clone();
    args.target().backends.apply(&mut config);
    let amqp = config.broker.amqp_config("uipath-fleet dlq")?;
    let redis_url = config.redis.url_for()?;
    let prefix = config.redis.prefix().to_owned();
    let fleet = DeadLetters::connect(amqp, redis_url, prefix, &shutdown).await?;
    let (mut reader, mut held) = (None, Held::default());
    let result = match fleet.peek(&mut reader, &mut held).await {
        Ok(()) => match &args.action {
            DlqAction::List(a) => render::list(&held.letters, a.limit, a.json, out),
            DlqAction::Show(a) => render::show(&fleet, &held.letters, &a.id, a.json, out).await,
            DlqAction::Replay(a) => replay(&fleet, &mut held, a, out).await,
        },
        Err(e) => Err(e.into()),
    };
    fleet.give_back(reader, held).await;
    fleet.broker.close().await;
    result
}

/// `dlq replay`: one line per chosen letter, then the counts.
async fn replay(
    fleet: &DeadLetters,
    held: &mut Held,
    args: &ReplayArgs,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let choice = Choice {
        ids: args.ids.clone(),
        reason: args.reason.clone(),
        all: args.all,
    };
    let letters = &mut held.letters;
    let mut replay = Replay::new(&fleet.ledger, &fleet.broker, letters, &choice, args.dry_run)?;
    for letter in letters.iter_mut().filter(|l| choice.takes(l)) {
        let (verdict, why) = replay.step(letter).await?;
        let done = if args.dry_run {
            format!("would {}", verdict.word())
        } else {
            verdict.done().to_owned()
        };
        writeln!(out, "{}  {done}: {why}", letter.id())?;
    }
    let t = replay.tally();
    let total = t.total();
    if total == 0 {
        writeln!(out, "no dead letter matched")?;
    } else if args.dry_run {
        writeln!(
            out,
            "{total} letter(s): would replay {}, drop {}, keep {} (dry run: nothing changed)",
            t.replayed, t.dropped, t.kept
        )?;
    } else {
        writeln!(
            out,
            "{total} letter(s): {} replayed, {} dropped, {} kept",
            t.replayed, t.dropped, t.kept
        )?;
    }
    Ok(())
}
