//! Reading the fields of a request body, one helper per kind of field, each recording
//! its problems against the field's JSON path instead of stopping at the first one — so
//! a user fixes every mistake of a request in one round trip.
//!
//! The helpers return `None` (or an empty value) for a field they refused; the caller
//! checks [`Reader::finish`] before using anything.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Map, Value};

use super::{FieldError, RequestError};
use crate::dataset;
use crate::fields::select::too_long;
use crate::plan::width::Width;
use crate::time::UiPathTime;

const DATE_FORMATS: &str =
    "use YYYY-MM-DD (midnight UTC) or RFC 3339 with an offset, e.g. 2024-01-01T00:00:00Z";

/// The earliest instant a request may name: anything older is a typo, not history.
pub(crate) fn earliest() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Reads one JSON object, collecting field errors.
pub(crate) struct Reader<'a> {
    body: &'a Map<String, Value>,
    errors: Vec<FieldError>,
}

impl<'a> Reader<'a> {
    /// Parse the body as a JSON object and flag every key not in `allowed`.
    pub(crate) fn open(value: &'a Value, allowed: &[&str]) -> Result<Reader<'a>, RequestError> {
        let body = match value {
            Value::Object(map) => map,
            other => {
                return Err(RequestError::Syntax(format!(
                    "expected a JSON object, found {}",
                    crate::json::kind(other)
                )))
            }
        };
        let mut reader = Reader {
            body,
            errors: Vec::new(),
        };
        for key in body.keys() {
            if !allowed.contains(&key.as_str()) {
                let hint = suggestion(key, allowed)
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                reader.error(
                    key,
                    format!(
                        "unknown field{hint}; expected one of {}",
                        allowed.join(", ")
                    ),
                );
            }
        }
        Ok(reader)
    }

    pub(crate) fn error(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    /// Whether any error was recorded against `field` so far.
    pub(crate) fn has_error(&self, field: &str) -> bool {
        self.errors.iter().any(|e| e.field == field)
    }

    /// The value of `field`; an explicit `null` counts as absent.
    pub(crate) fn get(&self, field: &str) -> Option<&'a Value> {
        self.body.get(field).filter(|v| !v.is_null())
    }

    /// A string field; a value of another type is an error.
    pub(crate) fn string(&mut self, field: &str) -> Option<&'a str> {
        let value = self.get(field)?;
        match value.as_str() {
            Some(s) => Some(s),
            None => {
                self.error(
                    field,
                    format!("expected a string, found {}", crate::json::kind(value)),
                );
                None
            }
        }
    }

    /// The optional `run` label: 1 to 64 printable ASCII characters.
    pub(crate) fn run(&mut self) -> Option<String> {
        let text = self.string("run")?;
        if text.is_empty()
            || text.len() > 64
            || !text.chars().all(|c| c.is_ascii_graphic() || c == ' ')
        {
            self.error(
                "run",
                "must be 1 to 64 printable ASCII characters (e.g. a date or a counter)",
            );
            return None;
        }
        Some(text.to_owned())
    }

    /// An array of strings, each with its JSON path (`field[i]`). `None` if absent or
    /// refused (errors recorded).
    pub(crate) fn strings(&mut self, field: &str) -> Option<Vec<(String, &'a str)>> {
        let value = self.get(field)?;
        let Some(items) = value.as_array() else {
            let found = crate::json::kind(value);
            self.error(
                field,
                format!("expected an array of strings, found {found}"),
            );
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match item.as_str() {
                Some(s) => out.push((format!("{field}[{i}]"), s)),
                None => self.error(
                    format!("{field}[{i}]"),
                    format!("expected a string, found {}", crate::json::kind(item)),
                ),
            }
        }
        Some(out)
    }

    /// `sources` (an array) or `source` (one string), each a configured source; sorted
    /// and deduplicated.
    pub(crate) fn sources(&mut self, configured: &[String]) -> Vec<String> {
        let known = if configured.is_empty() {
            "none are configured".to_owned()
        } else {
            format!("configured sources: {}", configured.join(", "))
        };
        let named: Vec<(String, &str)> = match (self.get("sources"), self.get("source")) {
            (Some(_), Some(_)) => {
                self.error("source", "give either `sources` or `source`, not both");
                return Vec::new();
            }
            (None, None) => {
                self.error(
                    "sources",
                    format!("missing; list the sources to read ({known})"),
                );
                return Vec::new();
            }
            (Some(_), None) => {
                let list = self.strings("sources").unwrap_or_default();
                if list.is_empty() && !self.has_error("sources") {
                    self.error(
                        "sources",
                        format!("must list at least one source ({known})"),
                    );
                }
                list
            }
            (None, Some(_)) => match self.string("source") {
                Some(s) => vec![("source".to_owned(), s)],
                None => Vec::new(),
            },
        };
        let mut out = BTreeSet::new();
        for (path, name) in named {
            if configured.iter().any(|c| c == name) {
                out.insert(name.to_owned());
            } else {
                self.error(path, format!("unknown source `{name}`; {known}"));
            }
        }
        out.into_iter().collect()
    }

    /// `datasets`: non-empty, each an Orchestrator dataset (normalized to its slug) or
    /// `dataservice/<Entity>`; sorted and deduplicated.
    pub(crate) fn datasets(&mut self) -> Vec<String> {
        if self.get("datasets").is_none() {
            self.error(
                "datasets",
                format!("missing; list the datasets to read: {}", dataset_choices()),
            );
            return Vec::new();
        }
        let list = self.strings("datasets").unwrap_or_default();
        if list.is_empty() && !self.has_error("datasets") {
            self.error("datasets", "must list at least one dataset");
        }
        let mut out = BTreeSet::new();
        for (path, name) in list {
            match dataset_name(name) {
                Ok(slug) => {
                    out.insert(slug);
                }
                Err(message) => self.error(path, message),
            }
        }
        out.into_iter().collect()
    }

    /// A point in time: `YYYY-MM-DD` (midnight UTC) or RFC 3339 with an offset, converted
    /// to UTC; not before 2000. `required` fields report their absence.
    pub(crate) fn instant(&mut self, field: &str, required: bool) -> Option<DateTime<Utc>> {
        if self.get(field).is_none() {
            if required {
                self.error(field, format!("missing; {DATE_FORMATS}"));
            }
            return None;
        }
        let text = self.string(field)?;
        let Some(t) = parse_instant(text) else {
            self.error(
                field,
                format!("`{text}` is not a date or time; {DATE_FORMATS}"),
            );
            return None;
        };
        if t < earliest() {
            self.error(
                field,
                format!("`{text}` is before 2000-01-01; that is surely a typo"),
            );
            return None;
        }
        Some(t)
    }

    /// A duration in whole seconds (humantime text such as `15m` or `1h 30m`), at most
    /// `max_secs`; `default_secs` when absent.
    pub(crate) fn duration(&mut self, field: &str, default_secs: u64, max_secs: u64) -> u64 {
        if self.get(field).is_none() {
            return default_secs;
        }
        let Some(text) = self.string(field) else {
            return default_secs;
        };
        let limit = humantime::format_duration(std::time::Duration::from_secs(max_secs));
        match humantime::parse_duration(text.trim()) {
            Err(e) => {
                self.error(
                    field,
                    format!("`{text}` is not a duration ({e}); write e.g. \"15m\" or \"1h 30m\""),
                );
                default_secs
            }
            Ok(d) if d.subsec_nanos() != 0 => {
                self.error(field, format!("`{text}` is not a whole number of seconds"));
                default_secs
            }
            Ok(d) if d.as_secs() > max_secs => {
                self.error(field, format!("`{text}` is too long; at most {limit}"));
                default_secs
            }
            Ok(d) => d.as_secs(),
        }
    }

    /// `slice_width`, when given: a rung of the ladder.
    pub(crate) fn width(&mut self) -> Option<Width> {
        let text = self.string("slice_width")?;
        match Width::parse(text) {
            Ok(w) => Some(w),
            Err(message) => {
                self.error("slice_width", message);
                None
            }
        }
    }

    /// `select`: dataset → field names. Keys are normalized like `datasets` and must be
    /// among `datasets`; field lists are non-empty identifiers without duplicates,
    /// returned sorted (the order of `$select` does not matter to the API, and sorting
    /// keeps the request id independent of it).
    pub(crate) fn select(&mut self, datasets: &[String]) -> BTreeMap<String, Vec<String>> {
        let mut out = BTreeMap::new();
        let Some(value) = self.get("select") else {
            return out;
        };
        let Some(map) = value.as_object() else {
            let found = crate::json::kind(value);
            self.error(
                "select",
                format!("expected an object of dataset → field names, found {found}"),
            );
            return out;
        };
        for (key, fields) in map {
            let path = format!("select.{key}");
            let slug = match dataset_name(key) {
                Ok(slug) => slug,
                Err(message) => {
                    self.error(path, message);
                    continue;
                }
            };
            if !datasets.contains(&slug) {
                let listed = datasets.join(", ");
                self.error(
                    path,
                    format!("`{key}` is not one of the request's datasets ({listed})"),
                );
                continue;
            }
            if out.contains_key(&slug) {
                self.error(path, format!("`{key}` names `{slug}` again"));
                continue;
            }
            let Some(items) = fields.as_array() else {
                let found = crate::json::kind(fields);
                self.error(
                    path,
                    format!("expected an array of field names, found {found}"),
                );
                continue;
            };
            if items.is_empty() {
                self.error(
                    path,
                    "list at least one field, or leave the dataset out of `select` to read all fields",
                );
                continue;
            }
            // Refused before any name is looked at: the check is then linear in a bounded
            // list, whatever the body holds.
            if let Some(why) = too_long(items.len()) {
                self.error(path, why);
                continue;
            }
            let mut names = BTreeSet::new();
            for (i, item) in items.iter().enumerate() {
                let item_path = format!("{path}[{i}]");
                match item.as_str() {
                    Some(name) if !is_field_name(name) => self.error(
                        item_path,
                        format!("`{name}` is not a field name (letters, digits, `_` and `.`, not starting with a digit)"),
                    ),
                    Some(name) => {
                        if !names.insert(name.to_owned()) {
                            self.error(item_path, format!("duplicate field `{name}`"));
                        }
                    }
                    None => {
                        self.error(item_path, format!("expected a string, found {}", crate::json::kind(item)))
                    }
                }
            }
            out.insert(slug, names.into_iter().collect());
        }
        out
    }

    /// `Ok(value)` if no field had a problem, else every problem found.
    pub(crate) fn finish<T>(self, value: impl FnOnce() -> T) -> Result<T, RequestError> {
        if self.errors.is_empty() {
            Ok(value())
        } else {
            Err(RequestError::Fields(self.errors))
        }
    }
}

/// `YYYY-MM-DD` as midnight UTC, or RFC 3339 with an offset, in UTC. A time without a
/// zone is refused: a person's bound is not guessed to be UTC (UiPath's are, see
/// [`crate::time`]).
pub(crate) fn parse_instant(text: &str) -> Option<DateTime<Utc>> {
    match crate::time::parse(text).ok()? {
        UiPathTime::Instant { zoned: false, .. } => None,
        t => Some(t.start()),
    }
}

/// Normalize a dataset name: an Orchestrator dataset by slug or entity set name (any
/// case) becomes its slug; `dataservice/<Entity>` keeps the entity's case.
pub(crate) fn dataset_name(name: &str) -> Result<String, String> {
    if let Some(def) = dataset::by_name(name) {
        return Ok(def.slug.to_owned());
    }
    // The prefix in any case (`DataService/Invoice`); the entity keeps its own.
    let prefix_len = dataset::DATASERVICE_PREFIX.len();
    if let (Some(prefix), Some(entity)) = (name.get(..prefix_len), name.get(prefix_len..)) {
        if prefix.eq_ignore_ascii_case(dataset::DATASERVICE_PREFIX) {
            return if is_entity_name(entity) {
                Ok(dataset::dataservice_name(entity))
            } else {
                Err(format!(
                    "`{entity}` is not a Data Service entity name (a letter, then letters, digits or `_`)"
                ))
            };
        }
    }
    Err(format!(
        "unknown dataset `{name}`; expected one of {}",
        dataset_choices()
    ))
}

fn dataset_choices() -> String {
    let slugs: Vec<&str> = dataset::all().iter().map(|d| d.slug).collect();
    format!("{}, or dataservice/<Entity>", slugs.join(", "))
}

/// `[A-Za-z][A-Za-z0-9_]*`, at most 128 characters.
fn is_entity_name(s: &str) -> bool {
    let mut chars = s.chars();
    s.len() <= 128
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `[A-Za-z_][A-Za-z0-9_.]*` (dots for navigation properties such as `Robot.Name`).
fn is_field_name(s: &str) -> bool {
    let mut chars = s.chars();
    s.len() <= 256
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

/// A known field that an unknown key probably meant: same name up to case, `-` for `_`
/// or a plural `s`.
fn suggestion<'s>(key: &str, allowed: &[&'s str]) -> Option<&'s str> {
    let k = key.to_ascii_lowercase().replace('-', "_");
    allowed.iter().copied().find(|a| {
        *a == k || a.strip_suffix('s') == Some(k.as_str()) || k.strip_suffix('s') == Some(a)
    })
}
