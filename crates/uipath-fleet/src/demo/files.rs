//! The demo's files: the configuration it leaves for `uipath-fleet run`, and the
//! `.ndjson` files it clears and counts.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use chrono::NaiveDate;
use uipath_sim::config::{
    DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_ORG, DEMO_TENANT, OR_READ_SCOPES,
};

use super::DEMO_SOURCE;

/// A configuration for `uipath-fleet run` doing what the demo did, against
/// `uipath-fleet sim` on its default address.
pub(super) fn example_config(datasets: &[&str], from: NaiveDate, to: NaiveDate) -> String {
    format!(
        r#"# Written by `uipath-fleet demo`: the same backfills and a sync, for `uipath-fleet run`.
#   terminal 1:  uipath-fleet sim                       (the simulator on 127.0.0.1:8080)
#   terminal 2:  uipath-fleet run --config THIS_FILE --until-done
# Against your own tenant: change [[sources]] (deployment, auth) and the dates.

[[sources]]
name = "{DEMO_SOURCE}"
deployment = {{ kind = "cloud", base_url = "http://127.0.0.1:8080", organization = "{DEMO_ORG}", tenant = "{DEMO_TENANT}" }}
# The simulator's published demo app; for a real tenant, keep the secret out of the
# file: client_secret = {{ env = "UIPATH_CLIENT_SECRET" }}
auth = {{ method = "client-credentials", client_id = "{DEMO_CLIENT_ID}", client_secret = "{DEMO_CLIENT_SECRET}", scopes = {scopes:?} }}

[embedded]
workers = 2
state_dir = ".uipath-fleet"   # the ledger: rerun after a crash or ctrl-c to resume

[sink]
dir = "out-run"               # out-run/<source>/<dataset>/<YYYY-MM-DD>.ndjson

[token_cache]
file = ".uipath-fleet/tokens.json"

[coordinator]
listen = "127.0.0.1:8700"     # `uipath-fleet status` and friends reach the fleet here

[[backfills]]
sources = ["{DEMO_SOURCE}"]
datasets = {datasets:?}
from = {from}
to = {to}

# What changed in jobs and queue items, every 10 s (`uipath-fleet sim` runs live). It
# runs until you stop the fleet: leave out --until-done to keep it going.
[[syncs]]
sources = ["{DEMO_SOURCE}"]
datasets = ["jobs", "queue-items"]
every = "10s"
settle = "5s"
lookback = "1m"
"#,
        scopes = OR_READ_SCOPES,
    )
}

/// Removes the `.ndjson` files an earlier demo left for `datasets` under `<out>/demo/`;
/// returns how many. Nothing else is touched.
pub(super) fn clear_previous_output(out: &Path, datasets: &[&str]) -> anyhow::Result<usize> {
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
pub(super) fn ndjson_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "ndjson") && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Lines and files under `dir`.
pub(super) fn count_output(dir: &Path) -> anyhow::Result<(u64, usize)> {
    let files = ndjson_files(dir)?;
    let mut lines = 0u64;
    for path in &files {
        let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        lines += text.iter().filter(|b| **b == b'\n').count() as u64;
    }
    Ok((lines, files.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FleetConfig;

    #[test]
    fn the_example_configuration_is_valid() {
        let from = NaiveDate::from_ymd_opt(2025, 5, 1).unwrap();
        let to = NaiveDate::from_ymd_opt(2025, 7, 1).unwrap();
        let c = FleetConfig::parse(&example_config(&["jobs", "audit-logs"], from, to)).unwrap();
        assert_eq!(c.sources[0].name, DEMO_SOURCE);
        assert_eq!(c.backfills.len(), 1);
        assert_eq!(c.syncs.len(), 1);
        assert_eq!(c.syncs[0]["every"].as_str(), Some("10s"));
        let body: serde_json::Value =
            serde_json::from_slice(&crate::config::request_body(&c.backfills[0])).unwrap();
        assert_eq!(body["from"], "2025-05-01");
        assert_eq!(body["datasets"][1], "audit-logs");
    }

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
