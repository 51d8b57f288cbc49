//! One tenant's universe: its folders, reference sets and the day tables of its records.
//!
//! [`TenantData::build`] is the only constructor. It costs O(days × folders × entities)
//! time and memory plus the small reference sets, never anything per record, so a tenant
//! with a five-year span and millions of records builds in milliseconds. The seed mixes
//! in the org and tenant names: two tenants differ, two builds of one tenant are equal.

use chrono::NaiveDate;
use uuid::Uuid;

pub use crate::data::catalog::{
    MachineInfo, QueueInfo, ReleaseInfo, RobotInfo, ScheduleInfo, UserInfo,
};
pub use crate::data::config::{DataConfig, DataConfigError};

use crate::data::activity::{folder_weights, Calendar};
use crate::data::catalog::{self, Setup};
use crate::data::config::normalize_path;
use crate::data::hash::{hash_str, mix2, uuid_from};
use crate::data::live::RefState;
use crate::data::pools;
use crate::data::timeline::{Profile, Timeline, DAY_MS};

/// Hash-stream tags of the generated entities; with the tenant seed and a partition they
/// seed every value of a record ([`TenantData::stream`]).
pub mod tag {
    pub const JOBS: u64 = 0x10B5;
    pub const QUEUE_ITEMS: u64 = 0x0171;
    pub const QUEUE_ITEM_EVENTS: u64 = 0x0E7E;
    pub const ROBOT_LOGS: u64 = 0x1065;
    pub const AUDIT_LOGS: u64 = 0xA0D1;
    pub const FOLDERS: u64 = 0xF07D;
    pub const SESSIONS: u64 = 0x5E55;
    pub const SMALL: u64 = 0x5A11;
}

/// Parameters of a live tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveData {
    /// Mean interval between reference-set changes (robot renamed, machine removed, ...),
    /// in milliseconds; 0 disables them.
    pub reference_change_ms: i64,
    /// When reference changes start (Unix ms): midnight UTC of the day the simulator
    /// started. Changes are a pure function of (seed, cadence, epoch, time).
    pub epoch_ms: i64,
}

/// A tenant's data as of one instant: what every generator reads. Records whose primary
/// time is after [`AsOf::now_ms`] do not exist yet; states and times are as of it.
///
/// A small `Copy` value: the as-of instant is threaded through every generator call
/// instead of living in the tenant, so one tenant serves any instant concurrently.
#[derive(Debug, Clone)]
pub struct AsOf<'a> {
    data: &'a TenantData,
    now: i64,
    refs: Option<std::sync::Arc<RefState>>,
}

impl AsOf<'_> {
    /// The as-of instant (Unix ms).
    pub fn now_ms(&self) -> i64 {
        self.now
    }

    /// The reference sets' live changes as of now (`None` for a frozen tenant).
    pub fn refs(&self) -> Option<&RefState> {
        self.refs.as_deref()
    }
}

impl std::ops::Deref for AsOf<'_> {
    type Target = TenantData;
    fn deref(&self) -> &TenantData {
        self.data
    }
}

/// A folder (organization unit) of the tenant.
#[derive(Debug, Clone)]
pub struct FolderInfo {
    pub id: i64,
    pub key: Uuid,
    pub display_name: String,
    /// Path with `/` separators, e.g. `Finance/Invoices`.
    pub fully_qualified_name: String,
    /// Index of the parent folder in [`TenantData::folders`].
    pub parent: Option<usize>,
    pub parent_id: Option<i64>,
    pub parent_key: Option<Uuid>,
    /// `FolderDto.FolderType`; generated folders are all `Standard`.
    pub folder_type: &'static str,
    pub description: Option<String>,
    /// Lower-case ASCII form of the display name, used in robot names.
    pub slug: String,
}

/// Everything needed to generate any record of one tenant.
#[derive(Debug)]
pub struct TenantData {
    pub org: String,
    pub tenant: String,
    /// The tenant's seed: the config seed mixed with the org and tenant names.
    pub seed: u64,
    pub span_start_ms: i64,
    /// End of the generated span (exclusive): nothing happens after it. In frozen mode
    /// also the snapshot instant; in live mode a few days after the simulator started.
    pub span_end_ms: i64,
    /// `DataConfig::stamp_modifications`: when false, `LastModificationTime` is always null.
    pub stamp_modifications: bool,
    /// Live-mode parameters when the tenant lives in wall-clock time (reference changes).
    pub live: Option<LiveData>,
    pub days: usize,
    pub folders: Vec<FolderInfo>,
    /// Per folder (same index as `folders`).
    pub releases: Vec<Vec<ReleaseInfo>>,
    pub queues: Vec<Vec<QueueInfo>>,
    pub schedules: Vec<Vec<ScheduleInfo>>,
    pub robots: Vec<Vec<RobotInfo>>,
    pub sessions_per_folder: usize,
    /// Tenant-wide.
    pub machines: Vec<MachineInfo>,
    pub users: Vec<UserInfo>,
    /// Day tables of the high-volume entities, one per folder (audit logs: tenant-wide).
    pub jobs: Vec<Timeline>,
    pub queue_items: Vec<Timeline>,
    /// Laid out from `DataConfig::queue_item_events_per_day` for compatibility only: the
    /// QueueItemEvents generator derives events from the queue items and never reads it.
    pub queue_item_events: Vec<Timeline>,
    pub robot_logs: Vec<Timeline>,
    pub audit_logs: Timeline,
}

impl TenantData {
    /// Builds the universe of tenant `tenant` of organization `org`. Never fails: an
    /// empty or inverted span is treated as one day and bad densities as zero (use
    /// [`DataConfig::validate`] to reject such configs up front).
    pub fn build(org: &str, tenant: &str, config: &DataConfig) -> TenantData {
        TenantData::build_with(org, tenant, config, None)
    }

    /// Builds a tenant that lives in wall-clock time: the span is extended to `span_end`
    /// (typically a few days after today) while everything else — reference sets, the
    /// growth trend, the records of each day — stays what the configured span gives, so
    /// the data of a given day do not depend on the day the simulator was started.
    pub fn build_live(
        org: &str,
        tenant: &str,
        config: &DataConfig,
        span_end: NaiveDate,
        live: LiveData,
    ) -> TenantData {
        TenantData::build_with(org, tenant, config, Some((span_end, live)))
    }

    fn build_with(
        org: &str,
        tenant: &str,
        config: &DataConfig,
        live: Option<(NaiveDate, LiveData)>,
    ) -> TenantData {
        let seed = mix2(mix2(config.seed, hash_str(org)), hash_str(tenant));
        let config_days = config.days().clamp(1, 36_600);
        let days = match &live {
            Some((end, _)) => (*end - config.span_start)
                .num_days()
                .clamp(config_days as i64, 36_600) as usize,
            None => config_days,
        };
        let start_ms = midnight_ms(config.span_start);
        let end_ms = start_ms + days as i64 * DAY_MS;
        // Reference sets are laid out over the configured span only.
        let catalog_end_ms = start_ms + config_days as i64 * DAY_MS;

        let folders = build_folders(seed, config);
        let nf = folders.len();
        let setup = Setup {
            seed,
            start_ms,
            end_ms: catalog_end_ms,
            domain: email_domain(org),
        };
        let users = catalog::users(&setup, config.users as usize);
        let machines = catalog::machines(&setup, config.machines as usize);
        let releases =
            catalog::releases(&setup, nf, config.releases_per_folder as usize, users.len());
        let queues = catalog::queues(&setup, &releases, config.queues_per_folder as usize);
        let schedules = catalog::schedules(
            &setup,
            &releases,
            &queues,
            config.schedules_per_folder as usize,
        );
        let slugs: Vec<String> = folders.iter().map(|f| f.slug.clone()).collect();
        let robots = catalog::robots(
            &setup,
            &slugs,
            config.robots_per_folder as usize,
            &machines,
            &users,
        );
        let sessions_per_folder = if config.robots_per_folder == 0 {
            0
        } else {
            config.sessions_per_folder as usize
        };

        let cal = Calendar {
            start: config.span_start,
            start_ms,
            days,
            trend_days: config_days,
            weekend_factor: config.weekend_factor,
            tenant_seed: seed,
        };
        let weights = folder_weights(seed, nf);
        // An entity whose records would point at nothing (jobs without processes, items
        // without queues) gets no records in that folder.
        let family = |tag: u64, per_day: f64, present: &dyn Fn(usize) -> bool, base: i64| {
            let entity_seed = mix2(seed, tag);
            let counts = (0..nf)
                .map(|f| {
                    let density = if present(f) { per_day } else { 0.0 };
                    cal.day_counts(entity_seed, f, density, weights[f])
                })
                .collect();
            cal.timelines(entity_seed, Profile::Robots, base, counts)
        };
        let has_jobs = |f: usize| !releases[f].is_empty();
        let has_items = |f: usize| !queues[f].is_empty();
        let id_base = |tag: u64, lo: u64| (lo + mix2(seed, tag) % (lo * 4)) as i64;
        let jobs = family(
            tag::JOBS,
            config.jobs_per_day,
            &has_jobs,
            id_base(tag::JOBS, 1 << 24),
        );
        let queue_items = family(
            tag::QUEUE_ITEMS,
            config.queue_items_per_day,
            &has_items,
            id_base(tag::QUEUE_ITEMS, 1 << 26),
        );
        let queue_item_events = family(
            tag::QUEUE_ITEM_EVENTS,
            config.queue_item_events_per_day,
            &has_items,
            id_base(tag::QUEUE_ITEM_EVENTS, 1 << 27),
        );
        let robot_logs = family(tag::ROBOT_LOGS, config.robot_logs_per_day, &has_jobs, 0);
        let audit_seed = mix2(seed, tag::AUDIT_LOGS);
        let audit_counts = vec![cal.day_counts(audit_seed, 0, config.audit_logs_per_day, 1.0)];
        let audit_logs = cal
            .timelines(
                audit_seed,
                Profile::People,
                id_base(tag::AUDIT_LOGS, 1 << 22),
                audit_counts,
            )
            .pop()
            .expect("one partition");

        TenantData {
            org: org.to_string(),
            tenant: tenant.to_string(),
            seed,
            span_start_ms: start_ms,
            span_end_ms: end_ms,
            stamp_modifications: config.stamp_modifications,
            live: live.map(|(_, l)| l),
            days,
            folders,
            releases,
            queues,
            schedules,
            robots,
            sessions_per_folder,
            machines,
            users,
            jobs,
            queue_items,
            queue_item_events,
            robot_logs,
            audit_logs,
        }
    }

    /// The hash stream of entity `tag` in partition `part`: record `i`'s draws are
    /// `Draw::new(stream, i)`.
    pub fn stream(&self, tag: u64, part: usize) -> u64 {
        mix2(mix2(self.seed, tag), part as u64 ^ 0x9A27)
    }

    /// The tenant as of `ms` (clamped to the span end): what a query asked at that
    /// instant sees.
    pub fn as_of(&self, ms: i64) -> AsOf<'_> {
        let now = ms.min(self.span_end_ms);
        AsOf {
            data: self,
            now,
            refs: self
                .is_live()
                .then(|| std::sync::Arc::new(crate::data::live::state(self, now))),
        }
    }

    /// The tenant as of the end of its span: the frozen snapshot.
    pub fn at_end(&self) -> AsOf<'_> {
        self.as_of(self.span_end_ms)
    }

    /// True when the tenant lives in wall-clock time.
    pub fn is_live(&self) -> bool {
        self.live.is_some()
    }

    /// Folder index by id.
    pub fn folder_by_id(&self, id: i64) -> Option<usize> {
        self.folders.iter().position(|f| f.id == id)
    }

    /// Index of the folder with this fully qualified name (case-insensitive, surrounding
    /// spaces and slashes ignored, as Orchestrator's `X-UIPATH-FolderPath` is read).
    pub fn folder_by_path(&self, path: &str) -> Option<usize> {
        let path = path.trim().trim_matches('/');
        self.folders
            .iter()
            .position(|f| f.fully_qualified_name.eq_ignore_ascii_case(path))
    }
}

fn midnight_ms(date: NaiveDate) -> i64 {
    date.and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
        .timestamp_millis()
}

/// An e-mail domain from the org name: lower-case letters and digits only.
fn email_domain(org: &str) -> String {
    let mut s: String = org.chars().filter(char::is_ascii_alphanumeric).collect();
    s.make_ascii_lowercase();
    if s.is_empty() {
        s.push_str("tenant");
    }
    format!("{s}.example.com")
}

fn slug(name: &str) -> String {
    let s: String = name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .take(12)
        .collect();
    if s.is_empty() {
        "folder".to_string()
    } else {
        s
    }
}

/// The folder tree: configured paths (creating missing parents), then generated extras.
/// The layout depends on the config only; ids and keys on the tenant seed.
fn build_folders(seed: u64, config: &DataConfig) -> Vec<FolderInfo> {
    let mut paths: Vec<(String, Option<usize>)> = Vec::new();
    let index_of =
        |paths: &[(String, Option<usize>)], p: &str| paths.iter().position(|(q, _)| q == p);
    for path in &config.folders {
        let Some(segments) = normalize_path(path) else {
            continue;
        };
        let mut parent = None;
        for depth in 1..=segments.len() {
            let prefix = segments[..depth].join("/");
            parent = Some(match index_of(&paths, &prefix) {
                Some(k) => k,
                None => {
                    paths.push((prefix, parent));
                    paths.len() - 1
                }
            });
        }
    }
    for k in 0..config.extra_folders as usize {
        let base = pools::EXTRA_FOLDERS[k % pools::EXTRA_FOLDERS.len()];
        let round = k / pools::EXTRA_FOLDERS.len();
        let mut name = if round == 0 {
            base.to_string()
        } else {
            format!("{base} {}", round + 1)
        };
        while index_of(&paths, &name).is_some() {
            name.push('+');
        }
        paths.push((name, None));
    }
    if paths.is_empty() {
        // Folder-scoped entities need at least one folder to live in.
        paths.push(("Shared".to_string(), None));
    }
    let id_base = 100_000 + (mix2(seed, tag::FOLDERS) % 800_000) as i64;
    let mut folders: Vec<FolderInfo> = Vec::with_capacity(paths.len());
    for (k, (path, parent)) in paths.into_iter().enumerate() {
        let display = path.rsplit('/').next().unwrap_or(&path).to_string();
        let (parent_id, parent_key) = match parent {
            Some(p) => (Some(folders[p].id), Some(folders[p].key)),
            None => (None, None),
        };
        folders.push(FolderInfo {
            id: id_base + k as i64,
            key: uuid_from(mix2(mix2(seed, tag::FOLDERS), k as u64)),
            slug: slug(&display),
            description: (k % 2 == 0).then(|| format!("Automations of {display}")),
            display_name: display,
            fully_qualified_name: path,
            parent,
            parent_id,
            parent_key,
            folder_type: "Standard",
        });
    }
    folders
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_tenant_has_the_configured_tree() {
        let t = TenantData::build("acme", "prod", &DataConfig::default());
        let names: Vec<&str> = t
            .folders
            .iter()
            .map(|f| f.fully_qualified_name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "Shared",
                "Finance",
                "Finance/Invoices",
                "HR",
                "Operations",
                "Procurement",
                "Logistics",
                "Customer Service"
            ]
        );
        assert_eq!(t.folders[2].parent, Some(1));
        assert_eq!(t.folders[2].parent_key, Some(t.folders[1].key));
        assert_eq!(t.folders[2].display_name, "Invoices");
        assert_eq!(t.days, 181);
    }

    #[test]
    fn missing_parents_are_created_and_bad_paths_skipped() {
        let c = DataConfig {
            folders: vec!["A/B/C".into(), "".into()],
            extra_folders: 0,
            ..Default::default()
        };
        let t = TenantData::build("o", "t", &c);
        let names: Vec<&str> = t
            .folders
            .iter()
            .map(|f| f.fully_qualified_name.as_str())
            .collect();
        assert_eq!(names, ["A", "A/B", "A/B/C"]);
        assert_eq!(t.folders[2].parent, Some(1));
    }

    #[test]
    fn default_volumes_are_tens_of_thousands() {
        let t = TenantData::build("acme", "prod", &DataConfig::default());
        let total = |tl: &[Timeline]| tl.iter().map(Timeline::len).sum::<u64>();
        let jobs = total(&t.jobs);
        assert!((6_000..12_000).contains(&jobs), "{jobs}");
        let all = jobs
            + total(&t.queue_items)
            + total(&t.queue_item_events)
            + total(&t.robot_logs)
            + t.audit_logs.len();
        assert!((50_000..200_000).contains(&all), "{all}");
    }

    #[test]
    fn builds_are_deterministic_and_tenants_differ() {
        let c = DataConfig::default();
        let a = TenantData::build("acme", "prod", &c);
        let b = TenantData::build("acme", "prod", &c);
        let other = TenantData::build("acme", "test", &c);
        assert_eq!(a.seed, b.seed);
        assert_eq!(a.folders[0].key, b.folders[0].key);
        assert_eq!(a.jobs[0].len(), b.jobs[0].len());
        assert_ne!(a.seed, other.seed);
        assert_ne!(a.folders[0].key, other.folders[0].key);
    }

    #[test]
    fn a_long_dense_tenant_builds_fast() {
        let c = DataConfig {
            span_start: NaiveDate::from_ymd_opt(2020, 1, 1).unwrap(),
            span_end: NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
            jobs_per_day: 2_000.0,
            robot_logs_per_day: 50_000.0,
            ..Default::default()
        };
        let started = std::time::Instant::now();
        let t = TenantData::build("big", "prod", &c);
        let jobs: u64 = t.jobs.iter().map(Timeline::len).sum();
        assert!(jobs > 10_000_000, "{jobs}");
        // Generous for an unoptimized test build on a shared machine; release is ~100x faster.
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
}
