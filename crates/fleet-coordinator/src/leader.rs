//! What one replica does at a time: the holder of the `schedules` lease runs sync ticks,
//! advances watermarks, finishes requests whose slices are all done, resumes plans that
//! an earlier process left half-done, and republishes sync jobs whose publish never got
//! confirmed. The lease is renewed every tick and lapses after `lease_ttl`, so when the
//! leader dies another replica takes over within that time.
//!
//! Holding the lease is an optimisation, not what makes this safe: a window is planned
//! with a compare-and-set on the stream's `planned_to` and its slices have deterministic
//! ids, so two replicas that both believed they led would still plan each window once.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use fleet_core::ledger::{RequestKind, RequestRecord, RequestState, SliceRecord, SliceState};
use fleet_core::messages;
use fleet_core::plan::{self, schedule, PlanUnit, SyncRequest, Width};
use fleet_core::wire::{Event, EventBody, Lane, ReadMode};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use crate::error::CoordinatorError;
use crate::planner::{plan_lease, spec_of, Planner};

/// The lease name the leader holds.
pub const SCHEDULE_LEASE: &str = "schedules";

/// How many requests a tick looks at (newest first).
const SCAN_LIMIT: usize = 1_000;

/// Background planning runs of this process, so a request is planned by one task at a
/// time here (the plan lease covers other replicas).
///
/// Shutdown drops them where they are ([`PlanRuns::close`]): a plan is idempotent, its
/// request stays unplanned, and the next leader's tick resumes it (here or on another
/// replica, which takes the released plan lease at once).
#[derive(Clone, Default)]
pub struct PlanRuns {
    running: Arc<Mutex<HashSet<String>>>,
    /// Earliest time to retry a plan that failed transiently.
    retry_at: Arc<Mutex<HashMap<String, Instant>>>,
    tracker: TaskTracker,
    /// Cancelled by [`PlanRuns::close`]: every run stops at its next await point, and no
    /// new run starts.
    stop: CancellationToken,
}

impl PlanRuns {
    /// Plan `id` in the background unless it is being planned here already or is waiting
    /// out a retry delay.
    pub fn spawn(&self, planner: &Planner, id: &str) {
        if let Some(at) = self.retry_at.lock().expect("not poisoned").get(id) {
            if Instant::now() < *at {
                return;
            }
        }
        if self.stop.is_cancelled()
            || !self
                .running
                .lock()
                .expect("not poisoned")
                .insert(id.to_owned())
        {
            return;
        }
        let (planner, id, runs) = (planner.clone(), id.to_owned(), self.clone());
        self.tracker.spawn(async move {
            let result = tokio::select! {
                result = planner.plan_backfill(&id) => Some(result),
                _ = runs.stop.cancelled() => None,
            };
            runs.running.lock().expect("not poisoned").remove(&id);
            let Some(result) = result else {
                // Dropped mid-plan: hand the plan lease back so the next leader need not
                // wait for it to lapse.
                info!(request = %id, "planning stopped by shutdown; the next leader resumes it");
                let _ = planner
                    .ledger
                    .release_lease(&plan_lease(&id), &planner.config.replica)
                    .await;
                return;
            };
            match result {
                Ok(()) => {
                    runs.retry_at.lock().expect("not poisoned").remove(&id);
                }
                Err(CoordinatorError::Busy(_)) => {}
                Err(e) if e.is_transient() => {
                    warn!(request = %id, error = %e, "planning interrupted; will resume");
                    runs.retry_at
                        .lock()
                        .expect("not poisoned")
                        .insert(id.clone(), Instant::now() + Duration::from_secs(5));
                    let note = e.to_string();
                    let _ = planner
                        .ledger
                        .update_request(&id, RequestState::Planning, false, Some(&note))
                        .await;
                }
                Err(e) => {
                    warn!(request = %id, error = %e, "planning failed");
                    // The cause in front lets a rerun tell a failure that may pass
                    // (credentials, scopes) from one that will not.
                    let note = fleet_core::cause::with_cause(e.cause(), &e.to_string());
                    if let Err(e) = planner
                        .ledger
                        .update_request(&id, RequestState::Failed, false, Some(&note))
                        .await
                    {
                        warn!(request = %id, error = %e, "could not record the planning failure");
                    }
                }
            }
        });
    }

    /// Stop every running plan where it is (a plan is safe to interrupt anywhere), start
    /// no new one, and wait until their tasks have let go of their plan leases.
    pub async fn close(&self) {
        self.stop.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }

    pub fn is_running(&self, id: &str) -> bool {
        self.running.lock().expect("not poisoned").contains(id)
    }
}

/// The leader loop and its per-process caches.
pub struct Leader {
    planner: Planner,
    runs: PlanRuns,
    /// Sync units (folders discovered) per request, re-read after `folder_ttl`.
    units: Mutex<HashMap<String, (Instant, Vec<PlanUnit>)>>,
    /// When each sync's streams were last compacted (at most every `compact_every`).
    compacted: Mutex<HashMap<String, Instant>>,
}

impl Leader {
    pub fn new(planner: Planner, runs: PlanRuns) -> Leader {
        Leader {
            planner,
            runs,
            units: Mutex::new(HashMap::new()),
            compacted: Mutex::new(HashMap::new()),
        }
    }

    /// Run until `shutdown`: every tick, do one round of leader work while leading.
    /// [`Lease::Shared`]: lead only while holding the `schedules` lease (taken or renewed
    /// each tick, released on the way out). [`Lease::Alone`]: the headless mode of a
    /// fleet in one process, the only coordinator of its ledger, which always leads.
    pub async fn run(&self, shutdown: CancellationToken, lease: Lease) {
        let cfg = self.planner.config.clone();
        let mut leading = false;
        loop {
            let now_leading = match lease {
                Lease::Alone => Ok(true),
                Lease::Shared => {
                    self.planner
                        .ledger
                        .try_lease(SCHEDULE_LEASE, &cfg.replica, cfg.lease_ttl)
                        .await
                }
            };
            match now_leading {
                Ok(now_leading) => {
                    if now_leading != leading && lease == Lease::Shared {
                        info!(replica = %cfg.replica, leading = now_leading, "schedule lease changed hands");
                    }
                    leading = now_leading;
                }
                Err(e) => {
                    warn!(error = %e, "cannot reach the ledger for the schedule lease");
                    leading = false;
                }
            }
            self.planner.metrics.leader.set(i64::from(leading));
            if leading {
                if let Err(e) = self.tick().await {
                    warn!(error = %e, "leader tick failed; next tick retries");
                } else {
                    self.planner
                        .metrics
                        .last_tick
                        .set(Utc::now().timestamp_millis() as f64 / 1000.0);
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(cfg.tick) => {}
            }
        }
        if leading && lease == Lease::Shared {
            let _ = self
                .planner
                .ledger
                .release_lease(SCHEDULE_LEASE, &cfg.replica)
                .await;
        }
        self.planner.metrics.leader.set(0);
    }

    /// One round of leader work over the non-terminal requests.
    pub async fn tick(&self) -> Result<(), CoordinatorError> {
        let requests = self.planner.ledger.list_requests(SCAN_LIMIT).await?;
        for request in requests.into_iter().filter(|r| !r.state.is_terminal()) {
            let outcome = match request.kind {
                RequestKind::Backfill => self.backfill_tick(&request).await,
                RequestKind::Sync => self.sync_tick(&request).await,
            };
            if let Err(e) = outcome {
                warn!(request = %request.id, error = %e, "leader work on request failed");
            }
        }
        Ok(())
    }

    async fn backfill_tick(&self, request: &RequestRecord) -> Result<(), CoordinatorError> {
        if !request.planned {
            // Accepted but not fully planned: a plan run died with its process, or is
            // running here now (then this is a no-op).
            self.runs.spawn(&self.planner, &request.id);
            return Ok(());
        }
        let progress = self.planner.ledger.progress(&request.id).await?;
        if progress.done() < progress.total() {
            return Ok(());
        }
        let state = if progress.failed == 0 {
            RequestState::Completed
        } else {
            RequestState::Failed
        };
        self.finish(request, state, progress).await
    }

    async fn finish(
        &self,
        request: &RequestRecord,
        state: RequestState,
        progress: fleet_core::ledger::Progress,
    ) -> Result<(), CoordinatorError> {
        let stored = self
            .planner
            .ledger
            .update_request(&request.id, state, true, None)
            .await?;
        if stored != state {
            return Ok(());
        }
        info!(request = %request.id, ?state, slices = progress.total(), records = progress.records, "request finished");
        self.planner
            .metrics
            .requests_finished
            .with_label_values(&[state_label(state)])
            .inc();
        let event = Event::new(EventBody::RequestCompleted {
            request_id: request.id.clone(),
            slices: progress.total(),
            failed: progress.failed,
            records: progress.records,
        });
        self.planner
            .broker
            .publish(vec![messages::event(&event)])
            .await?;
        Ok(())
    }

    /// The units of a sync, from cache or freshly discovered (new folders join).
    async fn sync_units(
        &self,
        request: &RequestRecord,
        spec: &SyncRequest,
    ) -> Result<Vec<PlanUnit>, CoordinatorError> {
        let ttl = self.planner.config.folder_ttl;
        if let Some((at, units)) = self.units.lock().expect("not poisoned").get(&request.id) {
            if at.elapsed() < ttl {
                return Ok(units.clone());
            }
        }
        let units = self
            .planner
            .decide_units(
                &spec.sources,
                &spec.datasets,
                &spec.select,
                Some(spec.slice_width.unwrap_or(Width::Days(1))),
                None,
            )
            .await?
            .into_iter()
            .map(|mut unit| {
                // One slice per window for a set read whole (compared with the previous
                // snapshot) and for a window of changes, which reads every change since
                // its start (see `Sources::read_page`): cut in two, its first half would
                // read the second's changes again.
                if fleet_core::dataset::by_name(&unit.dataset).is_some_and(|d| {
                    d.sync_reads_whole() || d.read_mode(Lane::Sync) == ReadMode::Modified
                }) {
                    unit.width = None;
                }
                unit
            })
            .collect::<Vec<_>>();
        self.units
            .lock()
            .expect("not poisoned")
            .insert(request.id.clone(), (Instant::now(), units.clone()));
        Ok(units)
    }

    /// Plan the due window of every stream of a sync, advance watermarks, and republish
    /// jobs whose publish never got confirmed.
    async fn sync_tick(&self, request: &RequestRecord) -> Result<(), CoordinatorError> {
        let ledger = &self.planner.ledger;
        let spec: SyncRequest = spec_of(request)?;
        let start = spec.start.unwrap_or(request.created_at);
        let lookback = chrono::Duration::seconds(spec.lookback_secs as i64);
        let settle = chrono::Duration::seconds(spec.settle_secs as i64);
        let units = self.sync_units(request, &spec).await?;
        let now = self.planner.config.clock.now();
        for unit in &units {
            let stream = unit.stream();
            let state = ledger.stream(&request.id, &stream).await?;
            if let Some((from, to)) = schedule::next_window(
                &spec.schedule,
                start,
                state.planned_to,
                lookback,
                settle,
                now,
            ) {
                let slices: Vec<SliceRecord> = plan::unit_slices(
                    &request.id,
                    Lane::Sync,
                    unit,
                    from,
                    to,
                    Some(stream.clone()),
                    now,
                )
                .collect();
                match ledger
                    .plan_window(&request.id, &stream, state.planned_to, to, &slices)
                    .await?
                {
                    Some(ids) => {
                        self.planner.publish_planned(&slices, &ids).await?;
                        self.planner
                            .metrics
                            .windows_planned
                            .with_label_values(&[unit.source.as_str()])
                            .inc();
                        debug!(request = %request.id, %stream, %from, %to, slices = ids.len(), "sync window planned");
                    }
                    None => debug!(request = %request.id, %stream, "window planned elsewhere"),
                }
            }
            ledger.advance_watermark(&request.id, &stream).await?;
        }
        self.compact(request, &units).await?;
        self.republish_stale(request).await
    }

    /// Drops the sync's completed slices whose window ended more than `sync_retention`
    /// ago and lies behind the watermark, every few minutes: ten-second windows would
    /// otherwise add a quarter of a million slice records a day.
    async fn compact(
        &self,
        request: &RequestRecord,
        units: &[PlanUnit],
    ) -> Result<(), CoordinatorError> {
        {
            let mut last = self.compacted.lock().expect("not poisoned");
            match last.get(&request.id) {
                Some(at) if at.elapsed() < self.planner.config.compact_every => return Ok(()),
                _ => last.insert(request.id.clone(), Instant::now()),
            };
        }
        let retention = chrono::Duration::from_std(self.planner.config.sync_retention)
            .unwrap_or(chrono::Duration::MAX);
        // The schedule's clock: windows are cut in its time.
        let Some(before) = self
            .planner
            .config
            .clock
            .now()
            .checked_sub_signed(retention)
        else {
            return Ok(());
        };
        let mut removed = 0;
        for unit in units {
            removed += self
                .planner
                .ledger
                .compact_stream(&request.id, &unit.stream(), before)
                .await?;
        }
        if removed > 0 {
            info!(request = %request.id, slices = removed, %before, "completed sync slices compacted");
        }
        Ok(())
    }

    /// Sync slices left `Planned` past `stale_planned` were added by a run that died
    /// before the broker confirmed their jobs: publish them again (the first page of
    /// them each tick) and mark them `Queued`.
    async fn republish_stale(&self, request: &RequestRecord) -> Result<(), CoordinatorError> {
        // Wall-clock time, like the ledger's `updated_at` stamps (not the schedule clock).
        let cutoff = Utc::now()
            - chrono::Duration::from_std(self.planner.config.stale_planned)
                .unwrap_or(chrono::Duration::seconds(30));
        let stale = Republish {
            state: SliceState::Planned,
            page: 1_000,
            all_pages: false,
        };
        let n = stale
            .run(&self.planner, &request.id, |s| s.updated_at < cutoff)
            .await?;
        if n > 0 {
            info!(request = %request.id, slices = n, "republished unconfirmed sync jobs");
        }
        Ok(())
    }

    /// Stream names and states of a sync (for the API), from the cached units.
    pub async fn streams(
        &self,
        request: &RequestRecord,
    ) -> Result<Vec<(String, fleet_core::ledger::StreamState)>, CoordinatorError> {
        let spec: SyncRequest = spec_of(request)?;
        let units = self.sync_units(request, &spec).await?;
        let mut out = Vec::with_capacity(units.len());
        for unit in units {
            let stream = unit.stream();
            let state = self.planner.ledger.stream(&request.id, &stream).await?;
            out.push((stream, state));
        }
        Ok(out)
    }
}

/// Whether the leader shares its work with other replicas through the `schedules` lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lease {
    /// Lead while holding the lease (a coordinator process, one of many replicas).
    Shared,
    /// Always lead, no lease: the only coordinator of its ledger (a fleet in one process).
    Alone,
}

/// Publishes again the jobs of every queued or running slice of every unfinished request
/// (requests newest first, at most [`RESUME_SCAN`]): for a fleet in one process whose
/// in-memory broker died with the previous process while its ledger did not. Slices
/// still `Planned` are left to the planner (unfinished plans) and the leader (sync
/// windows), which publish them themselves. Returns how many were published.
pub async fn resume(planner: &Planner) -> Result<u64, CoordinatorError> {
    let mut published = 0u64;
    let requests = planner.ledger.list_requests(RESUME_SCAN).await?;
    for request in requests.iter().filter(|r| !r.state.is_terminal()) {
        for state in [SliceState::Queued, SliceState::Running] {
            let resumed = Republish {
                state,
                page: RESUME_PAGE,
                all_pages: true,
            };
            published += resumed.run(planner, &request.id, |_| true).await?;
        }
    }
    if published > 0 {
        info!(
            slices = published,
            "resumed the unfinished slices of the previous run"
        );
    }
    Ok(published)
}

/// How many requests [`resume`] looks at (newest first).
const RESUME_SCAN: usize = 10_000;
/// Slices read from the ledger per page while resuming.
const RESUME_PAGE: usize = 500;

/// Jobs published again for slices whose job may be lost: the one walk behind
/// [`resume`] and the leader's republishing of unconfirmed sync jobs.
struct Republish {
    /// The slices' state; `Planned` ones are marked `Queued` once their jobs are
    /// confirmed, the others keep their state.
    state: SliceState,
    /// Slices read from the ledger at a time.
    page: usize,
    /// Every page, or only the first.
    all_pages: bool,
}

impl Republish {
    /// Publishes the jobs of `request`'s slices in `self.state` that `keep` selects;
    /// returns how many.
    async fn run(
        &self,
        planner: &Planner,
        request: &str,
        keep: impl Fn(&SliceRecord) -> bool,
    ) -> Result<u64, CoordinatorError> {
        let mut published = 0u64;
        let mut after: Option<String> = None;
        loop {
            let page: Vec<SliceRecord> = planner
                .ledger
                .list_slices(request, Some(self.state), after.as_deref(), self.page)
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id.clone());
            let chosen: Vec<SliceRecord> = page.iter().filter(|s| keep(s)).cloned().collect();
            if !chosen.is_empty() {
                if self.state == SliceState::Planned {
                    let ids: Vec<String> = chosen.iter().map(|s| s.id.clone()).collect();
                    planner.publish_planned(&chosen, &ids).await?;
                } else {
                    let refs: Vec<&SliceRecord> = chosen.iter().collect();
                    planner.publish_jobs(&refs).await?;
                }
                published += chosen.len() as u64;
            }
            if !self.all_pages {
                break;
            }
        }
        Ok(published)
    }
}

pub fn state_label(state: RequestState) -> &'static str {
    match state {
        RequestState::Planning => "planning",
        RequestState::Running => "running",
        RequestState::Completed => "completed",
        RequestState::Failed => "failed",
        RequestState::Cancelled => "cancelled",
    }
}
