//! `uipath-fleet worker` run as an operator runs it: the built binary, a configuration
//! file plus environment and flags, real RabbitMQ and Redis, the simulator and a
//! coordinator in the test process. The faults are the ones processes meet in
//! production: SIGKILL mid-slice (a crashed or OOM-killed pod), SIGTERM under load (a
//! rolling update), and a configuration mistake. Each fault test checks what arrived on
//! the records exchange against the simulator's data read directly: nothing lost,
//! duplicates within the one-page-per-interrupted-job bound, every slice completed.

mod common;

use std::os::unix::process::ExitStatusExt as _;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use fleet_core::Ledger as _;

/// Records per API page the workers ask for: slices take several pages, so a kill lands
/// inside one.
const PAGE: u64 = 100;
const DATASETS: [&str; 2] = ["jobs", "queue-items"];

/// Three workers on ~30,000 records; two are SIGKILLed mid-run (one at a fifth of the
/// records, one at half) and replaced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkilled_workers_lose_nothing_and_repeat_at_most_a_page_per_job() {
    const DAYS: u32 = 28;
    with_fleet(
        "fleet-proc-kill",
        sim_config(DAYS, 180.0),
        |fleet| async move { kill_and_replace(&fleet, DAYS).await },
    )
    .await;
}

async fn kill_and_replace(fleet: &Fleet, days: u32) {
    const SLOTS: u64 = 2;
    let to = to_after(days);
    let expected = fleet.reference_ids(&DATASETS, &to).await;
    assert!(expected.len() > 20_000, "{} records", expected.len());
    // Slow pages so that each slice takes a while and a kill lands inside one.
    fleet.set_page_latency(60);
    let config = fleet.write_config(&format!(
        "concurrency = {SLOTS}\npage_size = {PAGE}\noutput = \"record\"\ndrain_deadline_secs = 10"
    ));
    let started = Instant::now();
    let mut workers = Vec::new();
    for i in 0..3 {
        workers.push(fleet.spawn(&config, &format!("w{i}")).await);
    }
    let id = fleet.backfill(&DATASETS, &to, "7d").await;

    let mut kills = 0u64;
    for (fraction, replacement) in [(5, "w3"), (2, "w4")] {
        let at = expected.len() as u64 / fraction;
        let p = fleet
            .wait_progress(
                &id,
                "records checkpointed before a kill",
                Duration::from_secs(240),
                |p| p.records >= at,
            )
            .await;
        assert!(p.done() < p.total(), "work left to interrupt: {p:?}");
        let victim = workers.remove(0);
        let status = victim.kill().await;
        assert_eq!(status.signal(), Some(9), "SIGKILLed: {status:?}");
        kills += 1;
        workers.push(fleet.spawn(&config, replacement).await);
    }

    fleet.wait_done(&id, Duration::from_secs(300)).await;
    let elapsed = started.elapsed();
    let received = fleet.received_after_quiet(Duration::from_secs(2)).await;
    received.assert_complete(&expected);
    let bound = kills * SLOTS * PAGE;
    let duplicates = received.duplicates();
    assert!(
        duplicates <= bound,
        "{duplicates} duplicates; bound {bound} (kills × slots × page)"
    );
    let restarted = assert_all_completed(fleet, &id, expected.len()).await;
    assert!(
        restarted >= 1,
        "no slice was started twice: the kills missed every running slice"
    );
    assert!(
        restarted as u64 <= kills * SLOTS,
        "{restarted} slices restarted; a killed worker holds at most {SLOTS}"
    );
    assert_eq!(
        fleet.lake_depth().await,
        received.messages as u64,
        "the configured output queue got every message too"
    );
    for w in workers {
        let name = w.name.clone();
        let (status, out) = w.stop(Duration::from_secs(30)).await;
        assert_eq!(status.code(), Some(0), "{name}: {status:?} {out}");
        assert!(out.contains(&format!("worker {name} stopped")), "{out}");
    }
    eprintln!(
        "sigkill: {} records, {} slices restarted, {duplicates} duplicates (bound {bound}), {elapsed:?}",
        expected.len(),
        restarted
    );
}

/// One busy worker gets SIGTERM: it hands its running slices back at a page boundary,
/// exits 0 within its drain deadline, and a fresh worker finishes without repeating a
/// record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_a_busy_worker_which_exits_zero_and_another_finishes() {
    const DAYS: u32 = 14;
    with_fleet(
        "fleet-proc-term",
        sim_config(DAYS, 120.0),
        |fleet| async move { drain_and_resume(&fleet, DAYS).await },
    )
    .await;
}

async fn drain_and_resume(fleet: &Fleet, days: u32) {
    const SLOTS: u64 = 3;
    const DRAIN: Duration = Duration::from_secs(15);
    let to = to_after(days);
    let expected = fleet.reference_ids(&DATASETS, &to).await;
    assert!(expected.len() > 5_000, "{} records", expected.len());
    fleet.set_page_latency(150);
    let config = fleet.write_config(&format!(
        "concurrency = {SLOTS}\npage_size = {PAGE}\ndrain_deadline_secs = {}",
        DRAIN.as_secs()
    ));
    let busy = fleet.spawn(&config, "busy").await;

    // The probes answer while the worker runs.
    let http = reqwest::Client::new();
    let get = |path: &str| http.get(format!("{}{path}", busy.health)).send();
    let health = get("/healthz").await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = get("/readyz").await.unwrap();
    assert_eq!(ready.status(), 200, "{:?}", ready.text().await);
    let metrics = get("/metrics").await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains("uipath_fleet_worker_jobs_in_flight"),
        "{metrics}"
    );

    let id = fleet.backfill(&DATASETS, &to, "7d").await;
    // The first slices are about a quarter of the records: stop in their middle.
    let at = expected.len() as u64 / 10;
    fleet
        .wait_progress(&id, "a busy worker", Duration::from_secs(180), |p| {
            p.records >= at && p.running >= 1
        })
        .await;
    busy.terminate();
    let (status, drained) = busy.wait_exit(DRAIN + Duration::from_secs(20)).await;
    assert_eq!(status.code(), Some(0), "{status:?}; stdout: {drained}");
    assert!(
        drained.contains("released") && drained.contains("; 0 left to redelivery"),
        "running jobs were handed back, none abandoned: {drained}"
    );
    let p = fleet.ledger.progress(&id).await.unwrap();
    assert_eq!(
        p.running, 0,
        "no slice is left claimed by the stopped worker: {p:?}"
    );
    assert!(
        p.done() < p.total(),
        "work was left for the next worker: {p:?}"
    );

    let fresh = fleet.spawn(&config, "fresh").await;
    fleet.wait_done(&id, Duration::from_secs(300)).await;
    let received = fleet.received_after_quiet(Duration::from_secs(2)).await;
    received.assert_complete(&expected);
    let duplicates = received.duplicates();
    assert_eq!(
        duplicates,
        0,
        "a drained worker checkpoints before it hands back, so nothing is read twice \
         (even an abandoned job would repeat at most {} records)",
        SLOTS * PAGE
    );
    let restarted = assert_all_completed(fleet, &id, expected.len()).await;
    assert!(restarted >= 1, "the handed-back slices were resumed");
    let (status, out) = fresh.stop(Duration::from_secs(30)).await;
    assert_eq!(status.code(), Some(0), "{status:?} {out}");
    eprintln!(
        "sigterm: {} records, {restarted} slices handed back and resumed; drained worker: {}",
        expected.len(),
        drained.trim()
    );
}

/// Configuration mistakes end the process before it takes any job: exit 2 and the field
/// in the message; an unreachable RabbitMQ ends it with exit 1 and the broker's address,
/// password masked.
#[test]
fn a_bad_configuration_exits_non_zero_and_names_the_field() {
    let dir = std::env::temp_dir().join(format!("uipath-fleet-badcfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let source = r#"
[[sources]]
name = "acme"
deployment = { kind = "cloud", base_url = "http://127.0.0.1:1", organization = "o", tenant = "t" }
auth = { method = "client-credentials", client_id = "c", client_secret = "s", scopes = ["OR.Jobs.Read"] }
"#;
    let cases: [(&str, &[&str], i32, &str); 5] = [
        ("[worker]\nconcurency = 2\n", &[], 2, "concurency"),
        ("[worker]\nconcurrency = 0\n", &[], 2, "worker.concurrency"),
        ("[redis]\nurl = \"http://x\"\n", &[], 2, "redis.url"),
        (
            "[redis]\nurl = \"redis://127.0.0.1:1\"\n",
            &[],
            2,
            "broker.amqp_url",
        ),
        (
            "[redis]\nurl = \"redis://127.0.0.1:1\"\n[worker]\nconnect_timeout_secs = 1\n",
            &["--amqp-url", "amqp://guest:topsecret@127.0.0.1:1/%2f"],
            1,
            "RabbitMQ at amqp://guest:***@127.0.0.1:1",
        ),
    ];
    for (i, (extra, flags, code, needle)) in cases.into_iter().enumerate() {
        let path = dir.join(format!("bad-{i}.toml"));
        std::fs::write(&path, format!("{source}{extra}")).unwrap();
        let out = run_worker(&path, flags, Duration::from_secs(60));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "case {i}: {stderr}");
        assert!(
            stderr.contains(needle),
            "case {i}: `{needle}` not in: {stderr}"
        );
        assert!(!stderr.contains("topsecret"), "case {i} printed a password");
        assert!(out.stdout.is_empty(), "case {i}: never ready");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs `uipath-fleet worker --config PATH FLAGS..` to its end (killed after `deadline`).
fn run_worker(config: &Path, flags: &[&str], deadline: Duration) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_uipath-fleet"));
    command
        .args(["worker", "--config"])
        .arg(config)
        .args(flags)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("UIPATH_FLEET_") {
            command.env_remove(key);
        }
    }
    let mut child = command.spawn().expect("spawn uipath-fleet");
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > deadline {
            let _ = child.kill();
            panic!("uipath-fleet still running after {deadline:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}
