//! Turning lapin's errors into the [`BrokerError`] dispositions callers act on.
//!
//! Connection and channel trouble of any kind is `Unavailable` (retry later; publish
//! again; unacked messages come back). Only a declared object that clashes with what
//! exists is `Topology` (needs an operator). lapin's messages name channels, states and
//! AMQP reply texts, never the URL, so they are safe to pass on.

use fleet_core::BrokerError;
use lapin::ErrorKind;

/// AMQP reply codes the broker closes a channel with.
pub(crate) const NOT_FOUND: u16 = 404;
pub(crate) const PRECONDITION_FAILED: u16 = 406;

/// lapin's own text for `e`.
pub(crate) fn describe(e: &lapin::Error) -> String {
    e.to_string()
}

/// `Unavailable("{context}: {e}")`.
pub(crate) fn unavailable(context: impl std::fmt::Display, e: &lapin::Error) -> BrokerError {
    BrokerError::Unavailable(format!("{context}: {}", describe(e)))
}

/// The AMQP reply code, when the broker closed the channel or connection on purpose.
pub(crate) fn reply_code(e: &lapin::Error) -> Option<u16> {
    match e.kind() {
        ErrorKind::ProtocolError(amqp) => Some(amqp.get_id()),
        _ => None,
    }
}

/// The error for a failed declare of `what` (`queue` / `exchange`) `name`: a clash with
/// an existing object is an operator's problem, with the fix in the message; anything
/// else is the connection's.
pub(crate) fn declare_error(what: &str, name: &str, e: &lapin::Error) -> BrokerError {
    if reply_code(e) == Some(PRECONDITION_FAILED) {
        BrokerError::Topology(format!(
            "{what} `{name}` already exists with other settings ({}); an older version \
             or another tool declared it. Delete it (`rabbitmqctl delete_queue {name}` for \
             a queue, after draining it) or configure another prefix",
            describe(e)
        ))
    } else {
        unavailable(format_args!("declaring {what} `{name}`"), e)
    }
}

/// The error for an operation on queue `name` that may not exist yet.
pub(crate) fn queue_error(op: &str, name: &str, e: &lapin::Error) -> BrokerError {
    if reply_code(e) == Some(NOT_FOUND) {
        // Transient on purpose: a worker may start before the coordinator declared.
        BrokerError::Unavailable(format!(
            "{op}: queue `{name}` does not exist; has `declare()` run with this prefix?"
        ))
    } else {
        unavailable(format_args!("{op} on `{name}`"), e)
    }
}
