//! One dead letter and what it says about itself, and the letters held unsettled while
//! they are looked at.

use std::time::Duration;

use fleet_core::broker::{Delivery, Feed, Headers, Subscriber, Subscription};
use fleet_core::wire::{headers, SliceJob, WireError};
use fleet_core::Broker;
use serde::Serialize;

use super::{broker, DlqError};

/// Reason shown for letters without `x-fleet-reason`: dead-lettered by RabbitMQ itself
/// (over the delivery limit, or rejected by a consumer).
pub const BROKER_REASON: &str = "broker";
/// How long to wait for the first letter once the queue says it has some.
const FIRST_LETTER_WAIT: Duration = Duration::from_secs(10);
/// How long a quiet consumer means the queue has nothing more for us.
const NEXT_LETTER_WAIT: Duration = Duration::from_secs(2);

/// One dead letter, held unsettled.
pub struct Letter {
    pub message_id: Option<String>,
    pub headers: Headers,
    pub body: Vec<u8>,
    pub job: Result<SliceJob, WireError>,
    /// `None` once settled.
    pub(super) delivery: Option<Delivery>,
}

impl Letter {
    pub fn new(d: Delivery) -> Letter {
        Letter {
            message_id: d.message_id.clone(),
            headers: d.headers.clone(),
            body: d.body.clone(),
            job: SliceJob::from_bytes(&d.body),
            delivery: Some(d),
        }
    }

    pub fn id(&self) -> &str {
        self.message_id.as_deref().unwrap_or("-")
    }

    /// `x-fleet-reason`, or [`BROKER_REASON`].
    pub fn reason(&self) -> &str {
        self.headers
            .get(headers::REASON)
            .map(String::as_str)
            .unwrap_or(BROKER_REASON)
    }

    pub fn error(&self) -> Option<&str> {
        self.headers.get(headers::ERROR).map(String::as_str)
    }

    /// The slice id from the job, or else from the header.
    pub fn slice_id(&self) -> Option<&str> {
        match &self.job {
            Ok(job) => Some(job.slice_id.as_str()),
            Err(_) => self.headers.get(headers::SLICE).map(String::as_str),
        }
    }

    /// What the letter is about: from its job, or else from its headers.
    pub fn summary(&self) -> Summary {
        let job = self.job.as_ref().ok();
        let header = |name: &str| self.headers.get(name).cloned();
        Summary {
            message_id: self.message_id.clone(),
            reason: self.reason().to_owned(),
            error: self.error().map(str::to_owned),
            slice_id: self.slice_id().map(str::to_owned),
            request_id: job
                .map(|j| j.request_id.clone())
                .or_else(|| header(headers::REQUEST)),
            source: job
                .map(|j| j.source.clone())
                .or_else(|| header(headers::SOURCE)),
            dataset: job
                .map(|j| j.dataset.clone())
                .or_else(|| header(headers::DATASET)),
            folder: job
                .and_then(|j| j.folder.as_ref().map(|f| f.path.clone()))
                .or_else(|| header(headers::FOLDER)),
            from: job.and_then(|j| j.from).map(time),
            to: job.and_then(|j| j.to).map(time),
            lane: job.map(|j| j.lane.as_str().to_owned()),
            decodable: job.is_some(),
            decode_error: self.job.as_ref().err().map(ToString::to_string),
        }
    }
}

/// A time as a letter's summary writes it.
pub fn time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub message_id: Option<String>,
    pub reason: String,
    pub error: Option<String>,
    pub slice_id: Option<String>,
    pub request_id: Option<String>,
    pub source: Option<String>,
    pub dataset: Option<String>,
    pub folder: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub lane: Option<String>,
    /// Whether the body is a slice job this build reads (only those can be replayed).
    pub decodable: bool,
    pub decode_error: Option<String>,
}

/// The consumer on the dead-letter queue and the letters it delivered, all unsettled.
#[derive(Default)]
pub struct Held {
    subscriber: Option<Box<dyn Subscriber>>,
    pub letters: Vec<Letter>,
}

impl Held {
    /// Takes every one of the `depth` letters of `queue` (its name, for errors) from
    /// `reader`, oldest first, and holds them unsettled (all of them: a letter given
    /// back goes behind the ones left waiting, so a partial read would reorder the
    /// queue). `reader` must be a connection of its own: closing it gives them back.
    /// Letters read before a failure stay held.
    pub async fn take(
        &mut self,
        reader: &dyn Broker,
        queue: &str,
        depth: u64,
    ) -> Result<(), DlqError> {
        let want = usize::try_from(depth).unwrap_or(usize::MAX);
        if want == 0 {
            return Ok(());
        }
        if want > usize::from(u16::MAX) {
            return Err(DlqError::TooMany {
                queue: queue.to_owned(),
                depth,
            });
        }
        let sub = reader
            .subscribe(Subscription {
                queue: String::new(),
                feed: Feed::DeadLetters,
                // Every letter stays unsettled until the end, so the prefetch must hold
                // them all.
                prefetch: u16::try_from(want).unwrap_or(u16::MAX),
            })
            .await
            .map_err(broker(format!("consuming the dead-letter queue `{queue}`")))?;
        // Held until the connection is closed: its channel must not close (and give
        // letters back) while others are still being read or settled.
        let sub = self.subscriber.insert(sub);
        while self.letters.len() < want {
            let wait = if self.letters.is_empty() {
                FIRST_LETTER_WAIT
            } else {
                NEXT_LETTER_WAIT
            };
            match sub.next(wait).await {
                Ok(Some(d)) => self.letters.push(Letter::new(d)),
                // Fewer than counted: another consumer holds some, or they were taken.
                Ok(None) => break,
                Err(e) => {
                    return Err(broker(format!("reading the dead-letter queue `{queue}`"))(
                        e,
                    ))
                }
            }
        }
        Ok(())
    }

    /// Letters not settled (acked) yet.
    pub fn unsettled(&self) -> u64 {
        self.letters.iter().filter(|l| l.delivery.is_some()).count() as u64
    }

    /// Lets go of the letters once the reader's connection was closed (which gave every
    /// unsettled one back at once, in delivery order).
    pub fn release(self) {
        for letter in self.letters {
            if let Some(Delivery { acker, .. }) = letter.delivery {
                // Already given back by the close: settling it now would only fail on
                // the dead channel and log a warning.
                std::mem::forget(acker);
            }
        }
        drop(self.subscriber);
    }
}
