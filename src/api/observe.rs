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
use axum::http::Method;
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

/// The middleware: times the request, counts it, and logs it at `info` under the target
/// `public_api::access`. It runs inside `request_id`, so the id is the one the response
/// carries, and outside everything that can answer (timeouts, panics, problem rewriting), so
/// the status is the one the client got.
pub async fn observe(State(metrics): State<Arc<HttpMetrics>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request.extensions().get::<MatchedPath>().map(|m| Arc::<str>::from(m.as_str()));
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let route = route.as_deref().unwrap_or(UNMATCHED);
    let elapsed = started.elapsed();
    metrics.observe(route, &method, status, elapsed);
    let latency_ms = elapsed.as_micros() as f64 / 1000.0;
    let request_id = REQUEST_ID.try_with(Clone::clone).unwrap_or_default();
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
    response
}
