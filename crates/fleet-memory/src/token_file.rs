//! The refresh-token file behind [`MemoryTokenCache::persistent`](crate::MemoryTokenCache::persistent).
//!
//! Refresh tokens rotate at UiPath on every use, so losing the successor of a spent one
//! means a person has to log in again. This file keeps them across restarts and lets a
//! separate `uipath-fleet login` process hand one to an embedded fleet.
//!
//! Guarantees:
//! - **Atomic replacement.** A write goes to a temporary file in the same directory,
//!   is fsynced, and is renamed over the old file (then the directory is fsynced), so a
//!   reader — or a crash — sees the old file or the new one, never a mix.
//! - **Private.** On unix the file is created with mode 0600, and directories this code
//!   creates with 0700.
//! - **No plaintext with a key.** Values are in the [`Sealer`](fleet_core::Sealer)'s
//!   stored form, sealed with the family key's id as associated data; without a key they
//!   are marked plain (`v1.plain.`).
//! - **A bad file is an error naming the path**, never a panic, and the message never
//!   quotes the file's contents (a JSON parser's message can; only its category and
//!   position are used).
//!
//! Format (version 1):
//!
//! ```json
//! { "version": 1,
//!   "refresh_tokens": {
//!     "<TokenKey::id of the family>": {
//!       "endpoint": "https://cloud.uipath.com/identity_/connect/token",
//!       "principal": "<client id or user name>",
//!       "token": "v1.sealed.…" } } }
//! ```
//!
//! The file is not locked: this module makes each write atomic, not a read-modify-write
//! by two processes. See `MemoryTokenCache` for who may share a file.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use fleet_core::CacheError;
use serde::{Deserialize, Serialize};

use crate::private_file;

const VERSION: u32 = 1;

/// Refresh tokens by the family key's id.
pub(crate) type Entries = BTreeMap<String, StoredRefresh>;

/// One family's refresh token. Deliberately not `Debug`: `token` is a secret when the
/// file is unsealed.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct StoredRefresh {
    /// The family's token endpoint and principal: not needed to find the entry (the key
    /// is the id), but they tell an operator reading the file whose login it holds.
    pub endpoint: String,
    pub principal: String,
    /// The token in the sealer's stored form.
    pub token: String,
}

#[derive(Serialize, Deserialize)]
struct Body {
    version: u32,
    #[serde(default)]
    refresh_tokens: Entries,
}

/// A token file at a fixed path. Holds no contents: every `load` reads the disk.
#[derive(Debug, Clone)]
pub(crate) struct TokenFile {
    path: PathBuf,
}

impl TokenFile {
    pub fn new(path: PathBuf) -> Self {
        TokenFile { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn error(&self, what: impl std::fmt::Display) -> CacheError {
        CacheError::Backend(format!("token file {}: {what}", self.path.display()))
    }

    /// The entries on disk; none when the file does not exist yet.
    pub fn load(&self) -> Result<Entries, CacheError> {
        let bytes = match fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Entries::new()),
            Err(e) => return Err(self.error(format_args!("cannot read it: {e}"))),
        };
        let body: Body = serde_json::from_slice(&bytes).map_err(|e| {
            self.error(format_args!(
                "not a valid token file ({:?} error at line {}, column {}); \
                 restore it, or delete it and log in again",
                e.classify(),
                e.line(),
                e.column()
            ))
        })?;
        if body.version != VERSION {
            return Err(self.error(format_args!(
                "format version {} is not supported (this build reads version {VERSION})",
                body.version
            )));
        }
        Ok(body.refresh_tokens)
    }

    /// Replaces the file with `entries`, atomically (see the module docs).
    pub fn save(&self, entries: &Entries) -> Result<(), CacheError> {
        let body = Body {
            version: VERSION,
            refresh_tokens: entries.clone(),
        };
        let json = serde_json::to_vec_pretty(&body)
            .map_err(|e| self.error(format_args!("cannot encode it ({:?} error)", e.classify())))?;
        self.replace_with(&json)
            .map_err(|e| self.error(format_args!("cannot write it: {e}")))
    }

    fn replace_with(&self, contents: &[u8]) -> io::Result<()> {
        let tmp = private_file::temporary_beside(&self.path)?;
        private_file::create_parent(&self.path)?;
        let written = write_new(&tmp, contents).and_then(|()| fs::rename(&tmp, &self.path));
        if written.is_err() {
            // Best effort: the error that matters is the one being returned.
            let _ = fs::remove_file(&tmp);
        }
        written?;
        private_file::sync_parent(&self.path);
        Ok(())
    }
}

fn write_new(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut file = private_file::open(path, fs::OpenOptions::new().write(true).create_new(true))?;
    file.write_all(contents)?;
    file.sync_all()
}
