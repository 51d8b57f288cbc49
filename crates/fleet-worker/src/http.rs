//! The worker's HTTP surface: `/healthz` (the process is alive), `/readyz` (broker and
//! ledger answer), `/metrics` (Prometheus). Open, like every probe endpoint; it shows no
//! ids, tokens or record data.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::service::Worker;

pub fn router(worker: Worker) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(worker)
}

async fn readyz(State(w): State<Worker>) -> Response {
    let ready = w.readiness().await;
    let status = if ready.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(ready)).into_response()
}

async fn metrics(State(w): State<Worker>) -> Response {
    let _ = w.readiness().await;
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        w.render_metrics(),
    )
        .into_response()
}

/// Serves the probes and metrics until `shutdown`.
pub async fn serve(
    worker: Worker,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router(worker))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}
