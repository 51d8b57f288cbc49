//! How ledger values travel to the Lua scripts and come back from Redis hashes.
//!
//! Guarantees:
//! - **Exact round trips.** Immutable fields of a request or slice are stored as the
//!   record's own serde JSON (`rec`), written and read by Rust only: Lua never decodes
//!   or re-encodes it (cjson would turn an empty `select` into `{}` and round numbers to
//!   14 digits). Mutable fields are separate hash fields, authoritative over `rec`.
//! - **Times compare as strings.** Times a script compares (from, to, planned_to,
//!   watermark) are fixed-width RFC 3339 with nanoseconds, UTC (`…T00:00:00.000000000Z`),
//!   so string order is time order (for years 0000–9999) and nanoseconds survive.
//! - **Optional strings are tagged** (`-` none, `+value` some), so `Some("")` survives.
//! - **Bad data is `Corrupt`**, naming the key and field, never quoting values.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use fleet_core::ledger::{
    LedgerError, Progress, RequestRecord, RequestState, SliceRecord, SliceState,
};

/// A hash as read from Redis (or from a script's flat HGETALL reply).
pub(super) type Fields = HashMap<String, String>;

/// A flat `[field, value, field, value, ...]` reply as a map.
pub(super) fn fields(flat: Vec<String>) -> Fields {
    let mut out = HashMap::with_capacity(flat.len() / 2);
    let mut it = flat.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.insert(k, v);
    }
    out
}

pub(super) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

pub(super) fn parse_ts(what: &str, s: &str) -> Result<DateTime<Utc>, LedgerError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| LedgerError::Corrupt(format!("{what} is not an RFC 3339 time")))
}

pub(super) fn opt(v: Option<&str>) -> String {
    match v {
        Some(s) => format!("+{s}"),
        None => "-".to_owned(),
    }
}

/// A stored slice state, spelled as fleet-core spells it ([`SliceState::as_str`]).
fn parse_slice_state(what: &str, s: &str) -> Result<SliceState, LedgerError> {
    s.parse()
        .map_err(|_| LedgerError::Corrupt(format!("{what} is not a slice state")))
}

/// A stored request state ([`RequestState::as_str`]).
pub(super) fn parse_request_state(what: &str, s: &str) -> Result<RequestState, LedgerError> {
    s.parse()
        .map_err(|_| LedgerError::Corrupt(format!("{what} is not a request state")))
}

pub(super) fn to_json<T: serde::Serialize>(what: &str, value: &T) -> Result<String, LedgerError> {
    serde_json::to_string(value)
        .map_err(|e| LedgerError::Backend(format!("encoding {what}: {:?} error", e.classify())))
}

pub(super) fn from_json<T: serde::de::DeserializeOwned>(
    what: &str,
    text: &str,
) -> Result<T, LedgerError> {
    serde_json::from_str(text).map_err(|e| {
        LedgerError::Corrupt(format!(
            "{what} is not valid JSON for its type ({:?} error at column {})",
            e.classify(),
            e.column()
        ))
    })
}

fn required<'a>(f: &'a Fields, key: &str, field: &str) -> Result<&'a str, LedgerError> {
    f.get(field)
        .map(String::as_str)
        .ok_or_else(|| LedgerError::Corrupt(format!("{key} has no field `{field}`")))
}

fn number<T: std::str::FromStr>(f: &Fields, key: &str, field: &str) -> Result<T, LedgerError> {
    required(f, key, field)?
        .parse()
        .map_err(|_| LedgerError::Corrupt(format!("{key} field `{field}` is not a count")))
}

/// The 13 arguments of one slice (see `read_slice` in `ledger_common.lua`).
pub(super) fn push_slice(args: &mut Vec<String>, s: &SliceRecord) -> Result<(), LedgerError> {
    args.extend([
        s.id.clone(),
        s.request_id.clone(),
        opt(s.stream.as_deref()),
        opt(s.parent.as_deref()),
        opt(s.from.map(ts).as_deref()),
        opt(s.to.map(ts).as_deref()),
        s.records.to_string(),
        s.pages.to_string(),
        s.attempts.to_string(),
        opt(s.last_error.as_deref()),
        opt(s.checkpoint.as_deref()),
        ts(s.updated_at),
        to_json("a slice", s)?,
    ]);
    Ok(())
}

/// A slice from its hash (`key` names it in errors).
pub(super) fn decode_slice(key: &str, f: &Fields) -> Result<SliceRecord, LedgerError> {
    let mut s: SliceRecord = from_json(&format!("{key} field `rec`"), required(f, key, "rec")?)?;
    s.state = parse_slice_state(&format!("{key} field `state`"), required(f, key, "state")?)?;
    s.stream = f.get("stream").cloned();
    s.parent = f.get("parent").cloned();
    s.records = number(f, key, "records")?;
    s.pages = number(f, key, "pages")?;
    s.attempts = number(f, key, "attempts")?;
    s.last_error = f.get("err").cloned();
    s.checkpoint = f.get("cp").cloned();
    s.updated_at = parse_ts(&format!("{key} field `at`"), required(f, key, "at")?)?;
    Ok(s)
}

/// A request from its hash.
pub(super) fn decode_request(key: &str, f: &Fields) -> Result<RequestRecord, LedgerError> {
    let mut r: RequestRecord = from_json(&format!("{key} field `rec`"), required(f, key, "rec")?)?;
    r.state = parse_request_state(&format!("{key} field `state`"), required(f, key, "state")?)?;
    r.planned = required(f, key, "planned")? == "1";
    r.plan = f
        .get("plan")
        .map(|p| from_json(&format!("{key} field `plan`"), p))
        .transpose()?;
    r.note = f.get("note").cloned();
    Ok(r)
}

/// Progress from its hash of counters (absent counters are zero).
pub(super) fn decode_progress(key: &str, f: &Fields) -> Result<Progress, LedgerError> {
    let n = |field: &str| -> Result<u64, LedgerError> {
        match f.get(field) {
            None => Ok(0),
            Some(v) => v
                .parse()
                .map_err(|_| LedgerError::Corrupt(format!("{key} field `{field}` is not a count"))),
        }
    };
    Ok(Progress {
        planned: n(SliceState::Planned.as_str())?,
        queued: n(SliceState::Queued.as_str())?,
        running: n(SliceState::Running.as_str())?,
        completed: n(SliceState::Completed.as_str())?,
        failed: n(SliceState::Failed.as_str())?,
        split: n(SliceState::Split.as_str())?,
        cancelled: n(SliceState::Cancelled.as_str())?,
        records: n("records")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_fixed_width_and_exact() {
        let t: DateTime<Utc> = "2024-03-01T00:00:00.1Z".parse().unwrap();
        let u: DateTime<Utc> = "2024-03-01T00:00:00.000000002Z".parse().unwrap();
        assert_eq!(ts(t), "2024-03-01T00:00:00.100000000Z");
        assert_eq!(ts(t).len(), ts(u).len());
        assert!(ts(u) < ts(t), "string order is time order");
        assert_eq!(parse_ts("t", &ts(u)).unwrap(), u);
    }

    #[test]
    fn optional_strings_keep_empty_ones() {
        assert_eq!(opt(None), "-");
        assert_eq!(opt(Some("")), "+");
        assert_eq!(opt(Some("-")), "+-");
    }

    #[test]
    fn corrupt_values_are_named_not_quoted() {
        let f = fields(vec![
            "rec".into(),
            "{\"secret\":".into(),
            "state".into(),
            "x".into(),
        ]);
        let err = decode_slice("p:slice:1", &f).unwrap_err().to_string();
        assert!(
            err.contains("p:slice:1 field `rec`") && !err.contains("secret"),
            "{err}"
        );
        assert!(matches!(
            parse_request_state("s", "done"),
            Err(LedgerError::Corrupt(_))
        ));
        let f = fields(vec!["planned".into(), "-1".into()]);
        assert!(decode_progress("p", &f).is_err());
        assert_eq!(
            decode_progress("p", &Fields::new()).unwrap(),
            Progress::default()
        );
    }
}
