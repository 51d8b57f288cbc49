//! The configuration file of an embedded fleet as the binary's end-to-end tests write it:
//! their sources, budgets far above what a test sends, the fleet's state, tokens and
//! output under the test's directory, and its requests.

use std::path::{Path, PathBuf};

/// How much work the embedded fleet does at once.
#[derive(Debug, Clone, Copy)]
pub struct Embedded {
    /// Worker processes in the fleet (`[embedded] workers`).
    pub workers: usize,
    /// Job slots per worker (`[worker] concurrency`).
    pub concurrency: usize,
    /// Records per page (`[worker] page_size`).
    pub page_size: usize,
}

/// Writes `dir/fleet.toml`: `sources` (`[[sources]]` tables), unlimited budgets, a
/// 200 ms coordinator tick, `fleet` as the fleet's size, state in `dir/state`, tokens in
/// `dir/tokens.json`, records in `dir/out`, then `requests` (`[[backfills]]` /
/// `[[syncs]]` tables). Returns the file's path.
pub fn write_embedded(dir: &Path, sources: &str, fleet: Embedded, requests: &str) -> PathBuf {
    let Embedded {
        workers,
        concurrency,
        page_size,
    } = fleet;
    let text = format!(
        r#"{sources}
[limits.default]
jobs = {{ requests = 1000000, period_ms = 60000, burst = 1000 }}
queue_items = {{ requests = 1000000, period_ms = 60000, burst = 1000 }}
other = {{ requests = 1000000, period_ms = 60000, burst = 1000 }}

[token_cache]
file = "{dir}/tokens.json"

[coordinator]
listen = "127.0.0.1:0"
tick_ms = 200

[worker]
concurrency = {concurrency}
page_size = {page_size}
drain_deadline_secs = 5

[embedded]
workers = {workers}
state_dir = "{dir}/state"

[sink]
dir = "{dir}/out"

{requests}
"#,
        dir = dir.display(),
    );
    let path = dir.join("fleet.toml");
    std::fs::write(&path, text).expect("write the fleet's configuration");
    path
}
