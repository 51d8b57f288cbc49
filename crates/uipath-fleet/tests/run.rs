//! `uipath-fleet run --config FILE` with the embedded fleet, as an operator runs it: the
//! built binary against a simulator in the test process, no RabbitMQ, no Redis. Checked
//! against the simulator's data read directly: every record in the files, exactly once
//! after a clean run, nothing lost and few duplicates after a SIGKILL and a restart.

#[path = "common/embedded.rs"]
mod embedded;

use std::collections::HashSet;
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use embedded::*;
use fleet_reader::Sources;
use fleet_testkit::fleet_toml::{write_embedded, Embedded};
use uipath_sim::config::SimConfig;
use uipath_sim::faults::FaultConfig;
use uipath_sim::server::RunningSim;

const DATASETS: [&str; 2] = ["jobs", "queue-items"];
const FROM: &str = "2024-01-01T00:00:00Z";
const WORKERS: u64 = 2;
const SLOTS: u64 = 2;
/// Records per API page: slices take several pages, so a kill lands inside one.
const PAGE: u64 = 50;

/// `days` of data from 2024-01-01 in three folders, `per_day` jobs and as many queue
/// items per folder and day, no rate limit.
fn sim_config(days: u64, per_day: f64) -> SimConfig {
    let mut c = SimConfig::default();
    c.rate_limit.requests = 0;
    c.data.span_start = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    c.data.span_end = c.data.span_start + chrono::Days::new(days);
    c.data.folders = ["Finance", "HR", "Operations"].map(String::from).to_vec();
    c.data.extra_folders = 0;
    c.data.jobs_per_day = per_day;
    c.data.queue_items_per_day = per_day;
    c
}

fn to_after(days: u64) -> String {
    format!(
        "{}T00:00:00Z",
        NaiveDate::from_ymd_opt(2024, 1, 1).unwrap() + chrono::Days::new(days)
    )
}

/// The configuration file: the simulator as `acme`, budgets far above what the test
/// sends, the embedded fleet's state and output under `dir`, and `extra` (requests).
fn write_config(dir: &Path, sim: &RunningSim, extra: &str) -> PathBuf {
    let fleet = Embedded {
        workers: WORKERS as usize,
        concurrency: SLOTS as usize,
        page_size: PAGE as usize,
    };
    write_embedded(dir, &source_toml(sim, "acme"), fleet, extra)
}

fn backfill_toml(to: &str, width: &str) -> String {
    format!(
        "[[backfills]]\nsources = [\"acme\"]\ndatasets = {DATASETS:?}\nfrom = 2024-01-01\nto = {to}\nslice_width = \"{width}\"\n"
    )
}

fn run_command(config: &Path) -> tokio::process::Command {
    fleet_command(&["run", "--config", config.to_str().unwrap(), "--until-done"])
}

async fn references(sources: &Sources, to: &str) -> Vec<HashSet<String>> {
    let (from, to): (DateTime<Utc>, DateTime<Utc>) = (FROM.parse().unwrap(), to.parse().unwrap());
    let mut out = Vec::new();
    for ds in DATASETS {
        out.push(reference_ids(sources, "acme", ds, from, to).await);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_until_done_writes_every_record_once_and_a_rerun_adds_nothing() {
    const DAYS: u64 = 10;
    let dir = scratch("run-done");
    let sim = RunningSim::start(sim_config(DAYS, 30.0)).await.unwrap();
    let to = to_after(DAYS);
    let config = write_config(&dir, &sim, &backfill_toml(&to, "1d"));

    let output = run_to_end(run_command(&config), Duration::from_secs(300)).await;
    assert!(output.status.success(), "{}", show(&output));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(stdout.contains("backfills[0]: backfill "), "{stdout}");
    assert!(stdout.contains(": completed, "), "{stdout}");
    assert!(stdout.contains("API on http://127.0.0.1:"), "{stdout}");

    let sources = reference_sources(&sim, "acme", generous_limits());
    let expected = references(&sources, &to).await;
    let out = dir.join("out");
    for (ds, expected) in DATASETS.iter().zip(&expected) {
        assert!(expected.len() > 300, "{ds}: {} records", expected.len());
        let files = read_dataset(&out, "acme", ds);
        assert_eq!(files.unique(), *expected, "{ds}: the simulator's records");
        assert_eq!(files.duplicates(), 0, "{ds}: each once in a clean run");
        assert!(files.misplaced.is_empty(), "{ds}: {:?}", files.misplaced);
    }

    // The same command again: the request is found done, nothing is read or written.
    let lines = count_lines(&out);
    let output = run_to_end(run_command(&config), Duration::from_secs(120)).await;
    assert!(output.status.success(), "{}", show(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("submitted before"), "{stdout}");
    assert_eq!(
        count_lines(&out),
        lines,
        "a finished backfill is not redone"
    );
    drop(sources);
    sim.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkilled_run_resumes_from_the_ledger_and_loses_nothing() {
    const DAYS: u64 = 21;
    let dir = scratch("run-kill");
    let sim = RunningSim::start(sim_config(DAYS, 60.0)).await.unwrap();
    let to = to_after(DAYS);
    let sources = reference_sources(&sim, "acme", generous_limits());
    let expected = references(&sources, &to).await;
    let total: usize = expected.iter().map(HashSet::len).sum();
    assert!(total > 4_000, "{total} records");
    // Slow pages, so each slice takes a while and the kill lands inside slices.
    sim.sim.faults.set_config(FaultConfig {
        latency_ms: 40,
        paths: vec!["odata/".into()],
        ..FaultConfig::default()
    });
    let config = write_config(&dir, &sim, &backfill_toml(&to, "7d"));
    let out = dir.join("out");

    let mut child = run_command(&config)
        .spawn()
        .expect("spawn uipath-fleet run");
    let started = Instant::now();
    let at = total as u64 / 3;
    loop {
        let written = count_lines(&out);
        if written >= at {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("run ended before it was killed: {status:?}, {written} lines written");
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "only {written} of {at} lines after 180s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let kill_after = started.elapsed();
    child.kill().await.expect("SIGKILL the run");
    let status = child.wait().await.unwrap();
    assert_eq!(status.signal(), Some(9), "SIGKILLed: {status:?}");
    let at_kill = count_lines(&out);
    assert!(
        at_kill < total as u64,
        "work left when killed: {at_kill} of {total}"
    );

    // The same command again resumes from the ledger and finishes.
    let rerun = Instant::now();
    let output = run_to_end(run_command(&config), Duration::from_secs(300)).await;
    let rerun = rerun.elapsed();
    assert!(output.status.success(), "{}", show(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("submitted before"), "{stdout}");
    assert!(stdout.contains("resumed "), "{stdout}");

    let bound = (WORKERS * SLOTS * PAGE) as usize;
    let mut duplicates = 0;
    for (ds, expected) in DATASETS.iter().zip(&expected) {
        let files = read_dataset(&out, "acme", ds);
        let got = files.unique();
        let missing = expected.difference(&got).count();
        assert_eq!(
            missing,
            0,
            "{ds}: {missing} records lost\n{}",
            show(&output)
        );
        assert_eq!(got, *expected, "{ds}: nothing but the simulator's records");
        assert!(files.misplaced.is_empty(), "{ds}: {:?}", files.misplaced);
        duplicates += files.duplicates();
    }
    eprintln!(
        "killed at {at_kill} of {total} lines after {kill_after:?}, restarted run took {rerun:?}; {duplicates} duplicate lines"
    );
    assert!(
        duplicates <= bound,
        "{duplicates} duplicate lines; at most one page per job slot ({bound}) may repeat"
    );
    drop(sources);
    sim.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// The first steps of every new user: a wrong secret fails the run; after the secret is
/// fixed, the same command retries what failed (a planning failure and dead-lettered
/// slices alike), says so, and ends completed with exactly the simulator's records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rerun_after_fixing_the_secret_retries_what_failed_and_completes() {
    const DAYS: u64 = 4;
    let dir = scratch("run-fixed-secret");
    let sim = RunningSim::start(sim_config(DAYS, 20.0)).await.unwrap();
    let to = to_after(DAYS);
    // backfills[0] fails while planning (listing folders needs a token); backfills[1]
    // (a tenant dataset with a given width) is planned without a call, so its slices
    // fail in the workers and are dead-lettered.
    let audit = format!(
        "[[backfills]]\nsources = [\"acme\"]\ndatasets = [\"audit-logs\"]\nfrom = 2024-01-01\nto = {to}\nslice_width = \"1d\"\n"
    );
    let config = write_config(
        &dir,
        &sim,
        &format!("{}\n{audit}", backfill_toml(&to, "1d")),
    );
    let good = std::fs::read_to_string(&config).unwrap();
    let secret = format!(
        "client_secret = \"{}\"",
        uipath_sim::config::DEMO_CLIENT_SECRET
    );
    assert!(good.contains(&secret));
    std::fs::write(
        &config,
        good.replace(&secret, "client_secret = \"wrong-secret\""),
    )
    .unwrap();

    let output = run_to_end(run_command(&config), Duration::from_secs(120)).await;
    assert_eq!(output.status.code(), Some(1), "{}", show(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("invalid_client"), "{}", show(&output));
    assert!(
        !stderr.contains("wrong-secret"),
        "the secret is never printed: {}",
        show(&output)
    );
    assert_eq!(
        count_lines(&dir.join("out")),
        0,
        "nothing read with a wrong secret"
    );

    std::fs::write(&config, good).unwrap();
    let output = run_to_end(run_command(&config), Duration::from_secs(300)).await;
    assert!(output.status.success(), "{}", show(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("backfills[0]: retrying its planning, which failed with invalid_client"),
        "{stdout}"
    );
    assert!(
        stdout.contains("backfills[1]: retrying ")
            && stdout.contains("failed slice(s) (invalid_client"),
        "{stdout}"
    );
    assert_eq!(
        stdout.matches(": completed, ").count(),
        2,
        "both backfills completed: {stdout}"
    );

    let sources = reference_sources(&sim, "acme", generous_limits());
    let (from, until): (DateTime<Utc>, DateTime<Utc>) =
        (FROM.parse().unwrap(), to.parse().unwrap());
    let out = dir.join("out");
    for ds in ["jobs", "queue-items", "audit-logs"] {
        let expected = reference_ids(&sources, "acme", ds, from, until).await;
        assert!(!expected.is_empty(), "{ds}: the simulator has records");
        let files = read_dataset(&out, "acme", ds);
        assert_eq!(files.unique(), expected, "{ds}: the simulator's records");
        assert_eq!(files.duplicates(), 0, "{ds}: each once");
    }
    // The embedded fleet's files are private by default ([sink] file_mode).
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let jobs = out.join("acme/jobs");
    let file = std::fs::read_dir(&jobs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert_eq!(mode(&file), 0o600, "{}", file.display());
    assert_eq!(mode(&jobs), 0o700, "{}", jobs.display());
    drop(sources);
    sim.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_mistakes_exit_2_naming_the_field() {
    let dir = scratch("run-bad");
    let sim = RunningSim::start(sim_config(5, 5.0)).await.unwrap();
    let bad_dataset = "[[backfills]]\nsources = [\"acme\"]\ndatasets = [\"jobz\"]\nfrom = 2024-01-01\nto = 2024-01-03\n";
    let bad_range = "[[backfills]]\nsources = [\"acme\"]\ndatasets = [\"jobs\"]\nfrom = 2024-01-03\nto = 2024-01-01\n";
    let sync = "[[syncs]]\nsource = \"acme\"\ndatasets = [\"jobs\"]\nevery = \"15m\"\n";
    // Checked at submit against the tenant's $metadata, as the API checks it.
    let bad_select = "[[backfills]]\nsources = [\"acme\"]\ndatasets = [\"jobs\"]\nfrom = 2024-01-01\nto = 2024-01-03\nselect = { jobs = [\"Id\", \"NoSuchField\"] }\n";
    for (extra, needle) in [
        (bad_dataset, "backfills[0].datasets[0]"),
        (
            bad_select,
            "backfills[0].select.jobs: `NoSuchField` is not a field of jobs on source acme",
        ),
        (
            &format!("{}{bad_range}", backfill_toml("2024-01-03", "1d")),
            "backfills[1].to",
        ),
        (sync, "--until-done"),
        ("workerz = 1\n", "workerz"),
    ] {
        let config = write_config(&dir, &sim, extra);
        let output = run_to_end(run_command(&config), Duration::from_secs(60)).await;
        assert_eq!(output.status.code(), Some(2), "{extra}: {}", show(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(needle), "{extra}: `{needle}` in\n{stderr}");
    }
    sim.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// The same `run` on RabbitMQ and Redis (`--amqp-url`, `--redis-url`): no files, every
/// record on the configured output queue. Uses the real services under a unique prefix
/// and deletes its queues and keys afterwards, whether it passed or not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_on_rabbitmq_and_redis_publishes_to_the_output_queue() {
    use fleet_amqp::{AmqpBroker, AmqpConfig, OutputQueue};
    use fleet_core::Broker as _;

    let amqp_url = fleet_testkit::require_rabbitmq().await;
    let redis_url = fleet_testkit::require_redis().await;
    let prefix = fleet_testkit::unique_prefix("run-distributed");
    let mut amqp_config = AmqpConfig::new(&amqp_url, &prefix);
    amqp_config.output_queues = vec![OutputQueue {
        name: "lake".into(),
        patterns: vec!["#".into()],
    }];
    let amqp = AmqpBroker::connect(amqp_config).await.expect("rabbitmq");
    amqp.declare().await.expect("topology");
    let ledger = fleet_redis::RedisLedger::connect(&redis_url, &prefix)
        .await
        .expect("redis");

    let body = {
        let (amqp, prefix) = (amqp.clone(), prefix.clone());
        tokio::spawn(async move {
            const DAYS: u64 = 5;
            let dir = scratch("run-distributed");
            let sim = RunningSim::start(sim_config(DAYS, 20.0)).await.unwrap();
            let to = to_after(DAYS);
            let extra = format!(
                "[broker]\nprefix = \"{prefix}\"\n[[broker.output_queues]]\nname = \"lake\"\npatterns = [\"#\"]\n\n[redis]\nprefix = \"{prefix}\"\n\n{}",
                backfill_toml(&to, "1d")
            );
            let config = write_config(&dir, &sim, &extra);
            // Tokens are shared in Redis in this variant.
            let text = std::fs::read_to_string(&config).unwrap();
            let token_file = format!("[token_cache]\nfile = \"{}/tokens.json\"\n", dir.display());
            assert!(text.contains(&token_file));
            std::fs::write(&config, text.replace(&token_file, "")).unwrap();
            let mut command = run_command(&config);
            command.args(["--amqp-url", &amqp_url, "--redis-url", &redis_url]);
            let output = run_to_end(command, Duration::from_secs(300)).await;
            assert!(output.status.success(), "{}", show(&output));
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(stdout.contains("on RabbitMQ and Redis"), "{stdout}");
            assert!(
                !stdout.contains("guest:guest"),
                "no password printed: {stdout}"
            );
            assert_eq!(count_lines(&dir.join("out")), 0, "no files in this variant");

            let sources = reference_sources(&sim, "acme", generous_limits());
            let expected: usize = references(&sources, &to)
                .await
                .iter()
                .map(HashSet::len)
                .sum();
            let depth = amqp
                .queue_depth(&amqp.names().output("lake"))
                .await
                .expect("queue depth");
            assert_eq!(
                depth as usize, expected,
                "one message per record on the output queue"
            );
            drop(sources);
            sim.stop().await;
            let _ = std::fs::remove_dir_all(&dir);
        })
    };
    let result = body.await;
    let _ = amqp.delete_topology().await;
    let _ = ledger.delete_all().await;
    amqp.close().await;
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}
