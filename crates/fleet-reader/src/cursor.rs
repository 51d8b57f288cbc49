//! [`SliceCursor`]: where the read of a slice stands, and the checkpoint text it is
//! stored as.

use chrono::{DateTime, Utc};
use uipath_client::dataservice::DsCursor;
use uipath_client::odata::{parse_datetime, Cursor};

use crate::{DatasetRef, ReaderError};

/// Where the read of a [`SliceRead`](crate::SliceRead) stands: an Orchestrator or a Data
/// Service cursor. [`SliceCursor::encode`] is what a worker checkpoints;
/// [`SliceCursor::decode`] needs the dataset to know which kind to expect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SliceCursor {
    Orchestrator(Cursor),
    DataService(DsCursor),
}

impl SliceCursor {
    /// The beginning of a slice of `dataset`.
    pub fn start(dataset: &DatasetRef) -> SliceCursor {
        match dataset {
            DatasetRef::Orchestrator(_) => SliceCursor::Orchestrator(Cursor::Start),
            DatasetRef::DataService(_) => SliceCursor::DataService(DsCursor::Start),
        }
    }

    /// JSON text, e.g. `{"kind":"after","time":"2024-01-01T00:00:00Z","id":42}`.
    pub fn encode(&self) -> String {
        let text = match self {
            SliceCursor::Orchestrator(c) => serde_json::to_string(c),
            SliceCursor::DataService(c) => serde_json::to_string(c),
        };
        text.expect("cursors always serialize")
    }

    /// Reads a checkpoint written by [`SliceCursor::encode`] for `dataset`.
    pub fn decode(dataset: &DatasetRef, text: &str) -> Result<SliceCursor, ReaderError> {
        let cursor = match dataset {
            DatasetRef::Orchestrator(_) => {
                serde_json::from_str(text).map(SliceCursor::Orchestrator)
            }
            DatasetRef::DataService(_) => serde_json::from_str(text).map(SliceCursor::DataService),
        };
        cursor.map_err(|source| ReaderError::Checkpoint {
            text: text.to_owned(),
            source,
        })
    }

    /// Whether this is the beginning of the slice.
    pub fn is_start(&self) -> bool {
        matches!(
            self,
            SliceCursor::Orchestrator(Cursor::Start) | SliceCursor::DataService(DsCursor::Start)
        )
    }

    /// The time of the last record read, for keyset cursors: everything before it is read.
    /// `None` at the start, and for offset (RobotLogs) and Id cursors.
    pub fn time(&self) -> Option<DateTime<Utc>> {
        let text = match self {
            SliceCursor::Orchestrator(Cursor::After { time, .. })
            | SliceCursor::DataService(DsCursor::After { time, .. }) => time,
            _ => return None,
        };
        parse_datetime(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_per_dataset_kind() {
        let jobs = DatasetRef::parse("jobs").unwrap();
        let ds = DatasetRef::parse("dataservice/Invoice").unwrap();
        let c = SliceCursor::Orchestrator(Cursor::After {
            time: "2024-01-01T10:00:00.123Z".into(),
            id: 42,
        });
        assert_eq!(SliceCursor::decode(&jobs, &c.encode()).unwrap(), c);
        assert_eq!(
            c.time().unwrap(),
            "2024-01-01T10:00:00.123Z".parse::<DateTime<Utc>>().unwrap()
        );
        let d = SliceCursor::DataService(DsCursor::After {
            time: "2024-01-01T10:00:00Z".into(),
            id: "3F2504E0-4F89-11D3-9A0C-0305E82C3301".into(),
        });
        assert_eq!(SliceCursor::decode(&ds, &d.encode()).unwrap(), d);
        // A Data Service cursor (uuid id) is not an Orchestrator one.
        assert!(SliceCursor::decode(&jobs, &d.encode()).is_err());
        assert!(SliceCursor::start(&jobs).is_start());
        assert_eq!(SliceCursor::start(&ds).time(), None);
        assert!(SliceCursor::decode(&jobs, "not json").is_err());
    }
}
