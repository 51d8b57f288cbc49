//! `unique_prefix`: unique under heavy and concurrent use, and made of safe characters.

use std::collections::HashSet;

use fleet_testkit::prefix::MAX_LEN;
use fleet_testkit::unique_prefix;

fn assert_safe(prefix: &str) {
    assert!(!prefix.is_empty());
    assert!(prefix.len() <= MAX_LEN, "{prefix} is too long");
    assert!(
        prefix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
        "{prefix} has characters outside [a-z0-9-]"
    );
    assert!(!prefix.starts_with('-') && !prefix.starts_with("amq."));
}

#[test]
fn ten_thousand_calls_are_all_distinct_and_safe() {
    let mut seen = HashSet::new();
    for _ in 0..10_000 {
        let prefix = unique_prefix("same_test_name");
        assert_safe(&prefix);
        assert!(seen.insert(prefix.clone()), "duplicate prefix {prefix}");
    }
}

#[test]
fn distinct_across_threads() {
    let threads: Vec<_> = (0..8)
        .map(|_| std::thread::spawn(|| (0..1_000).map(|_| unique_prefix("t")).collect::<Vec<_>>()))
        .collect();
    let mut seen = HashSet::new();
    for thread in threads {
        for prefix in thread.join().unwrap() {
            assert!(seen.insert(prefix.clone()), "duplicate prefix {prefix}");
        }
    }
    assert_eq!(seen.len(), 8_000);
}

#[test]
fn awkward_names_still_give_safe_readable_prefixes() {
    for name in [
        "",
        "amq.gen-queue",
        "tests::broker::Acks Twice!",
        "ключ:*?[]",
        &"very_long_test_name_".repeat(20),
    ] {
        assert_safe(&unique_prefix(name));
    }
    let prefix = unique_prefix("broker::tests::acks_twice");
    assert!(
        prefix.starts_with(&format!("acks-twice-{}-", std::process::id())),
        "{prefix}"
    );
}
