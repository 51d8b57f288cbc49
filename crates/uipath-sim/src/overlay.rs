//! Records changed at run time: inserted records and updated versions of generated ones.
//!
//! Tests insert and update records while a fleet is reading, to prove that keyset paging
//! neither skips nor repeats records when the data moves underneath it. Generated records are
//! a pure function of their index, so a change cannot be written back; instead the overlay
//! hides the generated index and holds the new version, and the engine merges overlay rows
//! into every answer. Overlays stay small (tests change thousands of records, not millions),
//! so the engine filters and sorts them in full on each query.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use crate::value::Row;

/// The changes to one partition (folder or tenant) of one entity set.
#[derive(Debug, Clone, Default)]
pub struct PartOverlay {
    /// Generated index → the record's current version. The generated row at that index is
    /// hidden from every query.
    replaced: BTreeMap<u64, Row>,
    /// Records that never existed in the generated data, by id (or insertion order for
    /// entities without an id).
    inserted: BTreeMap<i64, Row>,
}

impl PartOverlay {
    /// True when the generated record at `index` has been replaced.
    pub fn hides(&self, index: u64) -> bool {
        self.replaced.contains_key(&index)
    }

    /// How many generated indices in `range` are hidden.
    pub fn hidden_in(&self, range: std::ops::Range<u64>) -> u64 {
        self.replaced.range(range).count() as u64
    }

    /// Every overlay row: replaced versions, then inserts.
    pub fn rows(&self) -> impl Iterator<Item = &Row> {
        self.replaced.values().chain(self.inserted.values())
    }

    /// The current version of a generated record, if it was replaced.
    pub fn replaced(&self, index: u64) -> Option<&Row> {
        self.replaced.get(&index)
    }

    /// The inserted record with this id, if any.
    pub fn inserted(&self, id: i64) -> Option<&Row> {
        self.inserted.get(&id)
    }

    pub fn is_empty(&self) -> bool {
        self.replaced.is_empty() && self.inserted.is_empty()
    }
}

/// Where a changed record lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartKey {
    pub entity: &'static str,
    pub part: usize,
}

/// All overlays of one tenant. Queries take a snapshot (a clone of one small partition
/// overlay) so no lock is held while records are generated.
#[derive(Debug, Default)]
pub struct TenantOverlay {
    parts: Mutex<HashMap<PartKey, PartOverlay>>,
}

impl TenantOverlay {
    fn with<R>(&self, f: impl FnOnce(&mut HashMap<PartKey, PartOverlay>) -> R) -> R {
        let mut guard = self.parts.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    /// A copy of the partition's overlay (empty when nothing changed).
    pub fn snapshot(&self, key: PartKey) -> PartOverlay {
        self.with(|parts| parts.get(&key).cloned().unwrap_or_default())
    }

    /// Stores a new version of the generated record at `index`.
    pub fn replace(&self, key: PartKey, index: u64, row: Row) {
        self.with(|parts| {
            parts.entry(key).or_default().replaced.insert(index, row);
        });
    }

    /// Stores an inserted record (or a new version of one) under its id.
    pub fn insert(&self, key: PartKey, id: i64, row: Row) {
        self.with(|parts| {
            parts.entry(key).or_default().inserted.insert(id, row);
        });
    }

    /// The largest id inserted into any partition of `entity`, if any.
    pub fn max_inserted_id(&self, entity: &str) -> Option<i64> {
        self.with(|parts| {
            parts
                .iter()
                .filter(|(k, _)| k.entity == entity)
                .filter_map(|(_, p)| p.inserted.keys().next_back().copied())
                .max()
        })
    }

    /// Number of changed records in the tenant.
    pub fn len(&self) -> usize {
        self.with(|parts| {
            parts
                .values()
                .map(|p| p.replaced.len() + p.inserted.len())
                .sum()
        })
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
