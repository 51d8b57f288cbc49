//! A slice of an Orchestrator dataset and the resumable position within it: which query
//! reads the next page, and where the page after it starts.
//!
//! Five ways to page, chosen by the dataset's catalog entry and what the slice asks:
//! - **keyset on (time, Id)** for timed sets: `$filter=(T gt t or (T eq t and Id gt id))
//!   and T lt to`, `$orderby=T asc,Id asc`. Every page is an index seek on the server, and
//!   a record inserted or updated behind the cursor shifts nothing ahead of it;
//! - **keyset on Id** for small untimed sets (`Id gt id`, `$orderby=Id asc`);
//! - **`$skip` inside the time window** for RobotLogs, which have no usable key. Their
//!   Elasticsearch backend serves at most `window` rows per query (`$skip + $top`), so a
//!   slice that holds more is refused with [`ClientError::WindowExceeded`] (split it);
//! - **changes in a window** ([`SliceSpec::modified`], a sync of Jobs, Releases, Robots,
//!   Users): `(M ge from and M lt to) or (M eq null and T ge from and T lt to)` on the
//!   modification time `M` and creation time `T` — Orchestrator leaves `M` null until a
//!   record's first change, so one filter covers both kinds at the cost of one query per
//!   page — keyset on Id (`Id gt id`, `$orderby=Id asc`). A record that changes while the
//!   window is read leaves it (its new `M` is past `to`, which lies in the past) and is
//!   read again by a later window as its new version; none can enter it;
//! - **by Id** ([`SliceSpec::ids`], the queue-item change feed): `Id eq a or Id eq b …`,
//!   at most [`MAX_IDS_PER_QUERY`] per query so the filter stays far inside
//!   Orchestrator's 100-expression limit and the URL short.
//!
//! Deep `$skip` is never used on a SQL-backed set. The functions here are pure; `page`
//! sends what they build.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use fleet_core::dataset::DatasetDef;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::literal::{format_datetime, is_safe_datetime};
use crate::error::ClientError;

/// One record as served: a JSON object.
pub type Record = Map<String, Value>;

/// Ids per `Id eq … or …` query: 50 comparisons and 49 `or`s stay inside the
/// 100-expression `$filter` limit (uipath-api.md §4) and a URL of about 1.5 KB; `in (…)`
/// is OData 4.01 and not relied on.
pub const MAX_IDS_PER_QUERY: usize = 50;

/// A part of a dataset to read: one folder (for folder-scoped sets) and a time range on
/// the dataset's time field, `from` inclusive, `to` exclusive (either may be open).
#[derive(Debug, Clone, PartialEq)]
pub struct SliceSpec {
    pub dataset: &'static DatasetDef,
    /// The folder's Key (uuid), sent as `X-UIPATH-FolderKey`. Keys are stable; Ids can
    /// change. Required by folder-scoped sets (the server answers errorCode 1101 without).
    pub folder: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Fields to return (`$select`); the cursor's fields are always added. `None`: all.
    pub select: Option<Vec<String>>,
    /// Records per page, capped at the dataset's `max_page` (QueueItems: 100). Default: the cap.
    pub page_size: Option<u32>,
    /// Read the records *changed* in `[from, to)`: modified in it by this field, or never
    /// modified (null) and created in it (see the module docs).
    pub modified: Option<&'static str>,
    /// Read exactly these records by Id (at most [`MAX_IDS_PER_QUERY`]); no time range.
    pub ids: Option<Vec<i64>>,
}

/// Where a slice read stands. Serializable, so a worker can checkpoint it and another
/// worker can resume from it; `Start` is the beginning of any slice.
///
/// The kind must fit the dataset (keyset for timed sets with an Id, id-only for untimed
/// sets, skip for RobotLogs); a cursor of the wrong kind is a configuration error.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Cursor {
    #[default]
    Start,
    /// After the record whose time field was served as `time` (kept verbatim, so `eq`
    /// matches it exactly) and whose Id is `id`.
    After { time: String, id: i64 },
    /// After the record with Id `id` (untimed sets).
    AfterId { id: i64 },
    /// `skip` rows of the time window were read (RobotLogs).
    Skip { skip: u64 },
}

/// How a dataset is paged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Paging {
    Keyset {
        time: &'static str,
        id: &'static str,
    },
    ById {
        id: &'static str,
    },
    Window {
        time: &'static str,
        window: u32,
    },
    Changed {
        modified: &'static str,
        created: &'static str,
        id: &'static str,
    },
    Ids {
        id: &'static str,
    },
}

/// The query of one page.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PageQuery {
    pub pairs: Vec<(String, String)>,
    pub top: u32,
    /// Rows skipped (window paging only).
    pub skip: u64,
    /// Whether `$count=true` was asked (first page of a windowed slice).
    pub count: bool,
}

impl SliceSpec {
    /// The whole dataset (every folder-scoped set still needs [`SliceSpec::folder`]).
    pub fn new(dataset: &'static DatasetDef) -> SliceSpec {
        SliceSpec {
            dataset,
            folder: None,
            from: None,
            to: None,
            select: None,
            page_size: None,
            modified: None,
            ids: None,
        }
    }

    /// Read what changed in the range by modification field `field` (see the module docs).
    pub fn modified(mut self, field: &'static str) -> Self {
        self.modified = Some(field);
        self
    }

    /// Read the records with these Ids (at most [`MAX_IDS_PER_QUERY`]).
    pub fn ids(mut self, ids: Vec<i64>) -> Self {
        self.ids = Some(ids);
        self
    }

    pub fn folder(mut self, key: impl Into<String>) -> Self {
        self.folder = Some(key.into());
        self
    }

    /// `from` inclusive, `to` exclusive.
    pub fn range(mut self, from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Self {
        self.from = from;
        self.to = to;
        self
    }

    pub fn select<S: Into<String>>(mut self, fields: impl IntoIterator<Item = S>) -> Self {
        self.select = Some(fields.into_iter().map(Into::into).collect());
        self
    }

    pub fn page_size(mut self, n: u32) -> Self {
        self.page_size = Some(n);
        self
    }

    /// `$top` of a full page: the requested size, never above the dataset's cap.
    pub fn top(&self) -> u32 {
        let cap = self.dataset.max_page.max(1);
        self.page_size.unwrap_or(cap).clamp(1, cap)
    }

    pub(crate) fn paging(&self) -> Result<Paging, ClientError> {
        let d = self.dataset;
        if let Some(ids) = &self.ids {
            let Some(id) = d.id_field else {
                return Err(config(format!("dataset {} has no Id to read by", d.slug)));
            };
            if ids.is_empty() || ids.len() > MAX_IDS_PER_QUERY {
                return Err(config(format!(
                    "a read by Id takes 1 to {MAX_IDS_PER_QUERY} ids, not {}",
                    ids.len()
                )));
            }
            if self.from.is_some() || self.to.is_some() || self.modified.is_some() {
                return Err(config("a read by Id has no time range".into()));
            }
            return Ok(Paging::Ids { id });
        }
        if let Some(modified) = self.modified {
            let (Some(created), Some(id)) = (d.time_field, d.id_field) else {
                return Err(config(format!(
                    "dataset {} needs a creation time and an Id to read changes",
                    d.slug
                )));
            };
            if !is_field_name(modified) {
                return Err(config(format!("`{modified}` is not a field name")));
            }
            return Ok(Paging::Changed {
                modified,
                created,
                id,
            });
        }
        let paging = match (d.time_field, d.id_field) {
            (Some(time), Some(id)) => Paging::Keyset { time, id },
            (None, Some(id)) => Paging::ById { id },
            (Some(time), None) => Paging::Window {
                time,
                window: d.window.unwrap_or(u32::MAX),
            },
            (None, None) => {
                return Err(config(format!(
                    "dataset {} has neither a time field nor an Id to page on",
                    d.slug
                )))
            }
        };
        if matches!(paging, Paging::ById { .. }) && (self.from.is_some() || self.to.is_some()) {
            return Err(config(format!(
                "dataset {} has no time field; read it whole (no from/to)",
                d.slug
            )));
        }
        if let (Some(from), Some(to)) = (self.from, self.to) {
            if from > to {
                return Err(config(format!(
                    "slice of {}: from {from} is after to {to}",
                    d.slug
                )));
            }
        }
        Ok(paging)
    }

    /// `$select`, with the cursor's fields added.
    fn select_param(&self, paging: Paging) -> Result<Option<String>, ClientError> {
        let Some(fields) = &self.select else {
            return Ok(None);
        };
        // Deduplicated through a set of lower-cased names: linear in the list, whatever
        // its length (a pairwise scan was quadratic, on every page, on a runtime thread).
        let mut out: Vec<&str> = Vec::with_capacity(fields.len() + 2);
        let mut seen: HashSet<String> = HashSet::with_capacity(fields.len() + 2);
        for f in fields {
            if !is_field_name(f) {
                return Err(config(format!("select: `{f}` is not a field name")));
            }
            if seen.insert(f.to_ascii_lowercase()) {
                out.push(f);
            }
        }
        let needed: &[&str] = match paging {
            Paging::Keyset { time, id } => &[time, id],
            Paging::ById { id } | Paging::Ids { id } => &[id],
            Paging::Window { time, .. } => &[time],
            Paging::Changed {
                modified,
                created,
                id,
            } => &[modified, created, id],
        };
        for n in needed {
            if seen.insert(n.to_ascii_lowercase()) {
                out.push(n);
            }
        }
        Ok(Some(out.join(",")))
    }

    /// The time-range conditions of the slice: `T ge from`, `T lt to`.
    fn range_filter(&self, time: &str, with_from: bool) -> Vec<String> {
        let mut parts = Vec::new();
        if let Some(from) = self.from.filter(|_| with_from) {
            parts.push(format!("{time} ge {}", format_datetime(&from)));
        }
        if let Some(to) = self.to {
            parts.push(format!("{time} lt {}", format_datetime(&to)));
        }
        parts
    }

    /// The window conditions of a read of changes: modified in the range, or never
    /// modified and created in it.
    fn changed_filter(&self, modified: &str, created: &str) -> String {
        let both = |field: &str| {
            let parts = self.range_filter(field, true);
            if parts.is_empty() {
                format!("{field} ne null")
            } else {
                parts.join(" and ")
            }
        };
        let created_range = self.range_filter(created, true);
        let never_modified = if created_range.is_empty() {
            format!("{modified} eq null")
        } else {
            format!("{modified} eq null and {}", created_range.join(" and "))
        };
        format!("({}) or ({never_modified})", both(modified))
    }

    /// `Id eq a or Id eq b …`.
    fn ids_filter(&self, id: &str) -> String {
        self.ids
            .iter()
            .flatten()
            .map(|n| format!("{id} eq {n}"))
            .collect::<Vec<_>>()
            .join(" or ")
    }

    /// The query reading the page at `cursor`.
    pub(crate) fn page_query(&self, cursor: &Cursor) -> Result<PageQuery, ClientError> {
        let paging = self.paging()?;
        let mut top = self.top();
        let mut skip = 0;
        let mut count = false;
        let (filter, orderby) = match (paging, cursor) {
            (Paging::Keyset { time, id }, Cursor::Start) => (
                self.range_filter(time, true),
                format!("{time} asc,{id} asc"),
            ),
            (Paging::Keyset { time, id }, Cursor::After { time: t, id: last }) => {
                if !is_safe_datetime(t) {
                    return Err(config(format!("cursor time `{t}` is not a datetime")));
                }
                let mut parts = vec![format!(
                    "{time} gt {t} or ({time} eq {t} and {id} gt {last})"
                )];
                parts.extend(self.range_filter(time, false));
                (parts, format!("{time} asc,{id} asc"))
            }
            (Paging::ById { id }, Cursor::Start) => (vec![], format!("{id} asc")),
            (Paging::ById { id }, Cursor::AfterId { id: last }) => {
                (vec![format!("{id} gt {last}")], format!("{id} asc"))
            }
            (
                Paging::Changed {
                    modified, created, ..
                },
                Cursor::Start,
            ) => (
                vec![self.changed_filter(modified, created)],
                "Id asc".to_owned(),
            ),
            (
                Paging::Changed {
                    modified,
                    created,
                    id,
                },
                Cursor::AfterId { id: last },
            ) => (
                vec![
                    self.changed_filter(modified, created),
                    format!("{id} gt {last}"),
                ],
                format!("{id} asc"),
            ),
            (Paging::Ids { id }, Cursor::Start) => (vec![self.ids_filter(id)], format!("{id} asc")),
            (Paging::Ids { id }, Cursor::AfterId { id: last }) => (
                vec![self.ids_filter(id), format!("{id} gt {last}")],
                format!("{id} asc"),
            ),
            (Paging::Window { time, window }, Cursor::Start | Cursor::Skip { .. }) => {
                skip = match cursor {
                    Cursor::Skip { skip } => *skip,
                    _ => 0,
                };
                let left = u64::from(window).saturating_sub(skip);
                if left == 0 {
                    return Err(ClientError::WindowExceeded {
                        dataset: self.dataset.slug.to_owned(),
                        window,
                    });
                }
                top = top.min(u32::try_from(left).unwrap_or(u32::MAX));
                // Asking for the count on the first page costs nothing extra and tells at
                // once whether the slice fits the window.
                count = skip == 0;
                (self.range_filter(time, true), format!("{time} asc"))
            }
            (_, other) => {
                return Err(config(format!(
                    "a `{}` cursor does not fit dataset {} (paged by {})",
                    kind(other),
                    self.dataset.slug,
                    match paging {
                        Paging::Keyset { .. } => "time and Id",
                        Paging::ById { .. } | Paging::Ids { .. } => "Id",
                        Paging::Changed { .. } => "Id within a window of changes",
                        Paging::Window { .. } => "offset in a time window",
                    }
                )))
            }
        };
        let mut pairs = Vec::new();
        if !filter.is_empty() {
            pairs.push(("$filter".to_owned(), join_and(&filter)));
        }
        pairs.push(("$orderby".to_owned(), orderby));
        pairs.push(("$top".to_owned(), top.to_string()));
        if skip > 0 {
            pairs.push(("$skip".to_owned(), skip.to_string()));
        }
        if count {
            pairs.push(("$count".to_owned(), "true".to_owned()));
        }
        if let Some(select) = self.select_param(paging)? {
            pairs.push(("$select".to_owned(), select));
        }
        Ok(PageQuery {
            pairs,
            top,
            skip,
            count,
        })
    }

    /// The query counting the slice's records (`$top=0&$count=true`).
    pub(crate) fn count_query(&self) -> Result<Vec<(String, String)>, ClientError> {
        let filter = match self.paging()? {
            Paging::Keyset { time, .. } | Paging::Window { time, .. } => {
                self.range_filter(time, true)
            }
            Paging::Changed {
                modified, created, ..
            } => vec![self.changed_filter(modified, created)],
            Paging::ById { .. } => vec![],
            Paging::Ids { id } => vec![self.ids_filter(id)],
        };
        let mut pairs = Vec::new();
        if !filter.is_empty() {
            pairs.push(("$filter".to_owned(), join_and(&filter)));
        }
        pairs.push(("$top".to_owned(), "0".to_owned()));
        pairs.push(("$count".to_owned(), "true".to_owned()));
        Ok(pairs)
    }
}

/// Checks a page's records and computes the cursor after them (`None`: the slice is done,
/// because the page was shorter than `$top`). The error is a malformed-body detail.
pub(crate) fn next_cursor(
    paging: Paging,
    query: &PageQuery,
    records: &[Record],
) -> Result<Option<Cursor>, String> {
    // Orchestrator's Ids are Int64 everywhere; a page where one is anything else is broken.
    if let Some((n, id)) = records
        .iter()
        .enumerate()
        .find_map(|(n, r)| r.get("Id").filter(|v| !v.is_i64()).map(|v| (n, v)))
    {
        return Err(format!("record {n} has Id {id}, not an integer"));
    }
    if records.len() < query.top as usize {
        return Ok(None);
    }
    let Some(last) = records.last() else {
        return Ok(None);
    };
    let id_of = |field: &str| {
        last.get(field)
            .and_then(Value::as_i64)
            .ok_or_else(|| format!("the last record has no integer {field}"))
    };
    let time_of = |field: &str| {
        last.get(field)
            .and_then(Value::as_str)
            .filter(|t| is_safe_datetime(t))
            .map(str::to_owned)
            .ok_or_else(|| format!("the last record has no datetime {field}"))
    };
    Ok(Some(match paging {
        Paging::Keyset { time, id } => Cursor::After {
            time: time_of(time)?,
            id: id_of(id)?,
        },
        Paging::ById { id } | Paging::Changed { id, .. } | Paging::Ids { id } => {
            Cursor::AfterId { id: id_of(id)? }
        }
        Paging::Window { .. } => Cursor::Skip {
            skip: query.skip + records.len() as u64,
        },
    }))
}

fn join_and(parts: &[String]) -> String {
    if parts.len() == 1 {
        return parts[0].clone();
    }
    parts
        .iter()
        .map(|p| format!("({p})"))
        .collect::<Vec<_>>()
        .join(" and ")
}

fn kind(cursor: &Cursor) -> &'static str {
    match cursor {
        Cursor::Start => "start",
        Cursor::After { .. } => "after",
        Cursor::AfterId { .. } => "after-id",
        Cursor::Skip { .. } => "skip",
    }
}

fn is_field_name(f: &str) -> bool {
    !f.is_empty() && f.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn config(message: String) -> ClientError {
    ClientError::Config(message)
}

#[cfg(test)]
#[path = "slice_tests.rs"]
mod tests;
