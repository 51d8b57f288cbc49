//! The in-memory broker's queues, bindings and delayed jobs, and the rules that move
//! messages between them: routing, dead-lettering, the delivery limit.
//!
//! Everything here is synchronous and runs under one `std::sync::Mutex` for a few
//! microseconds at a time; nothing awaits while holding it. Waiting (for a job, for a
//! delivery) happens in `broker.rs` on the [`Notify`]s kept here.
//!
//! The rules mirror RabbitMQ quorum queues as the fleet configures them:
//! - a requeued or abandoned message goes back to the *front* of its queue, flagged
//!   redelivered; on a job lane, once it has come back more than `delivery_limit`
//!   times it is dead-lettered instead (reason `delivery_limit`);
//! - a rejected message is dead-lettered (reason `rejected`), except on the dead-letter
//!   queue itself, where it is dropped;
//! - dead-lettering starts the message afresh (not redelivered, count reset) and records
//!   the first death in `x-first-death-reason` / `x-first-death-queue`, as RabbitMQ does.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

// Capped like the RabbitMQ backend's longest tier, so the embedded mode cannot rely on
// something production would cap.
use fleet_core::broker::{Headers, Lane, MAX_RETRY_DELAY};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::topic::topic_matches;

/// The dead-letter queue's key in [`State::queues`].
pub(crate) const DEAD: &str = "dead";

/// A stored message.
#[derive(Debug, Clone)]
pub(crate) struct Msg {
    pub(crate) message_id: String,
    pub(crate) headers: Headers,
    pub(crate) body: Vec<u8>,
    pub(crate) redelivered: bool,
    /// Times it came back unsettled (requeue, dropped delivery).
    pub(crate) returns: u32,
}

/// Which queue a delivery came from, so a settle knows where to put it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    Lane(Lane),
    Queue(String),
}

impl Source {
    fn name(&self) -> String {
        match self {
            Source::Lane(l) => format!("jobs.{}", l.as_str()),
            Source::Queue(q) => q.clone(),
        }
    }
}

/// The two exchanges with bindings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exchange {
    Records,
    Events,
}

#[derive(Debug)]
pub(crate) struct Queue {
    pub(crate) ready: VecDeque<Msg>,
    /// Woken (all waiters) whenever a message is added.
    pub(crate) notify: Arc<Notify>,
}

impl Queue {
    fn new() -> Self {
        Queue {
            ready: VecDeque::new(),
            notify: Arc::new(Notify::new()),
        }
    }

    fn push_back(&mut self, m: Msg) {
        self.ready.push_back(m);
        self.notify.notify_waiters();
    }

    fn push_front(&mut self, m: Msg) {
        self.ready.push_front(m);
        self.notify.notify_waiters();
    }
}

#[derive(Debug)]
struct Delayed {
    due: Instant,
    /// Publish order, so that jobs due at the same instant keep it.
    seq: u64,
    lane: Lane,
    msg: Msg,
}

#[derive(Debug)]
pub(crate) struct State {
    pub(crate) delivery_limit: u32,
    lanes: [VecDeque<Msg>; 2],
    delayed: Vec<Delayed>,
    seq: u64,
    pub(crate) queues: HashMap<String, Queue>,
    bindings: Vec<(Exchange, String, String)>,
    /// Woken whenever a lane or the delayed set changes.
    pub(crate) jobs: Arc<Notify>,
}

fn lane_index(l: Lane) -> usize {
    match l {
        Lane::Sync => 0,
        Lane::Backfill => 1,
    }
}

impl State {
    pub(crate) fn new(delivery_limit: u32) -> Self {
        let mut queues = HashMap::new();
        queues.insert(DEAD.to_owned(), Queue::new());
        State {
            delivery_limit,
            lanes: [VecDeque::new(), VecDeque::new()],
            delayed: Vec::new(),
            seq: 0,
            queues,
            bindings: Vec::new(),
            jobs: Arc::new(Notify::new()),
        }
    }

    /// Creates `queue` if it does not exist and adds the bindings it lacks.
    pub(crate) fn declare_queue(&mut self, queue: &str, exchange: Exchange, patterns: &[String]) {
        self.queues
            .entry(queue.to_owned())
            .or_insert_with(Queue::new);
        for p in patterns {
            let binding = (exchange, p.clone(), queue.to_owned());
            if !self.bindings.contains(&binding) {
                self.bindings.push(binding);
            }
        }
    }

    /// The queues bound to `exchange` for `key`, each once however many patterns match.
    pub(crate) fn route(&self, exchange: Exchange, key: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (x, pattern, queue) in &self.bindings {
            if *x == exchange && topic_matches(pattern, key) && !out.contains(queue) {
                out.push(queue.clone());
            }
        }
        out
    }

    pub(crate) fn push_queue(&mut self, queue: &str, msg: Msg) {
        if let Some(q) = self.queues.get_mut(queue) {
            q.push_back(msg);
        }
    }

    pub(crate) fn push_job(&mut self, lane: Lane, msg: Msg) {
        self.lanes[lane_index(lane)].push_back(msg);
        self.jobs.notify_waiters();
    }

    pub(crate) fn push_delayed(&mut self, lane: Lane, delay: Duration, msg: Msg) {
        self.seq += 1;
        self.delayed.push(Delayed {
            due: Instant::now() + delay.min(MAX_RETRY_DELAY),
            seq: self.seq,
            lane,
            msg,
        });
        self.jobs.notify_waiters();
    }

    /// Moves every delayed job that is due onto its lane, in due order.
    pub(crate) fn promote_due(&mut self, now: Instant) {
        if !self.delayed.iter().any(|d| d.due <= now) {
            return;
        }
        let (mut due, waiting): (Vec<Delayed>, Vec<Delayed>) = std::mem::take(&mut self.delayed)
            .into_iter()
            .partition(|d| d.due <= now);
        self.delayed = waiting;
        due.sort_by_key(|d| (d.due, d.seq));
        for d in due {
            self.lanes[lane_index(d.lane)].push_back(d.msg);
        }
        self.jobs.notify_waiters();
    }

    /// When the next delayed job falls due.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.delayed.iter().map(|d| d.due).min()
    }

    /// The next job, sync lane first.
    pub(crate) fn take_job(&mut self) -> Option<(Lane, Msg)> {
        for lane in Lane::ALL {
            if let Some(m) = self.lanes[lane_index(lane)].pop_front() {
                return Some((lane, m));
            }
        }
        None
    }

    pub(crate) fn take_from(&mut self, queue: &str) -> Option<Msg> {
        self.queues.get_mut(queue)?.ready.pop_front()
    }

    /// Puts an unsettled delivery back (requeue, dropped delivery): to the front,
    /// redelivered, or to the dead letters past a job lane's delivery limit.
    pub(crate) fn give_back(&mut self, source: Source, mut msg: Msg) {
        msg.returns = msg.returns.saturating_add(1);
        msg.redelivered = true;
        match source {
            Source::Lane(lane) => {
                if msg.returns > self.delivery_limit {
                    self.dead_letter(&source, msg, "delivery_limit");
                } else {
                    self.lanes[lane_index(lane)].push_front(msg);
                    self.jobs.notify_waiters();
                }
            }
            Source::Queue(q) => {
                if let Some(queue) = self.queues.get_mut(&q) {
                    queue.push_front(msg);
                }
            }
        }
    }

    /// A rejected delivery: dead-lettered, or dropped if it came from the dead letters.
    pub(crate) fn reject(&mut self, source: Source, msg: Msg) {
        if source != Source::Queue(DEAD.to_owned()) {
            self.dead_letter(&source, msg, "rejected");
        }
    }

    fn dead_letter(&mut self, source: &Source, mut msg: Msg, reason: &str) {
        msg.headers
            .entry("x-first-death-reason".into())
            .or_insert_with(|| reason.to_owned());
        msg.headers
            .entry("x-first-death-queue".into())
            .or_insert_with(|| source.name());
        msg.redelivered = false;
        msg.returns = 0;
        self.push_queue(DEAD, msg);
    }

    pub(crate) fn lane_len(&self, lane: Lane) -> usize {
        self.lanes[lane_index(lane)].len()
    }

    pub(crate) fn delayed_len(&self) -> usize {
        self.delayed.len()
    }

    pub(crate) fn queue_len(&self, queue: &str) -> usize {
        self.queues.get(queue).map_or(0, |q| q.ready.len())
    }
}
