//! Bounded waits around lapin's connection recovery.
//!
//! lapin resolves an operation that was in flight when the connection dropped (a
//! publisher confirm, a `basic.get` reply) only once it has *reconnected*, and never if
//! it gives up. So every wait on the broker here is raced against the channel's state:
//! [`while_connected`] abandons the wait as soon as the channel stops being connected,
//! and [`wait_recovered`] waits for a recovery but no longer than its deadline. The
//! operations above turn both into `Unavailable`; what was in flight is then unknown
//! (republish) or will be redelivered (unacked deliveries).

use std::future::Future;
use std::time::Duration;

use lapin::Channel;
use tokio::time::Instant;

/// How often a wait looks at the channel's state. A lost connection is noticed within
/// this much of lapin noticing it (a closed socket at once, a silent peer after two
/// missed heartbeats).
const STATE_POLL: Duration = Duration::from_millis(50);

/// `now + wait`, saturating: a caller may pass `Duration::MAX` for "as long as it takes".
pub(crate) fn deadline_after(wait: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(wait)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 86_400))
}

/// Open, or lost but being brought back by lapin.
pub(crate) fn usable(ch: &Channel) -> bool {
    let s = ch.status();
    s.connected() || s.reconnecting()
}

/// Runs `op`; `None` if `ch` stops being connected first (`op` is then dropped).
pub(crate) async fn while_connected<T>(ch: &Channel, op: impl Future<Output = T>) -> Option<T> {
    Watch::new(ch).run(op).await
}

/// [`while_connected`] for many waits in a row on one channel, with one timer for all.
pub(crate) struct Watch<'a> {
    ch: &'a Channel,
    tick: tokio::time::Interval,
}

impl<'a> Watch<'a> {
    pub(crate) fn new(ch: &'a Channel) -> Self {
        let mut tick = tokio::time::interval(STATE_POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Watch { ch, tick }
    }

    /// Runs `op`; `None` if the channel stops being connected first.
    pub(crate) async fn run<T>(&mut self, op: impl Future<Output = T>) -> Option<T> {
        tokio::pin!(op);
        loop {
            tokio::select! {
                biased;
                out = &mut op => return Some(out),
                _ = self.tick.tick() => {
                    if !self.ch.status().connected() {
                        return None;
                    }
                }
            }
        }
    }
}

/// Waits, until `until` at the latest, for `ch` to be connected again. `false` if the
/// time ran out or the channel is closed for good.
pub(crate) async fn wait_recovered(ch: &Channel, until: Instant) -> bool {
    loop {
        if ch.status().connected() {
            return true;
        }
        if !usable(ch) || Instant::now() >= until {
            return false;
        }
        tokio::time::sleep_until(until.min(Instant::now() + STATE_POLL)).await;
    }
}
