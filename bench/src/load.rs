//! The load generator: a closed loop over N keep-alive HTTP/1.1 connections (each sends its next
//! request when the previous answer has been read), with a latency histogram in microseconds.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;

pub type Body = Full<Bytes>;

/// When a run stops.
#[derive(Debug, Clone, Copy)]
pub enum Stop {
    After(Duration),
    /// After this many requests in all.
    Count(u64),
}

/// What a run measured.
pub struct Outcome {
    pub requests: u64,
    /// Answers other than 2xx, and requests that got no answer.
    pub failures: u64,
    pub elapsed: Duration,
    /// Latency of every answered request, in microseconds.
    pub latency: Histogram<u64>,
}

impl Outcome {
    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The latency at quantile `q`, in milliseconds.
    pub fn ms(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1000.0
    }
}

pub fn histogram() -> Histogram<u64> {
    // 1 µs to 10 minutes with three significant figures; the bounds are constants, so this holds.
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

/// Runs `connections` closed loops, spread round-robin over `addrs` (the replicas of one
/// server); `make(n)` builds the n-th request.
pub async fn closed_loop(
    addrs: &[SocketAddr],
    connections: usize,
    stop: Stop,
    make: Arc<dyn Fn(u64) -> Request<Body> + Send + Sync>,
) -> Outcome {
    let counter = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = match stop {
        Stop::After(d) => Some(started + d),
        Stop::Count(_) => None,
    };
    let limit = match stop {
        Stop::Count(n) => n,
        Stop::After(_) => u64::MAX,
    };
    let mut tasks = Vec::new();
    for i in 0..connections {
        let addr = addrs[i % addrs.len().max(1)];
        let (counter, make) = (Arc::clone(&counter), Arc::clone(&make));
        tasks.push(tokio::spawn(async move {
            let mut latency = histogram();
            let (mut requests, mut failures) = (0u64, 0u64);
            'connect: loop {
                let Ok(stream) = tokio::net::TcpStream::connect(addr).await else {
                    failures += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        break;
                    }
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let Ok((mut sender, conn)) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await else {
                    failures += 1;
                    continue;
                };
                tokio::spawn(conn);
                loop {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        break 'connect;
                    }
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    if n >= limit {
                        break 'connect;
                    }
                    let request = make(n);
                    let t = Instant::now();
                    requests += 1;
                    let answered = match sender.send_request(request).await {
                        Ok(response) => {
                            let ok = response.status().is_success();
                            response.into_body().collect().await.is_ok() && ok
                        }
                        Err(_) => {
                            failures += 1;
                            continue 'connect;
                        }
                    };
                    let _ = latency.record(t.elapsed().as_micros().max(1) as u64);
                    failures += u64::from(!answered);
                }
            }
            (requests, failures, latency)
        }));
    }
    let mut outcome = Outcome { requests: 0, failures: 0, elapsed: Duration::ZERO, latency: histogram() };
    for task in tasks {
        if let Ok((requests, failures, latency)) = task.await {
            outcome.requests += requests;
            outcome.failures += failures;
            let _ = outcome.latency.add(&latency);
        }
    }
    outcome.elapsed = started.elapsed();
    outcome
}
