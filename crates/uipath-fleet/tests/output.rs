//! Telling a closed stdout (`| head`) apart from other failures, through the public
//! function `main` uses.

use std::io::{self, Write as _};

use anyhow::Context as _;
use uipath_fleet::output::is_broken_pipe;

/// A stdout whose reader has gone.
struct Closed;

impl io::Write for Closed {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::from(io::ErrorKind::BrokenPipe))
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_closed_pipe_is_told_apart_from_other_failures() {
    let plain = writeln!(Closed, "x").context("printing");
    assert!(is_broken_pipe(&plain.unwrap_err()));
    let json = serde_json::to_writer(Closed, &serde_json::json!({"a": 1}));
    assert!(is_broken_pipe(&anyhow::Error::from(json.unwrap_err())));
    let other = anyhow::Error::from(io::Error::from(io::ErrorKind::PermissionDenied));
    assert!(!is_broken_pipe(&other));
    assert!(!is_broken_pipe(&anyhow::anyhow!("broken pipe")));
}
