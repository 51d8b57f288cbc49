//! What a look at the dead letters finds: the list with counts by reason, and one
//! letter in full with its slice in the ledger.

use std::collections::BTreeMap;

use fleet_core::broker::Headers;
use fleet_core::ledger::{RequestState, SliceRecord};
use fleet_core::wire::SliceJob;
use fleet_core::Ledger;
use serde::Serialize;

use super::{ledger, DlqError, Letter, Summary};

/// The letters, the oldest `limit` of them summarized.
#[derive(Debug, Serialize)]
pub struct ListReport {
    /// The oldest `limit` letters.
    pub letters: Vec<Summary>,
    /// Letters in the queue (all of them, listed or not).
    pub count: usize,
    pub by_reason: BTreeMap<String, usize>,
}

impl ListReport {
    pub fn new(letters: &[Letter], limit: usize) -> ListReport {
        let mut by_reason: BTreeMap<String, usize> = BTreeMap::new();
        for l in letters {
            *by_reason.entry(l.reason().to_owned()).or_default() += 1;
        }
        ListReport {
            letters: letters.iter().take(limit).map(Letter::summary).collect(),
            count: letters.len(),
            by_reason,
        }
    }
}

/// One letter in full, with its slice and request state in the ledger.
#[derive(Debug, Serialize)]
pub struct ShowReport {
    #[serde(flatten)]
    pub summary: Summary,
    /// Letters in the queue with this message id (duplicates are possible).
    pub copies: usize,
    pub headers: Headers,
    pub job: Option<SliceJob>,
    /// The body as text, when it is not a job this build reads.
    pub body: Option<String>,
    pub slice: Option<SliceRecord>,
    pub request_state: Option<RequestState>,
}

impl ShowReport {
    /// The first letter with message id `id`, and its slice read from `ledger`.
    pub async fn read(
        ledger_: &dyn Ledger,
        letters: &[Letter],
        id: &str,
    ) -> Result<ShowReport, DlqError> {
        let matching: Vec<&Letter> = letters
            .iter()
            .filter(|l| l.message_id.as_deref() == Some(id))
            .collect();
        let Some(letter) = matching.first() else {
            return Err(DlqError::NoSuchLetter(id.to_owned()));
        };
        let slice = match letter.slice_id() {
            Some(s) => ledger_
                .get_slice(s)
                .await
                .map_err(ledger(format!("reading slice {s} from the ledger")))?,
            None => None,
        };
        let request_state = match &slice {
            Some(s) => ledger_
                .get_request(&s.request_id)
                .await
                .map_err(ledger(format!(
                    "reading request {} from the ledger",
                    s.request_id
                )))?
                .map(|r| r.state),
            None => None,
        };
        Ok(ShowReport {
            summary: letter.summary(),
            copies: matching.len(),
            headers: letter.headers.clone(),
            job: letter.job.as_ref().ok().cloned(),
            body: letter
                .job
                .is_err()
                .then(|| String::from_utf8_lossy(&letter.body).into_owned()),
            slice,
            request_state,
        })
    }
}
