//! The ids this process wrote lately, for dropping duplicates — in bounded memory.
//!
//! Each id is kept as 128 bits: the fleet's record ids are 32 lowercase hex digits (128 bits of
//! SHA-256, see `fleet_core::wire::record_id`) and are stored exactly; any other id is
//! reduced to the first 128 bits of its SHA-256.
//!
//! **Bounded.** A sink runs for months; remembering every id it ever wrote would grow
//! without end. Ids are kept in two generations of at most `window` ids each: flushed
//! ids go into the current one; when it holds `window` ids it becomes the previous one
//! and the old previous one is forgotten. So an id is remembered until at least `window`
//! other distinct ids were flushed after it, and never more than `2 × window` ids are
//! held (plus the pending ones of the batch being written): about 40 bytes per id at
//! most, e.g. under 40 MB for the default window of 500,000.
//!
//! **What still passes:** a duplicate that arrives more than `window` distinct ids after
//! its first copy may be written again. The fleet's duplicates come from a page read
//! again after a crash or a redelivered batch, minutes apart at most, so a window far
//! larger than a page or a batch drops them; consumers that need exactly-once keep the
//! last line per `id` anyway (delivery is at-least-once across restarts).
//!
//! An id counts as seen only once the file it went to was flushed: ids written since
//! the last flush are *pending*, and a failed write or flush forgets them, because the
//! messages they came in are not acknowledged and will be delivered again — skipping
//! them then would lose records. Forgetting can only cause a duplicate line, never a
//! missing one.

use std::collections::HashSet;

use sha2::{Digest, Sha256};

/// Distinct ids remembered at least, by default (see the module docs).
pub const DEFAULT_DEDUPE_WINDOW: usize = 500_000;

#[derive(Debug)]
pub(crate) struct Seen {
    window: usize,
    current: HashSet<u128>,
    previous: HashSet<u128>,
    pending: HashSet<u128>,
}

fn key(id: &str) -> u128 {
    if id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        if let Ok(k) = u128::from_str_radix(id, 16) {
            return k;
        }
    }
    let digest = Sha256::digest(id.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    u128::from_be_bytes(bytes)
}

impl Seen {
    /// Remembers at least the last `window` distinct flushed ids (at least 1).
    pub fn new(window: usize) -> Seen {
        Seen {
            window: window.max(1),
            current: HashSet::new(),
            previous: HashSet::new(),
            pending: HashSet::new(),
        }
    }

    /// Records `id` as written (pending); `false` if it was written lately.
    pub fn insert(&mut self, id: &str) -> bool {
        let k = key(id);
        !self.current.contains(&k) && !self.previous.contains(&k) && self.pending.insert(k)
    }

    /// Everything pending is on disk now.
    pub fn flushed(&mut self) {
        for k in self.pending.drain() {
            self.current.insert(k);
            if self.current.len() >= self.window {
                // The previous generation is forgotten; its allocation is reused.
                std::mem::swap(&mut self.current, &mut self.previous);
                self.current.clear();
            }
        }
    }

    /// Writing failed: what is pending may not be on disk and will come again.
    pub fn forget_pending(&mut self) {
        self.pending.clear();
    }

    /// Ids remembered now (flushed and pending).
    pub fn len(&self) -> usize {
        self.current.len() + self.previous.len() + self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_seen_once_and_forgotten_only_before_a_flush() {
        let mut s = Seen::new(DEFAULT_DEDUPE_WINDOW);
        let hex = "0123456789abcdef0123456789abcdef";
        assert!(s.insert(hex));
        assert!(!s.insert(hex));
        assert!(s.insert("row:not-hex"));
        assert!(!s.insert("row:not-hex"));
        s.forget_pending();
        assert!(s.insert(hex), "a failed write forgets it");
        s.flushed();
        s.forget_pending();
        assert!(!s.insert(hex), "a flushed id stays seen");
        assert_eq!(s.len(), 1);
        assert_eq!(key(hex), 0x0123456789abcdef0123456789abcdef);
        assert_ne!(key("a"), key("b"));
    }

    /// A long run: memory stays within two windows however many ids pass, every id of
    /// the last `window` is still dropped, and only ids older than that may pass again.
    #[test]
    fn memory_stays_bounded_and_recent_duplicates_are_still_dropped() {
        const WINDOW: usize = 1_000;
        const BATCH: usize = 100;
        let mut s = Seen::new(WINDOW);
        let id = |n: usize| format!("{n:032x}");
        let mut most = 0;
        for n in 0..200_000 {
            assert!(s.insert(&id(n)), "{n} is new");
            if n % BATCH == BATCH - 1 {
                s.flushed();
            }
            most = most.max(s.len());
        }
        s.flushed();
        assert!(
            most <= 2 * WINDOW + BATCH,
            "at most two windows and a batch remembered, held {most}"
        );
        // The capacity (the memory actually held) is bounded too, not only the count.
        let capacity = s.current.capacity() + s.previous.capacity() + s.pending.capacity();
        assert!(capacity <= 8 * WINDOW, "capacity {capacity}");
        for n in 200_000 - WINDOW..200_000 {
            assert!(!s.insert(&id(n)), "{n} is among the last {WINDOW}: dropped");
        }
        assert!(s.insert(&id(0)), "an id 200,000 back may pass again");
    }
}
