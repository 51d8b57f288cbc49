//! How many records per second the simulator serves as JSON pages of 1,000, on one core.
//!
//! Method: the `uipath-sim` binary (release build) runs pinned to CPU 0 with `taskset`
//! (when available) and the Jobs budget disabled, over one folder of ~1.8M jobs. This
//! process (the client) runs on the other core: `READERS` concurrent readers each page a
//! different month in keyset order (`CreationTime ge A and CreationTime lt B` plus the
//! `(CreationTime, Id)` cursor, `$orderby=CreationTime asc,Id asc`, `$top=1000`), parsing only
//! what the cursor needs. Each mode runs for `SECONDS`; the rate is records received / wall
//! time. Because the client shares the machine, the bench also reads the simulator's own CPU
//! time from `/proc/<pid>/stat` and reports records per simulator CPU-second: the serving
//! rate of one fully busy core. Run: `cargo bench -p uipath-sim --bench serve`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;

const READERS: usize = 4;
/// Seconds per mode under `cargo bench`; under `cargo test` (no `--bench` flag) the bench
/// runs one second per mode as a smoke test.
const SECONDS: u64 = 8;

#[derive(Deserialize)]
struct Page {
    value: Vec<Cursor>,
}

#[derive(Deserialize)]
struct Cursor {
    #[serde(rename = "Id")]
    id: i64,
    #[serde(rename = "CreationTime")]
    creation_time: String,
}

const CONFIG: &str = r#"
[rate_limit]
requests = 0

[data]
seed = 11
span_start = "2024-01-01"
span_end = "2025-01-01"
folders = ["Bench"]
extra_folders = 0
jobs_per_day = 5000.0
"#;

struct Mode {
    name: &'static str,
    select: Option<&'static str>,
}

async fn reader(
    http: reqwest::Client,
    base: String,
    token: String,
    month: u32,
    select: Option<&'static str>,
    until: Instant,
) -> (u64, u64, u64) {
    let from = format!("2024-{month:02}-01T00:00:00Z");
    let to = if month == 12 {
        "2025-01-01T00:00:00Z".to_owned()
    } else {
        format!("2024-{:02}-01T00:00:00Z", month + 1)
    };
    let (mut records, mut bytes, mut pages) = (0u64, 0u64, 0u64);
    let mut cursor: Option<(String, i64)> = None;
    while Instant::now() < until {
        let mut filter = format!("CreationTime ge {from} and CreationTime lt {to}");
        if let Some((t, id)) = &cursor {
            filter.push_str(&format!(
                " and (CreationTime gt {t} or (CreationTime eq {t} and Id gt {id}))"
            ));
        }
        let mut query = vec![
            ("$filter", filter),
            ("$orderby", "CreationTime asc,Id asc".to_owned()),
            ("$top", "1000".to_owned()),
        ];
        if let Some(s) = select {
            query.push(("$select", s.to_owned()));
        }
        let body = http
            .get(format!(
                "{base}/demo-org/DefaultTenant/orchestrator_/odata/Jobs"
            ))
            .bearer_auth(&token)
            .header("X-UIPATH-FolderPath", "Bench")
            .query(&query)
            .send()
            .await
            .expect("request")
            .bytes()
            .await
            .expect("body");
        let page: Page = serde_json::from_slice(&body).expect("page parses");
        pages += 1;
        bytes += body.len() as u64;
        records += page.value.len() as u64;
        cursor = match page.value.last() {
            Some(last) if page.value.len() == 1000 => Some((last.creation_time.clone(), last.id)),
            _ => None, // month done: start it again
        };
    }
    (records, bytes, pages)
}

/// User + system CPU seconds used so far by process `pid` (Linux `/proc`).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // fields after the parenthesised command name; utime and stime are the 12th and 13th
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields
        .get(11..13)
        .map(|f| f.iter().filter_map(|x| x.parse::<f64>().ok()).sum())
        .unwrap_or(0.0);
    let hz = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .unwrap_or(100.0);
    ticks / hz
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        // test runners (nextest) ask benches for their tests: there are none to list
        return;
    }
    let seconds = if args.iter().any(|a| a == "--bench") {
        SECONDS
    } else {
        1
    };
    let dir = std::env::temp_dir().join(format!("uipath-sim-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("bench.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let exe = env!("CARGO_BIN_EXE_uipath-sim");
    let pinned = Command::new("taskset").arg("--version").output().is_ok();
    let mut cmd = if pinned {
        let mut c = Command::new("taskset");
        c.args(["-c", "0", exe]);
        c
    } else {
        Command::new(exe)
    };
    let mut child = cmd
        .args(["--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("uipath-sim starts");
    let line = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .next()
        .unwrap()
        .unwrap();
    // taskset execs the simulator, so the child's pid is the simulator's
    let sim_pid = child.id();
    let base = line
        .strip_prefix("uipath-sim listening on ")
        .unwrap()
        .to_owned();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("client_id", "fleet-demo")
            .append_pair("client_secret", "fleet-demo-secret")
            .append_pair("scope", "OR.Jobs.Read")
            .finish();
        let token: serde_json::Value = http
            .post(format!("{base}/identity_/connect/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = token["access_token"].as_str().unwrap().to_owned();
        println!("simulator pinned to one core: {pinned}; {READERS} readers, {SECONDS} s per mode");
        println!(
            "| mode | records/s (wall) | MB/s | pages/s | simulator CPU busy | records per simulator CPU-second |"
        );
        println!("|---|---|---|---|---|---|");
        for mode in [
            Mode {
                name: "Jobs, all fields",
                select: None,
            },
            Mode {
                name: "Jobs, $select=Id,State,CreationTime",
                select: Some("Id,State,CreationTime"),
            },
        ] {
            let cpu0 = cpu_seconds(sim_pid);
            let start = Instant::now();
            let until = start + Duration::from_secs(seconds);
            let tasks: Vec<_> = (0..READERS)
                .map(|r| {
                    tokio::spawn(reader(
                        http.clone(),
                        base.clone(),
                        token.clone(),
                        1 + r as u32 * 3,
                        mode.select,
                        until,
                    ))
                })
                .collect();
            let (mut records, mut bytes, mut pages) = (0, 0, 0);
            for t in tasks {
                let (r, b, p) = t.await.unwrap();
                records += r;
                bytes += b;
                pages += p;
            }
            assert!(records > 0, "{}: no records served", mode.name);
            let secs = start.elapsed().as_secs_f64();
            let cpu = cpu_seconds(sim_pid) - cpu0;
            println!(
                "| {} | {:.0} | {:.1} | {:.0} | {:.0}% | {:.0} |",
                mode.name,
                records as f64 / secs,
                bytes as f64 / secs / 1e6,
                pages as f64 / secs,
                100.0 * cpu / secs,
                records as f64 / cpu.max(1e-9),
            );
        }
    });
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
