//! The operator's stdout as a pipe that may close early.
//!
//! Rust ignores SIGPIPE, so a write to a pipe whose reader has gone (`uipath-fleet status
//! --json | head`) fails with `EPIPE` instead of ending the process as it would a C
//! program. Commands let that error travel up like any other; `main` asks
//! [`is_broken_pipe`] and ends quietly with 0: the reader stopped reading, nothing
//! failed.

use std::io;

/// Whether `error` (or any error it wraps) is a write to a closed pipe.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
            || cause
                .downcast_ref::<serde_json::Error>()
                .and_then(serde_json::Error::io_error_kind)
                == Some(io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use anyhow::Context as _;

    use super::*;

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
}
