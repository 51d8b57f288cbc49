//! Orchestrator's OData endpoints: `GET /{org}/{tenant}/orchestrator_/odata/{Entity}` (and
//! `{Entity}({id})`), plus the standalone form `GET /odata/{Entity}`; and `$metadata`
//! ([`super::metadata`]).
//!
//! The checks run in the order Orchestrator applies them, so each mistake gets the answer a
//! real tenant would give: unknown tenant or entity → 404; missing, expired or revoked
//! bearer → 401; scope not granted → 403; folder header missing → 400 errorCode 1101;
//! folder unknown or not permitted → 400 errorCode 1100; Jobs/QueueItems budget spent →
//! 429 with `Retry-After`; bad query options → 400.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::Engine as _;

use crate::auth::{bearer_token, Principal};
use crate::data::{entities, EntityGen};
use crate::engine;
use crate::http::errors::{odata_error, scope_error, unauthorized};
use crate::odata;
use crate::overlay::PartKey;
use crate::ratelimit::{retry_after_secs, Admission};
use crate::server::{Simulator, Tenant};
use crate::value::{write_row, Val};

/// The OData routes.
pub fn routes(sim: Arc<Simulator>) -> Router {
    Router::new()
        .route("/{org}/{tenant}/orchestrator_/odata/{entity}", get(cloud))
        .route("/odata/{entity}", get(standalone))
        .with_state(sim)
}

async fn cloud(
    State(sim): State<Arc<Simulator>>,
    Path((org, tenant, entity)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let endpoint = endpoint_name(&entity);
    let resp = match sim.tenant(&org, &tenant) {
        Some(t) => handle(&sim, t.clone(), &entity, query, &headers, true).await,
        None => odata_error(
            StatusCode::NOT_FOUND,
            &format!("Tenant '{tenant}' of organization '{org}' was not found."),
            0,
        ),
    };
    sim.stats.request(&endpoint, resp.status().as_u16());
    resp
}

async fn standalone(
    State(sim): State<Arc<Simulator>>,
    Path(entity): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let endpoint = endpoint_name(&entity);
    let bound = bearer_token(&headers)
        .and_then(|t| sim.identity.verify(t).ok())
        .and_then(|p| p.tenant);
    let resp = match sim.standalone_tenant(bound.as_deref()) {
        Some(t) => handle(&sim, t.clone(), &entity, query, &headers, false).await,
        None => odata_error(StatusCode::NOT_FOUND, "No tenant is configured.", 0),
    };
    sim.stats.request(&endpoint, resp.status().as_u16());
    resp
}

/// `odata/Jobs` for both `Jobs` and `Jobs(42)`: a stats key from a small fixed set.
fn endpoint_name(segment: &str) -> String {
    if segment == "$metadata" {
        return "odata/$metadata".to_owned();
    }
    let name = segment.split('(').next().unwrap_or(segment);
    match entities::by_name(name) {
        Some(g) => format!("odata/{}", g.def().name),
        None => "odata/unknown".to_owned(),
    }
}

/// Splits `Jobs(42)` into (`Jobs`, Some(42)).
fn parse_segment(segment: &str) -> Result<(&str, Option<i64>), String> {
    match segment.split_once('(') {
        None => Ok((segment, None)),
        Some((name, rest)) => {
            let key = rest
                .strip_suffix(')')
                .ok_or_else(|| format!("Bad key segment '{segment}'."))?;
            let key = key.strip_suffix('L').unwrap_or(key);
            let id = key
                .parse()
                .map_err(|_| format!("The key value '{key}' is not a valid Edm.Int64."))?;
            Ok((name, Some(id)))
        }
    }
}

async fn handle(
    sim: &Arc<Simulator>,
    tenant: Arc<Tenant>,
    segment: &str,
    raw_query: Option<String>,
    headers: &HeaderMap,
    cloud: bool,
) -> Response {
    if segment == "$metadata" {
        return match authenticate(sim, &tenant, headers) {
            Ok(_) => super::metadata::response(raw_query.as_deref(), headers),
            Err(resp) => resp,
        };
    }
    let (name, key) = match parse_segment(segment) {
        Ok(v) => v,
        Err(msg) => return odata_error(StatusCode::BAD_REQUEST, &msg, 0),
    };
    let Some(gen) = entities::by_name(name) else {
        return odata_error(
            StatusCode::NOT_FOUND,
            &format!("No HTTP resource was found that matches the request URI 'odata/{name}'."),
            0,
        );
    };
    let def = gen.def();
    let as_of = match as_of(&tenant, headers) {
        Ok(ms) => ms,
        Err(resp) => return resp,
    };
    let principal = match authenticate(sim, &tenant, headers) {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    if !principal.can_read(def.scope) {
        return scope_error(def.scope);
    }
    let part = if def.folder_scoped {
        match resolve_folder(&tenant, headers, &principal) {
            Ok(i) => i,
            Err(resp) => return resp,
        }
    } else {
        0
    };
    let mut remaining = None;
    // Only list reads count against the budget; `Jobs({id})` is not limited in the cloud.
    if cloud && def.rate_limited && key.is_none() {
        match sim.limiter.admit(&tenant.key(), def.name, Instant::now()) {
            Admission::Allowed { remaining: r } => remaining = Some(r),
            Admission::Throttled { retry_after } => {
                let mut resp = odata_error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many requests. The rate limit for this endpoint has been reached.",
                    0,
                );
                let h = resp.headers_mut();
                h.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(retry_after_secs(retry_after)),
                );
                h.insert("x-ratelimit-remaining", HeaderValue::from(0));
                return resp;
            }
        }
    }
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(raw_query.as_deref().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let mut query = match odata::parse_query(&pairs, def.schema, def.max_top) {
        Ok(q) => q,
        Err(e) => return odata_error(StatusCode::BAD_REQUEST, &e.response_message(), 0),
    };
    if let Some(id) = key {
        // `Jobs(42)` is a keyed read: the record or 404, never a collection.
        let Some(id_idx) = def.id_field.and_then(|f| def.schema.index_of(f)) else {
            return odata_error(StatusCode::BAD_REQUEST, "This entity set has no key.", 0);
        };
        query.filter = Some(odata::Expr::Cmp {
            path: odata::FieldPath(vec![id_idx]),
            op: odata::CmpOp::Eq,
            value: Val::Int(id),
        });
        query.top = Some(1);
        query.skip = 0;
        query.count = false;
    }
    let overlay = tenant.overlay.snapshot(PartKey {
        entity: def.name,
        part,
    });
    let tenant2 = tenant.clone();
    let result =
        tokio::task::spawn_blocking(move || -> Result<(Vec<u8>, usize), odata::ODataError> {
            let view = tenant2.data.as_of(as_of);
            let page = engine::execute(gen, &view, part, &overlay, &query)?;
            Ok(render(
                gen,
                &tenant2,
                page,
                query.select.as_deref(),
                key.is_some(),
            ))
        })
        .await;
    let (body, n) = match result {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return odata_error(StatusCode::BAD_REQUEST, &e.message, 0),
        Err(_) => {
            return odata_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "An error has occurred.",
                0,
            )
        }
    };
    if key.is_some() && n == 0 {
        return odata_error(StatusCode::NOT_FOUND, "The entity was not found.", 0);
    }
    sim.stats.records(n as u64);
    let mut resp = (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "application/json; odata.metadata=minimal; odata.streaming=true",
        )],
        body,
    )
        .into_response();
    if let Some(r) = remaining {
        resp.headers_mut()
            .insert("x-ratelimit-remaining", HeaderValue::from(r));
    }
    resp
}

/// Writes the OData envelope (or the single entity for a keyed read).
fn render(
    gen: &dyn EntityGen,
    tenant: &Tenant,
    page: engine::Page,
    select: Option<&[usize]>,
    single: bool,
) -> (Vec<u8>, usize) {
    let def = gen.def();
    let schema = def.schema;
    let mut out = Vec::with_capacity(256 + page.rows.len() * 1600);
    let context = format!(
        "/{}/{}/orchestrator_/odata/$metadata#{}",
        tenant.org, tenant.name, def.name
    );
    if single {
        if let Some(row) = page.rows.first() {
            write_row(&mut out, schema, row, select);
            // splice the context into the object: {"@odata.context":"...",<fields>}
            let mut with_ctx = Vec::with_capacity(out.len() + context.len() + 24);
            with_ctx.extend_from_slice(b"{\"@odata.context\":");
            crate::value::write_json_str(&mut with_ctx, &format!("{context}/$entity"));
            if out.len() > 2 {
                with_ctx.push(b',');
            }
            with_ctx.extend_from_slice(&out[1..]);
            return (with_ctx, 1);
        }
        return (out, 0);
    }
    out.extend_from_slice(b"{\"@odata.context\":");
    crate::value::write_json_str(&mut out, &context);
    if let Some(count) = page.count {
        out.extend_from_slice(b",\"@odata.count\":");
        out.extend_from_slice(itoa::Buffer::new().format(count).as_bytes());
    }
    out.extend_from_slice(b",\"value\":[");
    for (i, row) in page.rows.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_row(&mut out, schema, row, select);
    }
    out.extend_from_slice(b"]}");
    (out, page.rows.len())
}

/// The header a test sends to read a tenant as of an earlier instant (ground truth).
pub const AS_OF_HEADER: &str = "x-sim-as-of";

/// The instant a request reads the tenant at: `X-Sim-As-Of` (Unix milliseconds or RFC 3339)
/// when present, else now ([`Tenant::now_ms`]); never after the span's end.
pub fn as_of(tenant: &Tenant, headers: &HeaderMap) -> Result<i64, Response> {
    let Some(v) = headers.get(AS_OF_HEADER) else {
        return Ok(tenant.now_ms());
    };
    v.to_str()
        .ok()
        .and_then(parse_instant)
        .map(|ms| ms.min(tenant.data.span_end_ms))
        .ok_or_else(|| {
            odata_error(
                StatusCode::BAD_REQUEST,
                "X-Sim-As-Of must be Unix milliseconds or an RFC 3339 date-time.",
                0,
            )
        })
}

/// Unix milliseconds or an RFC 3339 date-time.
pub fn parse_instant(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(ms) = s.parse::<i64>() {
        return Some(ms);
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// Resolves the bearer token and checks it may act on this tenant.
fn authenticate(
    sim: &Simulator,
    tenant: &Tenant,
    headers: &HeaderMap,
) -> Result<Principal, Response> {
    let token = bearer_token(headers).ok_or_else(|| unauthorized("no bearer token"))?;
    let principal = sim
        .identity
        .verify(token)
        .map_err(|e| unauthorized(&e.to_string()))?;
    let org_ok = principal
        .org
        .as_deref()
        .is_none_or(|o| o.eq_ignore_ascii_case(&tenant.org));
    let tenant_ok = principal
        .tenant
        .as_deref()
        .is_none_or(|t| t.eq_ignore_ascii_case(&tenant.name));
    if !org_ok || !tenant_ok {
        return Err(unauthorized("the token was not issued for this tenant"));
    }
    Ok(principal)
}

/// Resolves the folder headers to a folder index, as Orchestrator does.
fn resolve_folder(
    tenant: &Tenant,
    headers: &HeaderMap,
    principal: &Principal,
) -> Result<usize, Response> {
    let header_str = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let folders = &tenant.data.folders;
    let found = if let Some(id) = header_str("x-uipath-organizationunitid") {
        id.trim()
            .parse()
            .ok()
            .and_then(|id| tenant.data.folder_by_id(id))
    } else if let Some(key) = header_str("x-uipath-folderkey") {
        let key = uuid::Uuid::parse_str(key.trim()).ok();
        folders.iter().position(|f| Some(f.key) == key)
    } else if let Some(path) = header_str("x-uipath-folderpath") {
        tenant.data.folder_by_path(path)
    } else if let Some(encoded) = header_str("x-uipath-folderpath-encoded") {
        decode_utf16_base64(encoded).and_then(|p| tenant.data.folder_by_path(&p))
    } else {
        return Err(odata_error(
            StatusCode::BAD_REQUEST,
            "An organization unit is required for this action.",
            1101,
        ));
    };
    match found {
        Some(i) if principal.can_see_folder(&folders[i].fully_qualified_name) => Ok(i),
        _ => Err(odata_error(
            StatusCode::BAD_REQUEST,
            "Folder does not exist or the user does not have access to the folder.",
            1100,
        )),
    }
}

/// `X-UIPATH-FolderPath-Encoded` is the path as UTF-16LE, then Base64.
fn decode_utf16_base64(encoded: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    if bytes.len() % 2 != 0 {
        return None;
    }
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16(&units).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_segments_parse() {
        assert_eq!(parse_segment("Jobs").unwrap(), ("Jobs", None));
        assert_eq!(parse_segment("Jobs(42)").unwrap(), ("Jobs", Some(42)));
        assert_eq!(parse_segment("Jobs(42L)").unwrap(), ("Jobs", Some(42)));
        assert!(parse_segment("Jobs(x)").is_err());
        assert!(parse_segment("Jobs(4").is_err());
    }

    #[test]
    fn instants_parse_as_millis_or_rfc3339() {
        assert_eq!(parse_instant("1735689600000"), Some(1_735_689_600_000));
        assert_eq!(
            parse_instant("2025-01-01T00:00:00Z"),
            Some(1_735_689_600_000)
        );
        assert_eq!(
            parse_instant("2025-01-01T01:00:00.5+01:00"),
            Some(1_735_689_600_500)
        );
        assert_eq!(parse_instant("yesterday"), None);
    }

    #[test]
    fn encoded_folder_paths_decode() {
        let path = "Finance/Invoices";
        let bytes: Vec<u8> = path.encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
        let enc = base64::engine::general_purpose::STANDARD.encode(bytes);
        assert_eq!(decode_utf16_base64(&enc).as_deref(), Some(path));
        assert_eq!(decode_utf16_base64("!!"), None);
    }
}
