//! The identity server's routes, and the HTML pages it answers with where a browser-facing
//! server would.
//!
//! Routes (merged by the caller at the root):
//! - `POST /identity_/connect/token`, `POST /{org}/identity_/connect/token`
//! - `GET /identity_/connect/authorize`, `GET /{org}/identity_/connect/authorize`
//! - `POST /oauth/token`: the legacy User Key exchange of account.uipath.com (`legacy`)
//! - `POST /api/Account/Authenticate`, `POST /{org}/{tenant}/api/account/authenticate`
//!   (each in both spellings: axum matches paths case-sensitively)
//! - `/identity/connect/token` (no underscore): the token endpoint when standalone; in the
//!   cloud a 200 HTML page for GET and POST, which is what trips clients that build the
//!   cloud URL the standalone way and then fail to parse the "token" response.
//!
//! Every response is counted in [`crate::stats::Stats`] under `identity/token`,
//! `identity/authorize` or `account/authenticate`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use super::{authorize, legacy, ropc, token_endpoint, Identity};

pub(crate) fn router(id: Arc<Identity>) -> Router {
    let mut router = Router::new()
        .route("/identity_/connect/token", post(token_endpoint::token))
        .route(
            "/{org}/identity_/connect/token",
            post(token_endpoint::token_in_org),
        )
        .route("/identity_/connect/authorize", get(authorize::authorize))
        .route(
            "/{org}/identity_/connect/authorize",
            get(authorize::authorize_in_org),
        );
    router = router.route("/oauth/token", post(legacy::token));
    for path in ["/api/Account/Authenticate", "/api/account/authenticate"] {
        router = router.route(path, post(ropc::authenticate));
    }
    for path in [
        "/{org}/{tenant}/api/account/authenticate",
        "/{org}/{tenant}/api/Account/Authenticate",
    ] {
        router = router.route(path, post(ropc::authenticate_in_tenant));
    }
    router = if id.config.standalone {
        router.route("/identity/connect/token", post(token_endpoint::token))
    } else {
        router.route(
            "/identity/connect/token",
            get(cloud_front_page).post(cloud_front_page),
        )
    };
    // `route_layer`, not `layer`: the caller merges this router with others, and only
    // the routes (not the fallback) are ours to count.
    router
        .route_layer(middleware::from_fn_with_state(Arc::clone(&id), count))
        .with_state(id)
}

/// Records every response under a small fixed set of endpoint labels.
async fn count(State(id): State<Arc<Identity>>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_ascii_lowercase();
    let endpoint = if path.ends_with("/connect/token") {
        "identity/token"
    } else if path == "/oauth/token" {
        "account/oauth-token"
    } else if path.ends_with("/connect/authorize") {
        "identity/authorize"
    } else {
        "account/authenticate"
    };
    let response = next.run(request).await;
    id.stats.request(endpoint, response.status().as_u16());
    response
}

/// What the cloud's web front serves for paths its identity server does not own.
async fn cloud_front_page() -> Response {
    html_page(
        StatusCode::OK,
        "UiPath",
        "You need to enable JavaScript to run this app.",
    )
}

/// A minimal HTML page. `message` is fixed text (never request input), so no escaping.
pub(crate) fn html_page(
    status: StatusCode,
    title: &'static str,
    message: &'static str,
) -> Response {
    let body = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body><p>{message}</p></body></html>\n"
    );
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}
