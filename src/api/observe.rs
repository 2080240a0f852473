//! What every request leaves behind: its latency in `/metrics`, by route template, method and
//! status class, and one access log line with its request id.
//!
//! The route is the template axum matched (`/v1/jobs/{job_id}`), never the path, so the number
//! of series stays bounded whatever clients send; a request no route matched counts under
//! `unmatched`.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;

use super::problem::REQUEST_ID;
use crate::metrics::{Exposition, Histogram, Kind};

/// Upper bounds (microseconds) of the request latency buckets: 250 µs to 30 s, the request timeout.
const BUCKETS_MICROS: &[u64] = &[
    250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000,
    10_000_000, 30_000_000,
];

/// The methods counted by name; any other counts as `other`.
const METHODS: [&str; 8] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "other"];
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
/// The route label of a request that matched no route.
const UNMATCHED: &str = "unmatched";

/// Request latencies by route template, method and status class.
#[derive(Debug, Default)]
pub struct HttpMetrics {
    routes: RwLock<HashMap<String, Arc<RouteSeries>>>,
}

/// One route's histograms, one per method and status class, made on first use.
#[derive(Debug)]
struct RouteSeries([OnceLock<Histogram>; METHODS.len() * CLASSES.len()]);

fn method_index(method: &Method) -> usize {
    METHODS.iter().position(|m| *m == method.as_str()).unwrap_or(METHODS.len() - 1)
}

fn class_index(status: u16) -> usize {
    usize::from(status / 100).clamp(1, CLASSES.len()) - 1
}

impl HttpMetrics {
    fn observe(&self, route: &str, method: &Method, status: u16, elapsed: Duration) {
        let series = self.routes.read().unwrap_or_else(|p| p.into_inner()).get(route).cloned();
        let series = series.unwrap_or_else(|| {
            let mut routes = self.routes.write().unwrap_or_else(|p| p.into_inner());
            Arc::clone(
                routes
                    .entry(route.to_owned())
                    .or_insert_with(|| Arc::new(RouteSeries(std::array::from_fn(|_| OnceLock::new())))),
            )
        });
        let slot = method_index(method) * CLASSES.len() + class_index(status);
        series.0[slot].get_or_init(|| Histogram::new(BUCKETS_MICROS)).observe(elapsed);
    }

    /// Writes `http_requests_total` and `http_request_duration_seconds`, each series once a
    /// request has used it, in route order so that scrapes compare line by line.
    pub fn write(&self, out: &mut Exposition) {
        let routes = self.routes.read().unwrap_or_else(|p| p.into_inner());
        let mut sorted: Vec<(&String, &Arc<RouteSeries>)> = routes.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(b.0));
        let used = || {
            sorted.iter().flat_map(|(route, series)| {
                series.0.iter().enumerate().filter_map(move |(slot, histogram)| {
                    let histogram = histogram.get()?;
                    let (method, class) = (METHODS[slot / CLASSES.len()], CLASSES[slot % CLASSES.len()]);
                    Some(([("route", route.as_str()), ("method", method), ("status", class)], histogram))
                })
            })
        };
        out.family(
            "http_requests_total",
            Kind::Counter,
            "Requests answered, by route template, method and status class.",
        );
        for (labels, histogram) in used() {
            out.sample("http_requests_total", &labels, histogram.count() as f64);
        }
        out.family(
            "http_request_duration_seconds",
            Kind::Histogram,
            "Time from a request's arrival to its response's head, by route template, method and status class.",
        );
        for (labels, histogram) in used() {
            out.histogram("http_request_duration_seconds", &labels, histogram);
        }
    }
}

/// The outermost middleware: gives the request an id (the caller's `x-request-id` when it is
/// sensible, otherwise a new one) for error bodies and logs, times it, counts it, logs it at
/// `info` under the target `public_api::access`, and echoes the id on the response. It sits
/// outside everything that can answer (timeouts, panics, problem rewriting), so the status
/// counted is the one the client got. One layer, not two: each axum layer costs every request.
pub async fn observe(State(metrics): State<Arc<HttpMetrics>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| format!("req_{}", uuid::Uuid::now_v7().simple()));
    let header_value = HeaderValue::from_str(&id).unwrap_or_else(|_| HeaderValue::from_static("invalid"));
    let route = request.extensions().get::<MatchedPath>().cloned();
    let method = request.method().clone();
    // The path is kept only when the line will be written: busy servers often run at `warn`.
    let path =
        tracing::enabled!(target: "public_api::access", tracing::Level::INFO).then(|| request.uri().path().to_owned());
    let logged = path.as_ref().map(|_| id.clone());
    let mut response = REQUEST_ID.scope(id, next.run(request)).await;
    let status = response.status().as_u16();
    let route = route.as_ref().map_or(UNMATCHED, MatchedPath::as_str);
    let elapsed = started.elapsed();
    metrics.observe(route, &method, status, elapsed);
    if let (Some(path), Some(request_id)) = (path, logged) {
        let latency_ms = elapsed.as_micros() as f64 / 1000.0;
        tracing::info!(
            target: "public_api::access",
            request_id,
            method = method.as_str(),
            route,
            path,
            status,
            latency_ms,
            "request"
        );
    }
    response.headers_mut().insert("x-request-id", header_value);
    response
}
