//! The Data Service routes for every tenant, under both URL prefixes the service answers
//! on (`dataservice_` and the newer `datafabric_`).
//!
//! Every response — success or refusal — passes through [`respond`], which counts it in
//! [`Stats`] under an endpoint name (`dataservice/read`, `dataservice/query`, ...), so
//! tests can assert on request and record counts. Record work runs on tokio's blocking
//! pool: a query scans every record of an entity, which must not stall the runtime.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use uuid::Uuid;

use super::access::{authorize, user_of, Need};
use super::ops::{ApiError, Served};
use super::query::{DEFAULT_LIMIT, MAX_LIMIT};
use super::render::{DEFAULT_EXPANSION_LEVEL, EXPANSION_LEVELS};
use super::{DataService, Verifier};
use crate::stats::Stats;

struct AppState {
    /// Keyed by lowercased (org, tenant): URLs name them in any letter case.
    tenants: HashMap<(String, String), Arc<DataService>>,
    verify: Verifier,
    stats: Arc<Stats>,
}

type AppRef = State<Arc<AppState>>;

/// The Data Service routes for every (org, tenant) in `tenants`, to be mounted at the root:
/// `/{org}/{tenant}/dataservice_/api/...` and the same under `/{org}/{tenant}/datafabric_/api/...`.
/// Org and tenant match in any letter case; an unknown pair is answered with 404.
pub fn router(
    tenants: HashMap<(String, String), Arc<DataService>>,
    verify: Verifier,
    stats: Arc<Stats>,
) -> Router {
    let tenants = tenants
        .into_iter()
        .map(|((org, tenant), service)| {
            (
                (org.to_ascii_lowercase(), tenant.to_ascii_lowercase()),
                service,
            )
        })
        .collect();
    let state = Arc::new(AppState {
        tenants,
        verify,
        stats,
    });
    let mut router = Router::new();
    for prefix in ["dataservice_", "datafabric_"] {
        let base = format!("/{{org}}/{{tenant}}/{prefix}/api");
        router = router
            .route(&format!("{base}/Entity"), get(list_entities))
            .route(&format!("{base}/Entity/{{entity}}"), get(describe_entity))
            .route(
                &format!("{base}/Entity/{{entity}}/metadata"),
                get(describe_entity),
            )
            .route(&format!("{base}/EntityService/{{entity}}/read"), get(read))
            .route(
                &format!("{base}/EntityService/{{entity}}/read/{{id}}"),
                get(read_one),
            )
            .route(
                &format!("{base}/EntityService/{{entity}}/query"),
                post(query),
            )
            .route(
                &format!("{base}/EntityService/{{entity}}/insert"),
                post(insert),
            )
            .route(
                &format!("{base}/EntityService/{{entity}}/update/{{id}}"),
                post(update),
            )
            .route(
                &format!("{base}/EntityService/{{entity}}/delete/{{id}}"),
                post(delete),
            );
    }
    router.with_state(state)
}

/// Finds the tenant, checks the caller, then runs `work` on the blocking pool with the
/// tenant's service, the caller's user Id and the as-of instant; counts and writes the
/// response.
async fn run<F>(
    state: &AppState,
    endpoint: &'static str,
    org: &str,
    tenant: &str,
    headers: &HeaderMap,
    need: Need,
    work: F,
) -> Response
where
    F: FnOnce(&DataService, Uuid, i64) -> Result<Served, ApiError> + Send + 'static,
{
    let result = async {
        let key = (org.to_ascii_lowercase(), tenant.to_ascii_lowercase());
        let service = state.tenants.get(&key).cloned().ok_or_else(|| {
            ApiError::NotFound(format!("no tenant '{tenant}' in organization '{org}'"))
        })?;
        let user = user_of(&authorize(&state.verify, headers, org, tenant, need)?);
        // Reads answer as of `X-Sim-As-Of` (Unix ms or RFC 3339) or now.
        let at = match headers.get(crate::http::odata::AS_OF_HEADER) {
            None => now_ms(),
            Some(v) => v
                .to_str()
                .ok()
                .and_then(crate::http::odata::parse_instant)
                .ok_or_else(|| {
                    ApiError::BadRequest(
                        "X-Sim-As-Of must be Unix milliseconds or an RFC 3339 date-time".into(),
                    )
                })?,
        };
        tokio::task::spawn_blocking(move || work(&service, user, at))
            .await
            .map_err(|e| ApiError::Internal(format!("request failed: {e}")))?
    }
    .await;
    respond(&state.stats, endpoint, result)
}

fn respond(stats: &Stats, endpoint: &str, result: Result<Served, ApiError>) -> Response {
    match result {
        Ok(served) => {
            stats.request(endpoint, 200);
            if served.records > 0 {
                stats.records(served.records);
            }
            if served.body.is_empty() {
                return StatusCode::OK.into_response();
            }
            (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json; charset=utf-8"),
                )],
                served.body,
            )
                .into_response()
        }
        Err(error) => {
            let status = match &error {
                ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
                ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
                ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
                ApiError::NotFound(_) => StatusCode::NOT_FOUND,
                ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            };
            stats.request(endpoint, status.as_u16());
            let body = serde_json::json!({ "message": error.to_string() }).to_string();
            let mut response = (
                status,
                [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
                body,
            )
                .into_response();
            if status == StatusCode::UNAUTHORIZED {
                // ASP.NET's JwtBearer handler sends this challenge with every 401.
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
            }
            response
        }
    }
}

/// Query-string parameters; names match in any letter case, as ASP.NET binds them.
struct Params(Vec<(String, String)>);

impl Params {
    fn new(raw: Option<String>) -> Self {
        Params(
            url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
                .into_owned()
                .collect(),
        )
    }

    fn int(&self, name: &str, default: i64, min: i64, max: i64) -> Result<i64, ApiError> {
        let Some((_, text)) = self.0.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)) else {
            return Ok(default);
        };
        match text.trim().parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            Ok(n) => Err(ApiError::BadRequest(format!(
                "{name} must be between {min} and {max}, got {n}"
            ))),
            Err(_) => Err(ApiError::BadRequest(format!(
                "{name} must be a whole number, got '{text}'"
            ))),
        }
    }

    fn level(&self) -> Result<u8, ApiError> {
        let (min, max) = (*EXPANSION_LEVELS.start(), *EXPANSION_LEVELS.end());
        Ok(self.int(
            "expansionLevel",
            DEFAULT_EXPANSION_LEVEL.into(),
            min.into(),
            max.into(),
        )? as u8)
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

async fn list_entities(
    State(s): AppRef,
    Path((org, tenant)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    run(
        &s,
        "dataservice/entity",
        &org,
        &tenant,
        &headers,
        Need::Schema,
        |svc, _, _| Ok(svc.list_entities()),
    )
    .await
}

async fn describe_entity(
    State(s): AppRef,
    Path((org, tenant, entity)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    run(
        &s,
        "dataservice/entity",
        &org,
        &tenant,
        &headers,
        Need::Schema,
        move |svc, _, _| svc.describe_entity(&entity),
    )
    .await
}

async fn read(
    State(s): AppRef,
    Path((org, tenant, entity)): Path<(String, String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    run(
        &s,
        "dataservice/read",
        &org,
        &tenant,
        &headers,
        Need::Read,
        move |svc, _, at| {
            let params = Params::new(q);
            let start = params.int("start", 0, 0, i64::from(i32::MAX))? as u64;
            let limit = params.int("limit", DEFAULT_LIMIT as i64, 0, MAX_LIMIT as i64)? as u64;
            svc.read(&entity, start, limit, params.level()?, at)
        },
    )
    .await
}

async fn read_one(
    State(s): AppRef,
    Path((org, tenant, entity, id)): Path<(String, String, String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    run(
        &s,
        "dataservice/read_by_id",
        &org,
        &tenant,
        &headers,
        Need::Read,
        move |svc, _, at| svc.read_one(&entity, &id, Params::new(q).level()?, at),
    )
    .await
}

async fn query(
    State(s): AppRef,
    Path((org, tenant, entity)): Path<(String, String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    run(
        &s,
        "dataservice/query",
        &org,
        &tenant,
        &headers,
        Need::Read,
        move |svc, _, at| svc.query(&entity, &body, Params::new(q).level()?, at),
    )
    .await
}

async fn insert(
    State(s): AppRef,
    Path((org, tenant, entity)): Path<(String, String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    run(
        &s,
        "dataservice/insert",
        &org,
        &tenant,
        &headers,
        Need::Write,
        move |svc, user, _| svc.insert(&entity, &body, user, now_ms(), Params::new(q).level()?),
    )
    .await
}

async fn update(
    State(s): AppRef,
    Path((org, tenant, entity, id)): Path<(String, String, String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    run(
        &s,
        "dataservice/update",
        &org,
        &tenant,
        &headers,
        Need::Write,
        move |svc, user, _| {
            svc.update(&entity, &id, &body, user, now_ms(), Params::new(q).level()?)
        },
    )
    .await
}

async fn delete(
    State(s): AppRef,
    Path((org, tenant, entity, id)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Response {
    run(
        &s,
        "dataservice/delete",
        &org,
        &tenant,
        &headers,
        Need::Write,
        move |svc, _, _| svc.delete(&entity, &id),
    )
    .await
}
