//! The generators served from a tenant's reference sets (releases, queues, schedules,
//! robots, folders, users): one record per stored entry, in stored order. The catalog
//! builds every set with ids and creation times increasing, so a set's index order is its
//! id order and its time order, which is the generator contract; counting, ids and times
//! are read off the set here, once, and each generator only writes its rows.

use crate::data::catalog::{QueueInfo, ReleaseInfo, RobotInfo, ScheduleInfo, UserInfo};
use crate::data::{AsOf, EntityDef, EntityGen, FolderInfo};
use crate::value::Row;

/// An entry of a reference set: its id and, for sets sliced by time, its creation time.
pub(crate) trait Entry {
    fn id(&self) -> i64;
    /// Unix ms; 0 for sets whose DTO has no creation time (sliced by id only).
    fn created_ms(&self) -> i64 {
        0
    }
}

/// A generator whose records are the entries of one reference set.
pub(crate) trait ReferenceSet: Send + Sync {
    type Entry: Entry;
    fn def(&self) -> &'static EntityDef;
    /// The entries of partition `part`; empty where there are none.
    fn entries<'t>(&self, t: &'t AsOf<'_>, part: usize) -> &'t [Self::Entry];
    /// The whole record `i` as of `t.now_ms()`, in schema order.
    fn row(&self, t: &AsOf<'_>, part: usize, i: u64) -> Row;
}

impl<S: ReferenceSet> EntityGen for S {
    fn def(&self) -> &'static EntityDef {
        ReferenceSet::def(self)
    }

    fn len(&self, t: &AsOf<'_>, part: usize) -> u64 {
        self.entries(t, part).len() as u64
    }

    fn time_at(&self, t: &AsOf<'_>, part: usize, i: u64) -> i64 {
        self.entries(t, part)[i as usize].created_ms()
    }

    fn id_at(&self, t: &AsOf<'_>, part: usize, i: u64) -> i64 {
        self.entries(t, part)[i as usize].id()
    }

    fn row(&self, t: &AsOf<'_>, part: usize, i: u64) -> Row {
        ReferenceSet::row(self, t, part, i)
    }
}

/// The entries of a folder-scoped set in partition (folder) `part`.
pub(crate) fn in_folder<T>(sets: &[Vec<T>], part: usize) -> &[T] {
    sets.get(part).map_or(&[], Vec::as_slice)
}

/// The entries of a tenant-level set: all of them in partition 0, none elsewhere.
pub(crate) fn tenant_level<T>(set: &[T], part: usize) -> &[T] {
    if part == 0 {
        set
    } else {
        &[]
    }
}

macro_rules! entries {
    ($($ty:ty => $created:ident),* $(,)?) => {
        $(impl Entry for $ty {
            fn id(&self) -> i64 {
                self.id
            }
            entries!(@created $created);
        })*
    };
    (@created created_ms) => {
        fn created_ms(&self) -> i64 {
            self.created_ms
        }
    };
    (@created none) => {};
}

entries! {
    ReleaseInfo => created_ms,
    QueueInfo => created_ms,
    RobotInfo => created_ms,
    UserInfo => created_ms,
    ScheduleInfo => none,
    FolderInfo => none,
}
