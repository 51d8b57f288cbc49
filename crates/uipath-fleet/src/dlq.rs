//! `uipath-fleet dlq list|show|replay`: the jobs the fleet gave up on, read from the
//! dead-letter queue on RabbitMQ and matched with their slices in the Redis ledger.
//!
//! Guarantees:
//! - `list` and `show` change nothing. They consume the *whole* dead-letter queue and
//!   hold every delivery unsettled; when done they close that connection, and RabbitMQ
//!   puts the letters back (the queue is a quorum queue with no delivery limit) in the
//!   order they were delivered. Returned messages go *behind* those still waiting, so
//!   taking only some would move them to the back: `list --limit` only limits what is
//!   printed. (A letter dead-lettered while the command runs ends up ahead of the ones
//!   given back.) At most 65,535 letters can be read this way; with more in the queue
//!   the command refuses rather than reorder them.
//! - `replay` sends a letter's job back to its lane only after the ledger has moved the
//!   slice from Failed to Queued (reopening its request, see
//!   `fleet_core::ledger::Transition::Requeue`), and acks the letter only after the
//!   broker has confirmed that publish. Interrupted anywhere, nothing is lost: a letter
//!   whose slice is already Queued is sent again by the next replay.
//! - What happens to each chosen letter, and why, is one printed line:
//!   - slice Failed: requeued in the ledger, job re-sent, letter acked (**replayed**);
//!   - slice Planned, Queued or Running (an interrupted replay, or a job RabbitMQ
//!     dead-lettered over its delivery limit while the ledger still had it running): the
//!     job is sent again as it is, letter acked (**replayed**; workers fence duplicates);
//!   - slice Completed, Split or Cancelled, or its request Cancelled, or a second letter
//!     of a slice replayed earlier in the same run: nothing to redo, letter acked
//!     (**dropped**);
//!   - a body that is not a slice job of this version, or a slice the ledger does not
//!     know (wrong prefix? wiped ledger?): the letter stays (**kept**), for a person.
//! - `--dry-run` prints the same lines as "would ..." and changes nothing.
//! - Ids given to `replay` that match no letter are refused (exit 1) before anything
//!   changes.

mod letters;
mod render;
mod replay;

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{ArgGroup, Args, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::cli::BackendArgs;
use crate::config::FleetConfig;
use letters::{Fleet, Held};

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
    let fleet = Fleet::connect(&config, &shutdown).await?;
    let mut held = Held::default();
    let result = match fleet.peek(&mut held).await {
        Ok(()) => match &args.action {
            DlqAction::List(a) => fleet.list(&held.letters, a.limit, a.json, out).await,
            DlqAction::Show(a) => fleet.show(&held.letters, &a.id, a.json, out).await,
            DlqAction::Replay(a) => fleet.replay(&mut held.letters, a, out).await,
        },
        Err(e) => Err(e),
    };
    fleet.give_back(held).await;
    fleet.broker.close().await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    #[derive(clap::Parser, Debug)]
    struct Cmd {
        #[command(flatten)]
        dlq: DlqArgs,
    }

    #[test]
    fn replay_needs_exactly_one_choice() {
        assert!(Cmd::try_parse_from(["x", "replay"]).is_err());
        assert!(Cmd::try_parse_from(["x", "replay", "--all", "--reason", "not_found"]).is_err());
        assert!(Cmd::try_parse_from(["x", "replay", "abc", "--all"]).is_err());
        let cmd = Cmd::try_parse_from(["x", "replay", "a", "b", "--dry-run"]).unwrap();
        let DlqAction::Replay(r) = &cmd.dlq.action else {
            panic!("not replay")
        };
        assert_eq!((r.ids.len(), r.dry_run, r.all), (2, true, false));
        let cmd = Cmd::try_parse_from(["x", "list", "--config", "f.toml", "--limit", "5"]).unwrap();
        assert_eq!(cmd.dlq.config_path(), Some(Path::new("f.toml")));
    }
}
