//! AMQP topic-pattern matching, as RabbitMQ's topic exchange does it.
//!
//! Keys and patterns are words separated by `.`. In a pattern, `*` matches exactly one
//! word and `#` matches zero or more words, so `acme.#` matches `acme` itself and
//! `#.jobs` matches `jobs`. Words are compared exactly (case-sensitive); an empty word
//! is a word (`a..b` has three).

/// Whether routing key `key` matches binding pattern `pattern`.
pub(crate) fn topic_matches(pattern: &str, key: &str) -> bool {
    let p: Vec<&str> = pattern.split('.').collect();
    let k: Vec<&str> = key.split('.').collect();
    // reachable[j]: the pattern words seen so far can match exactly the first j key
    // words. Dynamic programming keeps `#.#.#...` linear instead of exponential.
    let mut reachable = vec![false; k.len() + 1];
    reachable[0] = true;
    for word in &p {
        let mut next = vec![false; k.len() + 1];
        match *word {
            "#" => {
                // Zero words, or any number more after a reachable position.
                let mut any = false;
                for j in 0..=k.len() {
                    any |= reachable[j];
                    next[j] = any;
                }
            }
            // Exactly one word: shift every reachable position by one.
            "*" => next[1..].copy_from_slice(&reachable[..k.len()]),
            w => {
                for j in 0..k.len() {
                    next[j + 1] = reachable[j] && k[j] == w;
                }
            }
        }
        reachable = next;
    }
    reachable[k.len()]
}

#[cfg(test)]
mod tests {
    use super::topic_matches as m;

    #[test]
    fn literal_words_match_exactly() {
        assert!(m("acme.jobs", "acme.jobs"));
        assert!(!m("acme.jobs", "acme.job"));
        assert!(!m("acme.jobs", "acme.jobs.x"));
        assert!(!m("acme.jobs", "acme"));
        assert!(!m("Acme", "acme"));
    }

    #[test]
    fn star_is_exactly_one_word() {
        assert!(m("acme.*", "acme.jobs"));
        assert!(!m("acme.*", "acme"));
        assert!(!m("acme.*", "acme.jobs.x"));
        assert!(m("*.jobs", "acme.jobs"));
        assert!(m("*.*", "a.b"));
        assert!(!m("*", "a.b"));
    }

    #[test]
    fn hash_is_zero_or_more_words() {
        assert!(m("#", "anything.at.all"));
        assert!(m("#", "x"));
        assert!(m("acme.#", "acme"), "# matches zero words");
        assert!(m("acme.#", "acme.jobs"));
        assert!(m("acme.#", "acme.jobs.more"));
        assert!(!m("acme.#", "other.jobs"));
        assert!(m("#.jobs", "jobs"));
        assert!(m("#.jobs", "a.b.jobs"));
        assert!(!m("#.jobs", "a.jobs.b"));
        assert!(m("a.#.z", "a.z"));
        assert!(m("a.#.z", "a.b.c.z"));
        assert!(m("#.#", "a"));
        assert!(m("a.*.#", "a.b"));
        assert!(!m("a.*.#", "a"));
    }

    #[test]
    fn many_hashes_stay_fast() {
        let pattern = vec!["#"; 40].join(".") + ".nope";
        let key = vec!["w"; 40].join(".");
        assert!(!m(&pattern, &key));
    }
}
