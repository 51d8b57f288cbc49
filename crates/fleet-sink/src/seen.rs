//! The ids this process has written, for dropping duplicates within one run.
//!
//! Each id is kept as 128 bits: the fleet's record ids are 32 lowercase hex digits (128 bits of
//! SHA-256, see `fleet_core::wire::record_id`) and are stored exactly; any other id is
//! reduced to the first 128 bits of its SHA-256. About 16 bytes plus the set's overhead
//! per record.
//!
//! An id counts as seen for good only once the file it went to was flushed: ids written
//! since the last flush are *pending*, and a failed write or flush forgets them, because
//! the messages they came in are not acknowledged and will be delivered again — skipping
//! them then would lose records. Forgetting can only cause a duplicate line, never a
//! missing one.

use std::collections::HashSet;

use sha2::{Digest, Sha256};

#[derive(Debug, Default)]
pub(crate) struct Seen {
    flushed: HashSet<u128>,
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
    /// Records `id` as written (pending); `false` if it was written before.
    pub fn insert(&mut self, id: &str) -> bool {
        let k = key(id);
        !self.flushed.contains(&k) && self.pending.insert(k)
    }

    /// Everything pending is on disk now.
    pub fn flushed(&mut self) {
        if self.flushed.is_empty() {
            std::mem::swap(&mut self.flushed, &mut self.pending);
        } else {
            self.flushed.extend(self.pending.drain());
        }
    }

    /// Writing failed: what is pending may not be on disk and will come again.
    pub fn forget_pending(&mut self) {
        self.pending.clear();
    }

    pub fn len(&self) -> usize {
        self.flushed.len() + self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_seen_once_and_forgotten_only_before_a_flush() {
        let mut s = Seen::default();
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
}
