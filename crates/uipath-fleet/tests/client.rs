//! The client commands (`datasets`, `backfill`, `status`, `cancel`) run as an operator
//! runs them, against `uipath-fleet coordinator` run as a separate process on the real
//! RabbitMQ and Redis (under the test's own prefix), with the simulator in this process
//! and, for `backfill --wait`, one `uipath-fleet worker` process.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::*;
use fleet_testkit::process::{self, tail, without_fleet_env};
use serde_json::Value;
use tokio::io::BufReader;

const TOKEN: &str = "api-t0ken-for-tests-93c1";

/// A running `uipath-fleet coordinator` and the URL of its API.
struct CoordinatorProcess {
    child: tokio::process::Child,
    url: String,
    rest: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    log: std::path::PathBuf,
}

impl CoordinatorProcess {
    async fn start(fleet: &Fleet, config: &Path) -> CoordinatorProcess {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_uipath-fleet"));
        command.arg("coordinator").arg("--config").arg(config);
        without_fleet_env(&mut command)
            .env("UIPATH_FLEET_AMQP_URL", &fleet.amqp_url)
            .env("UIPATH_FLEET_API_TOKEN", TOKEN)
            .env("RUST_LOG", "warn,fleet_coordinator=info");
        let log = fleet.dir.join("coordinator.log");
        let started = process::start(&mut command, &log, "coordinator").await;
        let line = started.first_line;
        assert!(!line.contains(TOKEN), "the token is never printed: {line}");
        let url = line
            .split("API on ")
            .nth(1)
            .and_then(|r| r.split("/v1").next())
            .unwrap_or_else(|| panic!("unexpected ready line: {line}"))
            .to_owned();
        CoordinatorProcess {
            child: started.child,
            url,
            rest: started.stdout,
            log,
        }
    }

    /// SIGTERM; the exit code and the rest of stdout.
    async fn stop(mut self) -> (i32, String) {
        process::terminate(&self.child);
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("coordinator did not stop; log:\n{}", tail(&self.log)))
            .unwrap();
        let rest = process::rest_of(&mut self.rest).await;
        (status.code().unwrap_or(-1), rest)
    }
}

/// What a client command did.
struct Ran {
    code: i32,
    out: String,
    err: String,
}

impl Ran {
    fn json(&self) -> Value {
        serde_json::from_str(&self.out)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\nstderr:\n{}", self.out, self.err))
    }
    fn ok(self) -> Ran {
        assert_eq!(self.code, 0, "stdout:\n{}\nstderr:\n{}", self.out, self.err);
        self
    }
}

/// `uipath-fleet ARGS...` as a client of `url` with the right token (flags may override
/// both), at most two minutes.
async fn client(url: &str, args: &[&str]) -> Ran {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_uipath-fleet"));
    command.args(args);
    without_fleet_env(&mut command);
    command
        .env("UIPATH_FLEET_COORDINATOR", url)
        .env("UIPATH_FLEET_API_TOKEN", TOKEN)
        .env("RUST_LOG", "warn")
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .unwrap_or_else(|_| panic!("`uipath-fleet {}` took over 2 minutes", args.join(" ")))
        .expect("run uipath-fleet");
    let ran = Ran {
        code: output.status.code().expect("exited"),
        out: String::from_utf8(output.stdout).unwrap(),
        err: String::from_utf8(output.stderr).unwrap(),
    };
    assert!(
        !ran.out.contains(TOKEN) && !ran.err.contains(TOKEN),
        "the token is never printed"
    );
    ran
}

const BACKFILL: [&str; 9] = [
    "backfill",
    "--source",
    "acme",
    "--dataset",
    "jobs",
    "--from",
    "2024-01-01",
    "--width",
    "1d",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_commands_drive_a_coordinator_process() {
    with_fleet("fleet-client", sim_config(4, 20.0), |fleet| async move {
        let config = fleet.write_config(
            "concurrency = 2\n\n[coordinator]\nlisten = \"127.0.0.1:0\"\ntick_ms = 200\n",
        );
        let coordinator = CoordinatorProcess::start(&fleet, &config).await;
        let url = coordinator.url.clone();

        // What can be synced.
        let datasets = client(&url, &["datasets", "--json"]).await.ok().json();
        assert!(datasets["datasets"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["name"] == "queue-items" && d["scope"] == "OR.Queues.Read"));
        let table = client(&url, &["datasets"]).await.ok();
        assert!(
            table.out.lines().any(|l| l.starts_with("jobs ")),
            "{}",
            table.out
        );

        // A backfill, then the identical one again: the same request comes back.
        let mut args = BACKFILL.to_vec();
        args.extend(["--to", "2024-01-03", "--json"]);
        let first = client(&url, &args).await.ok().json();
        let id = first["id"].as_str().unwrap().to_owned();
        assert!(id.starts_with("bf-"), "{first}");
        assert_eq!(first["created"], true);
        let again = client(&url, &args).await.ok().json();
        assert_eq!(
            (again["id"].as_str(), &again["created"]),
            (Some(id.as_str()), &Value::Bool(false))
        );
        args.pop();
        let said = client(&url, &args).await.ok();
        assert!(
            said.out.contains(&id) && said.out.contains("already exists"),
            "{}",
            said.out
        );

        // Its status, alone and in the list. No worker runs: it stays unfinished.
        let status = client(&url, &["status", &id, "--json"]).await.ok().json();
        assert_eq!(status["id"], id.as_str());
        assert!(
            matches!(status["state"].as_str(), Some("planning" | "running")),
            "{status}"
        );
        let human = client(&url, &["status", &id]).await.ok();
        assert!(human.out.contains("datasets  jobs"), "{}", human.out);
        let list = client(&url, &["status"]).await.ok();
        let row = list
            .out
            .lines()
            .find(|l| l.starts_with(&id))
            .unwrap_or_else(|| panic!("{}", list.out));
        assert!(row.contains("backfill"), "{row}");

        // Cancel it.
        let cancelled = client(&url, &["cancel", &id]).await.ok();
        assert!(
            cancelled.out.starts_with(&format!("cancelled {id}")),
            "{}",
            cancelled.out
        );
        let status = client(&url, &["status", &id, "--json"]).await.ok().json();
        assert_eq!(status["state"], "cancelled");

        // The same backfill again returns the cancelled one; `--rerun` makes a new
        // request of the same work.
        args.push("--json");
        let same = client(&url, &args).await.ok().json();
        assert_eq!(
            (same["id"].as_str(), same["state"].as_str()),
            (Some(id.as_str()), Some("cancelled"))
        );
        args.push("--rerun");
        let rerun = client(&url, &args).await.ok().json();
        let rerun_id = rerun["id"].as_str().unwrap().to_owned();
        assert_ne!(rerun_id, id, "{rerun}");
        assert_eq!(rerun["created"], true, "{rerun}");
        assert_ne!(rerun["state"], "cancelled", "{rerun}");
        client(&url, &["cancel", &rerun_id]).await.ok();

        // A preview reads a few records now.
        let preview = client(
            &url,
            &[
                "preview",
                "--source",
                "acme",
                "--dataset",
                "jobs",
                "--from",
                "2024-01-01",
                "--to",
                "2024-01-03",
                "--limit",
                "2",
                "--json",
            ],
        )
        .await
        .ok()
        .json();
        assert_eq!(
            preview["records"].as_array().map(Vec::len),
            Some(2),
            "{preview}"
        );

        // A sync on a schedule, then cancelled.
        let sync = client(
            &url,
            &[
                "sync",
                "--source",
                "acme",
                "--dataset",
                "queue-items",
                "--every",
                "15m",
                "--json",
            ],
        )
        .await
        .ok()
        .json();
        let sync_id = sync["id"].as_str().unwrap().to_owned();
        assert!(
            sync_id.starts_with("sy-") && sync["created"] == true,
            "{sync}"
        );
        assert_eq!(sync["kind"], "sync");
        client(&url, &["cancel", &sync_id]).await.ok();

        // A request the API rejects: each wrong field is named, exit 1.
        let bad = client(
            &url,
            &[
                "backfill",
                "--source",
                "acme",
                "--dataset",
                "nonsense",
                "--from",
                "2024-01-03",
                "--to",
                "2024-01-01",
            ],
        )
        .await;
        assert_eq!(bad.code, 1, "{}\n{}", bad.out, bad.err);
        assert!(bad.err.contains("rejected the request"), "{}", bad.err);
        assert!(bad.err.contains("\n  datasets[0]: "), "{}", bad.err);
        assert!(bad.err.contains("\n  to: "), "{}", bad.err);

        // A wrong token, an unknown request, no coordinator at all.
        let wrong = client(&url, &["status", "--api-token", "not-the-token-77"]).await;
        assert_eq!(wrong.code, 1);
        assert!(
            wrong.err.contains("401") && wrong.err.contains("--api-token"),
            "{}",
            wrong.err
        );
        assert!(!wrong.err.contains("not-the-token-77"));
        let missing = client(&url, &["status", "bf-00000000000000000000"]).await;
        assert_eq!(missing.code, 1);
        assert!(missing.err.contains("not found"), "{}", missing.err);
        let nobody = client(&url, &["status", "--coordinator", "http://127.0.0.1:1"]).await;
        assert_eq!(nobody.code, 1);
        assert!(
            nobody.err.contains("no coordinator at http://127.0.0.1:1/"),
            "{}",
            nobody.err
        );
        assert!(
            nobody.err.contains("uipath-fleet coordinator"),
            "{}",
            nobody.err
        );

        // A dry run answers slices and records — the simulator's own count of what the
        // backfill will read — and stores nothing.
        let before = client(&url, &["status", "--json"]).await.ok().json();
        let mut args = BACKFILL.to_vec();
        args.extend(["--to", "2024-01-04", "--dry-run"]);
        let dry = client(&url, &[args.as_slice(), &["--json"]].concat())
            .await
            .ok()
            .json();
        let truth = fleet.reference_ids(&["jobs"], &to_after(3)).await.len() as u64;
        assert!(truth > 0);
        let estimate = &dry["estimate"];
        assert_eq!(
            (estimate["slices"].as_u64(), estimate["records"].as_u64()),
            (Some(3 * FOLDERS.len() as u64), Some(truth)),
            "{dry}"
        );
        let words = client(&url, &args).await.ok();
        assert!(
            words.out.contains("jobs")
                && words
                    .out
                    .contains(&fleet_coordinator::estimate::thousands(truth)),
            "{}",
            words.out
        );
        let after = client(&url, &["status", "--json"]).await.ok().json();
        assert_eq!(before, after, "a dry run stores no request");

        // With a worker, `backfill --wait` shows progress and ends with the request done;
        // the answer to the submission carries the estimate.
        let worker = fleet.spawn(&config, "w0").await;
        let mut args = BACKFILL.to_vec();
        args.extend(["--to", "2024-01-04", "--wait", "--poll-ms", "200"]);
        let waited = client(&url, &args).await.ok();
        assert!(waited.out.contains("accepted"), "{}", waited.out);
        assert!(
            waited
                .out
                .contains(&format!("estimate: {} slices", 3 * FOLDERS.len())),
            "{}",
            waited.out
        );
        assert!(waited.out.contains("state     completed"), "{}", waited.out);
        assert!(
            waited.err.contains("slices") && waited.err.contains("completed"),
            "progress on stderr:\n{}",
            waited.err
        );
        assert!(
            !waited.err.contains('\x1b'),
            "no escape codes without a terminal"
        );

        // Watching a finished request returns at once with its final state.
        let id = waited.out.split_whitespace().nth(1).unwrap().to_owned();
        let watched = client(&url, &["status", &id, "--watch", "--json"])
            .await
            .ok()
            .json();
        assert_eq!(watched["state"], "completed", "{watched}");

        // A local mistake is a configuration error: exit 2, nothing sent.
        let missing_body = client(&url, &["backfill", "--body", "/nonexistent/body.json"]).await;
        assert_eq!(missing_body.code, 2, "{}", missing_body.err);
        assert!(missing_body.err.contains("--body"), "{}", missing_body.err);

        let (code, _) = worker.stop(Duration::from_secs(30)).await;
        assert!(code.success());
        let (code, rest) = coordinator.stop().await;
        assert_eq!(code, 0, "{rest}");
        assert!(rest.contains("stopped"), "{rest}");
    })
    .await;
}

/// The first impression of the client commands and of a worker: a worker left at the
/// default log level says what it does per slice; `status` of a sync speaks in words;
/// `cancel` of a finished request says it had finished; `status --watch` of a cancelled
/// request exits 1; `status --json` into a pipe closed early ends quietly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_commands_and_a_worker_say_what_happened() {
    with_fleet(
        "fleet-client-words",
        sim_config(3, 10.0),
        |fleet| async move {
            let config = fleet.write_config(
                "concurrency = 2\n\n[coordinator]\nlisten = \"127.0.0.1:0\"\ntick_ms = 200\n",
            );
            let coordinator = CoordinatorProcess::start(&fleet, &config).await;
            let url = coordinator.url.clone();
            // Watching a request that ends cancelled exits 1 and says so (no worker runs yet,
            // so it cannot complete first).
            let mut args = BACKFILL.to_vec();
            args.extend(["--to", "2024-01-04", "--json"]);
            let second = client(&url, &args).await.ok().json();
            let second = second["id"].as_str().unwrap().to_owned();
            client(&url, &["cancel", &second]).await.ok();
            let watched = client(&url, &["status", &second, "--watch", "--poll-ms", "200"]).await;
            assert_eq!(watched.code, 1, "{}\n{}", watched.out, watched.err);
            assert!(watched.err.contains("cancelled"), "{}", watched.err);

            // No RUST_LOG: the worker's default level.
            let mut command = worker_command(&config, "w-default");
            command
                .env_remove("RUST_LOG")
                .env("UIPATH_FLEET_AMQP_URL", &fleet.amqp_url);
            let worker = WorkerProcess::start(command, &fleet.dir, "w-default").await;

            let mut args = BACKFILL.to_vec();
            args.extend(["--to", "2024-01-03", "--wait", "--poll-ms", "200"]);
            let waited = client(&url, &args).await.ok();
            let id = waited.out.split_whitespace().nth(1).unwrap().to_owned();

            // Cancelling a request that has completed says so; nothing was cancelled.
            let late = client(&url, &["cancel", &id]).await.ok();
            assert!(
                late.out.contains(&format!("{id} had already completed")),
                "{}",
                late.out
            );
            assert!(!late.out.contains("cancelled"), "{}", late.out);

            // `status --json | head`: the reader closed the pipe before anything was written.
            let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_uipath-fleet"));
            command.args(["status", "--json"]);
            without_fleet_env(&mut command);
            command
                .env("UIPATH_FLEET_COORDINATOR", &url)
                .env("UIPATH_FLEET_API_TOKEN", TOKEN)
                .env("RUST_LOG", "warn")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true);
            let mut child = command.spawn().expect("run uipath-fleet status");
            drop(child.stdout.take());
            let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
                .await
                .expect("status ends")
                .unwrap();
            let err = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(0), "{err}");
            assert!(!err.contains("Broken pipe"), "{err}");

            // A sync's status: schedule, next run, windows and watermark in words.
            let sync = client(
                &url,
                &[
                    "sync",
                    "--source",
                    "acme",
                    "--dataset",
                    "jobs",
                    "--every",
                    "15m",
                    "--json",
                ],
            )
            .await
            .ok()
            .json();
            let sync = sync["id"].as_str().unwrap().to_owned();
            let shown = client(&url, &["status", &sync]).await.ok();
            assert!(
                shown.out.contains("schedule  every 15m; next run "),
                "{}",
                shown.out
            );
            assert!(shown.out.contains("re-reads 15m back"), "{}", shown.out);
            assert!(!shown.out.contains("{\"every\""), "raw JSON: {}", shown.out);
            client(&url, &["cancel", &sync]).await.ok();

            // The worker said, at its default level, what it did with each slice.
            let (code, _) = worker.stop(Duration::from_secs(30)).await;
            assert!(code.success());
            let log = std::fs::read_to_string(fleet.dir.join("w-default.log")).unwrap();
            let started = log.lines().filter(|l| l.contains("slice started")).count();
            let finished: Vec<&str> = log
                .lines()
                .filter(|l| l.contains("slice finished") && l.contains("outcome=completed"))
                .collect();
            // Two days of jobs in three folders, a slice a day and folder.
            assert!(started >= 6, "{log}");
            assert!(finished.len() >= 6, "{log}");
            for line in &finished {
                for field in [
                    "slice=",
                    "dataset=jobs",
                    "window=2024-01-0",
                    "records=",
                    "elapsed_ms=",
                ] {
                    assert!(line.contains(field), "`{field}` missing in: {line}");
                }
            }
            assert!(
                !log.contains(uipath_sim::config::DEMO_CLIENT_SECRET),
                "{log}"
            );
            assert!(!log.contains('\x1b'), "no colours in a log file");

            let (code, rest) = coordinator.stop().await;
            assert_eq!(code, 0, "{rest}");
        },
    )
    .await;
}
