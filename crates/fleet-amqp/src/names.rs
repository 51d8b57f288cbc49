//! The names of the fleet's queues and exchanges, and the delay tiers of the retry queues.
//!
//! One place builds every name from the prefix, so the declare, publish, consume and
//! cleanup code (and operators reading `rabbitmqctl list_queues`) agree on them:
//!
//! | name | kind | what |
//! |---|---|---|
//! | `P.jobs` | direct exchange | routing key = lane |
//! | `P.jobs.sync`, `P.jobs.backfill` | quorum queues | the job lanes |
//! | `P.retry.<lane>.<tier>` | quorum queues | delay tiers, dead-letter into `P.jobs` |
//! | `P.dead` | fanout exchange and quorum queue | dead letters |
//! | `P.records` | topic exchange | records, `<source>.<dataset>` |
//! | `P.events` | topic exchange | events |
//! | `P.out.<name>` | quorum queues | configured output queues |
//! | `P.sub.<queue>` | quorum queues | subscriptions |
//! | `P.tmp.<queue>.<tag>` | classic auto-delete queues | throwaway subscriptions (gone with their consumer) |

use std::time::Duration;

use fleet_core::broker::{Lane, QueueName};

/// The delay tiers, shortest first. A retry waits in the tier queue whose TTL is the
/// smallest one at least as long as the requested delay ([`retry_tier`]).
///
/// Fixed tiers because RabbitMQ 3.10 without plugins can only delay with a queue-wide
/// TTL: a per-message TTL expires only at the head of the queue, so a 1 s retry behind a
/// 1 h one would wait an hour.
pub const RETRY_TIERS: [Duration; 6] = [
    Duration::from_secs(1),
    Duration::from_secs(5),
    Duration::from_secs(30),
    Duration::from_secs(120),
    Duration::from_secs(600),
    Duration::from_secs(3600),
];

/// The tier a retry of `delay` waits in: rounded *up* to the next tier (never early),
/// capped at the longest (one hour; a caller that needs longer defers again).
pub fn retry_tier(delay: Duration) -> Duration {
    RETRY_TIERS
        .iter()
        .copied()
        .find(|tier| *tier >= delay)
        .unwrap_or(RETRY_TIERS[RETRY_TIERS.len() - 1])
}

/// `1s`, `5s`, `30s`, `2m`, `10m`, `1h`: the tier as it appears in queue names.
pub fn tier_label(tier: Duration) -> String {
    let s = tier.as_secs();
    if s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

/// Every name of one fleet (one prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    prefix: String,
}

impl Names {
    pub fn new(prefix: impl Into<String>) -> Self {
        Names {
            prefix: prefix.into(),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The queue an operator would look at for `q`.
    pub fn queue(&self, q: QueueName) -> String {
        match q {
            QueueName::Jobs(lane) => self.lane(lane),
            QueueName::DeadLetter => self.dead(),
        }
    }

    /// The job exchange (direct; routing key = lane).
    pub fn jobs_exchange(&self) -> String {
        format!("{}.jobs", self.prefix)
    }

    /// A job lane's queue.
    pub fn lane(&self, lane: Lane) -> String {
        format!("{}.jobs.{}", self.prefix, lane.as_str())
    }

    /// The delay queue for a retry of `delay` on `lane` (see [`retry_tier`]).
    pub fn retry(&self, lane: Lane, delay: Duration) -> String {
        format!(
            "{}.retry.{}.{}",
            self.prefix,
            lane.as_str(),
            tier_label(retry_tier(delay))
        )
    }

    /// Every delay queue, with its lane and tier.
    pub fn retry_queues(&self) -> Vec<(Lane, Duration, String)> {
        let mut out = Vec::with_capacity(Lane::ALL.len() * RETRY_TIERS.len());
        for lane in Lane::ALL {
            for tier in RETRY_TIERS {
                out.push((lane, tier, self.retry(lane, tier)));
            }
        }
        out
    }

    /// The dead-letter exchange (fanout) and queue share this name.
    pub fn dead(&self) -> String {
        format!("{}.dead", self.prefix)
    }

    pub fn records(&self) -> String {
        format!("{}.records", self.prefix)
    }

    pub fn events(&self) -> String {
        format!("{}.events", self.prefix)
    }

    /// A configured output queue.
    pub fn output(&self, name: &str) -> String {
        format!("{}.out.{name}", self.prefix)
    }

    /// A subscription's queue.
    pub fn subscription(&self, queue: &str) -> String {
        format!("{}.sub.{queue}", self.prefix)
    }

    /// A throwaway subscription's queue: `tag` (unique per consumer) keeps two
    /// throwaway consumers of one name from sharing, or stealing from, one queue.
    pub fn throwaway(&self, queue: &str, tag: &str) -> String {
        format!("{}.tmp.{queue}.{tag}", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_round_up_to_a_tier_and_cap_at_an_hour() {
        let s = Duration::from_secs;
        assert_eq!(retry_tier(Duration::ZERO), s(1));
        assert_eq!(retry_tier(Duration::from_millis(300)), s(1));
        assert_eq!(retry_tier(s(1)), s(1));
        assert_eq!(retry_tier(Duration::from_millis(1001)), s(5));
        assert_eq!(retry_tier(s(31)), s(120));
        assert_eq!(retry_tier(s(3600)), s(3600));
        assert_eq!(retry_tier(s(86_400)), s(3600));
    }

    #[test]
    fn names_are_prefixed_and_readable() {
        let n = Names::new("p");
        assert_eq!(n.queue(QueueName::Jobs(Lane::Sync)), "p.jobs.sync");
        assert_eq!(n.queue(QueueName::DeadLetter), "p.dead");
        assert_eq!(
            n.retry(Lane::Backfill, Duration::from_secs(90)),
            "p.retry.backfill.2m"
        );
        let labels: Vec<String> = RETRY_TIERS.iter().map(|t| tier_label(*t)).collect();
        assert_eq!(labels, ["1s", "5s", "30s", "2m", "10m", "1h"]);
        assert_eq!(n.retry_queues().len(), 12);
        assert_eq!(n.subscription("sink"), "p.sub.sink");
        assert_eq!(n.throwaway("sink", "ab12"), "p.tmp.sink.ab12");
        assert_eq!(n.output("lake"), "p.out.lake");
    }
}
