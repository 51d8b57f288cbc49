//! The ledger's rules, as pure functions from the current [`State`] to the [`Effect`]s
//! of one mutation: the transition table, insert-if-absent, first-writer-wins plans,
//! terminal request states, the stream compare-and-set, the watermark walk, stream
//! compaction and the snapshot-state compare-and-set.
//!
//! They read and never write, so the caller can journal the effects before applying
//! them: a mutation that cannot be written is not applied. They mirror the Redis
//! ledger's Lua scripts rule for rule; both pass the same contract suite.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use fleet_core::ledger::{
    LedgerError, RequestRecord, RequestState, SliceRecord, SliceState, SnapshotState, StreamState,
    Transition,
};

use super::state::{Effect, State};

/// How many slices one step of `cancel_request` cancels, so that cancelling a request
/// of 100k slices never holds the ledger's lock (or writes a journal line) for long.
pub(super) const CANCEL_CHUNK: usize = 500;
/// How many passed slices one step of `compact_stream` visits (as the Redis script).
pub(super) const COMPACT_CHUNK: usize = 1000;

fn known<'a>(state: &'a State, id: &str) -> Result<&'a RequestRecord, LedgerError> {
    state
        .request(id)
        .ok_or_else(|| LedgerError::UnknownRequest(id.to_owned()))
}

pub(super) fn create_request(state: &State, record: &RequestRecord) -> (bool, Vec<Effect>) {
    if state.request(&record.id).is_some() {
        return (false, Vec::new());
    }
    let effect = Effect::Request {
        record: record.clone(),
    };
    (true, vec![effect])
}

pub(super) fn fix_plan(
    state: &State,
    id: &str,
    plan: &serde_json::Value,
) -> Result<(serde_json::Value, Vec<Effect>), LedgerError> {
    let request = known(state, id)?;
    if let Some(stored) = &request.plan {
        return Ok((stored.clone(), Vec::new()));
    }
    let mut record = request.clone();
    record.plan = Some(plan.clone());
    Ok((plan.clone(), vec![Effect::Request { record }]))
}

pub(super) fn update_request(
    state: &State,
    id: &str,
    to: RequestState,
    planned: bool,
    note: Option<&str>,
) -> Result<(RequestState, Vec<Effect>), LedgerError> {
    let request = known(state, id)?;
    // A terminal request is left exactly as it is: its state, and the planned flag and
    // note that go with it.
    if request.state.is_terminal() {
        return Ok((request.state, Vec::new()));
    }
    let mut record = request.clone();
    record.state = to;
    record.planned = planned;
    record.note = note.map(str::to_owned);
    Ok((to, vec![Effect::Request { record }]))
}

/// A request whose planning failed (Failed, not planned) goes back to Planning with its
/// note cleared; any other request is left as it is. Returns whether it was reopened.
pub(super) fn reopen_request(state: &State, id: &str) -> Result<(bool, Vec<Effect>), LedgerError> {
    let request = known(state, id)?;
    if request.state != RequestState::Failed || request.planned {
        return Ok((false, Vec::new()));
    }
    let mut record = request.clone();
    record.state = RequestState::Planning;
    record.note = None;
    Ok((true, vec![Effect::Request { record }]))
}

/// The first step of a cancel: the request becomes Cancelled (unless already terminal),
/// so every slice added from now on arrives cancelled and the chunks that follow cannot
/// miss one.
pub(super) fn cancel_request(state: &State, id: &str) -> Result<Vec<Effect>, LedgerError> {
    let request = known(state, id)?;
    if request.state.is_terminal() {
        return Ok(Vec::new());
    }
    let mut record = request.clone();
    record.state = RequestState::Cancelled;
    Ok(vec![Effect::Request { record }])
}

/// Up to [`CANCEL_CHUNK`] of the request's non-terminal slices, cancelled.
pub(super) fn cancel_chunk(state: &State, id: &str, now: DateTime<Utc>) -> Vec<Effect> {
    [SliceState::Planned, SliceState::Queued, SliceState::Running]
        .into_iter()
        .flat_map(|s| state.slice_ids(id, Some(s), None))
        .take(CANCEL_CHUNK)
        .filter_map(|sid| state.slice(sid))
        .map(|s| Effect::Slice {
            record: Box::new(SliceRecord {
                state: SliceState::Cancelled,
                updated_at: now,
                ..s.clone()
            }),
        })
        .collect()
}

/// Insert-if-absent. Returns the ids (input order, each once) that are Planned after
/// the call. A slice joining a cancelled request arrives Cancelled.
pub(super) fn add_slices(
    state: &State,
    slices: &[SliceRecord],
) -> Result<(Vec<String>, Vec<Effect>), LedgerError> {
    for s in slices {
        known(state, &s.request_id)?;
    }
    let mut effects = Vec::new();
    let mut planned = Vec::new();
    let mut seen = HashSet::new();
    for s in slices {
        if !seen.insert(s.id.as_str()) {
            continue;
        }
        let now_state = match state.slice(&s.id) {
            Some(existing) => existing.state,
            None => {
                let cancelled = known(state, &s.request_id)?.state == RequestState::Cancelled;
                let initial = if cancelled {
                    SliceState::Cancelled
                } else {
                    SliceState::Planned
                };
                insert(&mut effects, s.clone(), initial);
                initial
            }
        };
        if now_state == SliceState::Planned {
            planned.push(s.id.clone());
        }
    }
    Ok((planned, effects))
}

/// The effects of inserting a new slice: the record, and its place on its stream.
fn insert(effects: &mut Vec<Effect>, mut record: SliceRecord, state: SliceState) {
    record.state = state;
    on_stream(effects, &record, true);
    effects.push(Effect::Slice {
        record: Box::new(record),
    });
}

/// The effect of putting a slice on its stream's pending list (`queued: true`) or taking
/// it off; none for a slice of no stream.
fn on_stream(effects: &mut Vec<Effect>, record: &SliceRecord, queued: bool) {
    if let Some(stream) = &record.stream {
        effects.push(Effect::Pending {
            request: record.request_id.clone(),
            stream: stream.clone(),
            from: record.from,
            id: record.id.clone(),
            queued,
        });
    }
}

/// The table in [`Transition`]'s docs: the state a move goes to from `from`, or `None`
/// if it is illegal there.
fn target(t: &Transition, from: SliceState) -> Option<SliceState> {
    use SliceState::*;
    match t {
        Transition::Queued => matches!(from, Planned).then_some(Queued),
        Transition::Start => matches!(from, Planned | Queued | Running).then_some(Running),
        Transition::Checkpoint { .. } => matches!(from, Running).then_some(Running),
        Transition::Retry { .. } => matches!(from, Running | Queued).then_some(Queued),
        Transition::Complete { .. } => matches!(from, Running).then_some(Completed),
        Transition::Fail { .. } => matches!(from, Planned | Queued | Running).then_some(Failed),
        Transition::Split { .. } => matches!(from, Running | Queued).then_some(Split),
        Transition::Cancel => matches!(from, Planned | Queued | Running).then_some(Cancelled),
        Transition::Requeue => matches!(from, Failed).then_some(Queued),
    }
}

/// The claim holder sending a write it already made (its reply was lost and it retried):
/// the same cursor again under the same claim, or a completion of its completed slice.
/// Applied, changing nothing.
fn is_repeat(current: &SliceRecord, t: &Transition) -> bool {
    match t {
        Transition::Checkpoint {
            cursor,
            claim: Some(c),
            ..
        } => {
            current.attempts == *c
                && current.state == SliceState::Running
                && current.checkpoint.as_deref() == Some(cursor.as_str())
        }
        Transition::Complete { claim: Some(c), .. } => {
            current.attempts == *c && current.state == SliceState::Completed
        }
        _ => false,
    }
}

/// `None` for an unknown slice; otherwise whether the move is applied, and its effects.
pub(super) fn transition(
    state: &State,
    id: &str,
    t: Transition,
    now: DateTime<Utc>,
) -> Option<(bool, Vec<Effect>)> {
    let current = state.slice(id)?;
    if is_repeat(current, &t) {
        return Some((true, Vec::new()));
    }
    let Some(to) = target(&t, current.state) else {
        return Some((false, Vec::new()));
    };
    if let Transition::Checkpoint { claim: Some(c), .. }
    | Transition::Complete { claim: Some(c), .. }
    | Transition::Retry { claim: Some(c), .. } = &t
    {
        if current.attempts != *c {
            // Another worker claimed the slice since: this one is stale.
            return Some((false, Vec::new()));
        }
    }
    let mut effects = Vec::new();
    if let Transition::Requeue = &t {
        match state.request(&current.request_id) {
            Some(r) if r.state == RequestState::Cancelled => return Some((false, Vec::new())),
            // A replayed slice runs again, so its ended request is reopened; the
            // coordinator finishes it anew once every slice is terminal again.
            Some(r) if matches!(r.state, RequestState::Failed | RequestState::Completed) => {
                effects.push(Effect::Request {
                    record: RequestRecord {
                        state: RequestState::Running,
                        ..r.clone()
                    },
                });
            }
            _ => {}
        }
    }
    let mut next = current.clone();
    next.state = to;
    next.updated_at = now;
    match t {
        Transition::Start => next.attempts = next.attempts.saturating_add(1),
        Transition::Checkpoint {
            cursor,
            records,
            pages,
            ..
        } => {
            next.checkpoint = Some(cursor);
            next.records = next.records.saturating_add(records);
            next.pages = next.pages.saturating_add(pages);
        }
        Transition::Complete { records, pages, .. } => {
            next.records = next.records.saturating_add(records);
            next.pages = next.pages.saturating_add(pages);
        }
        Transition::Retry { error, .. } | Transition::Fail { error } => {
            next.last_error = Some(error)
        }
        Transition::Split { children } => {
            // The children must be of the parent's request and not the parent itself;
            // anything else is refused like an illegal move.
            let valid = !children.is_empty()
                && children
                    .iter()
                    .all(|c| c.request_id == current.request_id && c.id != current.id);
            if !valid {
                return Some((false, Vec::new()));
            }
            let cancelled = state
                .request(&current.request_id)
                .is_some_and(|r| r.state == RequestState::Cancelled);
            let child_state = if cancelled {
                SliceState::Cancelled
            } else {
                SliceState::Queued
            };
            on_stream(&mut effects, current, false);
            let mut seen = HashSet::new();
            for mut child in children {
                if state.slice(&child.id).is_some() || !seen.insert(child.id.clone()) {
                    continue;
                }
                child.stream = current.stream.clone();
                child.parent = Some(current.id.clone());
                insert(&mut effects, child, child_state);
            }
        }
        Transition::Queued | Transition::Cancel | Transition::Requeue => {}
    }
    effects.push(Effect::Slice {
        record: Box::new(next),
    });
    Some((true, effects))
}

/// `None` if `planned_to` is not `expected`.
pub(super) fn plan_window(
    state: &State,
    request: &str,
    stream: &str,
    expected: Option<DateTime<Utc>>,
    to: DateTime<Utc>,
    slices: &[SliceRecord],
) -> Result<(Option<Vec<String>>, Vec<Effect>), LedgerError> {
    known(state, request)?;
    let current = state
        .stream(request, stream)
        .map(|e| e.state)
        .unwrap_or_default();
    if current.planned_to != expected {
        return Ok((None, Vec::new()));
    }
    // The window's slices hold back this stream's watermark, whatever they say.
    let slices: Vec<SliceRecord> = slices
        .iter()
        .map(|s| SliceRecord {
            stream: Some(stream.to_owned()),
            ..s.clone()
        })
        .collect();
    let (ids, mut effects) = add_slices(state, &slices)?;
    effects.push(Effect::Stream {
        request: request.to_owned(),
        stream: stream.to_owned(),
        state: StreamState {
            planned_to: Some(to),
            ..current
        },
    });
    Ok((Some(ids), effects))
}

/// Walk the pending slices oldest first: pop Completed (the watermark reaches its `to`)
/// and Split (its children are pending themselves), stop at anything else; with nothing
/// pending the watermark is `planned_to`. It never moves backwards.
pub(super) fn advance_watermark(
    state: &State,
    request: &str,
    stream: &str,
) -> (Option<DateTime<Utc>>, Vec<Effect>) {
    let Some(entry) = state.stream(request, stream) else {
        return (None, Vec::new());
    };
    let mut watermark = entry.state.watermark;
    let raise = |w: &mut Option<DateTime<Utc>>, t: Option<DateTime<Utc>>| {
        if t > *w {
            *w = t;
        }
    };
    let mut effects = Vec::new();
    let mut drained = true;
    for (from, id) in &entry.pending {
        let slice = state.slice(id);
        match slice.map(|s| s.state) {
            Some(SliceState::Completed) => {
                let to = slice.and_then(|s| s.to);
                raise(&mut watermark, to);
                // Remembered for compact_stream.
                if let Some(to) = to {
                    effects.push(Effect::Passed {
                        request: request.to_owned(),
                        stream: stream.to_owned(),
                        to,
                        id: id.clone(),
                        passed: true,
                    });
                }
            }
            Some(SliceState::Split) => {}
            _ => {
                drained = false;
                break;
            }
        }
        effects.push(Effect::Pending {
            request: request.to_owned(),
            stream: stream.to_owned(),
            from: *from,
            id: id.clone(),
            queued: false,
        });
    }
    if drained {
        raise(&mut watermark, entry.state.planned_to);
    }
    if watermark != entry.state.watermark {
        effects.push(Effect::Stream {
            request: request.to_owned(),
            stream: stream.to_owned(),
            state: StreamState {
                watermark,
                ..entry.state
            },
        });
    }
    (watermark, effects)
}

/// One step of `compact_stream`: visit up to [`COMPACT_CHUNK`] of the stream's passed
/// slices whose `to` is at or before both `before` and the watermark; forget those that
/// are completed slices of this request and stream with that `to` (all of them: a
/// Completed slice never changes), and take every visited one off the passed set.
/// Returns (slices forgotten, whether it stopped at the limit).
pub(super) fn compact_chunk(
    state: &State,
    request: &str,
    stream: &str,
    before: DateTime<Utc>,
) -> ((u64, bool), Vec<Effect>) {
    let Some(entry) = state.stream(request, stream) else {
        return ((0, false), Vec::new());
    };
    let Some(watermark) = entry.state.watermark else {
        return ((0, false), Vec::new());
    };
    let limit = before.min(watermark);
    let mut effects = Vec::new();
    let mut removed = 0u64;
    let mut visited = 0usize;
    for (to, id) in entry.passed.iter().take_while(|(to, _)| *to <= limit) {
        if visited == COMPACT_CHUNK {
            break;
        }
        visited += 1;
        let eligible = state.slice(id).is_some_and(|s| {
            s.state == SliceState::Completed
                && s.request_id == request
                && s.stream.as_deref() == Some(stream)
                && s.to == Some(*to)
        });
        if eligible {
            effects.push(Effect::Forget { id: id.clone() });
            removed += 1;
        }
        effects.push(Effect::Passed {
            request: request.to_owned(),
            stream: stream.to_owned(),
            to: *to,
            id: id.clone(),
            passed: false,
        });
    }
    ((removed, visited == COMPACT_CHUNK), effects)
}

/// The snapshot-state compare-and-set: stored (generation + 1) only if the stored
/// generation is `expected`.
pub(super) fn store_snapshot(
    state: &State,
    request: &str,
    stream: &str,
    expected: u64,
    hashes: &std::collections::BTreeMap<String, String>,
    observed_at: DateTime<Utc>,
) -> Result<(bool, Vec<Effect>), LedgerError> {
    known(state, request)?;
    let current = state
        .snapshot_state(request, stream)
        .map_or(0, |s| s.generation);
    let Some(next) = expected.checked_add(1).filter(|_| current == expected) else {
        return Ok((false, Vec::new()));
    };
    let effect = Effect::Snapshot {
        request: request.to_owned(),
        stream: stream.to_owned(),
        state: SnapshotState {
            generation: next,
            hashes: hashes.clone(),
            observed_at: Some(observed_at),
        },
    };
    Ok((true, vec![effect]))
}
