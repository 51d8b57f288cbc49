//! Reading pages of a slice over the request pipeline: [`UipathClient::fetch_page`] (one
//! page and the cursor after it), [`Pages`] (a loop helper), [`UipathClient::count`].
//!
//! A page is decoded and checked inside the pipeline, so a body that is cut off or has the
//! wrong shape is retried like a server error. Memory is bounded by one page.

use fleet_core::Priority;
use serde::Deserialize;
use serde_json::Value;
use tracing::debug;

use super::slice::{next_cursor, Cursor, Record, SliceSpec};
use crate::client::{Api, ApiRequest};
use crate::error::ClientError;
use crate::UipathClient;

/// One page of a slice.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The records, in the slice's order.
    pub records: Vec<Record>,
    /// Where the next page starts; `None` when this page finished the slice.
    pub next: Option<Cursor>,
}

/// The OData collection envelope.
#[derive(Deserialize)]
struct Envelope {
    value: Vec<Value>,
    #[serde(rename = "@odata.count", default)]
    count: Option<u64>,
}

/// Reads an OData collection body: its records and its `@odata.count`, if asked for.
pub fn decode_envelope(body: &[u8]) -> Result<(Vec<Record>, Option<u64>), String> {
    let env: Envelope =
        serde_json::from_slice(body).map_err(|e| format!("not an OData collection: {e}"))?;
    let records = env
        .value
        .into_iter()
        .enumerate()
        .map(|(n, v)| match v {
            Value::Object(map) => Ok(map),
            other => Err(format!(
                "record {n} is not an object: {}",
                fleet_core::json::kind(&other)
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((records, env.count))
}

impl UipathClient {
    fn odata_request(&self, spec: &SliceSpec, priority: Priority) -> ApiRequest {
        ApiRequest::get(Api::Orchestrator, format!("odata/{}", spec.dataset.entity))
            .folder(spec.folder.clone())
            .family(spec.dataset.family)
            .priority(priority)
    }

    /// Reads the page of `spec` at `cursor`. A windowed set (RobotLogs) answers
    /// [`ClientError::WindowExceeded`] when the slice holds more than its window — checked
    /// on the first page, before anything is returned.
    pub async fn fetch_page(
        &self,
        spec: &SliceSpec,
        cursor: &Cursor,
        priority: Priority,
    ) -> Result<Page, ClientError> {
        let paging = spec.paging()?;
        let query = spec.page_query(cursor)?;
        let mut request = self.odata_request(spec, priority);
        request.query = query.pairs.clone();
        // The decode owns what it needs: a large page is parsed on the blocking pool.
        let asked = query.clone();
        let (records, count, next) = self
            .send(&request, move |body| {
                let (records, count) = decode_envelope(body)?;
                if asked.count && count.is_none() {
                    return Err("@odata.count is missing though $count=true was asked".into());
                }
                let next = next_cursor(paging, &asked, &records)?;
                Ok((records, count, next))
            })
            .await?;
        if let (Some(count), Some(window)) = (count, spec.dataset.window) {
            // The server caps the count at the window, so reaching it means "too many".
            if count >= u64::from(window) {
                return Err(ClientError::WindowExceeded {
                    dataset: spec.dataset.slug.to_owned(),
                    window,
                });
            }
        }
        debug!(
            dataset = spec.dataset.slug,
            records = records.len(),
            done = next.is_none(),
            "page read"
        );
        Ok(Page { records, next })
    }

    /// A loop over the pages of `spec` from `cursor`.
    pub fn pages(&self, spec: SliceSpec, cursor: Cursor, priority: Priority) -> Pages<'_> {
        Pages {
            client: self,
            spec,
            cursor: Some(cursor),
            priority,
        }
    }

    /// How many records the slice holds now (`$top=0&$count=true`), for planners. Capped
    /// at the window for windowed sets (RobotLogs), as the server caps it.
    pub async fn count(&self, spec: &SliceSpec, priority: Priority) -> Result<u64, ClientError> {
        let mut request = self.odata_request(spec, priority);
        request.query = spec.count_query()?;
        self.send(&request, |body| {
            decode_envelope(body)?
                .1
                .ok_or_else(|| "@odata.count is missing".to_owned())
        })
        .await
    }
}

/// Pages of one slice, read one at a time. After an error the position is kept, so
/// calling [`Pages::next`] again retries the same page.
#[derive(Debug)]
pub struct Pages<'a> {
    client: &'a UipathClient,
    spec: SliceSpec,
    cursor: Option<Cursor>,
    priority: Priority,
}

impl Pages<'_> {
    /// The next page, or `None` once the slice is done.
    pub async fn next(&mut self) -> Option<Result<Page, ClientError>> {
        let cursor = self.cursor.as_ref()?;
        let result = self
            .client
            .fetch_page(&self.spec, cursor, self.priority)
            .await;
        if let Ok(page) = &result {
            self.cursor = page.next.clone();
        }
        Some(result)
    }

    /// Where the next page starts (`None`: done) — what to checkpoint.
    pub fn cursor(&self) -> Option<&Cursor> {
        self.cursor.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_must_hold_an_array_of_objects() {
        let (records, count) =
            decode_envelope(br#"{"@odata.context":"x","@odata.count":3,"value":[{"Id":1}]}"#)
                .unwrap();
        assert_eq!((records.len(), count), (1, Some(3)));
        assert!(decode_envelope(br#"{"value":{"unexpected":"object"}}"#).is_err());
        assert!(decode_envelope(br#"{"value":[1]}"#)
            .unwrap_err()
            .contains("a number"));
        assert!(decode_envelope(br#"{"value":[{"Id":1},{"Id"#).is_err());
    }
}
