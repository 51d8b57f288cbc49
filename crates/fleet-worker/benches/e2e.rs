//! End-to-end worker throughput and memory, next to the raw limits of its two ends, in
//! one run on one machine.
//!
//! Method (BENCHMARKS.md, "Worker: end to end", has the numbers):
//!
//! - **Data.** The release `uipath-sim` binary runs as its own process (no rate limit)
//!   with two tenants: `DefaultTenant`, four folders of Jobs over two weeks, and
//!   `BigTenant`, one folder holding over a million Jobs on a single day.
//! - **Raw limits.** The simulator's serving rate: the worker's own client
//!   (`Sources::read_page`, JSON parsed into records; in-memory token cache and limiter)
//!   pages the whole page-mode range as fast as it can, with one reader and with one
//!   reader per folder. RabbitMQ's confirmed-publish rate
//!   (`fleet_amqp::calibrate::confirmed_publish_rate`, persistent, quorum queue) for
//!   messages the size of one record envelope and of one page message, both built from a
//!   real page of the same data. Beside each rate, the CPU seconds this process, the
//!   simulator, RabbitMQ and Redis used (`/proc/<pid>/stat`; RabbitMQ and Redis serve
//!   whatever else runs on the machine too).
//! - **End to end.** A coordinator plans a backfill of Jobs at a 1-day width (one slice
//!   per folder and day); 1, 2 and 4 in-process `Worker`s (concurrency 2 each, each with
//!   its own RabbitMQ connection, Redis connections and HTTP client) read it through the
//!   shared Redis token cache and limiter and publish to the records exchange with
//!   confirms, into one bound output queue nobody consumes. Time runs from submission to
//!   every slice being terminal. Each run checks that the ledger counted exactly the
//!   simulator's `$count` of records, that every slice completed, and that the output
//!   queue holds exactly the messages published. Each run has its own prefix, deleted
//!   afterwards.
//! - **Peak RSS.** A worker runs in a child process (this binary again, with
//!   `--rss-worker`), so nothing else of the bench is in its memory, over the one
//!   `BigTenant` slice (`record_budget = 0`: it never splits). This process plans it and
//!   drains the records with a consumer of its own. The child reports its `VmRSS` once
//!   connected (baseline) and its `VmHWM` (peak) at the end, from `/proc/self/status`;
//!   this process also reads the child's `VmHWM` as the ledger passes a quarter, half
//!   and three quarters of the records, to show whether the peak keeps climbing.
//!
//! Run: `cargo build --release -p uipath-sim && cargo bench -p fleet-worker --bench e2e`
//! (about 8 minutes here, most of it the million records one message at a time;
//! `-- --quick` shrinks the sizes by about 4). Outside `cargo bench` (no `--bench`
//! argument) it is a smoke pass over tiny sizes with the simulator in-process;
//! `--list` prints nothing (test runners enumerate bench binaries that way).
//! `UIPATH_SIM_BIN` points at another simulator binary; `AMQP_URL` and `REDIS_URL` at
//! other services (see `fleet_testkit`).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fleet_amqp::calibrate::confirmed_publish_rate;
use fleet_amqp::{AmqpBroker, AmqpConfig, OutputQueue};
use fleet_coordinator::{Coordinator, CoordinatorConfig};
use fleet_core::broker::{Feed, Subscription};
use fleet_core::plan::{self, PlanUnit, Width};
use fleet_core::ratelimit::FamilyBudgets;
use fleet_core::wire::{FolderRef, Lane};
use fleet_core::{Broker, Budget, Ledger, LimiterConfig, Priority, Sealer, Secret};
use fleet_memory::{MemoryRateLimiter, MemoryTokenCache};
use fleet_reader::{DatasetRef, SliceCursor, SliceRead, Sources};
use fleet_redis::{RedisLedger, RedisRateLimiter, RedisTokenCache};
use fleet_worker::output::Output;
use fleet_worker::{OutputMode, Worker, WorkerConfig};
use tokio_util::sync::CancellationToken;
use uipath_client::client::ClientOptions;
use uipath_client::{AuthConfig, Deployment, SourceConfig, UipathClient};
use uipath_sim::config::{SimConfig, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_ORG, OR_READ_SCOPES};
use uipath_sim::server::RunningSim;

/// The sizes of one run.
struct Scale {
    label: &'static str,
    /// Folders of `DefaultTenant`.
    folders: usize,
    /// Days of data; the page-mode backfill covers them all.
    days: u32,
    /// The record-mode backfill covers the first this many days (its messages are ~1,000
    /// times more numerous, so it gets less data for a similar run time).
    record_days: u32,
    jobs_per_day: f64,
    workers: &'static [usize],
    /// Jobs per day of `BigTenant` (its span is one day).
    big_jobs_per_day: f64,
    /// The peak-RSS slice must hold at least this many records.
    big_minimum: u64,
    /// Output modes the peak-RSS slice is worked in.
    rss_modes: &'static [OutputMode],
    /// Messages per calibration: record-sized, page-sized.
    calibrate: (usize, usize),
    /// Whether the simulator runs as its own process (the release binary).
    sim_process: bool,
}

const FULL: Scale = Scale {
    label: "full",
    folders: 4,
    days: 14,
    record_days: 4,
    jobs_per_day: 4_000.0,
    workers: &[1, 2, 4],
    // ~1.37 × this on the span's one day (a Monday; see the simulator's day factors).
    big_jobs_per_day: 750_000.0,
    big_minimum: 1_000_000,
    rss_modes: &[OutputMode::Record, OutputMode::Page],
    calibrate: (20_000, 200),
    sim_process: true,
};

const QUICK: Scale = Scale {
    label: "quick",
    folders: 4,
    days: 7,
    record_days: 2,
    jobs_per_day: 4_000.0,
    workers: &[1, 2, 4],
    big_jobs_per_day: 187_500.0,
    big_minimum: 250_000,
    rss_modes: &[OutputMode::Record, OutputMode::Page],
    calibrate: (5_000, 50),
    sim_process: true,
};

const SMOKE: Scale = Scale {
    label: "smoke",
    folders: 2,
    days: 2,
    record_days: 1,
    jobs_per_day: 150.0,
    workers: &[1],
    big_jobs_per_day: 400.0,
    big_minimum: 500,
    rss_modes: &[OutputMode::Record],
    calibrate: (200, 4),
    sim_process: false,
};

const FROM: &str = "2024-01-01T00:00:00Z";
/// The output queue the e2e runs fill, bound to every record (`#`).
const OUT_QUEUE: &str = "bench-out";
/// Worker job slots, per worker.
const CONCURRENCY: usize = 2;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // Test runners enumerate bench binaries with `--list`: there are no tests here.
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    if let Some(i) = args.iter().position(|a| a == "--rss-worker") {
        let rest = &args[i + 1..];
        assert!(rest.len() >= 3, "--rss-worker MODE SIM_URL PREFIX");
        runtime.block_on(rss_child(mode(&rest[0]), &rest[1], &rest[2]));
        return;
    }
    let scale = if !args.iter().any(|a| a == "--bench") {
        &SMOKE
    } else if args.iter().any(|a| a == "--quick") {
        &QUICK
    } else {
        &FULL
    };
    runtime.block_on(run(scale));
}

fn mode(text: &str) -> OutputMode {
    match text {
        "record" => OutputMode::Record,
        "page" => OutputMode::Page,
        other => panic!("output mode `{other}`: record or page"),
    }
}

fn day(n: u32) -> String {
    let d = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap() + chrono::Days::new(n.into());
    format!("{d}T00:00:00Z")
}

fn folder_names(scale: &Scale) -> Vec<String> {
    (1..=scale.folders).map(|i| format!("F{i}")).collect()
}

fn sim_toml(scale: &Scale) -> String {
    let folders = folder_names(scale)
        .iter()
        .map(|f| format!("{f:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        r#"
[rate_limit]
requests = 0

[data]
seed = 5
span_start = "2024-01-01"
span_end = "{end}"
folders = [{folders}]
extra_folders = 0
jobs_per_day = {jobs:.1}

[[orgs]]
name = "{DEMO_ORG}"

[[orgs.tenants]]
name = "DefaultTenant"

[[orgs.tenants]]
name = "BigTenant"

[orgs.tenants.data]
seed = 6
span_start = "2024-01-01"
span_end = "2024-01-02"
folders = ["Big"]
extra_folders = 0
jobs_per_day = {big:.1}
"#,
        end = &day(scale.days)[..10],
        jobs = scale.jobs_per_day,
        big = scale.big_jobs_per_day,
    )
}

/// The simulator: its own process, or (smoke pass) a server on this runtime.
enum Sim {
    Process(SimProcess),
    InProcess(RunningSim),
}

/// The simulator's process and its config directory, both gone when this is dropped
/// (also when the bench panics half-way).
struct SimProcess {
    child: Child,
    dir: std::path::PathBuf,
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Sim {
    async fn start(scale: &Scale) -> (Sim, String) {
        let toml = sim_toml(scale);
        if !scale.sim_process {
            let config = SimConfig::from_toml(&toml).expect("simulator config");
            let sim = RunningSim::start(config).await.expect("simulator starts");
            let url = sim.base_url();
            return (Sim::InProcess(sim), url);
        }
        let bin = sim_binary();
        let dir = std::env::temp_dir().join(format!("fleet-e2e-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let config = dir.join("sim.toml");
        std::fs::write(&config, toml).expect("write simulator config");
        let mut child = Command::new(&bin)
            .args(["--listen", "127.0.0.1:0", "--config"])
            .arg(&config)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        let mut line = String::new();
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        out.read_line(&mut line).expect("simulator output");
        // Keep reading: the simulator prints more, and a closed pipe would kill it.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        let url = line
            .trim()
            .strip_prefix("uipath-sim listening on ")
            .unwrap_or_else(|| panic!("unexpected simulator output {line:?}"))
            .to_owned();
        (Sim::Process(SimProcess { child, dir }), url)
    }

    /// The simulator's own process, when it has one.
    fn pid(&self) -> Option<u32> {
        match self {
            Sim::Process(p) => Some(p.child.id()),
            Sim::InProcess(_) => None,
        }
    }

    async fn stop(self) {
        match self {
            Sim::Process(p) => drop(p),
            Sim::InProcess(sim) => sim.stop().await,
        }
    }
}

/// `target/release/uipath-sim` next to this bench (`target/release/deps/e2e-…`), or
/// `UIPATH_SIM_BIN`.
fn sim_binary() -> std::path::PathBuf {
    if let Ok(path) = std::env::var("UIPATH_SIM_BIN") {
        return path.into();
    }
    let exe = std::env::current_exe().expect("own path");
    let bin = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|profile| profile.join("uipath-sim"))
        .expect("target directory");
    assert!(
        bin.exists(),
        "{} not found: build the simulator first with `cargo build --release -p uipath-sim` \
         (or set UIPATH_SIM_BIN)",
        bin.display()
    );
    bin
}

fn source(sim_url: &str, name: &str, tenant: &str) -> SourceConfig {
    SourceConfig {
        name: name.into(),
        deployment: Deployment::Cloud {
            base_url: url::Url::parse(sim_url).expect("simulator url"),
            organization: DEMO_ORG.into(),
            tenant: tenant.into(),
        },
        auth: AuthConfig::ClientCredentials {
            client_id: DEMO_CLIENT_ID.into(),
            client_secret: Secret::new(DEMO_CLIENT_SECRET),
            scopes: OR_READ_SCOPES.iter().map(|s| s.to_string()).collect(),
        },
        token_url: None,
        timeout_secs: 60,
    }
}

fn sim_sources(sim_url: &str) -> [SourceConfig; 2] {
    [
        source(sim_url, "acme", "DefaultTenant"),
        source(sim_url, "big", "BigTenant"),
    ]
}

/// Budgets far above what the bench sends: the fleet's limiter is consulted on every
/// page (as in production) but never makes anyone wait.
fn generous_limits() -> LimiterConfig {
    let b = Some(Budget {
        requests: 100_000_000,
        period_ms: 60_000,
        burst: 100_000,
    });
    LimiterConfig {
        default: FamilyBudgets {
            jobs: b,
            queue_items: b,
            other: b,
        },
        ..LimiterConfig::default()
    }
}

/// Clients sharing a token cache and limiter in Redis under `prefix`, as a worker has.
async fn redis_sources(redis_url: &str, prefix: &str, sim_url: &str) -> Sources {
    let tokens = Arc::new(
        RedisTokenCache::connect(redis_url, prefix, Sealer::plain())
            .await
            .expect("token cache connects"),
    );
    let limiter = Arc::new(
        RedisRateLimiter::connect(redis_url, prefix, generous_limits())
            .await
            .expect("limiter connects"),
    );
    Sources::new(sim_sources(sim_url).into_iter().map(|s| {
        Arc::new(
            UipathClient::new(s, tokens.clone(), limiter.clone(), ClientOptions::default())
                .expect("client builds"),
        )
    }))
}

/// Clients with an in-process token cache and limiter: the simulator's side alone.
fn memory_sources(sim_url: &str) -> Sources {
    let tokens = Arc::new(MemoryTokenCache::new(Sealer::plain()));
    let limiter = Arc::new(MemoryRateLimiter::new(generous_limits()));
    Sources::new(sim_sources(sim_url).into_iter().map(|s| {
        Arc::new(
            UipathClient::new(s, tokens.clone(), limiter.clone(), ClientOptions::default())
                .expect("client builds"),
        )
    }))
}

/// A broker connection under `prefix`, with `out` bound to every record when given.
/// Only the fleet's own connection declares the topology (declaring is idempotent, and a
/// dozen quorum queues take a while to declare).
async fn connect(amqp_url: &str, prefix: &str, out: Option<&str>) -> AmqpBroker {
    let mut config = AmqpConfig::new(amqp_url, prefix);
    config.connection_name = format!("{prefix} bench");
    config.output_queues = out
        .map(|name| OutputQueue {
            name: name.into(),
            patterns: vec!["#".into()],
        })
        .into_iter()
        .collect();
    AmqpBroker::connect(config)
        .await
        .expect("rabbitmq connects")
}

/// One fleet's shared backends under a prefix of its own.
struct Fleet {
    prefix: String,
    amqp: AmqpBroker,
    ledger: RedisLedger,
    coordinator: Coordinator,
}

impl Fleet {
    async fn new(env: &Env, name: &str, out: Option<&str>) -> Fleet {
        let prefix = fleet_testkit::unique_prefix(name);
        let amqp = connect(&env.amqp_url, &prefix, out).await;
        amqp.declare().await.expect("topology declared");
        let ledger = RedisLedger::connect(&env.redis_url, &prefix)
            .await
            .expect("redis connects");
        let sources = redis_sources(&env.redis_url, &prefix, &env.sim_url).await;
        let config = CoordinatorConfig {
            max_slices: 1_000_000,
            ..CoordinatorConfig::default()
        };
        let coordinator = Coordinator::new(
            config,
            Arc::new(ledger.clone()),
            Arc::new(amqp.clone()),
            sources,
        );
        Fleet {
            prefix,
            amqp,
            ledger,
            coordinator,
        }
    }

    async fn submit(&self, source: &str, to: &str) -> String {
        let body = serde_json::json!({"sources": [source], "datasets": ["jobs"],
            "from": FROM, "to": to, "slice_width": "1d"});
        let (record, _) = self
            .coordinator
            .submit_backfill(body.to_string().as_bytes())
            .await
            .expect("backfill accepted");
        record.id
    }

    /// Waits until the request is planned and every slice terminal.
    async fn wait_done(&self, request: &str, deadline: Duration) -> fleet_core::ledger::Progress {
        let started = Instant::now();
        loop {
            let r = self.ledger.get_request(request).await.unwrap().unwrap();
            let p = self.ledger.progress(request).await.unwrap();
            if r.planned && p.total() > 0 && p.done() == p.total() {
                return p;
            }
            assert!(r.note.is_none(), "planning failed: {:?}", r.note);
            assert!(
                started.elapsed() < deadline,
                "request not done after {deadline:?}: {p:?}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    async fn cleanup(self) {
        let _ = self.amqp.delete_topology().await;
        self.amqp.close().await;
        let _ = self.ledger.delete_all().await;
    }
}

struct Env {
    sim_url: String,
    amqp_url: String,
    redis_url: String,
    /// For the simulator's side: counts, folders, raw reads.
    sources: Sources,
}

impl Env {
    async fn folders(&self, source: &str) -> Vec<FolderRef> {
        let mut f = self.sources.folders(source).await.expect("folders");
        f.sort_by(|a, b| a.path.cmp(&b.path));
        f
    }

    /// The simulator's `$count` of Jobs of `source` over `[FROM, to)`, all folders.
    async fn count(&self, source: &str, to: &str) -> u64 {
        let jobs = DatasetRef::parse("jobs").unwrap();
        let mut n = 0;
        for f in self.folders(source).await {
            n += self
                .sources
                .count(
                    source,
                    &jobs,
                    Some(&f),
                    FROM.parse().unwrap(),
                    to.parse().unwrap(),
                )
                .await
                .expect("count");
        }
        n
    }

    fn read(&self, folder: FolderRef, to: &str) -> SliceRead {
        SliceRead {
            source: "acme".into(),
            dataset: DatasetRef::parse("jobs").unwrap(),
            folder: Some(folder),
            from: Some(FROM.parse().unwrap()),
            to: Some(to.parse().unwrap()),
            select: vec![],
            page_size: None,
            mode: Default::default(),
        }
    }
}

/// Pages one folder to its end: (records, pages).
async fn read_all(sources: Sources, read: SliceRead) -> (u64, u64) {
    let mut cursor = SliceCursor::start(&read.dataset);
    let (mut records, mut pages) = (0u64, 0u64);
    loop {
        let (page, next) = sources
            .read_page(&read, &cursor, Priority::Backfill)
            .await
            .expect("read page");
        records += page.len() as u64;
        pages += 1;
        match next {
            Some(c) => cursor = c,
            None => return (records, pages),
        }
    }
}

async fn run(scale: &Scale) {
    let amqp_url = fleet_testkit::require_rabbitmq().await;
    let redis_url = fleet_testkit::require_redis().await;
    let (sim, sim_url) = Sim::start(scale).await;
    let env = Env {
        sources: memory_sources(&sim_url),
        sim_url,
        amqp_url,
        redis_url,
    };
    let page_to = day(scale.days);
    let record_to = day(scale.record_days);
    let page_expected = env.count("acme", &page_to).await;
    let record_expected = env.count("acme", &record_to).await;
    println!(
        "worker end to end ({}): Jobs, {} folders; record mode over {} days ({} records), \
         page mode over {} days ({} records); slices of 1 day; {} job slots per worker",
        scale.label,
        scale.folders,
        scale.record_days,
        record_expected,
        scale.days,
        page_expected,
        CONCURRENCY
    );

    let cpu = CpuMeter::new(sim.pid());

    // Raw limits: the simulator, read by the worker's client.
    let folders = env.folders("acme").await;
    let before = cpu.sample();
    let started = Instant::now();
    let (mut records, mut pages) = (0, 0);
    for f in &folders {
        let (r, p) = read_all(env.sources.clone(), env.read(f.clone(), &page_to)).await;
        records += r;
        pages += p;
    }
    let one = started.elapsed().as_secs_f64();
    let cpu_one = cpu.since(&before);
    assert_eq!(records, page_expected, "one reader read every record");
    let before = cpu.sample();
    let started = Instant::now();
    // A task per reader, so that parsing spreads over the runtime's threads.
    let all = futures::future::join_all(
        folders
            .iter()
            .map(|f| tokio::spawn(read_all(env.sources.clone(), env.read(f.clone(), &page_to)))),
    )
    .await;
    let many = started.elapsed().as_secs_f64();
    let cpu_many = cpu.since(&before);
    let read: u64 = all.into_iter().map(|r| r.expect("reader task").0).sum();
    assert_eq!(read, page_expected, "the readers read every record");
    let serve = records as f64 / many;
    println!();
    println!(
        "| simulator → client (`Sources::read_page`, parsed) | records | records/s | pages/s | {} |",
        CpuMeter::HEADER
    );
    println!("|---|---|---|---|---|");
    println!(
        "| 1 reader | {records} | {:.0} | {:.1} | {} |",
        records as f64 / one,
        pages as f64 / one,
        cpu_one
    );
    println!(
        "| {} readers (one per folder) | {records} | {serve:.0} | {:.1} | {} |",
        folders.len(),
        pages as f64 / many,
        cpu_many
    );

    // Raw limits: RabbitMQ, for messages of the two modes' sizes.
    let (record_size, page_size, page_records) = message_sizes(&env, &folders[0], &page_to).await;
    let prefix = fleet_testkit::unique_prefix("bench-e2e-calibrate");
    let before = cpu.sample();
    let raw_record =
        confirmed_publish_rate(&env.amqp_url, &prefix, scale.calibrate.0, record_size, 256)
            .await
            .expect("calibrate record size");
    let cpu_record = cpu.since(&before);
    let before = cpu.sample();
    let raw_page = confirmed_publish_rate(&env.amqp_url, &prefix, scale.calibrate.1, page_size, 8)
        .await
        .expect("calibrate page size");
    let cpu_page = cpu.since(&before);
    println!();
    println!(
        "| RabbitMQ confirmed publish (persistent, quorum) | message | window | messages | messages/s | records/s | {} |",
        CpuMeter::HEADER
    );
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| record envelope | {record_size} B | 256 | {} | {raw_record:.0} | {raw_record:.0} | {cpu_record} |",
        scale.calibrate.0
    );
    println!(
        "| page of {page_records} | {page_size} B | 8 | {} | {raw_page:.1} | {:.0} | {cpu_page} |",
        scale.calibrate.1,
        raw_page * page_records as f64
    );

    // End to end.
    println!();
    println!(
        "| mode | workers × slots | records | slices | seconds | records/s | vs 1 worker | vs limit | {} |",
        CpuMeter::HEADER
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (mode, to, expected, publish) in [
        (OutputMode::Record, &record_to, record_expected, raw_record),
        (
            OutputMode::Page,
            &page_to,
            page_expected,
            raw_page * page_records as f64,
        ),
    ] {
        // The slower end: RabbitMQ for messages of this size, or the simulator read by
        // as many readers as there are folders.
        let limit = publish.min(serve);
        let mut base = None;
        for &n in scale.workers {
            let before = cpu.sample();
            let r = e2e(&env, mode, n, to, expected).await;
            let used = cpu.since(&before);
            let rate = expected as f64 / r.secs;
            let base = *base.get_or_insert(rate);
            println!(
                "| {} | {n} × {CONCURRENCY} | {expected} | {} | {:.2} | {rate:.0} | {:.2} | {:.2} | {used} |",
                mode.as_str(),
                r.slices,
                r.secs,
                rate / base,
                rate / limit
            );
        }
    }

    // Peak RSS of one worker over one big slice.
    let big_to = day(1);
    let big = env.count("big", &big_to).await;
    if big < scale.big_minimum {
        println!(
            "\nwarning: the big slice holds {big} records, fewer than {}",
            scale.big_minimum
        );
    }
    println!();
    println!(
        "| worker process, one slice of {big} records | seconds | records/s | RSS after connecting | \
         peak RSS at 25% / 50% / 75% of the records | peak RSS (VmHWM) |"
    );
    println!("|---|---|---|---|---|---|");
    let mib = |kib: u64| format!("{:.1}", kib as f64 / 1024.0);
    for &mode in scale.rss_modes {
        let r = rss(&env, mode, big).await;
        println!(
            "| {} | {:.1} | {:.0} | {} MiB | {} MiB | {} MiB |",
            mode.as_str(),
            r.secs,
            big as f64 / r.secs,
            mib(r.baseline_kib),
            r.quartiles.map(mib).join(" / "),
            mib(r.peak_kib)
        );
    }

    sim.stop().await;
}

/// Body sizes of a record envelope (average over a page), of a full page message, and
/// the records in that page, built by the worker's own `Output` from a real page.
async fn message_sizes(env: &Env, folder: &FolderRef, to: &str) -> (usize, usize, usize) {
    let read = env.read(folder.clone(), to);
    let (records, _) = env
        .sources
        .read_page(
            &read,
            &SliceCursor::start(&read.dataset),
            Priority::Backfill,
        )
        .await
        .expect("first page");
    let unit = PlanUnit {
        source: "acme".into(),
        dataset: "jobs".into(),
        folder: Some(folder.clone()),
        width: Some(Width::Days(1)),
        select: vec![],
    };
    let slice = plan::unit_slices(
        "bf-0123456789abcdef0123",
        Lane::Backfill,
        &unit,
        FROM.parse().unwrap(),
        day(1).parse().unwrap(),
        None,
        chrono::Utc::now(),
    )
    .next()
    .expect("a slice");
    let job = plan::job_for(&slice);
    let tenant = format!("{DEMO_ORG}/DefaultTenant");
    let now = chrono::Utc::now();
    let envelopes =
        Output::new(OutputMode::Record, &job, tenant.clone()).page(1, records.clone(), now);
    let record_size =
        envelopes.iter().map(|m| m.body.len()).sum::<usize>() / envelopes.len().max(1);
    let n = records.len();
    let page = Output::new(OutputMode::Page, &job, tenant).page(1, records, now);
    (record_size, page[0].body.len(), n)
}

struct E2e {
    secs: f64,
    slices: u64,
}

/// One end-to-end run: `workers` workers on a fresh fleet, a backfill of `[FROM, to)`.
async fn e2e(env: &Env, mode: OutputMode, workers: usize, to: &str, expected: u64) -> E2e {
    let fleet = Fleet::new(
        env,
        &format!("bench-e2e-{}-{workers}", mode.as_str()),
        Some(OUT_QUEUE),
    )
    .await;
    let config = WorkerConfig {
        output: mode,
        concurrency: CONCURRENCY,
        ..WorkerConfig::default()
    };
    let mut running = Vec::new();
    let mut brokers = Vec::new();
    for i in 0..workers {
        let broker = connect(&env.amqp_url, &fleet.prefix, Some(OUT_QUEUE)).await;
        let sources = redis_sources(&env.redis_url, &fleet.prefix, &env.sim_url).await;
        let worker = Worker::new(
            WorkerConfig {
                id: format!("bench-{i}"),
                ..config.clone()
            },
            Arc::new(fleet.ledger.clone()),
            Arc::new(broker.clone()),
            sources,
        )
        .expect("worker builds");
        let shutdown = CancellationToken::new();
        let task = tokio::spawn({
            let (w, s) = (worker.clone(), shutdown.clone());
            async move { w.run(s).await }
        });
        running.push((worker, shutdown, task));
        brokers.push(broker);
    }

    let started = Instant::now();
    let request = fleet.submit("acme", to).await;
    let p = fleet.wait_done(&request, Duration::from_secs(600)).await;
    let secs = started.elapsed().as_secs_f64();

    let mut published = 0;
    for (worker, shutdown, task) in running {
        shutdown.cancel();
        task.await.expect("worker task");
        published += worker
            .metrics()
            .records
            .with_label_values(&["acme", "jobs"])
            .get();
    }
    assert_eq!(
        (p.completed, p.failed, p.cancelled),
        (p.total(), 0, 0),
        "every slice completed: {p:?}"
    );
    assert_eq!(p.records, expected, "the ledger counted every record once");
    assert_eq!(published, expected, "workers published every record once");
    let queued = fleet
        .amqp
        .queue_depth(&fleet.amqp.names().output(OUT_QUEUE))
        .await
        .expect("output queue depth");
    let messages = match mode {
        OutputMode::Record => expected,
        // Keyset pages are full (1,000 Jobs) up to the last; an empty one publishes nothing.
        OutputMode::Page => fleet
            .ledger
            .list_slices(&request, None, None, 1_000_000)
            .await
            .expect("slices")
            .iter()
            .map(|s| s.records.div_ceil(1_000))
            .sum(),
    };
    assert_eq!(queued, messages, "the output queue holds every message");
    for b in brokers {
        b.close().await;
    }
    let slices = p.total();
    fleet.cleanup().await;
    E2e { secs, slices }
}

struct Rss {
    secs: f64,
    baseline_kib: u64,
    /// The child's VmHWM when the ledger had counted a quarter, half and three quarters
    /// of the records: a peak that kept climbing would show here.
    quartiles: [u64; 3],
    peak_kib: u64,
}

/// Plans the big slice, drains its records, and has a worker in a child process work it.
async fn rss(env: &Env, mode: OutputMode, expected: u64) -> Rss {
    let fleet = Fleet::new(env, &format!("bench-e2e-rss-{}", mode.as_str()), None).await;
    // The drain's queue is bound before any record is published (records are mandatory).
    let mut drain = fleet
        .amqp
        .subscribe(Subscription {
            queue: "drain".into(),
            feed: Feed::Records {
                patterns: vec!["#".into()],
            },
            prefetch: match mode {
                OutputMode::Record => 1000,
                OutputMode::Page => 8,
            },
        })
        .await
        .expect("drain subscribes");
    // One slice: full pages of 1,000 Jobs up to the last.
    let messages = match mode {
        OutputMode::Record => expected,
        OutputMode::Page => expected.div_ceil(1_000),
    };
    let drained = tokio::spawn(async move {
        let mut n = 0u64;
        while n < messages {
            if let Some(d) = drain.next(Duration::from_secs(1)).await.expect("drain") {
                d.ack().await.expect("drain ack");
                n += 1;
            }
        }
    });

    let exe = std::env::current_exe().expect("own path");
    let mut child = Command::new(exe)
        .args(["--rss-worker", mode.as_str(), &env.sim_url, &fleet.prefix])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("worker process starts");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let (out, ready) = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        out.read_line(&mut line).expect("worker output");
        (out, line)
    })
    .await
    .unwrap();
    let baseline_kib = field(&ready, "rss");
    let status_file = format!("/proc/{}/status", child.id());

    let started = Instant::now();
    let request = fleet.submit("big", &day(1)).await;
    let mut quartiles = [0u64; 3];
    let p = loop {
        let p = fleet.ledger.progress(&request).await.expect("progress");
        for (q, peak) in quartiles.iter_mut().enumerate() {
            if *peak == 0 && p.records * 4 >= expected * (q as u64 + 1) {
                *peak = proc_kib(&status_file, "VmHWM");
            }
        }
        if p.total() > 0 && p.done() == p.total() {
            break p;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1800),
            "slice not done after 30 minutes: {p:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    let secs = started.elapsed().as_secs_f64();

    // Closing its stdin stops the worker; it then reports its peak.
    drop(child.stdin.take());
    let (done, status) = tokio::task::spawn_blocking(move || {
        let mut out = out;
        let mut line = String::new();
        out.read_line(&mut line).expect("worker output");
        (line, child.wait())
    })
    .await
    .unwrap();
    assert!(
        status.map(|s| s.success()).unwrap_or(false),
        "worker process failed"
    );
    // VmHWM is kept from per-thread counters and may read a little lower later on.
    let peak_kib = quartiles.into_iter().fold(field(&done, "hwm"), u64::max);
    assert_eq!(
        (p.total(), p.completed, p.records),
        (1, 1, expected),
        "one slice, completed, every record counted"
    );
    tokio::time::timeout(Duration::from_secs(300), drained)
        .await
        .expect("every message reached the drain")
        .expect("drain task");
    fleet.cleanup().await;
    Rss {
        secs,
        baseline_kib,
        quartiles,
        peak_kib,
    }
}

/// `name=<n>` out of a line the child printed.
fn field(line: &str, name: &str) -> u64 {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name}= in worker output {line:?}"))
}

/// A field of a `/proc/<pid>/status` file in KiB (`VmRSS`, `VmHWM`); 0 where there is
/// no procfs.
fn proc_kib(status_file: &str, name: &str) -> u64 {
    std::fs::read_to_string(status_file)
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The child: one worker until stdin closes, reporting its memory on stdout.
async fn rss_child(mode: OutputMode, sim_url: &str, prefix: &str) {
    let amqp_url = fleet_testkit::amqp_url();
    let redis_url = fleet_testkit::redis_url();
    let broker = connect(&amqp_url, prefix, None).await;
    let ledger = RedisLedger::connect(&redis_url, prefix)
        .await
        .expect("redis connects");
    let sources = redis_sources(&redis_url, prefix, sim_url).await;
    let worker = Worker::new(
        WorkerConfig {
            id: "bench-rss".into(),
            output: mode,
            concurrency: CONCURRENCY,
            record_budget: 0,
            ..WorkerConfig::default()
        },
        Arc::new(ledger),
        Arc::new(broker.clone()),
        sources,
    )
    .expect("worker builds");
    let shutdown = CancellationToken::new();
    let task = tokio::spawn({
        let (w, s) = (worker.clone(), shutdown.clone());
        async move { w.run(s).await }
    });
    emit(&format!(
        "ready rss={} hwm={}",
        proc_kib(SELF, "VmRSS"),
        proc_kib(SELF, "VmHWM")
    ));
    tokio::task::spawn_blocking(|| {
        let mut sink = String::new();
        while std::io::stdin()
            .read_line(&mut sink)
            .map(|n| n > 0)
            .unwrap_or(false)
        {}
    })
    .await
    .unwrap();
    shutdown.cancel();
    task.await.expect("worker task");
    broker.close().await;
    emit(&format!(
        "done rss={} hwm={}",
        proc_kib(SELF, "VmRSS"),
        proc_kib(SELF, "VmHWM")
    ));
}

fn emit(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

const SELF: &str = "/proc/self/status";

/// CPU time used during a run by each process sharing the machine: this one (workers,
/// coordinator, bench), the simulator, RabbitMQ and Redis, from `/proc/<pid>/stat`.
struct CpuMeter {
    pids: [Option<u32>; 4],
    ticks_per_second: f64,
}

impl CpuMeter {
    const HEADER: &'static str = "CPU s: bench / simulator / RabbitMQ / Redis";

    fn new(sim: Option<u32>) -> CpuMeter {
        let ticks_per_second = Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0);
        CpuMeter {
            pids: [
                Some(std::process::id()),
                sim,
                find_process("beam.smp"),
                find_process("redis-server"),
            ],
            ticks_per_second,
        }
    }

    fn sample(&self) -> [Option<u64>; 4] {
        self.pids.map(|pid| pid.and_then(cpu_ticks))
    }

    /// The CPU seconds used since `before`, as `a / b / c / d` (`-` where unknown).
    fn since(&self, before: &[Option<u64>; 4]) -> String {
        let now = self.sample();
        now.iter()
            .zip(before)
            .map(|(n, b)| match (n, b) {
                (Some(n), Some(b)) => format!("{:.1}", (n - b) as f64 / self.ticks_per_second),
                _ => "-".into(),
            })
            .collect::<Vec<_>>()
            .join(" / ")
    }
}

/// User + system clock ticks of process `pid`.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // utime and stime are the 12th and 13th fields after the parenthesised name.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// The first process whose command name is `comm`.
fn find_process(comm: &str) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let name = std::fs::read_to_string(e.path().join("comm")).ok()?;
        (name.trim() == comm).then_some(pid)
    })
}
