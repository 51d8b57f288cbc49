//! The small reference sets of a tenant: processes, queues, triggers, robots, machines and
//! users, which the high-volume records point at.
//!
//! They are built once per tenant (a few hundred entries), so unlike the high-volume
//! records they are stored. Every entry is derived from the tenant seed and its position;
//! ids run tenant-wide in folder order, so they increase within each folder. Creation
//! times fall in the first hours of the span ("the tenant was set up overnight"), one
//! hour-long window per kind, increasing with the id.

use std::borrow::Cow;

use uuid::Uuid;

use crate::data::hash::{mix2, Draw};
use crate::data::pools::{self, Cron, ProcessSpec, PROCESSES};
use crate::data::timeline::DAY_MS;

const HOUR_MS: i64 = 3_600_000;

/// A process (release) deployed in a folder.
#[derive(Debug, Clone)]
pub struct ReleaseInfo {
    pub id: i64,
    pub key: Uuid,
    pub name: Cow<'static, str>,
    pub spec: &'static ProcessSpec,
    /// Package version, e.g. `1.4.12`.
    pub version: String,
    pub version_id: i64,
    pub created_ms: i64,
    pub modified_ms: i64,
    /// Index into the tenant's users.
    pub creator: usize,
    pub priority: &'static str,
    /// Share of this process's jobs that fault.
    pub fault_rate: f64,
}

/// A queue definition in a folder, worked by one of the folder's processes.
#[derive(Debug, Clone)]
pub struct QueueInfo {
    pub id: i64,
    pub key: Uuid,
    pub name: Cow<'static, str>,
    /// Index into the folder's releases.
    pub release: usize,
    pub max_retries: i32,
    pub sla_minutes: Option<i32>,
    pub risk_sla_minutes: Option<i32>,
    pub unique_reference: bool,
    pub created_ms: i64,
}

/// A trigger: time-based (cron) or queue-based.
#[derive(Debug, Clone)]
pub struct ScheduleInfo {
    pub id: i64,
    pub key: Uuid,
    pub name: String,
    /// Index into the folder's releases.
    pub release: usize,
    /// Index into the folder's queues for a queue trigger.
    pub queue: Option<usize>,
    pub cron: &'static Cron,
    pub enabled: bool,
}

/// A robot (an account that runs jobs) in a folder.
#[derive(Debug, Clone)]
pub struct RobotInfo {
    pub id: i64,
    pub name: String,
    /// `CORP\\name`.
    pub username: String,
    /// Index into the tenant's machines.
    pub machine: usize,
    /// Index into the tenant's users (the robot account's user).
    pub user: usize,
    /// `Unattended`, `Attended` or `NonProduction`.
    pub kind: &'static str,
    pub created_ms: i64,
}

/// A machine (or machine template) robots connect from.
#[derive(Debug, Clone)]
pub struct MachineInfo {
    pub id: i64,
    pub key: Uuid,
    pub name: String,
    pub template: bool,
    pub unattended_slots: i32,
    pub robot_version: &'static str,
}

/// A user or robot account of the tenant.
#[derive(Debug, Clone)]
pub struct UserInfo {
    pub id: i64,
    pub key: Uuid,
    pub first: &'static str,
    pub last: &'static str,
    pub user_name: String,
    pub email: Option<String>,
    /// `UserDto.Type`.
    pub kind: &'static str,
    pub created_ms: i64,
    pub last_login_ms: Option<i64>,
    pub active: bool,
}

/// Inputs shared by the catalog builders.
pub(crate) struct Setup {
    pub seed: u64,
    pub start_ms: i64,
    pub end_ms: i64,
    /// Sanitized organization name for e-mail domains.
    pub domain: String,
}

impl Setup {
    fn draw(&self, tag: u64, g: usize) -> Draw {
        Draw::new(mix2(self.seed, tag), g as u64)
    }

    /// Creation time of entry `g` of `n` in the `window`-th setup hour.
    fn setup_ms(&self, window: i64, g: usize, n: usize) -> i64 {
        self.start_ms + window * HOUR_MS + (g as i64 * HOUR_MS) / n.max(1) as i64
    }

    /// An id base per kind: realistic magnitudes that differ per tenant.
    fn id_base(&self, tag: u64, lo: i64) -> i64 {
        lo + (mix2(self.seed, tag ^ 0x1D) % (lo as u64 * 9)) as i64
    }
}

/// Tags separating the catalog's hash streams.
const USERS: u64 = 0xC0_01;
const MACHINES: u64 = 0xC0_02;
const ROBOTS: u64 = 0xC0_03;
const RELEASES: u64 = 0xC0_04;
const QUEUES: u64 = 0xC0_05;
const SCHEDULES: u64 = 0xC0_06;

pub(crate) fn users(s: &Setup, n: usize) -> Vec<UserInfo> {
    let base = s.id_base(USERS, 10_000);
    (0..n)
        .map(|g| {
            let d = s.draw(USERS, g);
            let first = d.pick(1, pools::FIRST_NAMES);
            let last = d.pick(2, pools::LAST_NAMES);
            // The first account is the tenant administrator; a share are robot accounts.
            let kind = match (g, d.below(3, 20)) {
                (0, _) => "User",
                (_, 0..=12) => "DirectoryUser",
                (_, 13..=15) => "DirectoryRobot",
                (_, 16..=17) => "User",
                (_, 18) => "DirectoryGroup",
                _ => "DirectoryExternalApplication",
            };
            let user_name = match kind {
                _ if g == 0 => "admin".to_string(),
                "DirectoryRobot" => format!("svc_rpa{g:03}"),
                "DirectoryGroup" => format!("grp_{}", last.to_lowercase()),
                "DirectoryExternalApplication" => format!("app_etl_{g:03}"),
                _ => format!("{}.{}{}", first.to_lowercase(), last.to_lowercase(), g),
            };
            let email = matches!(kind, "User" | "DirectoryUser")
                .then(|| format!("{user_name}@{}", s.domain));
            let created_ms = s.setup_ms(0, g, n);
            let active = !d.chance(4, 0.08);
            let last_login_ms = (active && matches!(kind, "User" | "DirectoryUser"))
                .then(|| created_ms + d.range(5, 0, (s.end_ms - created_ms - 1).max(0)));
            UserInfo {
                id: base + g as i64,
                key: d.uuid(6),
                first,
                last,
                user_name,
                email,
                kind,
                created_ms,
                last_login_ms,
                active,
            }
        })
        .collect()
}

pub(crate) fn machines(s: &Setup, n: usize) -> Vec<MachineInfo> {
    let base = s.id_base(MACHINES, 1_000);
    (0..n)
        .map(|g| {
            let d = s.draw(MACHINES, g);
            // Every fifth machine is a template that cloud or elastic robots connect with.
            let template = g % 5 == 4;
            let name = if template {
                format!("RPA-Template-{:02}", g / 5 + 1)
            } else {
                format!("UIPBOT-VM{:03}", g + 1)
            };
            MachineInfo {
                id: base + g as i64,
                key: d.uuid(1),
                name,
                template,
                unattended_slots: if template {
                    d.range(2, 2, 10) as i32
                } else {
                    1
                },
                robot_version: d.pick(3, pools::ROBOT_VERSIONS),
            }
        })
        .collect()
}

/// Per-folder releases: distinct processes within a folder, drawn from the process pool.
pub(crate) fn releases(
    s: &Setup,
    folders: usize,
    per_folder: usize,
    users: usize,
) -> Vec<Vec<ReleaseInfo>> {
    let base = s.id_base(RELEASES, 1_000);
    let total = folders * per_folder;
    let pool = PROCESSES.len();
    (0..folders)
        .map(|f| {
            let offset = mix2(s.seed ^ RELEASES, f as u64) as usize % pool;
            (0..per_folder)
                .map(|k| {
                    let g = f * per_folder + k;
                    let d = s.draw(RELEASES, g);
                    // Stepping by a unit coprime with the pool size visits distinct processes.
                    let spec = &PROCESSES[(offset + k * coprime_step(pool)) % pool];
                    let name = if k < pool {
                        Cow::Borrowed(spec.name)
                    } else {
                        Cow::Owned(format!("{}_{}", spec.name, k / pool + 1))
                    };
                    let created_ms = s.setup_ms(3, g, total);
                    let span = (s.end_ms - created_ms).max(1);
                    ReleaseInfo {
                        id: base + g as i64,
                        key: d.uuid(1),
                        name,
                        spec,
                        version: format!("1.{}.{}", d.below(2, 8), d.below(3, 40)),
                        version_id: base * 3 + g as i64 * 7 + d.below(4, 7) as i64,
                        created_ms,
                        modified_ms: created_ms + d.range(5, 0, span - 1),
                        creator: d.below(6, users.max(1) as u64) as usize,
                        priority: match d.below(7, 10) {
                            0 => "High",
                            1 => "Low",
                            _ => "Normal",
                        },
                        fault_rate: 0.02 + 0.12 * d.unit(8),
                    }
                })
                .collect()
        })
        .collect()
}

/// The smallest step >= pool/3 that is coprime with the pool size.
fn coprime_step(pool: usize) -> usize {
    let gcd = |mut a: usize, mut b: usize| {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    };
    (pool / 3..pool)
        .find(|&k| k > 0 && gcd(k, pool) == 1)
        .unwrap_or(1)
}

/// Per-folder queues: queue `k` is worked by release `k mod releases`.
pub(crate) fn queues(
    s: &Setup,
    releases: &[Vec<ReleaseInfo>],
    per_folder: usize,
) -> Vec<Vec<QueueInfo>> {
    let base = s.id_base(QUEUES, 1_000);
    let total = releases.len() * per_folder;
    releases
        .iter()
        .enumerate()
        .map(|(f, rels)| {
            if rels.is_empty() {
                return Vec::new();
            }
            (0..per_folder)
                .map(|k| {
                    let g = f * per_folder + k;
                    let d = s.draw(QUEUES, g);
                    let release = k % rels.len();
                    let queue = rels[release].spec.queue;
                    let name = if k < rels.len() && rels[release].name == rels[release].spec.name {
                        Cow::Borrowed(queue)
                    } else {
                        Cow::Owned(format!("{queue}_{}", k + 1))
                    };
                    let sla = d
                        .chance(1, 0.6)
                        .then(|| [60, 240, 480, 1_440][d.below(2, 4) as usize]);
                    QueueInfo {
                        id: base + g as i64,
                        key: d.uuid(3),
                        name,
                        release,
                        max_retries: d.range(4, 0, 3) as i32,
                        sla_minutes: sla,
                        risk_sla_minutes: sla.map(|m| m * 3 / 4),
                        unique_reference: d.chance(5, 0.4),
                        created_ms: s.setup_ms(4, g, total),
                    }
                })
                .collect()
        })
        .collect()
}

/// Per-folder triggers: odd ones are queue triggers when the folder has queues.
pub(crate) fn schedules(
    s: &Setup,
    releases: &[Vec<ReleaseInfo>],
    queues: &[Vec<QueueInfo>],
    per_folder: usize,
) -> Vec<Vec<ScheduleInfo>> {
    let base = s.id_base(SCHEDULES, 1_000);
    releases
        .iter()
        .zip(queues)
        .enumerate()
        .map(|(f, (rels, qs))| {
            if rels.is_empty() {
                return Vec::new();
            }
            (0..per_folder)
                .map(|k| {
                    let g = f * per_folder + k;
                    let d = s.draw(SCHEDULES, g);
                    let queue = (k % 2 == 1 && !qs.is_empty()).then(|| (k / 2) % qs.len());
                    let release = queue.map_or(k % rels.len(), |q| qs[q].release);
                    let cron = &pools::CRONS[d.below(1, pools::CRONS.len() as u64) as usize];
                    let name = match queue {
                        Some(q) => format!("{} Trigger", qs[q].name),
                        None => {
                            format!("{} {:02}{:02}", rels[release].name, cron.hour, cron.minute)
                        }
                    };
                    ScheduleInfo {
                        id: base + g as i64,
                        key: d.uuid(2),
                        name,
                        release,
                        queue,
                        cron,
                        enabled: !d.chance(3, 0.15),
                    }
                })
                .collect()
        })
        .collect()
}

/// Per-folder robots, spread over the tenant's non-template machines.
pub(crate) fn robots(
    s: &Setup,
    folder_slugs: &[String],
    per_folder: usize,
    machines: &[MachineInfo],
    users: &[UserInfo],
) -> Vec<Vec<RobotInfo>> {
    let base = s.id_base(ROBOTS, 1_000);
    let total = folder_slugs.len() * per_folder;
    folder_slugs
        .iter()
        .enumerate()
        .map(|(f, slug)| {
            (0..per_folder)
                .map(|k| {
                    let g = f * per_folder + k;
                    let d = s.draw(ROBOTS, g);
                    let kind = match d.below(1, 10) {
                        0 => "Attended",
                        1 => "NonProduction",
                        _ => "Unattended",
                    };
                    let name = format!("rpa_{slug}_{:02}", k + 1);
                    RobotInfo {
                        id: base + g as i64,
                        username: format!("{}\\{name}", pools::DOMAIN),
                        name,
                        machine: if machines.is_empty() {
                            0
                        } else {
                            g % machines.len()
                        },
                        user: robot_user(users, d),
                        kind,
                        created_ms: s.setup_ms(2, g, total),
                    }
                })
                .collect()
        })
        .collect()
}

/// The account a robot runs as: one of the tenant's robot accounts when it has any.
fn robot_user(users: &[UserInfo], d: Draw) -> usize {
    let robots: Vec<usize> = (0..users.len())
        .filter(|&k| users[k].kind == "DirectoryRobot")
        .collect();
    if robots.is_empty() {
        d.below(2, users.len().max(1) as u64) as usize
    } else {
        robots[d.below(2, robots.len() as u64) as usize]
    }
}

/// Milliseconds of the first firing of `cron` at or after `from_ms` (a midnight).
pub fn next_occurrence(cron: &Cron, from_ms: i64) -> i64 {
    use chrono::Datelike;
    let mut day = from_ms.div_euclid(DAY_MS) * DAY_MS;
    loop {
        let at = day + (i64::from(cron.hour) * 60 + i64::from(cron.minute)) * 60_000;
        let weekday = crate::value::datetime(day).weekday().number_from_monday();
        if at >= from_ms && (!cron.weekdays_only || weekday <= 5) {
            return at;
        }
        day += DAY_MS;
    }
}
