//! What the one-command demo assembles besides the fleet: the simulated UiPath it runs
//! against ([`sim_config`]: the documented demo tenant plus a busy [`LIVE_TENANT`]), the
//! state directory it keeps or throws away ([`DemoState`]), and the reading of what
//! the embedded sink wrote (`<out>/<source>/<dataset>/<date>.ndjson`): files counted,
//! cleared, or followed as they grow ([`Tail`]); the live phase's sync and what it
//! delivers ([`live`]). Showing it is the binary's part.

use std::collections::HashMap;
use std::io::{Read as _, Seek as _};
use std::path::{Path, PathBuf};

use fleet_core::ledger::RequestKind;
use serde_json::Value;
use uipath_sim::config::{SimConfig, TenantConfig, DEMO_ORG};
use uipath_sim::data::DataConfig;
use uipath_sim::stats::StatsSnapshot;

use crate::embedded::{EmbeddedFleet, LEDGER_FILE};
use crate::error::{Context as _, Error};

pub mod live;

/// The source name the demo gives the simulator's demo tenant (the first level under
/// the output directory).
pub const DEMO_SOURCE: &str = "demo";
/// The source name of the busy tenant.
pub const LIVE_SOURCE: &str = "live";
/// The busy tenant the live phase syncs.
pub const LIVE_TENANT: &str = "LiveTenant";
/// What the live phase syncs.
pub const LIVE_DATASETS: [&str; 2] = ["jobs", "queue-items"];
/// Busy tenant densities, per folder and day.
pub const LIVE_JOBS_PER_DAY: f64 = 20_000.0;
const LIVE_ITEMS_PER_DAY: f64 = 20_000.0;
pub const LIVE_FOLDERS: [&str; 3] = ["Finance", "HR", "Operations"];

/// The demo's simulator: live, the demo tenant's data starting seven months before
/// `today` (so `--months` up to 6 fit) and ending at `today` 00:00 (live mode extends the
/// span past the wall clock), plus the busy [`LIVE_TENANT`] (three folders, about
/// 60,000 jobs and 60,000 queue items a day, every day of the week): the documented
/// densities are far too quiet to show anything changing in half a minute.
pub fn sim_config(today: chrono::NaiveDate) -> SimConfig {
    let mut config = SimConfig::default().live();
    config.data.span_start = today - chrono::Months::new(7);
    config.data.span_end = today;
    let busy = DataConfig {
        seed: 20_250_701,
        span_start: today - chrono::Days::new(2),
        span_end: today,
        folders: LIVE_FOLDERS.map(String::from).to_vec(),
        extra_folders: 0,
        weekend_factor: 1.0,
        jobs_per_day: LIVE_JOBS_PER_DAY,
        queue_items_per_day: LIVE_ITEMS_PER_DAY,
        robot_logs_per_day: 10.0,
        audit_logs_per_day: 10.0,
        ..DataConfig::default()
    };
    if let Some(org) = config.orgs.iter_mut().find(|o| o.name == DEMO_ORG) {
        org.tenants.push(TenantConfig {
            name: LIVE_TENANT.into(),
            data: Some(busy),
        });
    }
    config
}

/// The demo fleet's state directory and whether it is the demo's to remove.
#[derive(Debug, Clone)]
pub struct DemoState {
    pub dir: PathBuf,
    /// A fresh temporary directory (removed by [`DemoState::cleanup`]), not one given.
    pub temporary: bool,
}

impl DemoState {
    /// `given`, kept; else a fresh temporary directory.
    pub fn choose(given: Option<&Path>) -> DemoState {
        if let Some(dir) = given {
            return DemoState {
                dir: dir.to_owned(),
                temporary: false,
            };
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!(
            "uipath-fleet-demo-{}-{nanos:08x}",
            std::process::id()
        ));
        DemoState {
            dir,
            temporary: true,
        }
    }

    /// Whether an earlier demo left a ledger here (the demo resumes).
    pub fn has_ledger(&self) -> bool {
        self.dir.join(LEDGER_FILE).exists()
    }

    /// Removes a temporary directory; a given one is kept.
    pub fn cleanup(&self) {
        if self.temporary {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Removes the `.ndjson` files an earlier demo left for `datasets` under
/// `<out>/demo/`; returns how many. Nothing else is touched.
pub fn clear_previous_output(out: &Path, datasets: &[&str]) -> Result<usize, Error> {
    let mut removed = 0;
    for ds in datasets {
        let dir = out.join(DEMO_SOURCE).join(ds);
        for path in ndjson_files(&dir)? {
            std::fs::remove_file(&path)
                .with_context(|| format!("removing the earlier demo's {}", path.display()))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// The `.ndjson` files directly in `dir` (none if it does not exist), sorted.
pub fn ndjson_files(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .with_context(|| format!("reading {}", dir.display()))?
            .path();
        if path.extension().is_some_and(|e| e == "ndjson") && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Submits one backfill of [`DEMO_SOURCE`] per dataset over `[from, to)` (one progress
/// bar each); returns their ids in the order of `datasets`.
pub async fn submit_backfills(
    fleet: &EmbeddedFleet,
    datasets: &[&str],
    (from, to): (chrono::NaiveDate, chrono::NaiveDate),
) -> Result<Vec<String>, Error> {
    let mut ids = Vec::new();
    for ds in datasets {
        let body = serde_json::json!({
            "sources": [DEMO_SOURCE],
            "datasets": [ds],
            "from": from.to_string(),
            "to": to.to_string(),
        });
        let submitted = fleet
            .submit(RequestKind::Backfill, ds, body.to_string().as_bytes())
            .await?;
        ids.push(submitted.id);
    }
    Ok(ids)
}

/// Lines (records) and files under `dir`.
pub fn count_output(dir: &Path) -> Result<(u64, usize), Error> {
    let files = ndjson_files(dir)?;
    let mut lines = 0u64;
    for path in &files {
        let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        lines += text.iter().filter(|b| **b == b'\n').count() as u64;
    }
    Ok((lines, files.len()))
}

/// Requests the simulator answered, whatever the status.
pub fn requests_sent(stats: &StatsSnapshot) -> u64 {
    stats
        .requests
        .values()
        .flat_map(|by_status| by_status.values())
        .sum()
}

/// Reads the lines appended to a dataset's `.ndjson` files since the last call.
#[derive(Debug, Default)]
pub struct Tail {
    offsets: HashMap<PathBuf, u64>,
}

impl Tail {
    /// New complete lines of every file in `dir`; a partly written last line waits.
    pub fn read(&mut self, dir: &Path) -> Result<Vec<Value>, Error> {
        let mut out = Vec::new();
        for path in ndjson_files(dir)? {
            let offset = self.offsets.entry(path.clone()).or_default();
            let reading = || format!("reading {}", path.display());
            let mut file = std::fs::File::open(&path).with_context(reading)?;
            let mut bytes = Vec::new();
            file.seek(std::io::SeekFrom::Start(*offset))
                .and_then(|_| file.read_to_end(&mut bytes))
                .with_context(reading)?;
            let Some(end) = bytes.iter().rposition(|b| *b == b'\n') else {
                continue;
            };
            *offset += end as u64 + 1;
            for line in bytes[..end].split(|b| *b == b'\n') {
                if let Ok(v) = serde_json::from_slice::<Value>(line) {
                    out.push(v);
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_demo_datasets_files_are_cleared() {
        let dir =
            std::env::temp_dir().join(format!("uipath-fleet-demo-clear-{}", std::process::id()));
        let jobs = dir.join(DEMO_SOURCE).join("jobs");
        std::fs::create_dir_all(&jobs).unwrap();
        std::fs::write(jobs.join("2025-04-01.ndjson"), "{}\n{}\n").unwrap();
        std::fs::write(jobs.join("notes.txt"), "mine").unwrap();
        assert_eq!(count_output(&jobs).unwrap(), (2, 1));
        assert_eq!(clear_previous_output(&dir, &["jobs", "robots"]).unwrap(), 1);
        assert!(jobs.join("notes.txt").exists());
        assert_eq!(count_output(&jobs).unwrap(), (0, 0));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
