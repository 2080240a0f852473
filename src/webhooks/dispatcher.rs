//! The dispatcher: takes due deliveries from the store and sends them, signed.
//!
//! Deliveries are claimed with a lease, so several processes can share one store and a crashed
//! process's work is picked up again (the same `webhook-id`, a fresh timestamp and signature).
//! Each attempt runs in its own task, so a slow or dead endpoint holds only its own
//! deliveries. Per-endpoint rate limits are enforced by postponing deliveries that would exceed
//! them; at an endpoint's concurrency cap claimed attempts wait in memory for a free slot. An
//! endpoint with a full queue is left out of the next claims (its deliveries stay in the store,
//! for this process later or another replica now), so a slow endpoint cannot take every slot of
//! the process, and work is not claimed only to be put back (an attempt is postponed only if it
//! waited `QUEUE_WAIT` in vain). Redirects are not followed, 410 disables the endpoint,
//! `Retry-After` is honoured within bounds, and an endpoint that fails without a single success
//! for `disable_after` is disabled. Time comes from the injected [`Clock`]; tests drive
//! [`Dispatcher::run_due`] with a manual clock instead of sleeping.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};

use super::guard::{GuardError, GuardedResolver, UrlPolicy};
use super::metrics::DeliveryMetrics;
use super::signing::{Secret, signature_header};
use crate::clock::Clock;
use crate::domain::webhooks::{AttemptTrigger, DeliveryAttempt, ErrorClass};
use crate::outage::Outage;
use crate::rng::Rng;
use crate::store::webhooks::{AttemptOutcome, DeliveryTask};
use crate::store::{Store, StoreError};

/// Bytes of an answer's body kept in the attempt log.
const KEPT_BODY_BYTES: usize = 4096;

/// How webhooks are delivered.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// The longest an attempt may take, answer included.
    pub timeout: Duration,
    /// Delay before each retry: after the first attempt fails, the first entry, and so on. The
    /// delivery fails for good when the list runs out.
    pub schedule: Vec<SignedDuration>,
    /// Each delay is multiplied by a random factor in `1 ± jitter`.
    pub jitter: f64,
    /// `Retry-After` is honoured up to this long (a shorter one never shortens the schedule).
    pub retry_after_max: SignedDuration,
    /// The least delay after a 429 or a timeout.
    pub overload_penalty: SignedDuration,
    /// An endpoint failing without a success for this long is disabled.
    pub disable_after: SignedDuration,
    /// Attempts in flight to one endpoint at once.
    pub concurrency_per_endpoint: usize,
    /// Attempts in flight in this process at once, those waiting for their endpoint included.
    /// Above an endpoint's full queue (`concurrency_per_endpoint` × 9) plus one claim (256), a
    /// slow endpoint always leaves slots for the others.
    pub max_in_flight: usize,
    /// Which addresses may receive webhooks.
    pub policy: UrlPolicy,
    /// How long a rotated-out secret keeps signing.
    pub rotation_overlap: SignedDuration,
    /// How often to look for due deliveries when nothing wakes the dispatcher.
    pub poll_interval: Duration,
    /// Whether the server runs the background loop (tests drive [`Dispatcher::run_due`]).
    pub background: bool,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            timeout: Duration::from_secs(15),
            schedule: [5, 300, 1800, 7200, 18_000, 36_000, 36_000].into_iter().map(SignedDuration::from_secs).collect(),
            jitter: 0.2,
            retry_after_max: SignedDuration::from_hours(1),
            overload_penalty: SignedDuration::from_secs(60),
            disable_after: SignedDuration::from_hours(24 * 5),
            concurrency_per_endpoint: 16,
            max_in_flight: 512,
            policy: UrlPolicy::default(),
            rotation_overlap: SignedDuration::from_hours(24),
            poll_interval: Duration::from_millis(250),
            background: true,
        }
    }
}

/// Parses a retry schedule such as `5s,5m,30m,2h` (units s, m, h; bare numbers are seconds).
pub fn parse_schedule(text: &str) -> Result<Vec<SignedDuration>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|part| {
            let (number, unit) = match part.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
                Some((i, _)) => part.split_at(i),
                None => (part, "s"),
            };
            let n: f64 = number.trim().parse().map_err(|_| format!("`{part}` is not a duration like 30s, 5m or 2h"))?;
            let seconds = match unit {
                "s" => n,
                "m" => n * 60.0,
                "h" => n * 3600.0,
                _ => return Err(format!("`{part}`: use s, m or h")),
            };
            SignedDuration::try_from_secs_f64(seconds).map_err(|e| format!("`{part}`: {e}"))
        })
        .collect()
}

/// How long a claimed attempt may wait in memory for its endpoint's concurrency permit.
const QUEUE_WAIT: Duration = Duration::from_secs(5);
/// Attempts waiting in memory per concurrency permit of an endpoint at which the endpoint is
/// left out of claims. A claim made just below it can add up to one claim's worth more.
const QUEUED_PER_PERMIT: usize = 8;

enum Admission {
    Now(OwnedSemaphorePermit),
    /// Wait for a permit of this semaphore; the guard holds the place in the queue.
    Queue(Arc<Semaphore>, QueuedGuard),
    /// The endpoint's rate limit: try again after this long.
    Later(SignedDuration),
}

/// A place in an endpoint's in-memory queue, given back on drop.
struct QueuedGuard(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for QueuedGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

struct Gate {
    in_flight: Arc<Semaphore>,
    /// Attempts claimed for this endpoint that wait in memory for one of its permits.
    queued: Arc<std::sync::atomic::AtomicUsize>,
    /// Token bucket for the rate limit: tokens and when they were counted.
    tokens: f64,
    counted_at: Timestamp,
}

pub struct Dispatcher {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    config: DeliveryConfig,
    client: reqwest::Client,
    owner: String,
    wake: Arc<Notify>,
    gates: Mutex<HashMap<String, Gate>>,
    in_flight: Arc<Semaphore>,
    /// Turns true when the server shuts down: deliveries not yet sent are left for another
    /// server instead of being sent now.
    stopping: watch::Sender<bool>,
    pub metrics: DeliveryMetrics,
}

#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// What an attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempted {
    pub attempt: DeliveryAttempt,
    pub outcome: AttemptOutcome,
}

impl Dispatcher {
    /// `wake` is the signal that events were queued (shared with the interview engine).
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        config: DeliveryConfig,
        wake: Arc<Notify>,
    ) -> Result<Arc<Dispatcher>, DispatchError> {
        crate::install_crypto_provider();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(GuardedResolver { policy: Arc::new(config.policy.clone()) }))
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("tenzo-public-api-webhooks/", env!("CARGO_PKG_VERSION")))
            .no_proxy()
            .build()
            .map_err(|e| DispatchError::Client(e.to_string()))?;
        Ok(Arc::new(Dispatcher {
            in_flight: Arc::new(Semaphore::new(config.max_in_flight.max(1))),
            store,
            clock,
            config,
            client,
            owner: format!("dispatcher-{}", uuid::Uuid::now_v7().simple()),
            wake,
            gates: Mutex::new(HashMap::new()),
            stopping: watch::channel(false).0,
            metrics: DeliveryMetrics::default(),
        }))
    }

    /// The name this dispatcher holds its delivery leases under.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Waits, at most `within`, for every delivery task the background loop started to end:
    /// attempts in flight finish, and queued ones give up at once after the loop stopped.
    /// `false` when some were still running.
    pub async fn drain(&self, within: Duration) -> bool {
        let all = u32::try_from(self.config.max_in_flight.max(1)).unwrap_or(u32::MAX);
        tokio::time::timeout(within, self.in_flight.acquire_many(all)).await.is_ok()
    }

    /// Resolves once the server is shutting down.
    async fn stopped(&self) {
        let mut stopping = self.stopping.subscribe();
        let _ = stopping.wait_for(|s| *s).await;
    }

    fn is_stopping(&self) -> bool {
        *self.stopping.borrow()
    }

    pub fn config(&self) -> &DeliveryConfig {
        &self.config
    }

    /// Asks the background loop to look for due deliveries now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// A claimed delivery is reserved for the longest it may wait for a permit, plus its
    /// attempt's timeout, plus a margin for recording the attempt. With several replicas on one
    /// database, a killed replica's deliveries are sent by the others once this has passed.
    fn lease_until(&self, now: Timestamp) -> Timestamp {
        let lease = SignedDuration::try_from(QUEUE_WAIT + self.config.timeout).unwrap_or(SignedDuration::from_secs(15))
            + SignedDuration::from_secs(10);
        now.checked_add(lease).unwrap_or(now)
    }

    /// Endpoints whose in-memory queue is full: the next claims leave their deliveries alone.
    fn full_endpoints(&self) -> Vec<String> {
        let gates = self.gates.lock().unwrap_or_else(|p| p.into_inner());
        gates.iter().filter(|(_, gate)| self.queue_full(gate)).map(|(id, _)| id.clone()).collect()
    }

    fn is_full(&self, endpoint_id: &str) -> bool {
        let gates = self.gates.lock().unwrap_or_else(|p| p.into_inner());
        gates.get(endpoint_id).is_some_and(|gate| self.queue_full(gate))
    }

    fn queue_full(&self, gate: &Gate) -> bool {
        let cap = self.config.concurrency_per_endpoint.max(1) * QUEUED_PER_PERMIT;
        gate.queued.load(std::sync::atomic::Ordering::SeqCst) >= cap
    }

    /// Sends every delivery that is due now and waits for the attempts; returns how many ran.
    /// Deliveries postponed by a limit do not count.
    pub async fn run_due(self: &Arc<Self>) -> Result<usize, DispatchError> {
        let mut ran = 0;
        loop {
            let now = self.clock.now();
            let tasks = self.store.claim_deliveries(&self.owner, now, self.lease_until(now), 128, &[]).await?;
            if tasks.is_empty() {
                return Ok(ran);
            }
            let mut set = tokio::task::JoinSet::new();
            for task in tasks {
                let this = Arc::clone(self);
                set.spawn(async move { this.scheduled(task).await });
            }
            while let Some(joined) = set.join_next().await {
                if let Ok(Ok(true)) = joined {
                    ran += 1;
                }
            }
        }
    }

    /// The background loop: claims due deliveries and sends each in its own task.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut outage = Outage::new("webhook dispatcher", self.config.poll_interval, &self.owner);
        loop {
            let mut wait = self.config.poll_interval;
            let free = self.in_flight.available_permits();
            if free > 0 {
                let now = self.clock.now();
                let full = self.full_endpoints();
                let limit = free.min(256) as u32;
                match self.store.claim_deliveries(&self.owner, now, self.lease_until(now), limit, &full).await {
                    Ok(tasks) => {
                        outage.succeeded();
                        let claimed = tasks.len();
                        for task in tasks {
                            let Ok(permit) = Arc::clone(&self.in_flight).try_acquire_owned() else { break };
                            let this = Arc::clone(&self);
                            tokio::spawn(async move {
                                let endpoint_id = task.endpoint_id.clone();
                                if let Err(e) = this.scheduled(task).await {
                                    tracing::warn!(error = %e, "webhook delivery could not be recorded; it is retried after its lease");
                                }
                                drop(permit);
                                // Room was made: look for more due work now, not at the next poll;
                                // unless this endpoint's queue is still full, when a claim would
                                // leave its deliveries alone anyway.
                                if !this.is_full(&endpoint_id) {
                                    this.wake();
                                }
                            });
                        }
                        if claimed == free.min(256) && !*stop.borrow() {
                            continue; // There may be more due right now.
                        }
                    }
                    Err(e) => wait = outage.failed(&e),
                }
            }
            tokio::select! {
                // While the store is down, a wake-up does not cut the backoff short.
                _ = self.wake.notified(), if !outage.is_down() => {},
                _ = tokio::time::sleep(wait) => {},
                _ = stop.changed() => {},
            }
            if *stop.borrow() {
                // Stop claiming; deliveries claimed and not yet sent stop waiting (see `scheduled`).
                self.stopping.send_replace(true);
                return;
            }
        }
    }

    /// A scheduled attempt, subject to the endpoint's limits. `Ok(false)` when postponed, or
    /// left unsent because the server is shutting down (its lease is released then).
    async fn scheduled(&self, task: DeliveryTask) -> Result<bool, DispatchError> {
        if self.is_stopping() {
            return Ok(false);
        }
        let now = self.clock.now();
        let Some(target) = self.store.delivery_target(&task.endpoint_id, now).await? else {
            self.give_up(&task, "the endpoint no longer exists").await?;
            return Ok(true);
        };
        if target.deleted || !target.endpoint.enabled {
            let reason = target.endpoint.disabled_reason.clone().unwrap_or_else(|| "the endpoint is disabled".into());
            self.give_up(&task, &format!("not sent: {reason}")).await?;
            return Ok(true);
        }
        let permit = match self.admit(&task.endpoint_id, target.endpoint.rate_limit_per_second, now) {
            Admission::Now(permit) => permit,
            Admission::Queue(gate, queued) => {
                // The endpoint is at its concurrency cap: wait in memory for a permit rather than
                // going back to the store, which cost a write per attempt and capped throughput.
                let waited = tokio::select! {
                    waited = tokio::time::timeout(QUEUE_WAIT, gate.acquire_owned()) => Some(waited),
                    () = self.stopped() => None,
                };
                drop(queued);
                match waited {
                    Some(Ok(Ok(permit))) => permit,
                    Some(_) => return self.postpone(&task, now, SignedDuration::from_millis(200)).await,
                    None => return Ok(false),
                }
            }
            Admission::Later(wait) => return self.postpone(&task, now, wait).await,
        };
        self.attempt(&task, &target, AttemptTrigger::Scheduled, true).await?;
        drop(permit);
        Ok(true)
    }

    async fn postpone(&self, task: &DeliveryTask, now: Timestamp, wait: SignedDuration) -> Result<bool, DispatchError> {
        let at = now.checked_add(wait).unwrap_or(now);
        self.store.postpone_delivery(&task.delivery_id, &self.owner, at).await?;
        Ok(false)
    }

    /// A manual attempt (redelivery or test), outside the limits. A failed manual attempt
    /// leaves the delivery as it was unless `retry_on_failure`.
    pub async fn manual(
        &self,
        org_id: &str,
        delivery_id: &str,
        retry_on_failure: bool,
    ) -> Result<Option<Attempted>, DispatchError> {
        let now = self.clock.now();
        let Some(task) =
            self.store.claim_delivery(org_id, delivery_id, &self.owner, now, self.lease_until(now)).await?
        else {
            return Ok(None);
        };
        let Some(target) = self.store.delivery_target(&task.endpoint_id, now).await? else {
            return Ok(None);
        };
        Ok(Some(self.attempt(&task, &target, AttemptTrigger::Manual, retry_on_failure).await?))
    }

    /// Takes a rate token and a concurrency permit for the endpoint; or, at the concurrency cap,
    /// a place in its in-memory queue (kept short by [`Dispatcher::full_endpoints`]); or says how
    /// long to wait for the rate limit.
    fn admit(&self, endpoint_id: &str, rate: Option<u32>, now: Timestamp) -> Admission {
        let mut gates = self.gates.lock().unwrap_or_else(|p| p.into_inner());
        let concurrency = self.config.concurrency_per_endpoint.max(1);
        let gate = gates.entry(endpoint_id.to_owned()).or_insert_with(|| Gate {
            in_flight: Arc::new(Semaphore::new(concurrency)),
            queued: Arc::default(),
            tokens: f64::from(rate.unwrap_or(1).max(1)),
            counted_at: now,
        });
        if let Some(rate) = rate.filter(|r| *r > 0) {
            let rate = f64::from(rate);
            let elapsed = now.duration_since(gate.counted_at).as_secs_f64().max(0.0);
            gate.tokens = (gate.tokens + elapsed * rate).min(rate);
            gate.counted_at = now;
            if gate.tokens < 1.0 {
                let wait = (1.0 - gate.tokens) / rate;
                return Admission::Later(
                    SignedDuration::try_from_secs_f64(wait.max(0.001)).unwrap_or(SignedDuration::from_secs(1)),
                );
            }
        }
        let admission = match Arc::clone(&gate.in_flight).try_acquire_owned() {
            Ok(permit) => Admission::Now(permit),
            Err(_) => {
                gate.queued.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Admission::Queue(Arc::clone(&gate.in_flight), QueuedGuard(Arc::clone(&gate.queued)))
            }
        };
        if rate.is_some_and(|r| r > 0) {
            gate.tokens -= 1.0;
        }
        admission
    }

    async fn give_up(&self, task: &DeliveryTask, why: &str) -> Result<(), DispatchError> {
        let now = self.clock.now();
        let attempt = DeliveryAttempt {
            attempted_at: now,
            trigger: AttemptTrigger::Scheduled,
            status_code: None,
            latency_ms: 0,
            error_class: Some(ErrorClass::Other),
            error: Some(why.to_owned()),
            response_body: None,
        };
        self.store.finish_attempt(&task.delivery_id, &self.owner, attempt, AttemptOutcome::Failed, now).await?;
        Ok(())
    }

    async fn attempt(
        &self,
        task: &DeliveryTask,
        target: &crate::store::webhooks::DeliveryTarget,
        trigger: AttemptTrigger,
        retry_on_failure: bool,
    ) -> Result<Attempted, DispatchError> {
        let now = self.clock.now();
        let sent = self.send(task, target, now).await;
        self.metrics.record(sent.error_class, sent.latency_ms);
        let attempt = DeliveryAttempt {
            attempted_at: now,
            trigger,
            status_code: sent.status,
            latency_ms: sent.latency_ms,
            error_class: sent.error_class,
            error: sent.error.clone(),
            response_body: sent.body.clone(),
        };
        let succeeded = sent.error_class.is_none();
        let endpoint_id = &task.endpoint_id;
        // A success ends the endpoint's failing streak inside `finish_attempt`: one write, not two.
        if sent.status == Some(410) {
            self.store.disable_endpoint(endpoint_id, format!("the endpoint answered 410 Gone at {now}"), now).await?;
        } else if !succeeded {
            self.store.endpoint_failed(endpoint_id, now, self.config.disable_after).await?;
        }
        let outcome = if succeeded {
            AttemptOutcome::Succeeded
        } else if !retry_on_failure {
            AttemptOutcome::Manual { succeeded: false }
        } else if sent.status == Some(410) || sent.error_class == Some(ErrorClass::Blocked) {
            AttemptOutcome::Failed
        } else {
            match self.next_attempt(task, &sent, now) {
                Some(at) => AttemptOutcome::RetryAt(at),
                None => AttemptOutcome::Failed,
            }
        };
        let outcome = match (trigger, &outcome) {
            (AttemptTrigger::Manual, AttemptOutcome::Succeeded) => AttemptOutcome::Manual { succeeded: true },
            _ => outcome,
        };
        self.store.finish_attempt(&task.delivery_id, &self.owner, attempt.clone(), outcome.clone(), now).await?;
        Ok(Attempted { attempt, outcome })
    }

    /// When to try again after a failed attempt, or `None` when the schedule is used up.
    fn next_attempt(&self, task: &DeliveryTask, sent: &Sent, now: Timestamp) -> Option<Timestamp> {
        let scheduled = *self.config.schedule.get(task.attempts as usize)?;
        let mut rng = Rng::new(0, &task.delivery_id, task.attempts + 1);
        let factor = 1.0 + self.config.jitter * (2.0 * (rng.below(1_000_001) as f64 / 1_000_000.0) - 1.0);
        let mut delay = SignedDuration::try_from_secs_f64(scheduled.as_secs_f64() * factor).unwrap_or(scheduled);
        if let Some(asked) = sent.retry_after {
            delay = delay.max(asked.min(self.config.retry_after_max));
        }
        if sent.status == Some(429) || sent.error_class == Some(ErrorClass::Timeout) {
            delay = delay.max(self.config.overload_penalty);
        }
        now.checked_add(delay).ok()
    }

    async fn send(&self, task: &DeliveryTask, target: &crate::store::webhooks::DeliveryTarget, now: Timestamp) -> Sent {
        let endpoint = &target.endpoint;
        if let Err(e) = self.config.policy.check_delivery_url(&endpoint.url) {
            return Sent::failed(ErrorClass::Blocked, e.to_string(), 0);
        }
        let secrets: Vec<Secret> = target.secrets.iter().filter_map(|s| Secret::parse(s).ok()).collect();
        let secret_refs: Vec<&Secret> = secrets.iter().collect();
        let timestamp = now.as_second();
        let mut headers = HeaderMap::new();
        for (name, value) in &endpoint.headers {
            if let (Ok(name), Ok(value)) = (HeaderName::try_from(name.as_str()), HeaderValue::try_from(value.as_str()))
            {
                headers.insert(name, value);
            }
        }
        let signature = signature_header(&secret_refs, &task.event_id, timestamp, &task.payload);
        let fixed = [
            ("content-type", "application/json".to_owned()),
            ("webhook-id", task.event_id.clone()),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", signature),
        ];
        for (name, value) in fixed {
            if let Ok(value) = HeaderValue::try_from(value) {
                headers.insert(name, value);
            }
        }
        let started = Instant::now();
        let response = self.client.post(&endpoint.url).headers(headers).body(task.payload.clone()).send().await;
        let mut response = match response {
            Ok(r) => r,
            Err(e) => {
                let (class, message) = classify(&e);
                return Sent::failed(class, message, started.elapsed().as_millis() as u64);
            }
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, now));
        let mut body = Vec::new();
        let mut read_error = None;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = KEPT_BODY_BYTES.saturating_sub(body.len());
                    body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                    if body.len() >= KEPT_BODY_BYTES {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    read_error = Some(e);
                    break;
                }
            }
        }
        let latency_ms = started.elapsed().as_millis() as u64;
        let body = (!body.is_empty()).then(|| String::from_utf8_lossy(&body).into_owned());
        let (error_class, error) = match (&read_error, status.as_u16()) {
            (Some(e), _) => {
                let (class, message) = classify(e);
                (Some(class), Some(message))
            }
            (None, 200..=299) => (None, None),
            (None, 300..=399) => {
                (Some(ErrorClass::Redirect), Some(format!("answered {status}; redirects are not followed")))
            }
            (None, _) => (Some(ErrorClass::HttpStatus), Some(format!("answered {status}"))),
        };
        Sent { status: Some(status.as_u16()), latency_ms, error_class, error, body, retry_after }
    }
}

/// The result of sending one request.
#[derive(Debug, Clone)]
struct Sent {
    status: Option<u16>,
    latency_ms: u64,
    error_class: Option<ErrorClass>,
    error: Option<String>,
    body: Option<String>,
    retry_after: Option<SignedDuration>,
}

impl Sent {
    fn failed(class: ErrorClass, error: String, latency_ms: u64) -> Sent {
        Sent { status: None, latency_ms, error_class: Some(class), error: Some(error), body: None, retry_after: None }
    }
}

fn classify(e: &reqwest::Error) -> (ErrorClass, String) {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(guard) = s.downcast_ref::<GuardError>() {
            let class = match guard {
                GuardError::Unresolvable { .. } => ErrorClass::Dns,
                _ => ErrorClass::Blocked,
            };
            return (class, guard.to_string());
        }
        source = s.source();
    }
    let class = if e.is_timeout() {
        ErrorClass::Timeout
    } else if e.is_connect() || e.is_request() || e.is_body() {
        ErrorClass::Connect
    } else {
        ErrorClass::Other
    };
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    (class, message)
}

/// `Retry-After` as seconds or an HTTP date.
fn parse_retry_after(value: &str, now: Timestamp) -> Option<SignedDuration> {
    if let Ok(seconds) = value.trim().parse::<u64>() {
        return Some(SignedDuration::from_secs(seconds.min(i64::MAX as u64) as i64));
    }
    let at = jiff::fmt::rfc2822::parse(value.trim()).ok()?.timestamp();
    Some(at.duration_since(now).max(SignedDuration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_and_retry_after_parse() {
        let s = parse_schedule("5s, 5m,2h,10").unwrap();
        assert_eq!(s, [5, 300, 7200, 10].map(SignedDuration::from_secs));
        assert!(parse_schedule("5x").is_err());
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        assert_eq!(parse_retry_after("120", now), Some(SignedDuration::from_secs(120)));
        let later = now.checked_add(SignedDuration::from_secs(90)).unwrap();
        let date = jiff::fmt::rfc2822::to_string(&later.to_zoned(jiff::tz::TimeZone::UTC)).unwrap();
        assert_eq!(parse_retry_after(&date, now), Some(SignedDuration::from_secs(90)));
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
