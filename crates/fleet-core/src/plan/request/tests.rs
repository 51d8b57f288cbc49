//! Request parsing: what is accepted, how it is normalized, and that every problem is
//! reported against its field.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::*;
use crate::ledger::RequestKind;
use crate::plan::request_id;

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn catalog() -> Catalog {
    Catalog {
        sources: vec!["acme".into(), "globex".into()],
        now: t("2024-07-01T12:00:00Z"),
        max_slices: 100_000,
    }
}

fn backfill(body: serde_json::Value) -> Result<BackfillRequest, RequestError> {
    BackfillRequest::parse(body.to_string().as_bytes(), &catalog())
}

fn sync(body: serde_json::Value) -> Result<SyncRequest, RequestError> {
    SyncRequest::parse(body.to_string().as_bytes(), &catalog())
}

/// The field errors, as `field: message` lines.
fn errors<T: std::fmt::Debug>(r: Result<T, RequestError>) -> Vec<(String, String)> {
    match r {
        Err(RequestError::Fields(errors)) => {
            assert!(!errors.is_empty());
            errors.into_iter().map(|e| (e.field, e.message)).collect()
        }
        other => panic!("expected field errors, got {other:?}"),
    }
}

fn fields<T: std::fmt::Debug>(r: Result<T, RequestError>) -> Vec<String> {
    errors(r).into_iter().map(|(f, _)| f).collect()
}

#[test]
fn a_backfill_is_normalized() {
    let r = backfill(json!({
        "sources": ["globex", "acme", "acme"],
        "datasets": ["QueueItems", "jobs", "JOBS", "dataservice/Invoice", "DataService/Invoice"],
        "from": "2023-01-01",
        "to": "2024-01-01T02:00:00+02:00",
        "slice_width": "24h",
        "select": {"Jobs": ["State", "Id"], "dataservice/Invoice": ["Amount"]}
    }))
    .unwrap();
    assert_eq!(r.sources, ["acme", "globex"]);
    assert_eq!(r.datasets, ["dataservice/Invoice", "jobs", "queue-items"]);
    assert_eq!(r.from, t("2023-01-01T00:00:00Z"));
    assert_eq!(r.to, t("2024-01-01T00:00:00Z"));
    assert_eq!(r.slice_width, Some(Width::Days(1)));
    assert_eq!(r.select["jobs"], ["Id", "State"]);
    assert_eq!(r.select["dataservice/Invoice"], ["Amount"]);
    // The normalized form round-trips through the ledger.
    let back: BackfillRequest = serde_json::from_value(r.normalized()).unwrap();
    assert_eq!(back, r);
}

#[test]
fn the_same_request_spelled_differently_has_the_same_id() {
    let a = backfill(
        json!({"sources": ["acme", "globex"], "datasets": ["jobs", "QueueItems"],
        "from": "2023-01-01", "to": "2024-01-01"}),
    )
    .unwrap();
    let b = backfill(
        json!({"to": "2024-01-01T01:00:00+01:00", "from": "2023-01-01T00:00:00Z",
        "datasets": ["queue-items", "Jobs", "jobs"], "sources": ["globex", "acme"]}),
    )
    .unwrap();
    assert_eq!(a, b);
    let id = request_id(RequestKind::Backfill, &a.normalized());
    assert_eq!(id, request_id(RequestKind::Backfill, &b.normalized()));
    let c = backfill(
        json!({"source": "acme", "datasets": ["jobs", "queue-items"],
        "from": "2023-01-01", "to": "2024-01-01"}),
    )
    .unwrap();
    assert_ne!(id, request_id(RequestKind::Backfill, &c.normalized()));

    // A `run` label makes a new request of the same work; the same label, the same one.
    let body = json!({"sources": ["acme", "globex"], "datasets": ["jobs", "queue-items"],
        "from": "2023-01-01", "to": "2024-01-01", "run": "2"});
    let rerun = backfill(body.clone()).unwrap();
    assert_eq!(rerun.run.as_deref(), Some("2"));
    let rerun_id = request_id(RequestKind::Backfill, &rerun.normalized());
    assert_ne!(id, rerun_id);
    assert_eq!(
        rerun_id,
        request_id(RequestKind::Backfill, &backfill(body).unwrap().normalized())
    );
    for bad in [json!(""), json!(7), json!("a\nb"), json!("x".repeat(65))] {
        let e = backfill(json!({"source": "acme", "datasets": ["jobs"],
            "from": "2023-01-01", "to": "2024-01-01", "run": bad}))
        .unwrap_err();
        assert!(e.to_string().contains("run"), "{e}");
    }
}

#[test]
fn source_is_a_convenience_for_one_source() {
    let r = backfill(json!({"source": "acme", "datasets": ["jobs"],
        "from": "2024-01-01", "to": "2024-02-01"}))
    .unwrap();
    assert_eq!(r.sources, ["acme"]);
    let e = errors(backfill(
        json!({"source": "acme", "sources": ["acme"], "datasets": ["jobs"],
        "from": "2024-01-01", "to": "2024-02-01"}),
    ));
    assert_eq!(e[0].0, "source");
    assert!(e[0].1.contains("not both"), "{e:?}");
}

#[test]
fn every_field_error_is_reported_at_once() {
    let e = errors(backfill(json!({
        "sources": ["acme", "initech", 3],
        "datasets": ["jobs", "assets", "dataservice/9lives"],
        "from": "01/02/2024",
        "to": "2030-01-01",
        "slice_width": "45m",
        "select": {"jobs": ["Id", "Id", "bad name", ""], "robots": ["Id"], "queue-items": []},
        "colour": "blue",
        "dataset": "jobs"
    })));
    let got: Vec<&str> = e.iter().map(|(f, _)| f.as_str()).collect();
    for want in [
        "colour",
        "dataset",
        "sources[1]",
        "sources[2]",
        "datasets[1]",
        "datasets[2]",
        "from",
        "to",
        "slice_width",
        "select.jobs[1]",
        "select.jobs[2]",
        "select.jobs[3]",
        "select.robots",
    ] {
        assert!(got.contains(&want), "no error on {want}: {e:#?}");
    }
    let msg = |f: &str| &e.iter().find(|(x, _)| x == f).unwrap().1;
    assert!(msg("colour").contains("unknown field; expected one of sources, source, datasets"));
    assert!(
        msg("dataset").contains("did you mean `datasets`"),
        "{}",
        msg("dataset")
    );
    assert!(msg("sources[1]").contains("configured sources: acme, globex"));
    assert!(
        msg("datasets[1]").contains("queue-items"),
        "lists the datasets"
    );
    assert!(msg("datasets[1]").contains("dataservice/<Entity>"));
    assert!(msg("from").contains("YYYY-MM-DD"), "shows the formats");
    assert!(msg("to").contains("future"));
    assert!(
        msg("slice_width").contains("15m, 30m, 1h"),
        "lists the ladder"
    );
    assert!(msg("select.jobs[1]").contains("duplicate field `Id`"));
    assert!(msg("select.robots").contains("not one of the request's datasets"));
    // queue-items is not among the datasets either (assets was refused, jobs is there).
    assert!(got.contains(&"select.queue-items"));
}

#[test]
fn ranges_are_checked() {
    let body = |from: &str, to: &str| json!({"sources": ["acme"], "datasets": ["jobs"], "from": from, "to": to});
    assert_eq!(fields(backfill(body("2024-02-01", "2024-01-01"))), ["to"]);
    assert_eq!(fields(backfill(body("2024-01-01", "2024-01-01"))), ["to"]);
    let e = errors(backfill(body("1999-12-31", "2024-01-01")));
    assert_eq!(e[0].0, "from");
    assert!(e[0].1.contains("2000-01-01"), "{e:?}");
    // A naive time has no offset: refused rather than guessed.
    assert_eq!(
        fields(backfill(body("2024-01-01T00:00:00", "2024-02-01"))),
        ["from"]
    );
    assert_eq!(fields(backfill(body("2024-1-1", "2024-02-01"))), ["from"]);
    // Up to now exactly is fine.
    assert!(backfill(body("2024-01-01", "2024-07-01T12:00:00Z")).is_ok());
    let e = errors(backfill(json!({"sources": ["acme"], "datasets": ["jobs"]})));
    assert_eq!(
        e.iter().map(|(f, _)| f.as_str()).collect::<Vec<_>>(),
        ["from", "to"]
    );
    assert!(e[0].1.starts_with("missing"));
}

#[test]
fn a_width_that_makes_too_many_slices_is_refused_with_the_count() {
    // 2 sources × (jobs: 366 days × 96 + folders: 1) = 70_274 slices.
    let body = |w: &str| {
        json!({"sources": ["acme", "globex"], "datasets": ["jobs", "folders"],
            "from": "2023-01-01", "to": "2024-01-02", "slice_width": w})
    };
    let small = Catalog {
        max_slices: 70_273,
        ..catalog()
    };
    let parse = |w: &str, c: &Catalog| BackfillRequest::parse(body(w).to_string().as_bytes(), c);
    let e = errors(parse("15m", &small));
    assert_eq!(e[0].0, "slice_width");
    assert!(e[0].1.contains("70274 slices"), "{e:?}");
    assert!(e[0].1.contains("70273"), "names the limit: {e:?}");
    let exact = Catalog {
        max_slices: 70_274,
        ..catalog()
    };
    assert!(parse("15m", &exact).is_ok());
    assert!(parse("1d", &small).is_ok());
}

#[test]
fn syntax_errors_are_not_field_errors() {
    let c = catalog();
    for body in [&b"{not json"[..], b"[1, 2]", b"\"jobs\"", b""] {
        let err = BackfillRequest::parse(body, &c).unwrap_err();
        assert!(matches!(err, RequestError::Syntax(_)), "{err}");
        let err = SyncRequest::parse(body, &c).unwrap_err();
        assert!(matches!(err, RequestError::Syntax(_)), "{err}");
    }
    let err = BackfillRequest::parse(b"[]", &c).unwrap_err();
    assert!(err.to_string().contains("found an array"), "{err}");
}

#[test]
fn a_sync_gets_defaults_and_is_normalized() {
    let r = sync(json!({"source": "acme", "datasets": ["Jobs"], "every": "15m"})).unwrap();
    assert_eq!(r.sources, ["acme"]);
    assert_eq!(r.datasets, ["jobs"]);
    assert_eq!(r.schedule, Schedule::Every(900));
    assert_eq!((r.lookback_secs, r.settle_secs), (900, 120));
    assert_eq!((r.start, r.slice_width), (None, None));
    let r = sync(
        json!({"sources": ["acme"], "datasets": ["jobs"], "cron": "0 * * * *",
        "lookback": "1h", "settle": "0s", "start": "2024-06-01", "slice_width": "1h",
        "select": {"jobs": ["Id"]}}),
    )
    .unwrap();
    assert_eq!(r.schedule, Schedule::Cron("0 * * * *".into()));
    assert_eq!((r.lookback_secs, r.settle_secs), (3600, 0));
    assert_eq!(r.start, Some(t("2024-06-01T00:00:00Z")));
    assert_eq!(r.slice_width, Some(Width::Minutes(60)));
    let back: SyncRequest = serde_json::from_value(r.normalized()).unwrap();
    assert_eq!(back, r);
    let id = request_id(RequestKind::Sync, &r.normalized());
    assert!(id.starts_with("sy-"), "{id}");
}

#[test]
fn sync_errors_name_their_fields() {
    let base = |extra: serde_json::Value| {
        let mut body = json!({"sources": ["acme"], "datasets": ["jobs"]});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        sync(body)
    };
    assert_eq!(fields(base(json!({}))), ["every"]);
    assert_eq!(
        fields(base(json!({"every": "15m", "cron": "* * * * *"}))),
        ["cron"]
    );
    assert_eq!(fields(base(json!({"every": "5s"}))), ["every"]);
    assert_eq!(fields(base(json!({"cron": "not cron"}))), ["cron"]);
    assert_eq!(fields(base(json!({"every": 900}))), ["every"]);
    let e = errors(base(
        json!({"every": "15m", "lookback": "8d", "settle": "2 days",
        "start": "2025-01-01", "from": "2024-01-01"}),
    ));
    let got: Vec<&str> = e.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(got, ["from", "lookback", "settle", "start"], "{e:#?}");
    assert!(e[1].1.contains("at most 7days"), "{e:?}");
    assert!(e[3].1.contains("future"), "{e:?}");
    assert_eq!(
        fields(base(json!({"every": "15m", "lookback": "soon"}))),
        ["lookback"]
    );
}

#[test]
fn nulls_count_as_absent() {
    let r = backfill(
        json!({"sources": ["acme"], "datasets": ["jobs"], "from": "2024-01-01",
        "to": "2024-02-01", "slice_width": null, "select": null}),
    )
    .unwrap();
    assert_eq!(r.slice_width, None);
    assert!(r.select.is_empty());
    assert_eq!(
        fields(backfill(json!({"sources": ["acme"], "datasets": ["jobs"],
        "from": null, "to": "2024-02-01"}))),
        ["from"]
    );
}

#[test]
fn a_select_longer_than_the_cap_is_refused_without_reading_its_names() {
    let many: Vec<String> = (0..100_000).map(|i| format!("Field{i}")).collect();
    let body = json!({
        "source": "acme", "datasets": ["jobs"], "from": "2024-01-01", "to": "2024-02-01",
        "select": {"jobs": many}
    });
    let e = errors(backfill(body));
    assert_eq!(e.len(), 1, "one error, not one per name: {e:?}");
    assert_eq!(e[0].0, "select.jobs");
    assert!(
        e[0].1.contains("100000 fields, more than the 500"),
        "{}",
        e[0].1
    );
    let at_cap: Vec<String> = (0..crate::fields::select::MAX_SELECT_FIELDS)
        .map(|i| format!("Field{i}"))
        .collect();
    let body = json!({
        "source": "acme", "datasets": ["jobs"], "every": "15m", "select": {"jobs": at_cap}
    });
    assert_eq!(sync(body).unwrap().select["jobs"].len(), 500);
}
