//! `uipath-fleet demo` as a newcomer runs it: the built binary, no configuration, no
//! services. What it wrote is checked against the simulator's own data: an identical
//! simulator (`demo::live::sim_config(today)`: live, but a finished day's records are
//! fixed) started here and read directly. The live phase is checked from its files: sync
//! records arrived, and some were new versions of jobs created before the sync started.

#[path = "common/embedded.rs"]
mod embedded;

use std::time::Duration;

use chrono::{DateTime, Days, Utc};
use embedded::*;
use uipath_fleet::demo::live::{sim_config, LIVE_SOURCE};
use uipath_sim::server::RunningSim;

/// A small demo: the last 4 days of the simulator's data (it ends today at 00:00 UTC), a
/// rate-limited dataset, a folder-less one and a dense one; then 15 s of live sync.
const DAYS: &str = "4";
const DATASETS: [&str; 3] = ["jobs", "audit-logs", "robot-logs"];
const LIVE_SECS: &str = "15";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_writes_exactly_the_simulators_records() {
    let today = Utc::now().date_naive();
    let from_day = today - Days::new(4);
    let dir = scratch("demo");
    let out = dir.join("out");
    let state = dir.join("state");
    // A file of an earlier demo that a fresh run must replace, and a file of the user's
    // that it must leave alone.
    let jobs_dir = out.join("demo").join("jobs");
    std::fs::create_dir_all(&jobs_dir).unwrap();
    std::fs::write(jobs_dir.join(format!("{from_day}.ndjson")), "stale\n").unwrap();
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
        "--live-secs",
        LIVE_SECS,
    ]);
    let output = run_to_end(command, Duration::from_secs(300)).await;
    assert!(output.status.success(), "{}", show(&output));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();

    let sim = RunningSim::start(sim_config(today)).await.unwrap();
    let sources = reference_sources(&sim, "demo", fleet_core::LimiterConfig::default());
    let day = |d: chrono::NaiveDate| d.and_hms_opt(0, 0, 0).unwrap().and_utc();
    let (from, to): (DateTime<Utc>, DateTime<Utc>) = (day(from_day), day(today));
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
        "live sync (",
    ] {
        assert!(
            stdout.contains(needle),
            "`{needle}` in the summary:\n{stdout}"
        );
    }
    check_live(&out, &stdout, &output);
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

/// The live phase: jobs and queue items arrived under `<out>/live/`, and at least one job
/// line is a changed version (the job was created before the sync started).
fn check_live(out: &std::path::Path, stdout: &str, output: &std::process::Output) {
    let start: DateTime<Utc> = stdout
        .lines()
        .find_map(|l| l.strip_prefix("live sync from "))
        .and_then(|rest| {
            rest.split(':')
                .take(3)
                .collect::<Vec<_>>()
                .join(":")
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no `live sync from <start>` line\n{}", show(output)));
    let lines = |ds: &str| -> Vec<serde_json::Value> {
        let dir = out.join(LIVE_SOURCE).join(ds);
        let mut all = Vec::new();
        for entry in std::fs::read_dir(&dir).into_iter().flatten() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            all.extend(text.lines().map(|l| serde_json::from_str(l).unwrap()));
        }
        all
    };
    let jobs = lines("jobs");
    let items = lines("queue-items");
    assert!(
        !jobs.is_empty(),
        "live job records arrived\n{}",
        show(output)
    );
    assert!(!items.is_empty(), "live queue-item records arrived");
    let changed = jobs
        .iter()
        .filter(|l| {
            let created: DateTime<Utc> = l["record"]["CreationTime"]
                .as_str()
                .and_then(|t| t.parse().ok())
                .expect("a job line has its CreationTime");
            created < start
        })
        .count();
    assert!(
        changed > 0,
        "some job lines are changed versions of jobs created before {start}"
    );
    let summary = stdout
        .lines()
        .find(|l| l.contains("job version(s) of jobs created before the sync started"))
        .unwrap_or_else(|| panic!("no live summary\n{stdout}"));
    assert!(
        summary.trim_start().starts_with(&changed.to_string()),
        "{summary} ({changed} found in the files)"
    );
}
