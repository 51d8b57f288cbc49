//! The credentials users bring from older guides, through the real binary against the
//! simulator: a `user-key` source back-fills jobs with every record exactly once while
//! the key is exchanged once per token lifetime for the whole fleet (not once per
//! worker); a machine's robot credentials get the named migration error from `validate`,
//! `check` and `run`.

#[path = "common/embedded.rs"]
mod embedded;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use embedded::*;
use fleet_testkit::fleet_toml::{write_embedded, Embedded};
use uipath_sim::config::{SimConfig, DEMO_ORG, DEMO_TENANT, DEMO_USER};
use uipath_sim::faults::FaultConfig;
use uipath_sim::identity::{MachineConfig, UserKeyConfig};
use uipath_sim::server::RunningSim;

const KEY: &str = "user-key-c4d8e1f0";
const MACHINE_ID: &str = "machine-0b7e";
const MACHINE_SECRET: &str = "machine-secret-a93f";
/// Lifetime of the simulator's User Key tokens in these tests.
const TTL_SECS: u64 = 3;
const DAYS: u64 = 8;

fn sim_config() -> SimConfig {
    let mut c = SimConfig::default();
    c.rate_limit.requests = 0;
    c.data.span_start = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    c.data.span_end = c.data.span_start + chrono::Days::new(DAYS);
    c.data.folders = ["Finance", "HR", "Operations"].map(String::from).to_vec();
    c.data.extra_folders = 0;
    c.data.jobs_per_day = 40.0;
    c.identity.user_key_token_ttl_secs = TTL_SECS;
    c.identity.user_keys = vec![UserKeyConfig {
        key: KEY.into(),
        user: DEMO_USER.into(),
        org: DEMO_ORG.into(),
        tenant: DEMO_TENANT.into(),
    }];
    c.identity.machines = vec![MachineConfig {
        client_id: MACHINE_ID.into(),
        client_secret: MACHINE_SECRET.into(),
        org: DEMO_ORG.into(),
    }];
    c
}

fn to() -> String {
    format!(
        "{}T00:00:00Z",
        NaiveDate::from_ymd_opt(2024, 1, 1).unwrap() + chrono::Days::new(DAYS)
    )
}

/// An embedded fleet of two workers reading jobs from source `acme` authenticated by `auth`.
fn write_config(dir: &Path, sim: &RunningSim, auth: &str) -> PathBuf {
    let source = format!(
        r#"[[sources]]
name = "acme"
deployment = {{ kind = "cloud", base_url = "{base}", organization = "{DEMO_ORG}", tenant = "{DEMO_TENANT}" }}
auth = {auth}
timeout_secs = 10
"#,
        base = sim.base_url(),
    );
    let backfill = format!(
        r#"[[backfills]]
sources = ["acme"]
datasets = ["jobs"]
from = 2024-01-01
to = {to}
slice_width = "1d"
"#,
        to = to(),
    );
    let fleet = Embedded {
        workers: 2,
        concurrency: 2,
        page_size: 10,
    };
    write_embedded(dir, &source, fleet, &backfill)
}

/// The User Key from the environment; the legacy endpoint is the simulator's.
fn user_key_auth(sim: &RunningSim) -> String {
    format!(
        "{{ method = \"user-key\", user_key = {{ env = \"ACME_USER_KEY\" }} }}\ntoken_url = \"{}\"",
        sim.user_key_url()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_key_fleet_backfills_jobs_and_exchanges_the_key_once_per_lifetime() {
    let dir = scratch("user-key-run");
    let sim = RunningSim::start(sim_config()).await.unwrap();
    // Slow pages, so the run outlasts several token lifetimes.
    sim.sim.faults.set_config(FaultConfig {
        latency_ms: 300,
        paths: vec!["odata/".into()],
        ..FaultConfig::default()
    });
    let config = write_config(&dir, &sim, &user_key_auth(&sim));
    let mut command = fleet_command(&["run", "--config", config.to_str().unwrap(), "--until-done"]);
    command.env("ACME_USER_KEY", KEY);
    let started = Instant::now();
    let output = run_to_end(command, Duration::from_secs(120)).await;
    let elapsed = started.elapsed();
    assert!(output.status.success(), "{}", show(&output));
    assert!(!show(&output).contains(KEY), "the key was printed");

    let grants = sim.sim.stats.snapshot().token_grants;
    let exchanges = grants.get("user_key").copied().unwrap_or_default();
    // A token is used while fresh: until half its lifetime is left.
    let fresh = TTL_SECS as f64 / 2.0;
    let at_most = (elapsed.as_secs_f64() / fresh).ceil() as u64 + 1;
    assert!(
        elapsed > Duration::from_secs(3 * TTL_SECS),
        "the run lasted {elapsed:?}: too short to span several lifetimes"
    );
    assert!(
        (2..=at_most).contains(&exchanges),
        "{exchanges} key exchanges in {elapsed:?} with {TTL_SECS}s tokens (at most {at_most})"
    );
    assert_eq!(grants.get("client_credentials"), None, "{grants:?}");
    eprintln!("measured: {exchanges} user key exchanges over {elapsed:?} ({TTL_SECS}s tokens, 2 workers x 2 slots)");

    // Every job once, against the simulator's own records (read with the demo app).
    let sources = reference_sources(&sim, "acme", generous_limits());
    let (from, to): (DateTime<Utc>, DateTime<Utc>) = (
        "2024-01-01T00:00:00Z".parse().unwrap(),
        to().parse().unwrap(),
    );
    let expected = reference_ids(&sources, "acme", "jobs", from, to).await;
    assert!(expected.len() > 500, "{} jobs", expected.len());
    let files = read_dataset(&dir.join("out"), "acme", "jobs");
    assert_eq!(files.unique(), expected, "the simulator's jobs");
    assert_eq!(files.duplicates(), 0, "each once in a clean run");
    drop(sources);
    sim.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

fn assert_migration(text: &str) {
    assert!(
        text.contains("method = \"machine\" is not supported"),
        "{text}"
    );
    assert!(text.contains("External Applications"), "{text}");
    assert!(text.contains("OR.Folders.Read OR.Jobs.Read"), "{text}");
    assert!(!text.contains(MACHINE_SECRET), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn machine_credentials_get_the_migration_error_from_validate_check_and_run() {
    let dir = scratch("machine");
    let sim = RunningSim::start(sim_config()).await.unwrap();
    let auth = format!(
        r#"{{ method = "machine", client_id = "{MACHINE_ID}", client_secret = "{MACHINE_SECRET}" }}"#
    );
    let config = write_config(&dir, &sim, &auth);
    let path = config.to_str().unwrap();
    for args in [
        vec!["validate", "--config", path],
        vec!["check", "--config", path],
        vec!["run", "--config", path, "--until-done"],
    ] {
        let output = run_to_end(fleet_command(&args), Duration::from_secs(60)).await;
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", show(&output));
        assert_migration(&String::from_utf8_lossy(&output.stderr));
    }

    // The same credentials given as an external application's: the identity server's
    // robot scopes give them away, and `check` and `run` name what to create instead.
    let auth = format!(
        r#"{{ method = "client-credentials", client_id = "{MACHINE_ID}", client_secret = "{MACHINE_SECRET}", scopes = ["OR.Jobs.Read", "OR.Folders.Read"] }}"#
    );
    let config = write_config(&dir, &sim, &auth);
    let output = run_to_end(
        fleet_command(&["check", "--config", config.to_str().unwrap()]),
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(output.status.code(), Some(1), "{}", show(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("machine_credentials"), "{stdout}");
    assert!(stdout.contains("External Applications"), "{stdout}");
    assert!(!show(&output).contains(MACHINE_SECRET), "{}", show(&output));
    let output = run_to_end(
        fleet_command(&["run", "--config", config.to_str().unwrap(), "--until-done"]),
        Duration::from_secs(60),
    )
    .await;
    // At run time the same: the backfill fails naming the machine credentials, with the
    // fix, and the run exits 1 as for any backfill that failed.
    assert_eq!(output.status.code(), Some(1), "{}", show(&output));
    let all = show(&output);
    assert!(all.contains("ended failed: machine_credentials"), "{all}");
    assert!(all.contains("External Applications"), "{all}");
    assert!(!all.contains("did not answer"), "{all}");
    assert!(!show(&output).contains(MACHINE_SECRET), "{}", show(&output));
    sim.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_probes_each_dataset_of_a_user_key_source_and_names_a_revoked_key() {
    let dir = scratch("user-key-check");
    let sim = RunningSim::start(sim_config()).await.unwrap();
    let config = write_config(&dir, &sim, &user_key_auth(&sim));
    let check = |dataset: &'static str| {
        let mut command = fleet_command(&[
            "check",
            "--config",
            config.to_str().unwrap(),
            "--dataset",
            dataset,
        ]);
        command.env("ACME_USER_KEY", KEY);
        run_to_end(command, Duration::from_secs(60))
    };
    // No scopes to compare: each dataset is proved by a one-record read.
    for dataset in ["jobs", "audit-logs"] {
        let output = check(dataset).await;
        assert_eq!(output.status.code(), Some(0), "{}", show(&output));
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.contains("ok: readable"), "{stdout}");
    }
    assert!(sim.sim.stats.snapshot().requests["odata/AuditLogs"][&200] >= 1);

    sim.sim.identity.revoke_user_keys(None);
    let output = check("jobs").await;
    assert_eq!(output.status.code(), Some(1), "{}", show(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("user_key_revoked"), "{stdout}");
    assert!(stdout.contains("API access"), "{stdout}");
    assert!(!show(&output).contains(KEY), "{}", show(&output));
    sim.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
