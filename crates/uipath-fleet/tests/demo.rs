//! `uipath-fleet demo` as a newcomer runs it: the built binary, no configuration, no
//! services. What it wrote is checked against the simulator's own data: an identical
//! simulator (`SimConfig::default()`, deterministic) started here and read directly.

#[path = "common/embedded.rs"]
mod embedded;

use std::time::Duration;

use chrono::{DateTime, Utc};
use embedded::*;
use uipath_sim::config::SimConfig;
use uipath_sim::server::RunningSim;

/// A small demo: the last 4 days of the simulator's data (it ends 2025-07-01), a
/// rate-limited dataset, a folder-less one and a dense one.
const DAYS: &str = "4";
const FROM: &str = "2025-06-27T00:00:00Z";
const TO: &str = "2025-07-01T00:00:00Z";
const DATASETS: [&str; 3] = ["jobs", "audit-logs", "robot-logs"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_writes_exactly_the_simulators_records() {
    let dir = scratch("demo");
    let out = dir.join("out");
    let state = dir.join("state");
    // A file of an earlier demo that a fresh run must replace, and a file of the user's
    // that it must leave alone.
    let jobs_dir = out.join("demo").join("jobs");
    std::fs::create_dir_all(&jobs_dir).unwrap();
    std::fs::write(jobs_dir.join("2025-06-27.ndjson"), "stale\n").unwrap();
    std::fs::write(jobs_dir.join("README.txt"), "mine").unwrap();

    let command = fleet_command(&[
        "demo",
        "--out",
        out.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
        "--days",
        DAYS,
        "--datasets",
        &DATASETS.join(","),
    ]);
    let output = run_to_end(command, Duration::from_secs(300)).await;
    assert!(output.status.success(), "{}", show(&output));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();

    let sim = RunningSim::start(SimConfig::default()).await.unwrap();
    let sources = reference_sources(&sim, "demo", fleet_core::LimiterConfig::default());
    let (from, to): (DateTime<Utc>, DateTime<Utc>) = (FROM.parse().unwrap(), TO.parse().unwrap());
    for ds in DATASETS {
        let expected = reference_ids(&sources, "demo", ds, from, to).await;
        assert!(!expected.is_empty(), "{ds}: the simulator has records");
        let files = read_dataset(&out, "demo", ds);
        assert_eq!(
            files.ids.len(),
            expected.len(),
            "{ds}: one line per record of the simulator\n{}",
            show(&output)
        );
        assert_eq!(files.duplicates(), 0, "{ds}: ids are unique");
        assert_eq!(
            files.unique(),
            expected,
            "{ds}: exactly the simulator's records"
        );
        assert!(
            files.misplaced.is_empty(),
            "{ds}: every line in the file of its date: {:?}",
            &files.misplaced[..files.misplaced.len().min(5)]
        );
        assert_eq!(
            files.files.len(),
            4,
            "{ds}: one file per day: {:?}",
            files.files
        );
        // The summary line of the dataset names its count and its directory.
        let line = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(ds) && l.contains("records in"))
            .unwrap_or_else(|| panic!("{ds}: no summary line\n{stdout}"));
        assert!(
            line.contains(&format!(" {} records", expected.len())),
            "{ds}: {line}"
        );
    }
    drop(sources);
    sim.stop().await;
    assert!(
        jobs_dir.join("README.txt").exists(),
        "other files are left alone"
    );
    for needle in [
        "done in ",
        "total",
        "UiPath API: ",
        "answered 429",
        "token(s) granted",
        "next:",
    ] {
        assert!(
            stdout.contains(needle),
            "`{needle}` in the summary:\n{stdout}"
        );
    }
    assert!(
        !stdout.contains("fleet-demo-secret")
            && !String::from_utf8_lossy(&output.stderr).contains("fleet-demo-secret"),
        "the client secret is never printed"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_refuses_bad_flags_with_exit_2() {
    for (flags, field) in [
        (&["demo", "--datasets", "jobz"][..], "--datasets"),
        (&["demo", "--months", "12"][..], "--months"),
        (&["demo", "--workers", "0"][..], "--workers"),
    ] {
        let output = run_to_end(fleet_command(flags), Duration::from_secs(60)).await;
        assert_eq!(
            output.status.code(),
            Some(2),
            "{flags:?}: {}",
            show(&output)
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(field), "{flags:?}: {stderr}");
    }
}
