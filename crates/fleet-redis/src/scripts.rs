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

// ---- The ledger (`crate::ledger`). Each is `ledger_common.lua` (key names, the one
// way a slice changes state, insert-if-absent) followed by the script proper, so
// counters and indexes move in the same atomic step as the slices they count.

/// Create-if-absent of a request (and its place in the newest-first index).
pub(crate) static LEDGER_CREATE_REQUEST: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        include_str!("scripts/ledger_common.lua"),
        include_str!("scripts/ledger_create_request.lua")
    ))
});

/// First writer wins: a request's plan, once stored, is returned to every later caller.
pub(crate) static LEDGER_FIX_PLAN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        include_str!("scripts/ledger_common.lua"),
        include_str!("scripts/ledger_fix_plan.lua")
    ))
});

/// A request's state, planned flag and note, unless it is terminal (never left).
pub(crate) static LEDGER_UPDATE_REQUEST: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        include_str!("scripts/ledger_common.lua"),
        include_str!("scripts/ledger_update_request.lua")
    ))
});

/// A request whose planning failed goes back to Planning (a rerun after a fix).
pub(crate) static LEDGER_REOPEN_REQUEST: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        include_str!("scripts/ledger_common.lua"),
        include_str!("scripts/ledger_reopen_request.lua")
    ))
});

/// The first step of a cancel: the request becomes Cancelled, so no slice can join it
/// unnoticed while the chunks run.
pub(crate) static LEDGER_CANCEL_REQUEST: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        include_str!("scripts/ledger_common.lua"),
        include_str!("scripts/ledger_cancel_request.lua")
    ))
});

/// One bounded chunk of a cancel, so that no script runs long over a big request.
pub(crate) static LEDGER_CANCEL_CHUNK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        include_str!("scripts/ledger_common.lua"),
        include_str!("scripts/ledger_cancel_chunk.lua")
    ))
});

/// Insert-if-absent of a batch of slices: planning twice never duplicates a slice.
pub(crate) static LEDGER_ADD_SLICES: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        include_str!("scripts/ledger_common.lua"),
        include_str!("scripts/ledger_add_slices.lua")
    ))
});

/// The transition table: a move is checked against the slice's current state and
/// applied (with counters, split children and the stream) or refused, in one step.
pub(crate) static LEDGER_TRANSITION: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        include_str!("scripts/ledger_common.lua"),
        include_str!("scripts/ledger_transition.lua")
    ))
});

/// Compare-and-set of a stream's planned_to with its window's slices: of two
/// coordinators planning one window, one plans it.
pub(crate) static LEDGER_PLAN_WINDOW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        include_str!("scripts/ledger_common.lua"),
        include_str!("scripts/ledger_plan_window.lua")
    ))
});

/// The watermark walk: forward only, over completed slices only.
pub(crate) static LEDGER_ADVANCE_WATERMARK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        include_str!("scripts/ledger_common.lua"),
        include_str!("scripts/ledger_advance_watermark.lua")
    ))
});

/// A page of slices read in one step (ids and records from the same instant).
pub(crate) static LEDGER_LIST_SLICES: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        include_str!("scripts/ledger_common.lua"),
        include_str!("scripts/ledger_list_slices.lua")
    ))
});

/// Take or renew a lease: set if free or ours, so a lease is exclusive while unexpired.
/// (Release is [`UNLOCK`]: compare-and-delete by holder.)
pub(crate) static LEDGER_LEASE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/ledger_lease.lua")));

/// The planner's batch move Planned -> Queued, one round trip per batch instead of one
/// per slice.
pub(crate) static LEDGER_MARK_QUEUED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        include_str!("scripts/ledger_common.lua"),
        include_str!("scripts/ledger_mark_queued.lua")
    ))
});

/// One bounded batch of a stream's compaction: only completed slices the watermark
/// passed, and never the counters, planned_to or the watermark.
pub(crate) static LEDGER_COMPACT_STREAM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        include_str!("scripts/ledger_common.lua"),
        include_str!("scripts/ledger_compact_stream.lua")
    ))
});

/// Compare-and-set of a stream's snapshot state on its generation: of two windows that
/// read one generation, one stores.
pub(crate) static LEDGER_STORE_SNAPSHOT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        include_str!("scripts/ledger_common.lua"),
        include_str!("scripts/ledger_store_snapshot.lua")
    ))
});

#[cfg(test)]
mod tests {
    //! Lua cannot import fleet-core's state names, so the ledger scripts spell them as
    //! literals. This checks every literal against [`SliceState::as_str`] and
    //! [`RequestState::as_str`]: a misspelt or renamed state fails here, not in production.

    use std::collections::BTreeSet;

    use fleet_core::ledger::{RequestState, SliceState};

    /// Every literal of the ledger scripts that is not a state name: Redis commands, hash
    /// fields, key parts, transition kinds, reply words and separators.
    const NOT_STATES: &[&str] = &[
        "",
        " ",
        "!",
        "(",
        "+",
        "-",
        "0",
        "1",
        ":",
        ":passed",
        ":pending",
        ":progress",
        ":req:",
        ":requests",
        ":slice:",
        ":slices",
        ":snap:",
        ":st:",
        ":stream:",
        "DEL",
        "EXISTS",
        "GET",
        "HDEL",
        "HGET",
        "HGETALL",
        "HINCRBY",
        "HMGET",
        "HSET",
        "LIMIT",
        "PX",
        "SET",
        "ZADD",
        "ZRANGE",
        "ZRANGEBYLEX",
        "ZREM",
        "at",
        "attempts",
        "checkpoint",
        "complete",
        "cp",
        "err",
        "fail",
        "from",
        "gen",
        "map",
        "moved",
        "note",
        "ok",
        "pages",
        "parent",
        "plan",
        "planned_to",
        "rec",
        "records",
        "req",
        "requeue",
        "retry",
        "start",
        "state",
        "stream",
        "to",
        "unknown",
        "watermark",
    ];

    fn state_names() -> BTreeSet<&'static str> {
        SliceState::ALL
            .into_iter()
            .map(SliceState::as_str)
            .chain(RequestState::ALL.into_iter().map(RequestState::as_str))
            .collect()
    }

    /// The `'…'` literals of a script, comments left out.
    fn literals(lua: &str) -> Vec<String> {
        let mut out = Vec::new();
        for line in lua.lines() {
            let mut quoted: Option<String> = None;
            let mut chars = line.chars().peekable();
            while let Some(c) = chars.next() {
                match (&mut quoted, c) {
                    (Some(text), '\'') => {
                        out.push(std::mem::take(text));
                        quoted = None;
                    }
                    (Some(text), c) => text.push(c),
                    (None, '\'') => quoted = Some(String::new()),
                    (None, '-') if chars.peek() == Some(&'-') => break,
                    (None, _) => {}
                }
            }
        }
        out
    }

    fn ledger_scripts() -> Vec<(String, String)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/scripts");
        let mut scripts: Vec<(String, String)> = std::fs::read_dir(&dir)
            .expect("scripts directory")
            .map(|e| e.expect("directory entry").path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("ledger_") && n.ends_with(".lua"))
            })
            .map(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read_to_string(&p).expect("readable script"))
            })
            .collect();
        scripts.sort();
        assert!(
            scripts.len() >= 10,
            "found only {} ledger scripts",
            scripts.len()
        );
        scripts
    }

    #[test]
    fn the_ledger_scripts_spell_every_state_as_fleet_core_does() {
        let states = state_names();
        for other in NOT_STATES {
            assert!(!states.contains(other), "`{other}` is a state name");
        }
        let mut used = BTreeSet::new();
        for (name, lua) in ledger_scripts() {
            for literal in literals(&lua) {
                if states.contains(literal.as_str()) {
                    used.insert(literal);
                } else {
                    assert!(
                        NOT_STATES.contains(&literal.as_str()),
                        "{name}: the literal '{literal}' is neither a state as fleet-core spells \
                         it ({states:?}) nor a known field, command or key part; fix the \
                         spelling, or add it to NOT_STATES if it is no state"
                    );
                }
            }
        }
        // Every state is handled somewhere (a state renamed in Rust alone fails above or here).
        for state in &states {
            assert!(
                used.contains(*state),
                "no ledger script names the state `{state}`"
            );
        }
    }

    #[test]
    fn the_transition_table_goes_from_and_to_slice_states_only() {
        let slice: BTreeSet<&str> = SliceState::ALL
            .into_iter()
            .map(SliceState::as_str)
            .collect();
        let (_, lua) = ledger_scripts()
            .into_iter()
            .find(|(n, _)| n == "ledger_transition.lua")
            .expect("ledger_transition.lua");
        // Rows such as `  start = {planned = 'running', queued = 'running'},`.
        let mut rows = 0;
        for line in lua
            .lines()
            .filter(|l| l.contains("= {") && l.trim_end().ends_with("},"))
        {
            let inner = &line[line.find('{').unwrap() + 1..line.rfind('}').unwrap()];
            for pair in inner.split(',').filter(|p| !p.trim().is_empty()) {
                let (from, to) = pair.split_once('=').expect("from = 'to'");
                let (from, to) = (from.trim(), to.trim().trim_matches('\''));
                assert!(
                    slice.contains(from),
                    "transition from unknown state `{from}`: {line}"
                );
                assert!(
                    slice.contains(to),
                    "transition to unknown state `{to}`: {line}"
                );
            }
            rows += 1;
        }
        assert!(rows >= 9, "found {rows} transition rows");
    }
}
