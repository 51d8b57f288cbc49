//! Files only their owner may read, replaced by renaming a temporary written beside them:
//! what the ledger file (its snapshots) and the token file share.
//!
//! On unix, files are created with mode 0600 and the directories this code creates with
//! 0700. A replacement is written to `.<name>.<random>.tmp` in the file's own directory
//! (a rename never crosses file systems), renamed over the file, and then the directory is
//! synced so the rename itself survives a crash.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// Creates the directory `path` lives in, and its parents, if missing (a bare file name
/// lives in the working directory, which exists).
pub(crate) fn create_parent(path: &Path) -> io::Result<()> {
    let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return Ok(());
    };
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Opens `path` with `options`; a file it creates is private.
pub(crate) fn open(path: &Path, options: &mut OpenOptions) -> io::Result<File> {
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(options, 0o600);
    options.open(path)
}

/// A fresh name for a temporary in the directory of `path`, hidden and unique:
/// `.<name>.<random>.tmp`.
pub(crate) fn temporary_beside(path: &Path) -> io::Result<PathBuf> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"))?;
    let mut tmp_name = OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{}.tmp", uuid::Uuid::new_v4().simple()));
    Ok(path.with_file_name(tmp_name))
}

/// Makes a rename to `path` durable. Best effort: the rename is done either way, and not
/// every platform lets a directory be opened and synced.
pub(crate) fn sync_parent(path: &Path) {
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
}
