//! Fleet processes (`uipath-fleet coordinator`, `worker`, `sink`) as children of a test:
//! spawned without the test's own `UIPATH_FLEET_*` environment, their logs (stderr) in a
//! file that failure messages quote, their first stdout line (the "ready" line) awaited,
//! stopped with SIGTERM through `kill(1)` and their remaining stdout collected.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// A child's stdout, line by line.
pub type Stdout = Lines<BufReader<ChildStdout>>;

/// Removes every `UIPATH_FLEET_*` variable the test's environment would pass on, so the
/// child reads only what the test sets.
pub fn without_fleet_env(command: &mut Command) -> &mut Command {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("UIPATH_FLEET_") {
            command.env_remove(key);
        }
    }
    command
}

/// A spawned process that printed its first line.
pub struct Started {
    pub child: Child,
    pub stdout: Stdout,
    /// The first stdout line (a fleet process's "ready" line).
    pub first_line: String,
}

/// Spawns `command` (stdout piped, stderr into `log`, killed on drop) and waits at most a
/// minute for its first stdout line; panics with the log's tail if none comes. `name`
/// says which process in the messages.
pub async fn start(command: &mut Command, log: &Path, name: &str) -> Started {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).expect("create the process's log"))
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let first_line = tokio::time::timeout(Duration::from_secs(60), stdout.next_line())
        .await
        .unwrap_or_else(|_| panic!("{name} not ready after 60s; log:\n{}", tail(log)))
        .unwrap()
        .unwrap_or_else(|| panic!("{name} exited before it was ready; log:\n{}", tail(log)));
    Started {
        child,
        stdout,
        first_line,
    }
}

/// Sends SIGTERM to `child` through `kill(1)`.
pub fn terminate(child: &Child) {
    let pid = child.id().expect("the process is running");
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("run kill(1)");
    assert!(status.success(), "kill -TERM {pid}");
}

/// What is left on `stdout`, to its end.
pub async fn rest_of(stdout: &mut Stdout) -> String {
    let mut rest = String::new();
    while let Ok(Some(line)) = stdout.next_line().await {
        rest.push_str(&line);
        rest.push('\n');
    }
    rest
}

/// The last 40 lines of a log file, for failure messages.
pub fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
