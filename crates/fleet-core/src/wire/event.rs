//! Events on the events exchange: `slice.completed`, `slice.failed`,
//! `request.completed`; the routing key is the event's type.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{decode, encode, FolderRef, WireError, WIRE_VERSION};

/// A notification on the events exchange. Routing key = [`EventBody::routing_key`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub version: u32,
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub body: EventBody,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum EventBody {
    #[serde(rename = "slice.completed")]
    SliceCompleted {
        request_id: String,
        slice_id: String,
        source: String,
        dataset: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        folder: Option<FolderRef>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<DateTime<Utc>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<DateTime<Utc>>,
        records: u64,
        pages: u64,
    },
    #[serde(rename = "slice.failed")]
    SliceFailed {
        request_id: String,
        slice_id: String,
        source: String,
        dataset: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        folder: Option<FolderRef>,
        /// The error kind (stable, for alerting).
        reason: String,
        /// The error, readable (no secrets).
        error: String,
        attempts: u32,
    },
    #[serde(rename = "request.completed")]
    RequestCompleted {
        request_id: String,
        slices: u64,
        failed: u64,
        records: u64,
    },
}

impl EventBody {
    pub fn routing_key(&self) -> &'static str {
        match self {
            EventBody::SliceCompleted { .. } => "slice.completed",
            EventBody::SliceFailed { .. } => "slice.failed",
            EventBody::RequestCompleted { .. } => "request.completed",
        }
    }
}

impl Event {
    pub fn new(body: EventBody) -> Event {
        Event {
            version: WIRE_VERSION,
            at: Utc::now(),
            body,
        }
    }
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(self)
    }
    pub fn from_bytes(body: &[u8]) -> Result<Event, WireError> {
        decode("event", body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_tagged_by_routing_key() {
        let e = Event::new(EventBody::RequestCompleted {
            request_id: "r".into(),
            slices: 3,
            failed: 0,
            records: 10,
        });
        let v: serde_json::Value = serde_json::from_slice(&e.to_bytes()).unwrap();
        assert_eq!(v["type"], "request.completed");
        assert_eq!(Event::from_bytes(&e.to_bytes()).unwrap(), e);
    }
}
