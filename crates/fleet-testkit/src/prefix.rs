//! Per-test name prefixes, so parallel tests never share a queue, exchange or key.
//!
//! Guarantees of [`unique_prefix`]:
//! - **Unique within a process**: a process-wide counter is part of every prefix.
//! - **Unique across concurrent processes** (nextest runs each test in its own process):
//!   the process id is part of every prefix, and two live processes never share one.
//! - **Unique across runs**, in practice: 32 random bits guard against a reused pid
//!   meeting a previous run's leftover queues or keys.
//! - **Safe everywhere we use names**: only `[a-z0-9-]`, at most [`MAX_LEN`] bytes. That
//!   keeps it clear of RabbitMQ's reserved `amq.` prefix and of the `.` that separates
//!   words in topic routing keys, and of `:` (our Redis key separator) and the glob
//!   characters `*?[]` (so `SCAN MATCH {prefix}*` finds exactly one test's keys).

use std::sync::atomic::{AtomicU64, Ordering};

/// How much of the test name is kept. The name is only there so a human looking at
/// `rabbitmqctl list_queues` or `redis-cli --scan` can tell which test made what.
const NAME_LEN: usize = 24;

/// The longest prefix [`unique_prefix`] can return, in bytes: the name, then a `u32`
/// pid (10 digits), a `u64` counter (20) and 8 hex digits, with 3 dashes. In practice it
/// is about 45. Far below RabbitMQ's 255-byte name limit, leaving room for suffixes.
pub const MAX_LEN: usize = NAME_LEN + 1 + 10 + 1 + 20 + 1 + 8;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A short, unique, queue- and key-safe prefix for one test's resources.
///
/// Call it once per test and build every name from it:
/// `format!("{prefix}.jobs")` for a queue, `format!("{prefix}:tokens:{tenant}")` for a
/// key. The result looks like `token-refresh-4242-0-9f3a0c1e` (test name, pid, counter,
/// random). See the module docs for what "unique" and "safe" promise.
pub fn unique_prefix(test_name: &str) -> String {
    let name = sanitize(test_name);
    let pid = std::process::id();
    // Relaxed is enough: we need distinct values, not ordering with other memory.
    let seq = COUNTER.fetch_add(1, Ordering::Relaxed);
    // Truncating the v4 UUID keeps 32 of its random bits; plenty next to pid + counter.
    let random = uuid::Uuid::new_v4().as_u128() as u32;
    let prefix = format!("{name}-{pid}-{seq}-{random:08x}");
    debug_assert!(prefix.len() <= MAX_LEN, "{prefix} is longer than {MAX_LEN}");
    prefix
}

/// Lowercase ASCII letters and digits, runs of anything else collapsed to one `-`,
/// trimmed to [`NAME_LEN`]; `t` if nothing is left, so the prefix never starts with `-`.
fn sanitize(test_name: &str) -> String {
    // Test names are often module paths (`broker::tests::acks_twice`); keep the tail,
    // which is the part that tells tests apart.
    let tail = test_name.rsplit("::").next().unwrap_or(test_name);
    let mut out = String::with_capacity(NAME_LEN);
    for c in tail.chars() {
        if out.len() == NAME_LEN {
            break;
        }
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() {
        out.push('t');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_keeps_readable_tail() {
        assert_eq!(sanitize("broker::tests::Acks_Twice"), "acks-twice");
        assert_eq!(sanitize("amq.gen"), "amq-gen");
        assert_eq!(sanitize("--weird   name!!"), "weird-name");
        assert_eq!(sanitize(""), "t");
        assert_eq!(sanitize("éèê"), "t");
        assert_eq!(sanitize(&"x".repeat(100)).len(), NAME_LEN);
        // Truncation must not leave a trailing separator.
        assert_eq!(
            sanitize(&format!("{}_b", "a".repeat(NAME_LEN - 1))),
            "a".repeat(NAME_LEN - 1)
        );
    }
}
