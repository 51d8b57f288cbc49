//! `uipath-fleet worker` as a child process: spawned with a configuration file, its
//! "ready" line read from stdout, stopped with SIGTERM (`kill(1)`) or SIGKILL, its exit
//! status and last stdout lines collected. stderr (the logs) goes to a file that failure
//! messages quote.

use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

use fleet_testkit::process::{self, without_fleet_env, Started, Stdout};
use tokio::process::{Child, Command};

/// `uipath-fleet worker --config FILE --id NAME`, with no `UIPATH_FLEET_*` variable
/// inherited from the test's environment, logging at info.
pub fn worker_command(config: &Path, name: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_uipath-fleet"));
    command
        .args(["worker", "--config"])
        .arg(config)
        .args(["--id", name]);
    without_fleet_env(&mut command);
    command.env("RUST_LOG", "warn,fleet_worker=info,uipath_fleet=info");
    command
}

/// A running `uipath-fleet worker`: its stdout lines, its log file, its health address.
pub struct WorkerProcess {
    pub name: String,
    pub child: Child,
    pub health: String,
    stdout: Stdout,
    pub log: PathBuf,
}

impl WorkerProcess {
    /// Spawns `command` and waits (at most a minute) for its "ready" line.
    pub async fn start(mut command: Command, dir: &Path, name: &str) -> WorkerProcess {
        let log = dir.join(format!("{name}.log"));
        let Started {
            child,
            stdout,
            first_line: line,
        } = process::start(&mut command, &log, name).await;
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
        process::terminate(&self.child);
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
        let rest = process::rest_of(&mut self.stdout).await;
        (status, rest)
    }

    /// SIGTERM, then the exit status and the rest of stdout.
    pub async fn stop(self, deadline: Duration) -> (ExitStatus, String) {
        self.terminate();
        self.wait_exit(deadline).await
    }
}

pub use fleet_testkit::process::tail;
