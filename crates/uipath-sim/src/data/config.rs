//! The knobs of the generated data: seed, time span, folder layout and densities.
//!
//! Everything is fixed by the configuration — never by the clock — so the same config
//! always yields the same records. The defaults give a moderate demo tenant (about a
//! hundred thousand records over half a year); raising the densities or the span scales
//! every high-volume entity linearly while building a tenant stays O(days × folders).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// Limits that keep a configuration inside what the generators are built for.
const MAX_DAYS: i64 = 36_600;
const MAX_PER_FOLDER: u32 = 10_000;
const MAX_TENANT_LEVEL: u32 = 100_000;
const MAX_FOLDERS: usize = 10_000;

/// A configuration the generators cannot honour, naming the field and the fix.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DataConfigError {
    #[error("data.span_end ({end}) must be after data.span_start ({start})")]
    EmptySpan { start: NaiveDate, end: NaiveDate },
    #[error("data span of {days} days is longer than the supported {MAX_DAYS}; shorten it")]
    SpanTooLong { days: i64 },
    #[error("data.{field} must be a finite number >= 0, got {value}")]
    BadDensity { field: &'static str, value: f64 },
    #[error("data.weekend_factor must be within [0, 1], got {0}")]
    BadWeekendFactor(f64),
    #[error("data.{field} is {value}; at most {max} is supported")]
    TooMany {
        field: &'static str,
        value: u64,
        max: u64,
    },
    #[error("data.folders entry {0:?} is not a folder path like \"Finance/Invoices\"")]
    BadFolderPath(String),
    #[error("data.folders lists {0:?} twice")]
    DuplicateFolder(String),
}

/// How much data each tenant gets and over which dates.
///
/// Densities are averages over the whole span: weekends are quieter and days vary, but the
/// mean number of records per day (per folder, or per tenant for audit logs) is the
/// configured value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataConfig {
    /// Base seed; the org and tenant names are mixed in, so tenants differ.
    pub seed: u64,
    /// First day of generated activity (00:00 UTC, inclusive).
    pub span_start: NaiveDate,
    /// End of generated activity (00:00 UTC, exclusive). Also the "now" of the frozen
    /// snapshot: jobs and queue items still in flight at this instant are
    /// Running/Pending/New. A live simulator (`[live]` in `SimConfig`) extends the span to a
    /// few days after today and answers as of the wall clock instead.
    pub span_end: NaiveDate,
    /// Folder paths, parents before children (missing parents are created).
    pub folders: Vec<String>,
    /// Extra top-level folders with generated names, on top of `folders`.
    pub extra_folders: u32,
    /// Weekend activity relative to a weekday, in `[0, 1]`.
    pub weekend_factor: f64,
    /// Average jobs per day per folder.
    pub jobs_per_day: f64,
    /// Average queue items created per day per folder.
    pub queue_items_per_day: f64,
    /// Accepted for compatibility and ignored: queue item events are derived from the
    /// queue items' own transitions (one event per transition), so their density follows
    /// `queue_items_per_day`.
    pub queue_item_events_per_day: f64,
    /// Average robot log lines per day per folder.
    pub robot_logs_per_day: f64,
    /// Average audit log entries per day for the tenant.
    pub audit_logs_per_day: f64,
    /// Processes (releases) per folder; jobs need at least one.
    pub releases_per_folder: u32,
    /// Queue definitions per folder; queue items need at least one.
    pub queues_per_folder: u32,
    /// Robots per folder.
    pub robots_per_folder: u32,
    /// Robot sessions per folder (each belongs to one of the folder's robots).
    pub sessions_per_folder: u32,
    /// Triggers (process schedules) per folder.
    pub schedules_per_folder: u32,
    /// Machines in the tenant.
    pub machines: u32,
    /// Users in the tenant.
    pub users: u32,
    /// Whether records carry `LastModificationTime` (null until a record's first change,
    /// then the time of its latest change). `false` models a tenant that never stamps
    /// modifications: the field is always null.
    pub stamp_modifications: bool,
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            seed: 20_250_101,
            span_start: NaiveDate::from_ymd_opt(2025, 1, 1).expect("valid date"),
            span_end: NaiveDate::from_ymd_opt(2025, 7, 1).expect("valid date"),
            folders: ["Shared", "Finance", "Finance/Invoices", "HR", "Operations"]
                .map(String::from)
                .to_vec(),
            extra_folders: 3,
            weekend_factor: 0.25,
            jobs_per_day: 6.0,
            queue_items_per_day: 10.0,
            queue_item_events_per_day: 22.0,
            robot_logs_per_day: 25.0,
            audit_logs_per_day: 20.0,
            releases_per_folder: 5,
            queues_per_folder: 3,
            robots_per_folder: 4,
            sessions_per_folder: 4,
            schedules_per_folder: 4,
            machines: 6,
            users: 25,
            stamp_modifications: true,
        }
    }
}

impl DataConfig {
    /// Days in the span (0 when the span is empty or inverted).
    pub fn days(&self) -> usize {
        (self.span_end - self.span_start).num_days().max(0) as usize
    }

    /// Checks the configuration; call at startup to fail fast with a readable message.
    /// [`crate::data::TenantData::build`] itself never fails: it clamps what this rejects.
    pub fn validate(&self) -> Result<(), DataConfigError> {
        let days = (self.span_end - self.span_start).num_days();
        if days <= 0 {
            return Err(DataConfigError::EmptySpan {
                start: self.span_start,
                end: self.span_end,
            });
        }
        if days > MAX_DAYS {
            return Err(DataConfigError::SpanTooLong { days });
        }
        for (field, value) in [
            ("jobs_per_day", self.jobs_per_day),
            ("queue_items_per_day", self.queue_items_per_day),
            ("queue_item_events_per_day", self.queue_item_events_per_day),
            ("robot_logs_per_day", self.robot_logs_per_day),
            ("audit_logs_per_day", self.audit_logs_per_day),
        ] {
            if !value.is_finite() || value < 0.0 {
                return Err(DataConfigError::BadDensity { field, value });
            }
        }
        if !(0.0..=1.0).contains(&self.weekend_factor) {
            return Err(DataConfigError::BadWeekendFactor(self.weekend_factor));
        }
        for (field, value, max) in [
            (
                "releases_per_folder",
                self.releases_per_folder,
                MAX_PER_FOLDER,
            ),
            ("queues_per_folder", self.queues_per_folder, MAX_PER_FOLDER),
            ("robots_per_folder", self.robots_per_folder, MAX_PER_FOLDER),
            (
                "sessions_per_folder",
                self.sessions_per_folder,
                MAX_PER_FOLDER,
            ),
            (
                "schedules_per_folder",
                self.schedules_per_folder,
                MAX_PER_FOLDER,
            ),
            ("machines", self.machines, MAX_TENANT_LEVEL),
            ("users", self.users, MAX_TENANT_LEVEL),
            ("extra_folders", self.extra_folders, MAX_FOLDERS as u32),
        ] {
            if value > max {
                return Err(DataConfigError::TooMany {
                    field,
                    value: value.into(),
                    max: max.into(),
                });
            }
        }
        let mut seen = std::collections::HashSet::new();
        for path in &self.folders {
            if normalize_path(path).is_none() {
                return Err(DataConfigError::BadFolderPath(path.clone()));
            }
            if !seen.insert(path.trim_matches('/')) {
                return Err(DataConfigError::DuplicateFolder(path.clone()));
            }
        }
        if self.folders.len() + self.extra_folders as usize > MAX_FOLDERS {
            return Err(DataConfigError::TooMany {
                field: "folders",
                value: (self.folders.len() + self.extra_folders as usize) as u64,
                max: MAX_FOLDERS as u64,
            });
        }
        Ok(())
    }
}

/// The segments of a folder path, or `None` if a segment is empty or blank.
pub(crate) fn normalize_path(path: &str) -> Option<Vec<&str>> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').map(str::trim).collect();
    (!segments.iter().any(|s| s.is_empty())).then_some(segments)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_fixed() {
        let c = DataConfig::default();
        c.validate().unwrap();
        assert_eq!(c.days(), 181);
        assert_eq!(c, DataConfig::default());
    }

    #[test]
    fn partial_config_fills_in_defaults() {
        let c: DataConfig = serde_json::from_str(r#"{"seed":7,"span_end":"2025-02-01"}"#).unwrap();
        assert_eq!(c.seed, 7);
        assert_eq!(c.days(), 31);
        assert_eq!(c.folders, DataConfig::default().folders);
        assert!(serde_json::from_str::<DataConfig>(r#"{"sead":7}"#).is_err());
    }

    #[test]
    fn validation_names_the_bad_field() {
        let mut c = DataConfig {
            span_end: DataConfig::default().span_start,
            ..Default::default()
        };
        assert!(matches!(
            c.validate(),
            Err(DataConfigError::EmptySpan { .. })
        ));
        c = DataConfig {
            jobs_per_day: f64::NAN,
            ..Default::default()
        };
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("jobs_per_day"));
        c = DataConfig {
            folders: vec!["A//B".into()],
            ..Default::default()
        };
        assert!(matches!(
            c.validate(),
            Err(DataConfigError::BadFolderPath(_))
        ));
        c = DataConfig {
            folders: vec!["A".into(), "A".into()],
            ..Default::default()
        };
        assert!(matches!(
            c.validate(),
            Err(DataConfigError::DuplicateFolder(_))
        ));
        c = DataConfig {
            users: 1_000_000,
            ..Default::default()
        };
        assert!(c.validate().unwrap_err().to_string().contains("users"));
    }
}
