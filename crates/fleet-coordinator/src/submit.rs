//! Submitting a backfill, and its dry run: the request is parsed, its slice count checked
//! against `max_slices` from the request alone (422 before any probe or write) and its
//! `select` against the field catalog ([`crate::select_check`]), then
//! estimated ([`crate::estimate`]: folders, `$count` probes, requests, time at the
//! tenant's budget). A dry run answers the estimate and stores nothing; a submission
//! stores the request and plans it, reusing the estimate's probes.

use fleet_core::ledger::{RequestKind, RequestRecord, RequestState};
use fleet_core::plan::{BackfillRequest, FieldError, RequestError};
use tracing::{info, warn};

use crate::error::CoordinatorError;
use crate::estimate::{over_cap, Estimate};
use crate::service::Coordinator;

/// A submitted backfill.
#[derive(Debug, Clone)]
pub struct Submission {
    pub record: RequestRecord,
    /// Whether it is new (false: an identical earlier request, returned as it stands).
    pub created: bool,
    /// The estimate of a new request (none for an earlier one).
    pub estimate: Option<Estimate>,
    /// Why a new request has no estimate (a probe failed; planning probes again and, if
    /// it fails there too, the request ends failed with the reason).
    pub estimate_error: Option<String>,
}

pub use crate::api::views::DryRun;

impl Coordinator {
    /// Parse, cap and check a backfill body; the request record it would be.
    async fn accept_backfill(
        &self,
        body: &[u8],
    ) -> Result<(BackfillRequest, RequestRecord), CoordinatorError> {
        let parsed = BackfillRequest::parse(body, &self.catalog());
        let spec = self.count_submission("backfill", parsed)?;
        let capped = self.planner().check_cap(&spec).await;
        self.count_submission("backfill", capped)?;
        self.check_entities(&spec.sources, &spec.datasets).await?;
        let checked = self.check_select(&spec.sources, &spec.select).await;
        let select_note = self.count_submission("backfill", checked)?;
        let mut record = self.new_record(
            RequestKind::Backfill,
            RequestState::Planning,
            spec.normalized(),
        );
        record.note = select_note;
        Ok((spec, record))
    }

    /// The cap once probes chose the widths (a request without `slice_width`).
    fn check_estimated_cap(&self, estimate: &Estimate) -> Result<(), CoordinatorError> {
        let cap = self.config().max_slices;
        if estimate.slices <= cap {
            return Ok(());
        }
        let refused = Err(RequestError::Fields(vec![FieldError {
            field: "slice_width".into(),
            message: over_cap(estimate.slices, cap, None, None),
        }]));
        self.count_submission("backfill", refused)
    }

    /// Estimate a backfill without storing anything (`POST /v1/backfills?dry_run=true`).
    /// A probe that fails is a 502 naming the source, dataset, folder and cause.
    pub async fn dry_run_backfill(&self, body: &[u8]) -> Result<DryRun, CoordinatorError> {
        let (spec, record) = self.accept_backfill(body).await?;
        let (_, estimate) = self
            .planner()
            .estimate(&spec)
            .await
            .map_err(CoordinatorError::for_api)?;
        self.check_estimated_cap(&estimate)?;
        info!(request = %record.id, slices = estimate.slices, records = estimate.records, "backfill estimated (dry run)");
        Ok(DryRun {
            dry_run: true,
            id: record.id,
            estimate,
        })
    }

    /// Submit a backfill and return it with its estimate. The estimate's probes stay in
    /// the probe cache, so planning does not ask them again.
    pub async fn submit_backfill_estimated(
        &self,
        body: &[u8],
    ) -> Result<Submission, CoordinatorError> {
        let (spec, record) = self.accept_backfill(body).await?;
        let existing = self.ledger().get_request(&record.id).await?.is_some();
        let (mut estimate, mut estimate_error) = (None, None);
        if !existing {
            match self.planner().estimate(&spec).await {
                Ok((_, e)) => {
                    self.check_estimated_cap(&e)?;
                    estimate = Some(e);
                }
                Err(e @ CoordinatorError::Planning { .. }) => {
                    warn!(request = %record.id, error = %e, "cannot estimate the backfill; planning will tell");
                    estimate_error = Some(e.to_string());
                }
                Err(e) => return Err(e.for_api()),
            }
        }
        let (record, created) = self.store("backfill", record).await?;
        if !record.planned && !record.state.is_terminal() {
            self.inner.runs.spawn(&self.inner.planner, &record.id);
        }
        Ok(Submission {
            record,
            created,
            estimate,
            estimate_error,
        })
    }
}
