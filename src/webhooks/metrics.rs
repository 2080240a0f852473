//! Delivery counters for `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::domain::webhooks::ErrorClass;
use crate::metrics::{Exposition, Histogram, Kind};

/// Upper bounds (microseconds) of the attempt latency buckets: 5 ms to 15 s, the webhook timeout.
const BUCKETS_MICROS: &[u64] =
    &[5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 15_000_000];
const OUTCOMES: [&str; 8] = ["success", "http_status", "redirect", "timeout", "connect", "dns", "blocked", "other"];

#[derive(Debug)]
pub struct DeliveryMetrics {
    attempts: [AtomicU64; 8],
    latency: Histogram,
}

impl Default for DeliveryMetrics {
    fn default() -> DeliveryMetrics {
        DeliveryMetrics { attempts: Default::default(), latency: Histogram::new(BUCKETS_MICROS) }
    }
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
        self.latency.observe(Duration::from_millis(latency_ms));
    }

    /// Writes the attempt counters and latencies.
    pub fn write(&self, out: &mut Exposition) {
        out.family("webhook_attempts_total", Kind::Counter, "Delivery attempts by outcome.");
        for (i, outcome) in OUTCOMES.iter().enumerate() {
            out.sample(
                "webhook_attempts_total",
                &[("outcome", outcome)],
                self.attempts[i].load(Ordering::Relaxed) as f64,
            );
        }
        out.family(
            "webhook_attempt_duration_seconds",
            Kind::Histogram,
            "Time from sending an attempt to the end of its answer.",
        );
        out.histogram("webhook_attempt_duration_seconds", &[], &self.latency);
    }
}
