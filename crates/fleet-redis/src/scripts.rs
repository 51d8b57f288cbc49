//! The Lua scripts behind every operation that must read and write in one step.
//!
//! **Why they are atomic.** Redis runs a script to the end before it serves any other
//! command, from any client: no other caller can observe or change a key between a
//! script's read and its write. So a compare-and-swap in a script is a real CAS across
//! every process of the fleet, and the limiter's check-then-reserve cannot be raced.
//! (A single `SET NX PX`, used for the refresh lock, is atomic on its own and needs no
//! script.)
//!
//! **Whose clock.** Scripts that depend on time read Redis `TIME`, never the caller's
//! clock, so workers with skewed clocks still share one schedule. Redis ≥ 5 replicates
//! a script's effects (the writes), not the script, so a non-deterministic `TIME` is
//! allowed before writes.
//!
//! **Loading.** [`redis::Script`] sends `EVALSHA` and, on `NOSCRIPT` (a restarted or
//! flushed server), loads the script and retries; nothing needs loading at startup.
//!
//! **Secrets.** Scripts see sealed tokens and fingerprints only, and return integers:
//! a token never comes back in a reply or in a script error.
//!
//! What each script guarantees (the `.lua` files document their KEYS/ARGV/reply):

use std::sync::LazyLock;

use redis::Script;

/// Put-if-later: the cached access token is replaced only by one that expires strictly
/// later, so a slow refresher can never put back an older token. The hash gets
/// `PEXPIREAT` its token's expiry, so an expired token is never served.
pub(crate) static TOKEN_PUT: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/token_put.lua")));

/// Compare-and-delete by fingerprint: deletes a token hash only if it holds the token
/// the caller names. A 401 on token A never removes token B fetched meanwhile; a
/// rejected refresh token is discarded only if nobody has rotated it since.
pub(crate) static DEL_IF_FP: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/del_if_fp.lua")));

/// Compare-and-delete by owner id: a holder whose lock lapsed and was taken by another
/// worker cannot release the new holder's lock.
pub(crate) static UNLOCK: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/unlock.lua")));

/// Compare-and-swap of the refresh token: of any number of callers that spent the same
/// token, exactly one stores its successor.
pub(crate) static RT_ROTATE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/rt_rotate.lua")));

/// Store a refresh token, always or only when none is stored (check and write in one
/// step, so a rotated token is never overwritten by a seed from a config file).
pub(crate) static RT_STORE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/rt_store.lua")));

/// The GCRA reservation over a pause key and any number of buckets: the check of every
/// bucket and the move of every TAT happen in one step, so concurrent callers are
/// serialised and the bound of `fleet_core::gcra` holds fleet-wide.
pub(crate) static GCRA_RESERVE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/gcra_reserve.lua")));

/// Extend-only pause (and, with length 0, a read of the remaining pause): two callers
/// pausing at once end with the longer pause, never the shorter.
pub(crate) static PAUSE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/pause.lua")));
