//! A temporary directory removed on drop (the workspace has no `tempfile` dependency,
//! and this is all the tests need).

use std::path::{Path, PathBuf};

pub struct TempDir(PathBuf);

impl TempDir {
    /// A fresh, empty directory under the system's temp dir, unique to this call.
    pub fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(fleet_testkit::unique_prefix(&format!(
            "fleet-memory-{name}"
        )));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
