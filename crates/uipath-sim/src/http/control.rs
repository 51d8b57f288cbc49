//! The `/_sim` control API: counters, faults, token revocation, rate budgets and data
//! changes, for tests and operators. It has no authentication — the simulator is a local
//! test tool and must only ever listen on loopback or a private test network.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::data::entities;
use crate::faults::FaultConfig;
use crate::mutate;
use crate::ratelimit::RateLimitConfig;
use crate::server::Simulator;
use crate::value::write_row;

type Sim = State<Arc<Simulator>>;

/// The control routes.
pub fn routes(sim: Arc<Simulator>) -> Router {
    Router::new()
        .route("/_sim/health", get(|| async { "ok" }))
        .route("/_sim/stats", get(stats))
        .route("/_sim/stats/reset", post(reset_stats))
        .route(
            "/_sim/faults",
            get(get_faults).put(put_faults).delete(clear_faults),
        )
        .route("/_sim/faults/storm", post(start_storm).delete(stop_storm))
        .route("/_sim/tokens/revoke", post(revoke_tokens))
        .route("/_sim/tokens/revoke-refresh", post(revoke_refresh))
        .route("/_sim/user-keys/revoke", post(revoke_user_keys))
        .route("/_sim/rate-limit", get(get_rate_limit).put(put_rate_limit))
        .route(
            "/_sim/rate-limit/{org}/{tenant}",
            put(put_tenant_rate_limit),
        )
        .route("/_sim/tenants", get(tenants))
        .route("/_sim/changes/{org}/{tenant}", get(changes))
        .route("/_sim/data/{org}/{tenant}/{entity}/insert", post(insert))
        .route("/_sim/data/{org}/{tenant}/{entity}/update", post(update))
        .with_state(sim)
}

fn bad_request(message: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": message.into() })),
    )
        .into_response()
}

async fn stats(State(sim): Sim) -> Response {
    Json(sim.stats.snapshot()).into_response()
}

async fn reset_stats(State(sim): Sim) -> StatusCode {
    sim.stats.reset();
    StatusCode::NO_CONTENT
}

async fn get_faults(State(sim): Sim) -> Response {
    Json(sim.faults.config()).into_response()
}

async fn put_faults(
    State(sim): Sim,
    body: Result<Json<FaultConfig>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Json(config) = match body {
        Ok(b) => b,
        Err(e) => return bad_request(e.body_text()),
    };
    if let Err(e) = config.validate() {
        return bad_request(e);
    }
    sim.faults.set_config(config.clone());
    Json(config).into_response()
}

async fn clear_faults(State(sim): Sim) -> StatusCode {
    sim.faults.set_config(FaultConfig::default());
    sim.faults.stop_storm();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StormRequest {
    seconds: f64,
    #[serde(default = "one")]
    retry_after_secs: u64,
    #[serde(default)]
    tenants: Vec<String>,
}

fn one() -> u64 {
    1
}

async fn start_storm(
    State(sim): Sim,
    body: Result<Json<StormRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Json(req) = match body {
        Ok(b) => b,
        Err(e) => return bad_request(e.body_text()),
    };
    if !(req.seconds > 0.0 && req.seconds <= 3600.0) {
        return bad_request("seconds must be in (0, 3600]");
    }
    sim.faults.start_storm(
        Duration::from_secs_f64(req.seconds),
        req.retry_after_secs,
        req.tenants,
    );
    StatusCode::NO_CONTENT.into_response()
}

async fn stop_storm(State(sim): Sim) -> StatusCode {
    sim.faults.stop_storm();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RevokeRequest {
    #[serde(default)]
    client_id: Option<String>,
}

async fn revoke_tokens(State(sim): Sim, body: Option<Json<RevokeRequest>>) -> Response {
    let req = body.map(|b| b.0).unwrap_or_default();
    let n = sim.identity.revoke_access_tokens(req.client_id.as_deref());
    Json(json!({ "revoked": n })).into_response()
}

async fn revoke_refresh(State(sim): Sim, body: Option<Json<RevokeRequest>>) -> Response {
    let req = body.map(|b| b.0).unwrap_or_default();
    let n = sim
        .identity
        .revoke_refresh_families(req.client_id.as_deref());
    Json(json!({ "families": n })).into_response()
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RevokeKeysRequest {
    #[serde(default)]
    user: Option<String>,
}

/// "Revoke Access" on the API access page: the user's keys stop working.
async fn revoke_user_keys(State(sim): Sim, body: Option<Json<RevokeKeysRequest>>) -> Response {
    let req = body.map(|b| b.0).unwrap_or_default();
    let n = sim.identity.revoke_user_keys(req.user.as_deref());
    Json(json!({ "revoked": n })).into_response()
}

async fn get_rate_limit(State(sim): Sim) -> Response {
    Json(sim.limiter.config()).into_response()
}

async fn put_rate_limit(State(sim): Sim, Json(config): Json<RateLimitConfig>) -> Response {
    if let Err(e) = config.validate() {
        return bad_request(e);
    }
    sim.limiter.set_config(config);
    Json(config).into_response()
}

async fn put_tenant_rate_limit(
    State(sim): Sim,
    Path((org, tenant)): Path<(String, String)>,
    Json(config): Json<RateLimitConfig>,
) -> Response {
    if let Err(e) = config.validate() {
        return bad_request(e);
    }
    sim.limiter.set_override(&format!("{org}/{tenant}"), config);
    Json(config).into_response()
}

/// Tenants, their folders and how many generated records each partition holds — enough
/// for a test to enumerate the ground truth over HTTP.
async fn tenants(State(sim): Sim) -> Response {
    let list: Vec<Value> = sim
        .tenants()
        .map(|t| {
            let folders: Vec<Value> = t
                .data
                .folders
                .iter()
                .map(|f| {
                    json!({ "Id": f.id, "Key": f.key, "FullyQualifiedName": f.fully_qualified_name })
                })
                .collect();
            let mut counts = Map::new();
            let view = t.view();
            for gen in entities::all() {
                let def = gen.def();
                // Sparse sets (queue item events) have empty slots below `len`.
                let count = |p: usize| {
                    let len = gen.len(&view, p);
                    if gen.sparse() {
                        (0..len).filter(|&i| gen.exists(&view, p, i)).count() as u64
                    } else {
                        len
                    }
                };
                let n: Vec<u64> = if def.folder_scoped {
                    (0..t.data.folders.len()).map(count).collect()
                } else {
                    vec![count(0)]
                };
                counts.insert(def.name.to_owned(), json!(n));
            }
            json!({ "org": t.org, "tenant": t.name, "folders": folders, "records": counts,
                    "changed": t.overlay.len() })
        })
        .collect();
    Json(list).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeRequest {
    /// Fully qualified folder name, required for folder-scoped entities.
    #[serde(default)]
    folder: Option<String>,
    /// The record to update (updates only).
    #[serde(default)]
    id: Option<i64>,
    #[serde(default)]
    fields: Map<String, Value>,
}

async fn insert(
    State(sim): Sim,
    Path((org, tenant, entity)): Path<(String, String, String)>,
    Json(req): Json<ChangeRequest>,
) -> Response {
    change(&sim, &org, &tenant, &entity, req, false)
}

async fn update(
    State(sim): Sim,
    Path((org, tenant, entity)): Path<(String, String, String)>,
    Json(req): Json<ChangeRequest>,
) -> Response {
    change(&sim, &org, &tenant, &entity, req, true)
}

fn change(
    sim: &Simulator,
    org: &str,
    tenant: &str,
    entity: &str,
    req: ChangeRequest,
    is_update: bool,
) -> Response {
    let Some(t) = sim.tenant(org, tenant) else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "unknown tenant"})),
        )
            .into_response();
    };
    let Some(gen) = entities::by_name(entity) else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "unknown entity"})),
        )
            .into_response();
    };
    let def = gen.def();
    let part = if def.folder_scoped {
        let Some(name) = req.folder.as_deref() else {
            return bad_request(format!("folder is required for {}", def.name));
        };
        match t.data.folder_by_path(name) {
            Some(p) => p,
            None => return bad_request(format!("folder '{name}' does not exist")),
        }
    } else {
        0
    };
    let result = if is_update {
        match req.id {
            Some(id) => mutate::update(t, gen, part, id, &req.fields),
            None => Err("id is required for an update".into()),
        }
    } else {
        mutate::insert(t, gen, part, &req.fields)
    };
    match result {
        Ok(row) => {
            let mut out = Vec::new();
            write_row(&mut out, def.schema, &row, None);
            (
                StatusCode::OK,
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                out,
            )
                .into_response()
        }
        Err(e) => bad_request(e),
    }
}

/// `from`/`to` of `/_sim/changes`: Unix milliseconds or RFC 3339.
#[derive(Debug, Deserialize)]
struct ChangeRange {
    from: Option<String>,
    to: Option<String>,
}

/// `GET /_sim/changes/{org}/{tenant}?from=&to=`: the reference changes of a live tenant
/// (robot renamed, machine removed or added, queue SLA changed, trigger toggled, user
/// modified) with `from <= at < to` (defaults: the live epoch, and now), in time order:
/// `{"now": ms, "changes": [{"kind","entity","id","folder_id","at","value"}]}`.
async fn changes(
    State(sim): Sim,
    Path((org, tenant)): Path<(String, String)>,
    Query(range): Query<ChangeRange>,
) -> Response {
    let Some(t) = sim.tenant(&org, &tenant) else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "unknown tenant"})),
        )
            .into_response();
    };
    let now = t.now_ms();
    let parse = |v: &Option<String>, default: i64| match v {
        None => Ok(default),
        Some(s) => crate::http::odata::parse_instant(s)
            .ok_or_else(|| format!("'{s}' is not Unix milliseconds or RFC 3339")),
    };
    let (from, to) = match (parse(&range.from, i64::MIN), parse(&range.to, now + 1)) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(e), _) | (_, Err(e)) => return bad_request(e),
    };
    let list = crate::data::live::reference_changes(&t.data, from, to);
    Json(json!({ "now": now, "changes": list })).into_response()
}
