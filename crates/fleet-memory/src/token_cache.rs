//! `MemoryTokenCache`: the fleet's token cache for one process, with refresh tokens
//! optionally kept in a file.
//!
//! Every [`TokenCache`] method runs as one step under a `std::sync::Mutex` that is never
//! held across an `.await`, so each is atomic with respect to every clone of the cache.
//!
//! What lives where:
//! - **Access tokens**: in memory only, also with [`MemoryTokenCache::persistent`]. They
//!   last about an hour, so a restart costs one token grant, and keeping them out of the
//!   file means it is written only when a refresh token changes (about once an hour),
//!   which is what keeps a `login` run in another process safe (see below) and leaves no
//!   bearer token at rest.
//! - **Refresh locks**: in memory; a lock lapses `ttl` after it was taken (tokio time, so
//!   `tokio::time::pause()` drives lapses in tests).
//! - **Refresh tokens**: in memory, or in the token file (`token_file`). With a file,
//!   every refresh-token operation re-reads it, so a token written by a `login` process
//!   is seen on the next use, and every change rewrites it atomically before the
//!   operation returns. Values are sealed with the [`Sealer`] (associated data: the
//!   family key's id); in memory too, so both modes behave the same with a wrong key.
//!
//! # Sharing the file between processes
//!
//! The file is not locked, so two processes must not both *rotate* tokens through one
//! file: each holds its own refresh locks, both could spend the same refresh token, and
//! UiPath revokes the whole family when a spent token is reused. A fleet of several
//! processes shares its cache in Redis (`fleet-redis`). What is fine is a `login` process
//! writing a token (`store_refresh_token`) while the embedded fleet is running but not
//! rotating: the write is atomic and the fleet re-reads the file at its next refresh.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fleet_core::token::fingerprint;
use fleet_core::{AccessToken, CacheError, LockToken, Sealer, Secret, TokenCache, TokenKey};
use tokio::time::Instant;

use crate::token_file::{Entries, StoredRefresh, TokenFile};

/// The fleet's token cache for a single process (embedded mode, tests).
///
/// `Clone` shares the state. `Debug` shows the file path and counts, never a token.
#[derive(Clone)]
pub struct MemoryTokenCache {
    inner: Arc<Inner>,
}

struct Inner {
    sealer: Sealer,
    access: Mutex<HashMap<TokenKey, AccessToken>>,
    locks: Mutex<HashMap<TokenKey, HeldLock>>,
    refresh: RefreshStore,
}

struct HeldLock {
    /// The value a `LockToken` must carry to release it (a random UUID).
    value: String,
    /// When it lapses. Lapsed locks stay in the map until the key is locked again; a
    /// lapsed lock is treated exactly like a missing one.
    until: Instant,
}

/// Where refresh tokens live: sealed entries by family key id.
enum RefreshStore {
    Memory(Mutex<Entries>),
    /// In an `Arc` so a blocking-pool task can own it.
    File(Arc<FileStore>),
}

struct FileStore {
    file: TokenFile,
    /// Serializes this process's read-modify-write cycles on the file (the file itself
    /// has no lock; see the module docs for other processes).
    guard: Mutex<()>,
}

impl FileStore {
    /// Reads the entries, applies `op`, writes them back if it changed them.
    fn update<R>(
        &self,
        sealer: &Sealer,
        op: impl FnOnce(&Sealer, &mut Entries) -> Result<(R, bool), CacheError>,
    ) -> Result<R, CacheError> {
        let _serialized = lock(&self.guard);
        let mut entries = self.file.load()?;
        let (result, changed) = op(sealer, &mut entries)?;
        if changed {
            self.file.save(&entries)?;
        }
        Ok(result)
    }
}

/// A poisoned lock only means another thread panicked mid-operation; every map here is
/// updated by whole-entry inserts and removes, so its state is still valid.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl MemoryTokenCache {
    /// A cache held purely in memory: everything is lost when the process ends.
    pub fn new(sealer: Sealer) -> Self {
        Self::with_store(sealer, RefreshStore::Memory(Mutex::new(Entries::new())))
    }

    /// A cache whose refresh tokens live in the JSON file at `path` (created, with its
    /// directories, on the first write). The file is read once here, so a corrupt or
    /// unsupported file fails at startup with an error naming it; a missing file is an
    /// empty cache. See the module docs for sharing the file with a `login` process.
    pub fn persistent(path: impl Into<PathBuf>, sealer: Sealer) -> Result<Self, CacheError> {
        let file = TokenFile::new(path.into());
        file.load()?;
        let store = FileStore {
            file,
            guard: Mutex::new(()),
        };
        Ok(Self::with_store(
            sealer,
            RefreshStore::File(Arc::new(store)),
        ))
    }

    fn with_store(sealer: Sealer, refresh: RefreshStore) -> Self {
        MemoryTokenCache {
            inner: Arc::new(Inner {
                sealer,
                access: Mutex::new(HashMap::new()),
                locks: Mutex::new(HashMap::new()),
                refresh,
            }),
        }
    }

    /// The token file, for a persistent cache.
    pub fn path(&self) -> Option<&Path> {
        match &self.inner.refresh {
            RefreshStore::Memory(_) => None,
            RefreshStore::File(store) => Some(store.file.path()),
        }
    }

    /// Runs `op` on the refresh-token entries as one atomic step. `op` returns its result
    /// and whether it changed the entries. With a file, the entries are read from disk
    /// first and written back if changed, on the blocking pool so the runtime's threads
    /// never wait on the disk. A caller that stops waiting does not stop the write: a
    /// rotated successor is stored even if nobody hears that it was.
    async fn refresh_op<R, F>(&self, op: F) -> Result<R, CacheError>
    where
        R: Send + 'static,
        F: FnOnce(&Sealer, &mut Entries) -> Result<(R, bool), CacheError> + Send + 'static,
    {
        match &self.inner.refresh {
            RefreshStore::Memory(entries) => Ok(op(&self.inner.sealer, &mut lock(entries))?.0),
            RefreshStore::File(store) => {
                let (store, sealer) = (Arc::clone(store), self.inner.sealer.clone());
                tokio::task::spawn_blocking(move || store.update(&sealer, op))
                    .await
                    .map_err(|_| {
                        CacheError::Backend("the token file task was cancelled or panicked".into())
                    })?
            }
        }
    }
}

impl fmt::Debug for MemoryTokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryTokenCache")
            .field("path", &self.path())
            .field("sealing", &self.inner.sealer.is_sealing())
            .field("access_tokens", &lock(&self.inner.access).len())
            .field("locks", &lock(&self.inner.locks).len())
            .finish()
    }
}

/// Whether family `id`'s stored refresh token is `expected`. A token that does not open
/// (wrong key) is an error, not a mismatch: the operator must hear about it.
fn holds(
    sealer: &Sealer,
    entries: &Entries,
    id: &str,
    expected: &Secret,
) -> Result<bool, CacheError> {
    match entries.get(id) {
        Some(stored) => Ok(sealer.open(id, &stored.token)? == *expected),
        None => Ok(false),
    }
}

#[async_trait::async_trait]
impl TokenCache for MemoryTokenCache {
    async fn get(&self, key: &TokenKey) -> Result<Option<AccessToken>, CacheError> {
        let mut access = lock(&self.inner.access);
        match access.get(key) {
            Some(t) if t.expires_at_ms > now_ms() => Ok(Some(t.clone())),
            Some(_) => {
                access.remove(key);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn try_lock(
        &self,
        key: &TokenKey,
        ttl: Duration,
    ) -> Result<Option<LockToken>, CacheError> {
        let now = Instant::now();
        let mut locks = lock(&self.inner.locks);
        if locks.get(key).is_some_and(|held| held.until > now) {
            return Ok(None);
        }
        let value = uuid::Uuid::new_v4().to_string();
        // A TTL too long to add never lapses in practice; a year will do.
        let until = now
            .checked_add(ttl)
            .unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 3600));
        locks.insert(
            key.clone(),
            HeldLock {
                value: value.clone(),
                until,
            },
        );
        Ok(Some(LockToken(value)))
    }

    async fn unlock(&self, key: &TokenKey, lock_token: &LockToken) -> Result<(), CacheError> {
        let mut locks = lock(&self.inner.locks);
        if locks
            .get(key)
            .is_some_and(|held| held.value == lock_token.0)
        {
            locks.remove(key);
        }
        Ok(())
    }

    async fn put(&self, key: &TokenKey, token: &AccessToken) -> Result<(), CacheError> {
        let now = now_ms();
        let mut access = lock(&self.inner.access);
        let keeps_later = access.get(key).is_some_and(|held| {
            held.expires_at_ms > now && held.expires_at_ms > token.expires_at_ms
        });
        if keeps_later {
            return Ok(());
        }
        if token.expires_at_ms > now {
            access.insert(key.clone(), token.clone());
        } else {
            // Already expired: stored and gone at once, like an entry past its TTL.
            access.remove(key);
        }
        Ok(())
    }

    async fn invalidate(&self, key: &TokenKey, fp: &str) -> Result<bool, CacheError> {
        let mut access = lock(&self.inner.access);
        let matches = access
            .get(key)
            .is_some_and(|held| held.expires_at_ms > now_ms() && fingerprint(&held.token) == fp);
        if matches {
            access.remove(key);
        }
        Ok(matches)
    }

    async fn refresh_token(&self, key: &TokenKey) -> Result<Option<Secret>, CacheError> {
        let id = key.family().id();
        self.refresh_op(move |sealer, entries| {
            let token = entries
                .get(&id)
                .map(|stored| sealer.open(&id, &stored.token))
                .transpose()?;
            Ok((token, false))
        })
        .await
    }

    async fn rotate_refresh_token(
        &self,
        key: &TokenKey,
        spent: &Secret,
        next: &Secret,
    ) -> Result<bool, CacheError> {
        let id = key.family().id();
        let (spent, next) = (spent.clone(), next.clone());
        self.refresh_op(move |sealer, entries| {
            if !holds(sealer, entries, &id, &spent)? {
                return Ok((false, false));
            }
            let sealed = sealer.seal(&id, &next);
            if let Some(stored) = entries.get_mut(&id) {
                stored.token = sealed;
            }
            Ok((true, true))
        })
        .await
    }

    async fn store_refresh_token(
        &self,
        key: &TokenKey,
        token: &Secret,
        overwrite: bool,
    ) -> Result<bool, CacheError> {
        let family = key.family();
        let token = token.clone();
        self.refresh_op(move |sealer, entries| {
            let id = family.id();
            // Presence is enough to decline a seed: no need to open what is stored.
            if !overwrite && entries.contains_key(&id) {
                return Ok((false, false));
            }
            let stored = StoredRefresh {
                endpoint: family.endpoint,
                principal: family.principal,
                token: sealer.seal(&id, &token),
            };
            entries.insert(id, stored);
            Ok((true, true))
        })
        .await
    }

    async fn discard_refresh_token(
        &self,
        key: &TokenKey,
        spent: &Secret,
    ) -> Result<bool, CacheError> {
        let id = key.family().id();
        let spent = spent.clone();
        self.refresh_op(move |sealer, entries| {
            if !holds(sealer, entries, &id, &spent)? {
                return Ok((false, false));
            }
            entries.remove(&id);
            Ok((true, true))
        })
        .await
    }
}

#[cfg(test)]
mod tests;
