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
