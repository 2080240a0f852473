//! Delivery counters for `/metrics`, rendered in the Prometheus text format.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::domain::webhooks::ErrorClass;

/// Upper bounds (milliseconds) of the latency histogram buckets.
const BUCKETS_MS: [u64; 11] = [5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 15_000];
const OUTCOMES: [&str; 8] = ["success", "http_status", "redirect", "timeout", "connect", "dns", "blocked", "other"];

#[derive(Debug, Default)]
pub struct DeliveryMetrics {
    attempts: [AtomicU64; 8],
    buckets: [AtomicU64; 11],
    latency_count: AtomicU64,
    latency_sum_ms: AtomicU64,
}

fn outcome_index(error: Option<ErrorClass>) -> usize {
    match error {
        None => 0,
        Some(ErrorClass::HttpStatus) => 1,
        Some(ErrorClass::Redirect) => 2,
        Some(ErrorClass::Timeout) => 3,
        Some(ErrorClass::Connect) => 4,
        Some(ErrorClass::Dns) => 5,
        Some(ErrorClass::Blocked) => 6,
        Some(ErrorClass::Other) => 7,
    }
}

impl DeliveryMetrics {
    pub fn record(&self, error: Option<ErrorClass>, latency_ms: u64) {
        self.attempts[outcome_index(error)].fetch_add(1, Ordering::Relaxed);
        for (i, bound) in BUCKETS_MS.iter().enumerate() {
            if latency_ms <= *bound {
                self.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_ms.fetch_add(latency_ms, Ordering::Relaxed);
    }

    /// The metrics as Prometheus text, with the store's gauges.
    pub fn render(&self, pending_deliveries: u64, disabled_endpoints: u64) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# HELP webhook_outbox_pending Deliveries waiting for their first or next attempt.");
        let _ = writeln!(out, "# TYPE webhook_outbox_pending gauge");
        let _ = writeln!(out, "webhook_outbox_pending {pending_deliveries}");
        let _ = writeln!(out, "# HELP webhook_endpoints_disabled Endpoints that are disabled.");
        let _ = writeln!(out, "# TYPE webhook_endpoints_disabled gauge");
        let _ = writeln!(out, "webhook_endpoints_disabled {disabled_endpoints}");
        let _ = writeln!(out, "# HELP webhook_attempts_total Delivery attempts by outcome.");
        let _ = writeln!(out, "# TYPE webhook_attempts_total counter");
        for (i, outcome) in OUTCOMES.iter().enumerate() {
            let _ = writeln!(
                out,
                "webhook_attempts_total{{outcome=\"{outcome}\"}} {}",
                self.attempts[i].load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP webhook_attempt_duration_seconds Time from sending an attempt to the end of its answer."
        );
        let _ = writeln!(out, "# TYPE webhook_attempt_duration_seconds histogram");
        for (i, bound) in BUCKETS_MS.iter().enumerate() {
            let _ = writeln!(
                out,
                "webhook_attempt_duration_seconds_bucket{{le=\"{}\"}} {}",
                *bound as f64 / 1000.0,
                self.buckets[i].load(Ordering::Relaxed)
            );
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let _ = writeln!(out, "webhook_attempt_duration_seconds_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            out,
            "webhook_attempt_duration_seconds_sum {}",
            self.latency_sum_ms.load(Ordering::Relaxed) as f64 / 1000.0
        );
        let _ = writeln!(out, "webhook_attempt_duration_seconds_count {count}");
        out
    }
}
