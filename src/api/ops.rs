//! Operational routes: liveness, readiness, metrics and the OpenAPI document itself.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::problem::ApiError;
use crate::metrics::{Exposition, Kind};
use crate::store::PoolStats;

pub const TAG: &str = "Operations";

/// The process's health.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    #[schema(example = "ok")]
    pub status: String,
}

/// Liveness: the process is up and answering.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = TAG,
    responses((status = 200, description = "The server is up.", body = Health))
)]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok".into() })
}

/// Readiness: the store answers, so requests can be served.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = TAG,
    responses(
        (status = 200, description = "Ready to serve.", body = Health),
        (status = 503, description = "The store does not answer (`store_unavailable`); the cause is in the server's log under the request id.", body = super::problem::Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u32, description = "Seconds to wait before asking again."))),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    state.store.ping().await.map_err(|e| ApiError::store_unavailable(e.to_string()))?;
    Ok(Json(Health { status: "ok".into() }))
}

/// This API's OpenAPI 3.1 document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = TAG,
    responses((status = 200, description = "The OpenAPI document.", content_type = "application/json", body = Object))
)]
pub async fn openapi_json(State(state): State<AppState>) -> Response {
    let mut response = state.spec_json.clone().into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// Prometheus metrics.
///
/// In the Prometheus text format: requests by route template, method and status class
/// (`http_requests_total`, `http_request_duration_seconds`); the store's connections and, on
/// SQLite, its writer queue (`store_*`); webhook attempts by outcome and their latency, the outbox
/// depth and disabled endpoints (`webhook_*`). It answers while the store is down, with
/// `store_up 0` and without the figures that need a query.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = TAG,
    responses((status = 200, description = "Metrics in the Prometheus text format.", content_type = "text/plain; version=0.0.4", body = String))
)]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let mut out = Exposition::default();
    state.http_metrics.write(&mut out);
    let stats = state.store.webhook_stats().await.ok();
    write_store(&mut out, stats.is_some(), state.store.pool_stats());
    state.dispatcher.metrics.write(&mut out);
    if let Some(stats) = stats {
        out.family("webhook_outbox_pending", Kind::Gauge, "Deliveries waiting for their first or next attempt.");
        out.sample("webhook_outbox_pending", &[], stats.pending_deliveries as f64);
        out.family("webhook_endpoints_disabled", Kind::Gauge, "Endpoints that are disabled.");
        out.sample("webhook_endpoints_disabled", &[], stats.disabled_endpoints as f64);
    }
    let mut response = out.finish().into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"));
    response
}

/// The `store_*` families.
fn write_store(out: &mut Exposition, up: bool, pool: PoolStats) {
    out.family("store_up", Kind::Gauge, "1 when the store answered this scrape's query, 0 when it did not.");
    out.sample("store_up", &[], if up { 1.0 } else { 0.0 });
    out.family("store_connections", Kind::Gauge, "Store connections open, by state.");
    out.sample("store_connections", &[("state", "busy")], pool.busy as f64);
    out.sample("store_connections", &[("state", "idle")], pool.idle as f64);
    if let Some(max) = pool.max {
        out.family("store_connections_max", Kind::Gauge, "The most connections the pool opens.");
        out.sample("store_connections_max", &[], max as f64);
    }
    out.family("store_connection_waiters", Kind::Gauge, "Requests waiting for a store connection.");
    out.sample("store_connection_waiters", &[], pool.waiting as f64);
    if let Some(writer) = pool.writer {
        out.family(
            "store_writer_queue",
            Kind::Gauge,
            "Writes waiting for the SQLite writer thread's next transaction.",
        );
        out.sample("store_writer_queue", &[], writer.queued as f64);
        out.family(
            "store_writer_transactions_total",
            Kind::Counter,
            "Transactions the SQLite writer thread committed, each one disk flush.",
        );
        out.sample("store_writer_transactions_total", &[], writer.transactions as f64);
        out.family("store_writer_writes_total", Kind::Counter, "Writes committed in those transactions.");
        out.sample("store_writer_writes_total", &[], writer.writes as f64);
    }
}
