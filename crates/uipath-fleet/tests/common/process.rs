//! `uipath-fleet worker` as a child process: spawned with a configuration file, its
//! "ready" line read from stdout, stopped with SIGTERM (`kill(1)`) or SIGKILL, its exit
//! status and last stdout lines collected. stderr (the logs) goes to a file that failure
//! messages quote.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// `uipath-fleet worker --config FILE --id NAME`, with no `UIPATH_FLEET_*` variable
/// inherited from the test's environment, logging at info.
pub fn worker_command(config: &Path, name: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_uipath-fleet"));
    command
        .args(["worker", "--config"])
        .arg(config)
        .args(["--id", name]);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("UIPATH_FLEET_") {
            command.env_remove(key);
        }
    }
    command.env("RUST_LOG", "warn,fleet_worker=info,uipath_fleet=info");
    command
}

/// A running `uipath-fleet worker`: its stdout lines, its log file, its health address.
pub struct WorkerProcess {
    pub name: String,
    pub child: Child,
    pub health: String,
    stdout: Lines<BufReader<ChildStdout>>,
    pub log: PathBuf,
}

impl WorkerProcess {
    /// Spawns `command` and waits (at most a minute) for its "ready" line.
    pub async fn start(mut command: Command, dir: &Path, name: &str) -> WorkerProcess {
        let log = dir.join(format!("{name}.log"));
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn uipath-fleet");
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(Duration::from_secs(60), stdout.next_line())
            .await
            .unwrap_or_else(|_| panic!("{name} not ready after 60s; log:\n{}", tail(&log)))
            .unwrap()
            .unwrap_or_else(|| panic!("{name} exited before it was ready; log:\n{}", tail(&log)));
        let health = line
            .split("health and metrics on ")
            .nth(1)
            .unwrap_or_else(|| panic!("unexpected ready line: {line}"))
            .to_owned();
        WorkerProcess {
            name: name.to_owned(),
            child,
            health,
            stdout,
            log,
        }
    }

    /// SIGKILL (what `Child::kill` sends on unix), and the reaped status.
    pub async fn kill(mut self) -> ExitStatus {
        self.child.kill().await.expect("kill the worker");
        self.child.wait().await.unwrap()
    }

    /// SIGTERM through `kill(1)`.
    pub fn terminate(&self) {
        let pid = self.child.id().expect("the worker is running");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("run kill(1)");
        assert!(status.success(), "kill -TERM {pid}");
    }

    /// Waits at most `deadline` for the process to exit; returns its status and the
    /// rest of its stdout.
    pub async fn wait_exit(mut self, deadline: Duration) -> (ExitStatus, String) {
        let status = match tokio::time::timeout(deadline, self.child.wait()).await {
            Ok(status) => status.unwrap(),
            Err(_) => panic!(
                "{} still running {deadline:?} after it was told to stop; log:\n{}",
                self.name,
                tail(&self.log)
            ),
        };
        let mut rest = String::new();
        while let Ok(Some(line)) = self.stdout.next_line().await {
            rest.push_str(&line);
            rest.push('\n');
        }
        (status, rest)
    }

    /// SIGTERM, then the exit status and the rest of stdout.
    pub async fn stop(self, deadline: Duration) -> (ExitStatus, String) {
        self.terminate();
        self.wait_exit(deadline).await
    }
}

/// The last lines of a log file, for failure messages.
pub fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
