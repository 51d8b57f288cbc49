//! Previews: a few records of one dataset and range, read now through the source's
//! client and published nowhere; the input checked like a request's (`source`,
//! `dataset`, range, `limit`, `select`), a folder-scoped dataset read folder by folder.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use fleet_core::plan::{FieldError, RequestError};
use uipath_client::ClientError;

use crate::error::CoordinatorError;
use crate::service::{preview_hint, Coordinator};
use fleet_reader::DatasetRef;

/// What to preview.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviewInput {
    pub source: String,
    pub dataset: String,
    /// A folder path or key; all visible folders (until `limit` records) when absent.
    #[serde(default)]
    pub folder: Option<String>,
    #[serde(default)]
    pub from: Option<DateTime<Utc>>,
    #[serde(default)]
    pub to: Option<DateTime<Utc>>,
    #[serde(default)]
    pub select: Vec<String>,
    /// 1–100, default 10.
    #[serde(default)]
    pub limit: Option<u32>,
}

pub use crate::api::views::PreviewView;

impl Coordinator {
    /// A few records of one dataset and range, read now and published nowhere.
    pub async fn preview(&self, input: PreviewInput) -> Result<PreviewView, CoordinatorError> {
        let mut errors = Vec::new();
        if self.sources().get(&input.source).is_none() {
            errors.push(FieldError {
                field: "source".into(),
                message: format!(
                    "unknown source `{}`; configured: {}",
                    input.source,
                    self.sources().names().join(", ")
                ),
            });
        }
        let dataset = DatasetRef::parse(&input.dataset);
        if dataset.is_none() {
            errors.push(FieldError {
                field: "dataset".into(),
                message: format!(
                    "unknown dataset `{}`; use one of GET /v1/datasets or dataservice/<Entity>",
                    input.dataset
                ),
            });
        }
        if let (Some(f), Some(t)) = (input.from, input.to) {
            if f >= t {
                errors.push(FieldError {
                    field: "to".into(),
                    message: "must be after `from`".into(),
                });
            }
        }
        let limit = input.limit.unwrap_or(10);
        if limit == 0 || limit > 100 {
            errors.push(FieldError {
                field: "limit".into(),
                message: "must be between 1 and 100".into(),
            });
        }
        let Some(dataset) = dataset.filter(|_| errors.is_empty()) else {
            return Err(RequestError::Fields(errors).into());
        };
        if let Some(message) = fleet_core::fields::select::too_long(input.select.len()) {
            return Err(RequestError::Fields(vec![FieldError {
                field: "select".into(),
                message,
            }])
            .into());
        }
        // The same check as a request's `select`: a name the dataset lacks is a 422.
        let select = BTreeMap::from([(input.dataset.clone(), input.select.clone())]);
        self.check_select(std::slice::from_ref(&input.source), &select)
            .await?;
        let hint = |e: &ClientError| preview_hint(e, &dataset);
        let folders = if dataset.folder_scoped() {
            let all = self.sources().folders(&input.source).await.map_err(|e| {
                CoordinatorError::Source {
                    hint: hint(&e),
                    error: e,
                }
            })?;
            match &input.folder {
                Some(want) => {
                    let found: Vec<_> = all
                        .into_iter()
                        .filter(|f| {
                            f.path.eq_ignore_ascii_case(want) || f.key.eq_ignore_ascii_case(want)
                        })
                        .collect();
                    if found.is_empty() {
                        return Err(RequestError::Fields(vec![FieldError {
                            field: "folder".into(),
                            message: format!(
                                "source {} has no folder `{want}` the application can see",
                                input.source
                            ),
                        }])
                        .into());
                    }
                    found.into_iter().map(Some).collect()
                }
                None => all.into_iter().map(Some).collect(),
            }
        } else {
            vec![None]
        };
        let mut records = Vec::new();
        let mut read = Vec::new();
        for folder in &folders {
            if records.len() >= limit as usize {
                break;
            }
            let want = limit - records.len() as u32;
            let batch = self
                .sources()
                .sample(
                    &input.source,
                    &dataset,
                    folder.as_ref(),
                    (input.from, input.to),
                    &input.select,
                    want,
                )
                .await
                .map_err(|e| CoordinatorError::Source {
                    hint: hint(&e),
                    error: e,
                })?;
            if let Some(f) = folder {
                read.push(f.path.clone());
            }
            records.extend(batch.into_iter().map(serde_json::Value::Object));
        }
        let message = if records.is_empty() {
            Some(if folders.is_empty() {
                "the application can see no folders; assign it to the folders to read (Orchestrator > Folders > Assign Account/Group)".to_owned()
            } else {
                format!(
                    "no {} records in this range{}; try a wider range, or check the dataset's time field",
                    input.dataset,
                    if dataset.folder_scoped() { format!(" in {} folder(s)", read.len()) } else { String::new() }
                )
            })
        } else {
            None
        };
        Ok(PreviewView {
            source: input.source,
            dataset: input.dataset,
            records,
            folders: read,
            message,
        })
    }
}
