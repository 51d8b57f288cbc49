//! Helpers for the tests of the one-process fleet (`demo`, `run`): the binary as a child
//! process with a deadline, the reference (every record id the simulator holds for a
//! dataset and range, read directly with a client of the test's own), and the output
//! files read back (one JSON line per record, `<dir>/<source>/<dataset>/<date>.ndjson`).
//!
//! Included by path (`#[path = "common/embedded.rs"]`) so it needs nothing else of
//! `common`.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use fleet_core::{LimiterConfig, Sealer};
use fleet_memory::{MemoryRateLimiter, MemoryTokenCache};
use fleet_reader::{DatasetRef, SliceCursor, SliceRead, Sources};
use fleet_worker::output::key_and_version;
use serde_json::Value;
use tokio::process::Command;
use uipath_client::client::ClientOptions;
use uipath_client::{SourceConfig, UipathClient};
use uipath_sim::config::{
    DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_ORG, DEMO_TENANT, OR_READ_SCOPES,
};
use uipath_sim::server::RunningSim;

/// `uipath-fleet ARGS...` with no `UIPATH_FLEET_*` variable of the test's environment,
/// logging at info to stderr.
pub fn fleet_command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_uipath-fleet"));
    command.args(args);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("UIPATH_FLEET_") {
            command.env_remove(key);
        }
    }
    command
        .env("RUST_LOG", "warn,uipath_fleet=info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Runs `command` to its end, killing it after `deadline` (then the test fails).
pub async fn run_to_end(mut command: Command, deadline: Duration) -> Output {
    let child = command.spawn().expect("spawn uipath-fleet");
    match tokio::time::timeout(deadline, child.wait_with_output()).await {
        Ok(output) => output.expect("uipath-fleet output"),
        Err(_) => panic!("uipath-fleet did not finish within {deadline:?}"),
    }
}

/// stdout and stderr of `output`, for failure messages.
pub fn show(output: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr (last 4000 bytes)\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        tail(&String::from_utf8_lossy(&output.stderr), 4000)
    )
}

pub fn tail(text: &str, n: usize) -> &str {
    let mut start = text.len().saturating_sub(n);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// Budgets far above what a test sends, for a simulator without a rate limit.
pub fn generous_limits() -> LimiterConfig {
    let budget = Some(fleet_core::Budget {
        requests: 1_000_000,
        period_ms: 60_000,
        burst: 1_000,
    });
    LimiterConfig {
        default: fleet_core::ratelimit::FamilyBudgets {
            jobs: budget,
            queue_items: budget,
            other: budget,
        },
        ..LimiterConfig::default()
    }
}

/// A fresh scratch directory for one test.
pub fn scratch(test: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!(
        "uipath-fleet-{test}-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The `[[sources]]` table of a simulator, named `name` (client credentials).
pub fn source_toml(sim: &RunningSim, name: &str) -> String {
    format!(
        r#"[[sources]]
name = "{name}"
deployment = {{ kind = "cloud", base_url = "{base}", organization = "{DEMO_ORG}", tenant = "{DEMO_TENANT}" }}
auth = {{ method = "client-credentials", client_id = "{DEMO_CLIENT_ID}", client_secret = "{DEMO_CLIENT_SECRET}", scopes = {scopes:?} }}
timeout_secs = 10
"#,
        base = sim.base_url(),
        scopes = OR_READ_SCOPES,
    )
}

/// A client of the test's own for `sim`, as source `name`, within `limits` (the cloud's
/// defaults against a rate-limited simulator, so it meets no 429).
pub fn reference_sources(sim: &RunningSim, name: &str, limits: LimiterConfig) -> Sources {
    let text = source_toml(sim, name);
    #[derive(serde::Deserialize)]
    struct File {
        sources: Vec<SourceConfig>,
    }
    let file: File = toml::from_str(&text).expect("source config");
    let source = file.sources.into_iter().next().unwrap();
    let client = UipathClient::new(
        source,
        Arc::new(MemoryTokenCache::new(Sealer::plain())),
        Arc::new(MemoryRateLimiter::new(limits)),
        ClientOptions {
            max_wait: Duration::from_secs(120),
            ..ClientOptions::default()
        },
    )
    .expect("client builds");
    Sources::new([Arc::new(client)])
}

/// Every record id the simulator serves for `dataset` over `[from, to)`, over every
/// folder for a folder-scoped dataset, read in one keyset pass per folder.
pub async fn reference_ids(
    sources: &Sources,
    source: &str,
    dataset: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> HashSet<String> {
    let ds = DatasetRef::parse(dataset).expect("known dataset");
    let def = fleet_core::dataset::by_name(dataset).expect("an Orchestrator dataset");
    let folders = if def.folder_scoped {
        sources
            .folders(source)
            .await
            .expect("folders")
            .into_iter()
            .map(Some)
            .collect()
    } else {
        vec![None]
    };
    let mut ids = HashSet::new();
    for folder in folders {
        let read = SliceRead {
            source: source.into(),
            dataset: ds.clone(),
            folder,
            from: Some(from),
            to: Some(to),
            select: vec![],
            page_size: None,
            mode: Default::default(),
        };
        let mut cursor = SliceCursor::start(&ds);
        loop {
            let (records, next) = sources
                .read_page(&read, &cursor, fleet_core::Priority::Sync)
                .await
                .expect("reference read");
            for r in &records {
                let (key, version) = key_and_version(r);
                ids.insert(fleet_core::wire::record_id(
                    source, def.slug, &key, &version,
                ));
            }
            match next {
                Some(c) => cursor = c,
                None => break,
            }
        }
    }
    ids
}

/// The lines of one dataset's files.
#[derive(Debug, Default)]
pub struct DatasetFiles {
    /// Every line's `id`, in file order (duplicates kept).
    pub ids: Vec<String>,
    /// Files by date (the file's name).
    pub files: BTreeMap<NaiveDate, u64>,
    /// Lines whose record's time field is not on the file's date: (file, line).
    pub misplaced: Vec<String>,
}

impl DatasetFiles {
    pub fn unique(&self) -> HashSet<String> {
        self.ids.iter().cloned().collect()
    }
    pub fn duplicates(&self) -> usize {
        self.ids.len() - self.unique().len()
    }
}

/// Reads `<dir>/<source>/<dataset>/*.ndjson`: each line must be JSON with `id`, `source`,
/// `dataset` and `record`; the record's time field must fall on the file's date.
pub fn read_dataset(dir: &Path, source: &str, dataset: &str) -> DatasetFiles {
    let def = fleet_core::dataset::by_name(dataset).expect("an Orchestrator dataset");
    let mut out = DatasetFiles::default();
    let folder = dir.join(source).join(dataset);
    let Ok(entries) = std::fs::read_dir(&folder) else {
        return out;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("ndjson") {
            continue;
        }
        let stem = path.file_stem().unwrap().to_str().unwrap();
        let date: NaiveDate = stem
            .parse()
            .unwrap_or_else(|_| panic!("file named by date: {}", path.display()));
        let text = std::fs::read_to_string(&path).unwrap();
        let mut n = 0;
        for line in text.lines() {
            n += 1;
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {line}", path.display()));
            assert_eq!(v["source"], source, "{line}");
            assert_eq!(v["dataset"], dataset, "{line}");
            let id = v["id"].as_str().expect("a line has an id").to_owned();
            if let Some(field) = def.time_field {
                let time = v["record"][field].as_str().unwrap_or_default();
                let day = time.parse::<DateTime<Utc>>().map(|t| t.date_naive()).ok();
                if day != Some(date) {
                    out.misplaced
                        .push(format!("{}: {field} = {time}", path.display()));
                }
            }
            out.ids.push(id);
        }
        out.files.insert(date, n);
    }
    out
}

/// Lines in every `.ndjson` file under `dir` (recursively), 0 if it does not exist.
pub fn count_lines(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut n = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            n += count_lines(&path);
        } else if path.extension().and_then(|e| e.to_str()) == Some("ndjson") {
            n += std::fs::read(&path)
                .map(|b| b.iter().filter(|c| **c == b'\n').count() as u64)
                .unwrap_or(0);
        }
    }
    n
}
