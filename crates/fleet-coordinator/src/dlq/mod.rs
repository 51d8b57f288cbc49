//! Dead letters: the jobs the fleet gave up on, read from the dead-letter queue,
//! classified, and judged against their slices in the ledger — listed, shown or
//! replayed (`uipath-fleet dlq`, which prints what this decides).
//!
//! Guarantees:
//! - Reading changes nothing. [`Held::take`] consumes the *whole* dead-letter queue and
//!   holds every delivery unsettled; the caller then closes that connection, and
//!   RabbitMQ puts the letters back (the queue is a quorum queue with no delivery limit)
//!   in the order they were delivered. Returned messages go *behind* those still
//!   waiting, so taking only some would move them to the back. At most 65,535 letters
//!   can be read this way; with more in the queue reading is refused rather than
//!   reorder them.
//! - A replay ([`Replay`]) sends a letter's job back to its lane only after the ledger
//!   has moved the slice from Failed to Queued (reopening its request, see
//!   `fleet_core::ledger::Transition::Requeue`), and acks the letter only after the
//!   broker has confirmed that publish. Interrupted anywhere, nothing is lost: a letter
//!   whose slice is already Queued is sent again by the next replay.
//! - What happens to each chosen letter, and why ([`Verdict`]):
//!   - slice Failed: requeued in the ledger, job re-sent, letter acked (**replayed**);
//!   - slice Planned, Queued or Running (an interrupted replay, or a job RabbitMQ
//!     dead-lettered over its delivery limit while the ledger still had it running): the
//!     job is sent again as it is, letter acked (**replayed**; workers fence duplicates);
//!   - slice Completed, Split or Cancelled, or its request Cancelled, or a second letter
//!     of a slice replayed earlier in the same run: nothing to redo, letter acked
//!     (**dropped**);
//!   - a body that is not a slice job of this version, or a slice the ledger does not
//!     know (wrong prefix? wiped ledger?): the letter stays (**kept**), for a person.
//! - A dry run decides the same and changes nothing.
//! - Ids given to a replay that match no letter are refused before anything changes.
//!
//! Messages are built by `fleet_core::messages` (`replayed`), like every other.

mod inspect;
mod letter;
mod replay;

use fleet_core::{BrokerError, LedgerError};

pub use crate::error::DlqError;
pub use inspect::{ListReport, ShowReport};
pub use letter::{Held, Letter, Summary, BROKER_REASON};
pub use replay::{Choice, Replay, Tally, Verdict};

fn ledger(what: String) -> impl FnOnce(LedgerError) -> DlqError {
    move |source| DlqError::Ledger { what, source }
}

fn broker(what: String) -> impl FnOnce(BrokerError) -> DlqError {
    move |source| DlqError::Broker { what, source }
}
