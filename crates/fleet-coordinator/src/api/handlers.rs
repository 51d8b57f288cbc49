//! The route handlers: thin adapters from HTTP to [`Coordinator`] operations.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use fleet_core::dataset;
use fleet_core::fields::select::MAX_SELECT_FIELDS;
use fleet_core::plan::RequestError;
use serde::Deserialize;
use uipath_client::fix;

use super::views::{
    CancelView, DatasetView, DatasetsView, EntityView, ProblemView, RequestList, SourceView,
    SourcesView, SubmittedView,
};
use super::ApiError;
use crate::error::CoordinatorError;
use crate::service::{Coordinator, PreviewInput};

type ApiResult = Result<Response, ApiError>;

/// The body, or the API's answer to one that could not be read: 413 (JSON, saying the
/// limit) for one over [`super::MAX_BODY_BYTES`].
fn body(read: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    read.map_err(|rejection| {
        let status = rejection.status();
        let error = if status == StatusCode::PAYLOAD_TOO_LARGE {
            format!(
                "request body larger than {} KiB; a request names its datasets and at most {MAX_SELECT_FIELDS} fields per dataset in `select`",
                super::MAX_BODY_BYTES / 1024
            )
        } else {
            format!("request body could not be read: {rejection}")
        };
        ApiError {
            status,
            error,
            fields: Vec::new(),
            hint: None,
        }
    })
}

#[derive(Deserialize)]
pub struct SubmitQuery {
    dry_run: Option<String>,
}

/// `POST /v1/backfills`: 202 with the request and its `estimate` (200 for an identical
/// earlier one); with `?dry_run=true`, 200 with the estimate and nothing stored.
pub async fn submit_backfill(
    State(c): State<Coordinator>,
    Query(q): Query<SubmitQuery>,
    read: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let body = body(read)?;
    let dry_run = match q.dry_run.as_deref() {
        None | Some("false" | "0") => false,
        Some("true" | "1" | "") => true,
        Some(other) => {
            return Err(CoordinatorError::Request(RequestError::Fields(vec![
                fleet_core::plan::FieldError {
                    field: "dry_run".into(),
                    message: format!("`{other}` is not a boolean; use dry_run=true"),
                },
            ]))
            .into())
        }
    };
    if dry_run {
        return Ok(Json(c.dry_run_backfill(&body).await?).into_response());
    }
    let s = c.submit_backfill_estimated(&body).await?;
    let id = s.record.id.clone();
    let view = SubmittedView {
        request: c.request(&id).await?,
        estimate: s.estimate,
        estimate_error: s.estimate_error,
    };
    Ok((
        if s.created {
            StatusCode::ACCEPTED
        } else {
            StatusCode::OK
        },
        [(header::LOCATION, format!("/v1/requests/{id}"))],
        Json(view),
    )
        .into_response())
}

pub async fn submit_sync(
    State(c): State<Coordinator>,
    read: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let body = body(read)?;
    let (request, created) = c.submit_sync(&body).await?;
    submitted(&c, &request.id, created.then_some(StatusCode::CREATED)).await
}

/// The answer to a submission: `new` for a new request (202 for a backfill being
/// planned, 201 for a sync), 200 for an identical earlier one; the request's view and
/// where to poll it.
async fn submitted(c: &Coordinator, id: &str, new: Option<StatusCode>) -> ApiResult {
    let view = c.request(id).await?;
    Ok((
        new.unwrap_or(StatusCode::OK),
        [(header::LOCATION, format!("/v1/requests/{id}"))],
        Json(view),
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct ListQuery {
    limit: Option<usize>,
}

pub async fn list_requests(State(c): State<Coordinator>, Query(q): Query<ListQuery>) -> ApiResult {
    let limit = q.limit.unwrap_or(100).clamp(1, 1_000);
    let requests = c.requests(limit).await?;
    Ok(Json(RequestList { requests }).into_response())
}

pub async fn get_request(State(c): State<Coordinator>, Path(id): Path<String>) -> ApiResult {
    Ok(Json(c.request(&id).await?).into_response())
}

pub async fn cancel_request(State(c): State<Coordinator>, Path(id): Path<String>) -> ApiResult {
    let (request, cancelled_slices) = c.cancel(&id).await?;
    Ok(Json(CancelView {
        cancelled_slices,
        request,
    })
    .into_response())
}

pub async fn sources(State(c): State<Coordinator>) -> ApiResult {
    let sources = c
        .sources()
        .iter()
        .map(|(name, client)| SourceView::new(name, client))
        .collect();
    Ok(Json(SourcesView { sources }).into_response())
}

#[derive(Deserialize)]
pub struct DatasetsQuery {
    source: Option<String>,
}

pub async fn datasets(State(c): State<Coordinator>, Query(q): Query<DatasetsQuery>) -> ApiResult {
    let mut view = DatasetsView {
        datasets: dataset::all().iter().map(DatasetView::from).collect(),
        dataservice: None,
        dataservice_error: None,
    };
    if let Some(source) = q.source {
        if c.sources().get(&source).is_none() {
            return Err(CoordinatorError::Request(RequestError::Fields(vec![
                fleet_core::plan::FieldError {
                    field: "source".into(),
                    message: format!("unknown source `{source}`"),
                },
            ]))
            .into());
        }
        // The Orchestrator datasets are listed whatever Data Service answers: a source
        // without a Data Service login (or a Data Service that is down) still has them.
        match c.sources().entities(&source).await {
            Ok(entities) => {
                view.dataservice = Some(entities.iter().map(EntityView::from).collect())
            }
            Err(error) => {
                view.dataservice_error = Some(ProblemView {
                    error: error.to_string(),
                    hint: Some(fix::DATASERVICE_SIGN_IN.to_owned()),
                })
            }
        }
    }
    Ok(Json(view).into_response())
}

pub async fn preview(
    State(c): State<Coordinator>,
    read: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let body = body(read)?;
    let input: PreviewInput = parse_preview(&body)?;
    Ok(Json(c.preview(input).await?).into_response())
}

/// Parse the preview body, naming the field serde stumbled on.
fn parse_preview(body: &[u8]) -> Result<PreviewInput, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::from(CoordinatorError::Request(RequestError::Syntax(
            e.to_string(),
        )))
    })?;
    serde_json::from_value(value).map_err(|e| {
        let message = e.to_string();
        // serde names the field in its message (`unknown field `x``, `missing field `y``,
        // `invalid type ... for key `z``); lift it out so clients get a field to point at.
        let field = message
            .split('`')
            .nth(1)
            .filter(|f| !f.contains(' '))
            .unwrap_or("body")
            .to_owned();
        ApiError::from(CoordinatorError::Request(RequestError::Fields(vec![
            fleet_core::plan::FieldError { field, message },
        ])))
    })
}

pub async fn readyz(State(c): State<Coordinator>) -> Response {
    let ready = c.readiness().await;
    let status = if ready.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(ready)).into_response()
}

pub async fn metrics(State(c): State<Coordinator>) -> Response {
    c.refresh_depths().await;
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        c.metrics().render(),
    )
        .into_response()
}
