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
use axum::routing::{on, MethodFilter, MethodRouter};
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

const GET: MethodFilter = MethodFilter::GET;
const POST: MethodFilter = MethodFilter::POST;

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
        let entity = format!("{base}/EntityService/{{entity}}");
        router = router
            .route(
                &format!("{base}/Entity"),
                endpoint(GET, "dataservice/entity", Need::Schema, |svc, _, _, _| {
                    Ok(svc.list_entities())
                }),
            )
            .route(
                &format!("{base}/Entity/{{entity}}"),
                endpoint(GET, "dataservice/entity", Need::Schema, describe),
            )
            .route(
                &format!("{base}/Entity/{{entity}}/metadata"),
                endpoint(GET, "dataservice/entity", Need::Schema, describe),
            )
            .route(
                &format!("{entity}/read"),
                endpoint(GET, "dataservice/read", Need::Read, |svc, call, _, at| {
                    let params = call.params();
                    let start = params.int("start", 0, 0, i64::from(i32::MAX))? as u64;
                    let limit =
                        params.int("limit", DEFAULT_LIMIT as i64, 0, MAX_LIMIT as i64)? as u64;
                    svc.read(call.entity(), start, limit, params.level()?, at)
                }),
            )
            .route(
                &format!("{entity}/read/{{id}}"),
                endpoint(
                    GET,
                    "dataservice/read_by_id",
                    Need::Read,
                    |svc, call, _, at| {
                        svc.read_one(call.entity(), call.id(), call.params().level()?, at)
                    },
                ),
            )
            .route(
                &format!("{entity}/query"),
                endpoint(POST, "dataservice/query", Need::Read, |svc, call, _, at| {
                    svc.query(call.entity(), &call.body, call.params().level()?, at)
                }),
            )
            .route(
                &format!("{entity}/insert"),
                endpoint(
                    POST,
                    "dataservice/insert",
                    Need::Write,
                    |svc, call, user, _| {
                        svc.insert(
                            call.entity(),
                            &call.body,
                            user,
                            now_ms(),
                            call.params().level()?,
                        )
                    },
                ),
            )
            .route(
                &format!("{entity}/update/{{id}}"),
                endpoint(
                    POST,
                    "dataservice/update",
                    Need::Write,
                    |svc, call, user, _| {
                        svc.update(
                            call.entity(),
                            call.id(),
                            &call.body,
                            user,
                            now_ms(),
                            call.params().level()?,
                        )
                    },
                ),
            )
            .route(
                &format!("{entity}/delete/{{id}}"),
                endpoint(
                    POST,
                    "dataservice/delete",
                    Need::Write,
                    |svc, call, _, _| svc.delete(call.entity(), call.id()),
                ),
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

/// The parts of a request an endpoint's work reads besides the caller and the instant.
struct Call {
    /// The path's parameters: `org`, `tenant`, and `entity` and `id` where the route has
    /// them.
    path: HashMap<String, String>,
    query: Option<String>,
    body: Bytes,
}

impl Call {
    fn param(&self, name: &str) -> &str {
        self.path.get(name).map_or("", String::as_str)
    }

    fn entity(&self) -> &str {
        self.param("entity")
    }

    fn id(&self) -> &str {
        self.param("id")
    }

    fn params(&self) -> Params {
        Params::new(self.query.clone())
    }
}

/// What an endpoint does with the tenant's service, for the caller's user Id, at the
/// as-of instant.
type Work = fn(&DataService, &Call, Uuid, i64) -> Result<Served, ApiError>;

/// The route of one endpoint: `method` requests, counted as `name`, allowed with `need`,
/// answered by `work` (through [`run`]).
fn endpoint(
    method: MethodFilter,
    name: &'static str,
    need: Need,
    work: Work,
) -> MethodRouter<Arc<AppState>> {
    on(
        method,
        move |State(s): AppRef,
              Path(path): Path<HashMap<String, String>>,
              RawQuery(query): RawQuery,
              headers: HeaderMap,
              body: Bytes| async move {
            let call = Call { path, query, body };
            let (org, tenant) = (call.param("org"), call.param("tenant"));
            let (org, tenant) = (org.to_owned(), tenant.to_owned());
            run(
                &s,
                name,
                &org,
                &tenant,
                &headers,
                need,
                move |svc, user, at| work(svc, &call, user, at),
            )
            .await
        },
    )
}

fn describe(svc: &DataService, call: &Call, _: Uuid, _: i64) -> Result<Served, ApiError> {
    svc.describe_entity(call.entity())
}
