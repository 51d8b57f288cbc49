//! The demo's live phase, tracked: a sync of the busy [`super::LIVE_TENANT`] submitted
//! ([`submit_sync`]) and what it delivers read back from the files the embedded sink
//! writes (`<out>/live/<dataset>/`), never from the simulator ([`Watch`]): each job's
//! state changes and the queue items' statuses as they land ([`Landed`]), and what the
//! phase delivered in all ([`LiveSummary`]). Printing it is the binary's part.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};
use fleet_core::ledger::RequestKind;
use serde_json::Value;
use uipath_sim::stats::StatsSnapshot;

use super::{requests_sent, Tail, LIVE_DATASETS, LIVE_SOURCE};
use crate::embedded::{EmbeddedFleet, Submitted};
use crate::error::Error;

/// The sync's schedule: every 10 s, 2 s settle, 30 s re-read.
pub const EVERY: &str = "10s";
pub const SETTLE: &str = "2s";
pub const LOOKBACK: &str = "30s";

/// Submits the live sync of `jobs` and `queue-items` of [`LIVE_SOURCE`], reading what
/// changed from `start` on.
pub async fn submit_sync(fleet: &EmbeddedFleet, start: DateTime<Utc>) -> Result<Submitted, Error> {
    let body = serde_json::json!({
        "sources": [LIVE_SOURCE],
        "datasets": LIVE_DATASETS,
        "every": EVERY,
        "settle": SETTLE,
        "lookback": LOOKBACK,
        "start": start.to_rfc3339_opts(SecondsFormat::Secs, true),
    });
    fleet
        .submit(RequestKind::Sync, "live sync", body.to_string().as_bytes())
        .await
}

/// What a job's new version says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobChange {
    /// A job seen before, now in another state.
    Moved { from: String, to: String },
    /// First seen, created before the sync started: it changed into `state`.
    Changed {
        state: String,
        created: Option<DateTime<Utc>>,
    },
    /// First seen, created since the sync started.
    New { state: String },
}

/// What landed in the sink's files since the last [`Watch::poll`], in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Landed {
    /// A job version in a state not seen before for it.
    Job {
        id: i64,
        change: JobChange,
        folder: String,
    },
    /// Queue item versions: how many, and how many per status.
    QueueItems {
        versions: usize,
        statuses: BTreeMap<String, u64>,
    },
}

/// What the live phase delivered, read from the sink's files.
#[derive(Debug, Default)]
pub struct LiveSummary {
    /// Record versions (lines) per dataset.
    pub versions: BTreeMap<&'static str, u64>,
    /// Distinct records per dataset.
    pub records: BTreeMap<&'static str, usize>,
    /// Jobs created before the sync started that arrived in a new state.
    pub changed_jobs: u64,
    pub requests: u64,
    pub throttled: u64,
    pub secs: f64,
}

/// What the watcher has seen of the live sync's output so far.
#[derive(Debug)]
pub struct Watch {
    start: DateTime<Utc>,
    tails: [Tail; 2],
    job_state: HashMap<i64, String>,
    keys: [HashSet<String>; 2],
    versions: [u64; 2],
    changed_jobs: u64,
}

impl Watch {
    /// A watcher of a sync that started at `start`.
    pub fn new(start: DateTime<Utc>) -> Watch {
        Watch {
            start,
            tails: Default::default(),
            job_state: HashMap::new(),
            keys: Default::default(),
            versions: [0; 2],
            changed_jobs: 0,
        }
    }

    /// Reads what landed under `root` (`<out>/live`) since the last call.
    pub fn poll(&mut self, root: &Path) -> Result<Vec<Landed>, Error> {
        let mut landed = Vec::new();
        for (i, ds) in LIVE_DATASETS.iter().enumerate() {
            let lines = self.tails[i].read(&root.join(ds))?;
            let mut statuses: BTreeMap<String, u64> = BTreeMap::new();
            for line in &lines {
                self.versions[i] += 1;
                let key = line["key"].as_str().map_or_else(
                    || line["record"]["Id"].to_string(),
                    std::borrow::ToOwned::to_owned,
                );
                self.keys[i].insert(key);
                let record = &line["record"];
                if i == 0 {
                    landed.extend(self.job(line, record));
                } else {
                    let status = record["Status"].as_str().unwrap_or("?").to_owned();
                    *statuses.entry(status).or_default() += 1;
                }
            }
            if !statuses.is_empty() {
                landed.push(Landed::QueueItems {
                    versions: lines.len(),
                    statuses,
                });
            }
        }
        Ok(landed)
    }

    /// One job version: a change, unless the job was already in this state.
    fn job(&mut self, line: &Value, record: &Value) -> Option<Landed> {
        let id = record["Id"].as_i64()?;
        let state = record["State"].as_str().unwrap_or("?").to_owned();
        let created = record["CreationTime"]
            .as_str()
            .and_then(|t| fleet_core::time::parse_instant(t).ok());
        let old = created.is_some_and(|c| c < self.start);
        if old {
            self.changed_jobs += 1;
        }
        let change = match self.job_state.insert(id, state.clone()) {
            Some(prev) if prev == state => return None,
            Some(prev) => JobChange::Moved {
                from: prev,
                to: state,
            },
            None if old => JobChange::Changed { state, created },
            None => JobChange::New { state },
        };
        let folder = line["folder"].as_str().unwrap_or("").to_owned();
        Some(Landed::Job { id, change, folder })
    }

    /// What the phase delivered in all, over `secs` seconds; `before`/`after` are the
    /// simulator's counters around it.
    pub fn summary(&self, secs: f64, before: &StatsSnapshot, after: &StatsSnapshot) -> LiveSummary {
        let mut summary = LiveSummary {
            changed_jobs: self.changed_jobs,
            requests: requests_sent(after).saturating_sub(requests_sent(before)),
            throttled: after.throttled.saturating_sub(before.throttled),
            secs,
            ..LiveSummary::default()
        };
        for (i, ds) in LIVE_DATASETS.iter().enumerate() {
            summary.versions.insert(ds, self.versions[i]);
            summary.records.insert(ds, self.keys[i].len());
        }
        summary
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watch_reports_each_job_change_once_and_tallies_queue_items() {
        let root = std::env::temp_dir().join(format!("fleet-assembly-live-{}", std::process::id()));
        let (jobs, items) = (root.join("jobs"), root.join("queue-items"));
        std::fs::create_dir_all(&jobs).unwrap();
        std::fs::create_dir_all(&items).unwrap();
        let start: DateTime<Utc> = "2025-07-01T10:00:00Z".parse().unwrap();
        let job = |id: i64, state: &str, created: &str| {
            format!(
                "{}\n",
                serde_json::json!({"key": id.to_string(), "folder": "HR",
                    "record": {"Id": id, "State": state, "CreationTime": created}})
            )
        };
        std::fs::write(
            jobs.join("2025-07-01.ndjson"),
            job(1, "Running", "2025-07-01T09:00:00Z")
                + &job(2, "Pending", "2025-07-01T10:00:05Z")
                + &job(2, "Pending", "2025-07-01T10:00:05Z"),
        )
        .unwrap();
        std::fs::write(
            items.join("2025-07-01.ndjson"),
            "{\"key\":\"7\",\"record\":{\"Id\":7,\"Status\":\"New\"}}\n",
        )
        .unwrap();
        let mut watch = Watch::new(start);
        let landed = watch.poll(&root).unwrap();
        assert_eq!(
            landed,
            [
                Landed::Job {
                    id: 1,
                    change: JobChange::Changed {
                        state: "Running".into(),
                        created: Some("2025-07-01T09:00:00Z".parse().unwrap()),
                    },
                    folder: "HR".into(),
                },
                Landed::Job {
                    id: 2,
                    change: JobChange::New {
                        state: "Pending".into()
                    },
                    folder: "HR".into(),
                },
                Landed::QueueItems {
                    versions: 1,
                    statuses: BTreeMap::from([("New".into(), 1)]),
                },
            ]
        );
        assert!(watch.poll(&root).unwrap().is_empty(), "nothing new landed");
        let stats = StatsSnapshot::default();
        let summary = watch.summary(1.0, &stats, &stats);
        assert_eq!((summary.versions["jobs"], summary.records["jobs"]), (3, 2));
        assert_eq!(summary.changed_jobs, 1);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
