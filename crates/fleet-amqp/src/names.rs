//! The names of the fleet's queues and exchanges, and of the retry queues (one per
//! delay tier of `fleet_core::broker::RETRY_TIERS`).
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

use fleet_core::broker::{retry_tier, Lane, QueueName, RETRY_TIERS};

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
