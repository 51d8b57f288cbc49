//! `uipath-fleet sink` run as an operator runs it: the built binary next to worker
//! processes, real RabbitMQ and Redis, the simulator and a coordinator in the test
//! process. Done when the sink's files hold exactly the simulator's data: every record id
//! of the backfill, each once (or, across a SIGKILL and restart, at most one batch
//! twice), each record equal to the simulator's, each in its date's file.

mod common;

use std::collections::{HashMap, HashSet};
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::*;
use fleet_core::broker::{Destination, Feed, Outgoing, Subscription};
use fleet_core::wire::{self, headers, Op, Provenance, RecordEnvelope, WIRE_VERSION};
use fleet_core::Broker as _;
use fleet_reader::{DatasetRef, SliceCursor, SliceRead};
use fleet_testkit::process::{tail, without_fleet_env};
use fleet_worker::output::key_and_version;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt as _, AsyncRead, BufReader, Lines};
use tokio::process::{Child, Command};

const DATASETS: [&str; 2] = ["jobs", "queue-items"];
/// The sink's queue (`<prefix>.sub.sink`).
const QUEUE: &str = "sink";

/// `uipath-fleet sink` for this fleet, no `UIPATH_FLEET_*` variable inherited.
fn sink_command(fleet: &Fleet, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_uipath-fleet"));
    without_fleet_env(&mut command)
        .args(["sink", "--prefix", &fleet.prefix, "--queue", QUEUE])
        .args(args)
        .env("UIPATH_FLEET_AMQP_URL", &fleet.amqp_url)
        .env("RUST_LOG", "warn,fleet_sink=info,uipath_fleet=info")
        .kill_on_drop(true);
    command
}

/// Declares the sink's queue through the test's own broker handle too, so that cleanup
/// (`delete_topology`) deletes it. No consumer is started on it.
async fn declare_sink_queue(fleet: &Fleet, patterns: &[&str]) {
    let subscriber = fleet
        .amqp
        .subscribe(Subscription {
            queue: QUEUE.into(),
            feed: Feed::Records {
                patterns: patterns.iter().map(|p| p.to_string()).collect(),
            },
            prefetch: 1,
        })
        .await
        .expect("declare the sink's queue");
    drop(subscriber);
}

/// A running `uipath-fleet sink`: the stream its ready and summary lines come on.
struct SinkProcess<R> {
    child: Child,
    lines: Lines<BufReader<R>>,
    log: PathBuf,
}

impl<R: AsyncRead + Unpin> SinkProcess<R> {
    /// Waits (at most a minute) for the line starting "sink ready".
    async fn ready(child: Child, stream: R, log: PathBuf) -> (SinkProcess<R>, String) {
        let mut p = SinkProcess {
            child,
            lines: BufReader::new(stream).lines(),
            log,
        };
        let line = p.line_starting("sink ready", Duration::from_secs(60)).await;
        (p, line)
    }

    async fn line_starting(&mut self, start: &str, deadline: Duration) -> String {
        let read = async {
            loop {
                match self.lines.next_line().await.unwrap() {
                    Some(line) if line.starts_with(start) => return Some(line),
                    Some(_) => continue,
                    None => return None,
                }
            }
        };
        match tokio::time::timeout(deadline, read).await {
            Ok(Some(line)) => line,
            Ok(None) => panic!("the sink ended before `{start}`; log:\n{}", tail(&self.log)),
            Err(_) => panic!("no `{start}` after {deadline:?}; log:\n{}", tail(&self.log)),
        }
    }

    fn terminate(&self) {
        let pid = self.child.id().expect("the sink is running");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("run kill(1)");
        assert!(status.success(), "kill -TERM {pid}");
    }

    /// SIGTERM; the exit status and the summary line.
    async fn stop(mut self) -> (ExitStatus, String) {
        self.terminate();
        let summary = self
            .line_starting("sink stopped", Duration::from_secs(60))
            .await;
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("the sink did not exit; log:\n{}", tail(&self.log)))
            .unwrap();
        (status, summary)
    }

    async fn kill(mut self) -> ExitStatus {
        self.child.kill().await.expect("kill the sink");
        self.child.wait().await.unwrap()
    }
}

/// Starts `uipath-fleet sink --dir DIR` (plus `args`) with its lines on stdout and its
/// log in a file; waits for it to be ready.
async fn start_sink(
    fleet: &Fleet,
    dir: &Path,
    args: &[&str],
    name: &str,
) -> SinkProcess<tokio::process::ChildStdout> {
    let log = fleet.dir.join(format!("{name}.log"));
    let mut command = sink_command(fleet, args);
    command
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap());
    let mut child = command.spawn().expect("spawn uipath-fleet sink");
    let stdout = child.stdout.take().unwrap();
    let (p, line) = SinkProcess::ready(child, stdout, log).await;
    assert!(
        line.contains(&format!("{}.sub.{QUEUE}", fleet.prefix))
            && line.contains(&dir.display().to_string()),
        "{line}"
    );
    p
}

/// One line of a sink file, with the file it was in.
struct Line {
    file: String,
    value: Value,
}

/// Every line of every `.ndjson` file under `dir` (none if it does not exist yet).
fn read_lines(dir: &Path) -> Vec<Line> {
    fn walk(root: &Path, d: &Path, out: &mut Vec<Line>) {
        let Ok(entries) = std::fs::read_dir(d) else {
            return;
        };
        for entry in entries {
            let p = entry.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else if p.extension().is_some_and(|e| e == "ndjson") {
                let text = std::fs::read_to_string(&p).unwrap();
                let file = p.strip_prefix(root).unwrap().display().to_string();
                // Only whole lines: a line being written is read on the next poll.
                let whole = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
                for l in whole.lines() {
                    let value = serde_json::from_str(l)
                        .unwrap_or_else(|e| panic!("{file}: not JSON ({e}): {l}"));
                    out.push(Line {
                        file: file.clone(),
                        value,
                    });
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out
}

fn distinct_ids(lines: &[Line]) -> HashSet<String> {
    lines
        .iter()
        .map(|l| l.value["id"].as_str().expect("an id").to_owned())
        .collect()
}

/// Polls the files until they hold `want` distinct ids (at most `deadline`).
async fn wait_for_ids(dir: &Path, want: usize, deadline: Duration) {
    let start = Instant::now();
    loop {
        let have = distinct_ids(&read_lines(dir)).len();
        if have >= want {
            return;
        }
        assert!(
            start.elapsed() < deadline,
            "the sink wrote {have} of {want} records in {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A record as the simulator serves it, with where it belongs.
struct Reference {
    /// The record's key, as the line's `key` must say.
    key: String,
    dataset: String,
    folder: String,
    record: Value,
}

/// Every record the simulator serves for `datasets` × [`FOLDERS`] over `[FROM, to)`, by
/// record id, read directly (one keyset pass each, like `Fleet::reference_ids`).
async fn reference_records(
    fleet: &Fleet,
    datasets: &[&str],
    to: &str,
) -> HashMap<String, Reference> {
    let folders = fleet.sources.folders("acme").await.expect("folders");
    let mut all = HashMap::new();
    for ds in datasets {
        let dataset = DatasetRef::parse(ds).expect("known dataset");
        for path in FOLDERS {
            let folder = folders.iter().find(|f| f.path == path).cloned();
            assert!(folder.is_some(), "folder {path}");
            let read = SliceRead {
                source: "acme".into(),
                dataset: dataset.clone(),
                folder,
                from: Some(FROM.parse().unwrap()),
                to: Some(to.parse().unwrap()),
                select: vec![],
                page_size: None,
                mode: Default::default(),
            };
            let mut cursor = SliceCursor::start(&dataset);
            loop {
                let (records, next) = fleet
                    .sources
                    .read_page(&read, &cursor, fleet_core::Priority::Sync)
                    .await
                    .expect("reference read");
                for r in records {
                    let (key, version) = key_and_version(&r);
                    let id = fleet_core::wire::record_id("acme", ds, &key, &version);
                    let reference = Reference {
                        key,
                        dataset: ds.to_string(),
                        folder: path.to_owned(),
                        record: Value::Object(r),
                    };
                    assert!(all.insert(id, reference).is_none(), "ids are unique");
                }
                match next {
                    Some(c) => cursor = c,
                    None => break,
                }
            }
        }
    }
    all
}

/// Every line is a record of the reference, equal to it, with its provenance, in the
/// file of its dataset and its `CreationTime`'s UTC date; returns how many lines
/// repeat an id.
fn check_lines(lines: &[Line], reference: &HashMap<String, Reference>) -> usize {
    let mut seen = HashSet::new();
    let mut repeats = 0;
    for line in lines {
        let v = &line.value;
        let id = v["id"].as_str().unwrap();
        let Some(r) = reference.get(id) else {
            panic!("{}: id {id} is not the simulator's", line.file)
        };
        assert_eq!(v["record"], r.record, "{}: record {id} differs", line.file);
        assert_eq!(v["source"], "acme");
        assert_eq!(v["dataset"], r.dataset.as_str());
        assert_eq!(v["folder"], r.folder.as_str());
        assert_eq!(v["op"], "upsert", "{}: record {id}", line.file);
        assert_eq!(
            v["order_by"],
            wire::version_order(&r.dataset).as_str(),
            "{}: record {id}",
            line.file
        );
        assert_eq!(
            v["key"].as_str(),
            Some(r.key.as_str()),
            "{}: record {id}",
            line.file
        );
        let created: DateTime<Utc> = r.record["CreationTime"]
            .as_str()
            .expect("CreationTime")
            .parse()
            .expect("an RFC 3339 time");
        let file = format!("acme/{}/{}.ndjson", r.dataset, created.format("%Y-%m-%d"));
        assert_eq!(line.file, file, "record {id} is in the wrong file");
        if !seen.insert(id) {
            repeats += 1;
        }
    }
    repeats
}

/// A sink bound before the backfill runs, two workers: after the backfill and a
/// SIGTERM, the files hold exactly the simulator's records, once each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sink_output_equals_the_simulators_data() {
    const DAYS: u32 = 4;
    with_fleet(
        "fleet-sink-equal",
        sim_config(DAYS, 40.0),
        |fleet| async move {
            let to = to_after(DAYS);
            let reference = reference_records(&fleet, &DATASETS, &to).await;
            assert!(reference.len() > 500, "{} records", reference.len());
            let expected: HashSet<String> = reference.keys().cloned().collect();
            assert_eq!(expected, fleet.reference_ids(&DATASETS, &to).await);

            let out = fleet.dir.join("out");
            declare_sink_queue(&fleet, &["acme.#"]).await;
            let sink = start_sink(&fleet, &out, &["--pattern", "acme.#"], "sink").await;
            let config =
                fleet.write_config("concurrency = 2\npage_size = 100\noutput = \"record\"");
            let workers = [
                fleet.spawn(&config, "w0").await,
                fleet.spawn(&config, "w1").await,
            ];
            let id = fleet.backfill(&DATASETS, &to, "1d").await;
            fleet.wait_done(&id, Duration::from_secs(180)).await;
            wait_for_ids(&out, expected.len(), Duration::from_secs(60)).await;

            let (status, summary) = sink.stop().await;
            assert_eq!(status.code(), Some(0), "{status:?}: {summary}");
            let jobs = reference.values().filter(|r| r.dataset == "jobs").count();
            let items = reference.len() - jobs;
            assert!(
                summary.contains(&format!("{} records", expected.len()))
                    && summary.contains(&format!("acme.jobs {jobs}"))
                    && summary.contains(&format!("acme.queue-items {items}"))
                    && summary.contains("0 malformed rejected"),
                "{summary}"
            );

            let lines = read_lines(&out);
            assert_eq!(
                distinct_ids(&lines),
                expected,
                "the files hold exactly the simulator's ids"
            );
            assert_eq!(check_lines(&lines, &reference), 0, "no record twice");
            assert_eq!(lines.len(), expected.len());
            // One file per dataset and day.
            let files: HashSet<&str> = lines.iter().map(|l| l.file.as_str()).collect();
            assert_eq!(files.len(), DATASETS.len() * DAYS as usize, "{files:?}");

            for w in workers {
                let (status, out) = w.stop(Duration::from_secs(30)).await;
                assert_eq!(status.code(), Some(0), "{out}");
            }
        },
    )
    .await;
}

/// The sink is SIGKILLed mid-stream and started again on the same directory: nothing is
/// lost, and at most one batch (the unacknowledged messages) is written twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkilled_sink_restarts_without_losing_records() {
    const DAYS: u32 = 7;
    const BATCH: usize = 100;
    with_fleet(
        "fleet-sink-kill",
        sim_config(DAYS, 60.0),
        |fleet| async move {
            let to = to_after(DAYS);
            let reference = reference_records(&fleet, &DATASETS, &to).await;
            let expected: HashSet<String> = reference.keys().cloned().collect();
            assert!(expected.len() > 2_000, "{} records", expected.len());

            let sink_config = fleet.dir.join("sink.toml");
            std::fs::write(
                &sink_config,
                format!("[sink]\nbatch = {BATCH}\nflush_interval_ms = 2000\n"),
            )
            .unwrap();
            let config_arg = sink_config.display().to_string();
            let out = fleet.dir.join("out");
            declare_sink_queue(&fleet, &["#"]).await;
            let sink = start_sink(&fleet, &out, &["--config", &config_arg], "sink-1").await;

            // Slow pages: the records arrive over several seconds, so the kill lands mid-stream.
            fleet.set_page_latency(80);
            let config = fleet.write_config("concurrency = 2\npage_size = 50\noutput = \"record\"");
            let worker = fleet.spawn(&config, "w0").await;
            let id = fleet.backfill(&DATASETS, &to, "1d").await;

            wait_for_ids(&out, expected.len() / 3, Duration::from_secs(120)).await;
            let status = sink.kill().await;
            assert_eq!(status.signal(), Some(9), "SIGKILLed: {status:?}");
            let at_kill = distinct_ids(&read_lines(&out)).len();
            assert!(
                at_kill < expected.len(),
                "the kill came after the last record: nothing was mid-stream"
            );

            let sink = start_sink(&fleet, &out, &["--config", &config_arg], "sink-2").await;
            fleet.wait_done(&id, Duration::from_secs(240)).await;
            wait_for_ids(&out, expected.len(), Duration::from_secs(60)).await;
            let (status, summary) = sink.stop().await;
            assert_eq!(status.code(), Some(0), "{status:?}: {summary}");

            let lines = read_lines(&out);
            assert_eq!(
                distinct_ids(&lines),
                expected,
                "nothing lost, nothing foreign"
            );
            let repeats = check_lines(&lines, &reference);
            assert!(
                repeats <= BATCH,
                "{repeats} records written twice; bound {BATCH} (one batch in flight at the kill)"
            );
            let (status, _) = worker.stop(Duration::from_secs(30)).await;
            assert_eq!(status.code(), Some(0));
            eprintln!(
                "sink kill: {} records, {at_kill} written before the kill, {repeats} written twice",
                expected.len()
            );
        },
    )
    .await;
}

/// `--stdout`: the records are the only thing on stdout, one JSON line each (a
/// duplicate dropped); the ready and summary lines are on stderr.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdout_mode_writes_lines_to_stdout_and_talks_on_stderr() {
    with_fleet(
        "fleet-sink-stdout",
        sim_config(1, 1.0),
        |fleet| async move {
            declare_sink_queue(&fleet, &["#"]).await;
            let mut command = sink_command(&fleet, &["--stdout"]);
            command.stdout(Stdio::piped()).stderr(Stdio::piped());
            let mut child = command.spawn().expect("spawn uipath-fleet sink --stdout");
            let stdout = child.stdout.take().unwrap();
            let stderr = child.stderr.take().unwrap();
            let log = fleet.dir.join("stdout-sink.log");
            let (sink, ready) = SinkProcess::ready(child, stderr, log).await;
            assert!(ready.contains("writing to stdout"), "{ready}");

            let provenance = Provenance {
                source: "acme".into(),
                tenant: "org/T".into(),
                dataset: "jobs".into(),
                folder: None,
                slice_id: "s".into(),
                request_id: "r".into(),
            };
            let message = |id: &str, n: u64| {
                let body = RecordEnvelope {
                    version: WIRE_VERSION,
                    id: id.into(),
                    provenance: provenance.clone(),
                    fetched_at: Utc::now(),
                    op: Op::Upsert,
                    key: Some(n.to_string()),
                    order_by: Some(wire::version_order("jobs")),
                    order: Some("2024-01-01T00:00:00.0000000Z".into()),
                    record: Some(json!({"Id": n, "CreationTime": "2024-01-01T00:00:00Z"})),
                }
                .to_bytes();
                Outgoing::new(
                    Destination::Records {
                        routing_key: "acme.jobs".into(),
                    },
                    id,
                    body,
                )
                .header(headers::SHAPE, "record")
            };
            fleet
                .amqp
                .publish(vec![message("a", 1), message("b", 2), message("a", 1)])
                .await
                .expect("publish records");

            let mut data = BufReader::new(stdout).lines();
            let mut got = Vec::new();
            for _ in 0..2 {
                let line = tokio::time::timeout(Duration::from_secs(30), data.next_line())
                    .await
                    .expect("a record line on stdout")
                    .unwrap()
                    .expect("stdout open");
                let v: Value = serde_json::from_str(&line).expect("stdout carries only JSON lines");
                got.push((
                    v["id"].as_str().unwrap().to_owned(),
                    v["record"]["Id"].clone(),
                ));
            }
            assert_eq!(
                got,
                [("a".to_owned(), json!(1)), ("b".to_owned(), json!(2))]
            );

            let (status, summary) = sink.stop().await;
            assert_eq!(status.code(), Some(0), "{summary}");
            assert!(
                summary.contains("2 records (acme.jobs 2) in 3 messages; 1 duplicates skipped"),
                "{summary}"
            );
            let rest = tokio::time::timeout(Duration::from_secs(10), data.next_line())
                .await
                .expect("stdout closes")
                .unwrap();
            assert_eq!(rest, None, "nothing else on stdout");
        },
    )
    .await;
}

/// `--stdout` is a look at the stream: its queue is a throwaway one that RabbitMQ
/// deletes when the sink exits, so nothing is left bound to fill forever — neither the
/// queue it consumed nor a durable `<prefix>.sub.<NAME>`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stdout_sink_leaves_no_queue_behind() {
    with_fleet(
        "fleet-sink-throwaway",
        sim_config(1, 1.0),
        |fleet| async move {
            let mut command = sink_command(&fleet, &["--stdout"]);
            command.stdout(Stdio::piped()).stderr(Stdio::piped());
            let mut child = command.spawn().expect("spawn uipath-fleet sink --stdout");
            let stdout = child.stdout.take().unwrap();
            let stderr = child.stderr.take().unwrap();
            let log = fleet.dir.join("throwaway-sink.log");
            let (sink, ready) = SinkProcess::ready(child, stderr, log).await;
            let queue = ready
                .split_whitespace()
                .skip_while(|w| *w != "queue")
                .nth(1)
                .expect("the ready line names the queue")
                .trim_end_matches(',')
                .to_owned();
            assert!(queue.starts_with(&fleet.prefix), "{ready}");

            // Records reach stdout through that queue.
            let provenance = Provenance {
                source: "acme".into(),
                tenant: "org/T".into(),
                dataset: "jobs".into(),
                folder: None,
                slice_id: "s".into(),
                request_id: "r".into(),
            };
            let body = RecordEnvelope {
                version: WIRE_VERSION,
                id: "throwaway-1".into(),
                provenance,
                fetched_at: Utc::now(),
                op: Op::Upsert,
                key: Some("1".into()),
                order_by: Some(wire::version_order("jobs")),
                order: Some("2024-01-01T00:00:00.0000000Z".into()),
                record: Some(json!({"Id": 1, "CreationTime": "2024-01-01T00:00:00Z"})),
            }
            .to_bytes();
            let message = Outgoing::new(
                Destination::Records {
                    routing_key: "acme.jobs".into(),
                },
                "throwaway-1",
                body,
            )
            .header(headers::SHAPE, "record");
            fleet.amqp.publish(vec![message]).await.expect("publish");
            let mut data = BufReader::new(stdout).lines();
            let line = tokio::time::timeout(Duration::from_secs(30), data.next_line())
                .await
                .expect("a record line on stdout")
                .unwrap()
                .expect("stdout open");
            assert!(line.contains("throwaway-1"), "{line}");

            let (status, summary) = sink.stop().await;
            assert_eq!(status.code(), Some(0), "{summary}");

            // Gone once the process is: RabbitMQ deletes an auto-delete queue when its
            // consumer's connection closes, a moment after the exit.
            let started = Instant::now();
            loop {
                match fleet.amqp.queue_depth(&queue).await {
                    Err(e) => {
                        assert!(e.to_string().contains("does not exist"), "{e}");
                        break;
                    }
                    Ok(n) => assert!(
                        started.elapsed() < Duration::from_secs(30),
                        "queue {queue} still exists ({n} messages) 30 s after the sink exited"
                    ),
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let durable = fleet.amqp.names().subscription(QUEUE);
            assert!(
                fleet.amqp.queue_depth(&durable).await.is_err(),
                "no durable {durable} was declared"
            );
        },
    )
    .await;
}
