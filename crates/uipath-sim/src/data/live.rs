//! Reference sets that change while a live tenant runs: a robot renamed, a machine removed
//! (now and then one added), a queue definition's SLA changed, a trigger disabled or
//! enabled, a user modified.
//!
//! Changes are a pure function of (tenant seed, cadence, epoch, time). Time from the
//! tenant's live epoch (midnight UTC of the day the simulator started) is cut into slots of
//! `LiveData::reference_change_ms`; slot `k` holds exactly one change, at a hashed instant
//! inside it, whose kind and target are hashed from `k`. [`state`] folds the changes up to
//! an instant into the [`RefState`] the generators read, and [`reference_changes`] lists
//! them, so a test can compute the ground truth of any instant and find "a robot renamed
//! after T" without guessing. The fold costs one hash per slot since the epoch (720 a day
//! at the default two-minute cadence).

use std::collections::HashMap;

use serde::Serialize;

use crate::data::catalog::MachineInfo;
use crate::data::hash::{mix2, uuid_from, Draw};
use crate::data::TenantData;

const TAG: u64 = 0x11FE;

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum RefChangeKind {
    /// `Robots`: `Name` changed, `LastModificationTime` stamped.
    RobotRenamed,
    /// `Machines`: the machine is gone from the list.
    MachineRemoved,
    /// `Machines`: a new machine (id above every earlier one).
    MachineAdded,
    /// `QueueDefinitions`: `SlaInMinutes` / `RiskSlaInMinutes` changed.
    QueueSlaChanged,
    /// `ProcessSchedules`: `Enabled` flipped.
    ScheduleToggled,
    /// `Users`: `LastModificationTime` stamped.
    UserModified,
}

impl RefChangeKind {
    /// The OData entity set the change is in.
    pub fn entity(self) -> &'static str {
        match self {
            RefChangeKind::RobotRenamed => "Robots",
            RefChangeKind::MachineRemoved | RefChangeKind::MachineAdded => "Machines",
            RefChangeKind::QueueSlaChanged => "QueueDefinitions",
            RefChangeKind::ScheduleToggled => "ProcessSchedules",
            RefChangeKind::UserModified => "Users",
        }
    }
}

/// One reference change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefChange {
    pub kind: RefChangeKind,
    /// The OData entity set: `Robots`, `Machines`, `QueueDefinitions`, ...
    pub entity: &'static str,
    /// The record's `Id`.
    pub id: i64,
    /// Folder index in [`TenantData::folders`] for folder-scoped sets.
    #[serde(skip)]
    pub folder: Option<usize>,
    /// The folder's `Id` for folder-scoped sets.
    pub folder_id: Option<i64>,
    /// When it happened (Unix ms).
    pub at: i64,
    /// The new name (robot renamed, machine added), SLA minutes, or `Enabled` value.
    pub value: serde_json::Value,
}

impl RefChange {
    /// A change of `kind` to record `id` (of folder index `folder` for folder-scoped
    /// sets) at `at`; the folder's `Id` is filled in by the fold.
    fn new(
        kind: RefChangeKind,
        id: i64,
        folder: Option<usize>,
        at: i64,
        value: impl Into<serde_json::Value>,
    ) -> RefChange {
        RefChange {
            kind,
            entity: kind.entity(),
            id,
            folder,
            folder_id: None,
            at,
            value: value.into(),
        }
    }
}

/// The reference sets' changes as of one instant.
#[derive(Debug, Default)]
pub struct RefState {
    /// (folder, robot index) → (new name, renamed at).
    pub robot_names: HashMap<(usize, usize), (String, i64)>,
    /// Machine index → removed at: a catalog index, or the catalog's length plus the
    /// index in `machines_added` (an added machine may be removed again).
    pub machines_removed: HashMap<usize, i64>,
    /// Machines added, in order (ids increasing), removed ones included.
    pub machines_added: Vec<MachineInfo>,
    /// (folder, queue index) → (SLA minutes, risk SLA minutes).
    pub queue_sla: HashMap<(usize, usize), (i32, i32)>,
    /// (folder, schedule index) → enabled.
    pub schedule_enabled: HashMap<(usize, usize), bool>,
    /// User index → modified at.
    pub users_modified: HashMap<usize, i64>,
}

impl RefState {
    /// The machines present, as (catalog index or `None` for added ones, machine), in id
    /// order.
    pub fn machines<'a>(
        &'a self,
        t: &'a TenantData,
    ) -> impl Iterator<Item = (Option<usize>, &'a MachineInfo)> + 'a {
        let catalog = t.machines.len();
        t.machines
            .iter()
            .enumerate()
            .filter(|(k, _)| !self.machines_removed.contains_key(k))
            .map(|(k, m)| (Some(k), m))
            .chain(
                self.machines_added
                    .iter()
                    .enumerate()
                    .filter(move |(j, _)| !self.machines_removed.contains_key(&(catalog + j)))
                    .map(|(_, m)| (None, m)),
            )
    }
}

/// The live epoch and cadence, if the tenant changes at all.
fn cadence(t: &TenantData) -> Option<(i64, i64)> {
    let live = t.live?;
    (live.reference_change_ms > 0).then_some((live.epoch_ms, live.reference_change_ms))
}

/// Folds every change up to and including `now`, calling `seen` on each effective one.
fn fold(t: &TenantData, now: i64, mut seen: impl FnMut(&RefChange)) -> RefState {
    let mut st = RefState::default();
    let Some((epoch, period)) = cadence(t) else {
        return st;
    };
    let now = now.min(t.span_end_ms);
    if now < epoch {
        return st;
    }
    let stream = mix2(t.seed, TAG);
    let nf = t.folders.len();
    let max_machine_id = t.machines.iter().map(|m| m.id).max().unwrap_or(1000);
    let slots = (now - epoch) / period + 1;
    for k in 0..slots as u64 {
        let d = Draw::new(stream, k);
        let at = epoch + k as i64 * period + d.range(1, 0, period - 1);
        if at > now {
            break;
        }
        let folder = d.below(2, nf.max(1) as u64) as usize;
        let pick = |len: usize| (len > 0).then(|| d.below(3, len as u64) as usize);
        let change = match d.below(4, 100) {
            0..=29 => pick(t.robots[folder].len()).map(|r| {
                let robot = &t.robots[folder][r];
                let name = format!("{}-r{}", robot.name, k % 100_000);
                st.robot_names.insert((folder, r), (name.clone(), at));
                RefChange::new(
                    RefChangeKind::RobotRenamed,
                    robot.id,
                    Some(folder),
                    at,
                    name,
                )
            }),
            30..=51 => {
                // Removals pick from the catalog and from machines added since, so a
                // tenant keeps losing and gaining machines all day.
                let pool = t.machines.len() + st.machines_added.len();
                let present = pool - st.machines_removed.len();
                let victim =
                    pick(pool).filter(|m| present > 1 && !st.machines_removed.contains_key(m));
                Some(match victim {
                    Some(m) if d.below(5, 10) < 7 => {
                        st.machines_removed.insert(m, at);
                        let machine = t
                            .machines
                            .get(m)
                            .unwrap_or_else(|| &st.machines_added[m - t.machines.len()]);
                        RefChange::new(
                            RefChangeKind::MachineRemoved,
                            machine.id,
                            None,
                            at,
                            machine.name.clone(),
                        )
                    }
                    _ => {
                        let n = st.machines_added.len() as i64;
                        let machine = MachineInfo {
                            id: max_machine_id + 1 + n,
                            key: uuid_from(mix2(stream, k)),
                            name: format!("VM-LIVE-{:03}", n + 1),
                            template: false,
                            unattended_slots: 1 + d.below(6, 4) as i32,
                            robot_version: t
                                .machines
                                .first()
                                .map_or("24.10.2", |m| m.robot_version),
                        };
                        let change = RefChange::new(
                            RefChangeKind::MachineAdded,
                            machine.id,
                            None,
                            at,
                            machine.name.clone(),
                        );
                        st.machines_added.push(machine);
                        change
                    }
                })
            }
            52..=67 => pick(t.queues[folder].len()).map(|q| {
                let sla = 15 * (1 + d.below(7, 16) as i32);
                let risk = sla * 4 / 5;
                st.queue_sla.insert((folder, q), (sla, risk));
                RefChange::new(
                    RefChangeKind::QueueSlaChanged,
                    t.queues[folder][q].id,
                    Some(folder),
                    at,
                    sla,
                )
            }),
            68..=83 => pick(t.schedules[folder].len()).map(|s| {
                let enabled = !st
                    .schedule_enabled
                    .get(&(folder, s))
                    .copied()
                    .unwrap_or(t.schedules[folder][s].enabled);
                st.schedule_enabled.insert((folder, s), enabled);
                RefChange::new(
                    RefChangeKind::ScheduleToggled,
                    t.schedules[folder][s].id,
                    Some(folder),
                    at,
                    enabled,
                )
            }),
            _ => pick(t.users.len()).map(|u| {
                st.users_modified.insert(u, at);
                RefChange::new(
                    RefChangeKind::UserModified,
                    t.users[u].id,
                    None,
                    at,
                    serde_json::Value::Null,
                )
            }),
        };
        if let Some(mut c) = change {
            c.folder_id = c.folder.map(|f| t.folders[f].id);
            seen(&c);
        }
    }
    st
}

/// The reference sets' state as of `now` (empty for a frozen tenant).
pub fn state(t: &TenantData, now: i64) -> RefState {
    fold(t, now, |_| {})
}

/// Every reference change with `from <= at < to`, in time order (empty for a frozen
/// tenant or one with `reference_change_secs = 0`).
pub fn reference_changes(t: &TenantData, from: i64, to: i64) -> Vec<RefChange> {
    let mut out = Vec::new();
    fold(t, to.saturating_sub(1), |c| {
        if c.at >= from && c.at < to {
            out.push(c.clone());
        }
    });
    out
}
