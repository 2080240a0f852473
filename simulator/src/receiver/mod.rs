//! The scripted webhook receiver: verifies each request's signature, validates its payload
//! against the published schema, records it (in memory and as a JSON line), and answers per the
//! [`Script`]. Tests drive it through the Rust API below; anyone else through the control API
//! under `/_sim/` or the inspector page at `/`.

mod conn;
mod control;
mod inspector;
pub mod record;
pub mod script;

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use jiff::Timestamp;
use serde_json::Value;
use tokio::sync::{oneshot, watch};

pub use record::{Answer, Delivery, Filter, SchemaCheck, SignatureCheck, Summary};
pub use script::{Chaos, Count, Fault, Reply, Rule, Script};

use crate::signature::{SignedHeaders, Verdict, Verifier};
use conn::ConnControl;

/// The largest body recorded; a larger one is answered 400 (the server's events are far smaller).
const MAX_BODY: usize = 32 * 1024 * 1024;

/// How to run a receiver.
#[derive(Debug, Clone)]
pub struct ReceiverConfig {
    /// Where to listen; port 0 picks a free port.
    pub addr: SocketAddr,
    /// The endpoint secrets (`whsec_…`) a signature may be made with; several while rotating.
    pub secrets: Vec<String>,
    /// How far a `webhook-timestamp` may be from this machine's clock.
    pub tolerance: Duration,
    /// Append one JSON line per request to this file.
    pub record: Option<PathBuf>,
    pub script: Script,
    /// How long a `timeout` fault holds the request before resetting the connection.
    pub hang: Duration,
}

impl ReceiverConfig {
    /// Loopback on a free port, one secret, the standard 5-minute tolerance, no record file.
    pub fn new(secret: &str) -> ReceiverConfig {
        ReceiverConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            secrets: vec![secret.to_owned()],
            tolerance: Duration::from_secs(crate::signature::DEFAULT_TOLERANCE_SECS as u64),
            record: None,
            script: Script::default(),
            hang: Duration::from_secs(300),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReceiverError {
    #[error(transparent)]
    Secret(#[from] crate::SimError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("cannot open the record file {path}: {source}")]
    Record { path: PathBuf, source: std::io::Error },
}

/// Waiting ended before enough deliveries arrived; `got` holds those that did.
#[derive(Debug, thiserror::Error)]
#[error("waited {waited:?} for {wanted} deliveries matching {filter:?}, got {}", got.len())]
pub struct WaitTimeout {
    pub wanted: usize,
    pub waited: Duration,
    pub filter: Filter,
    pub got: Vec<Delivery>,
}

/// A running receiver. Dropping it stops it.
pub struct Receiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

struct Shared {
    /// Replaced when a test learns the secret only after registering the receiver's URL.
    verifier: RwLock<Arc<Verifier>>,
    hang: Duration,
    state: Mutex<ReceiverState>,
    /// The sequence number of the latest delivery, for waiters.
    latest: watch::Sender<u64>,
}

struct ReceiverState {
    next_seq: u64,
    deliveries: Vec<Delivery>,
    attempts: HashMap<String, u32>,
    accepted: HashSet<String>,
    newest_event: Option<Timestamp>,
    summary: Summary,
    script: script::Running,
    record: Option<File>,
    record_error: Option<String>,
}

impl Receiver {
    /// Binds and starts serving in the background.
    pub async fn start(config: ReceiverConfig) -> Result<Receiver, ReceiverError> {
        let verifier = Verifier::new(&config.secrets, Some(config.tolerance.as_secs() as i64))?;
        let record = match &config.record {
            Some(path) => Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|source| ReceiverError::Record { path: path.clone(), source })?,
            ),
            None => None,
        };
        let listener = tokio::net::TcpListener::bind(config.addr)
            .await
            .map_err(|source| ReceiverError::Bind { addr: config.addr, source })?;
        let addr = listener.local_addr().map_err(|source| ReceiverError::Bind { addr: config.addr, source })?;
        let shared = Arc::new(Shared {
            verifier: RwLock::new(Arc::new(verifier)),
            hang: config.hang,
            state: Mutex::new(ReceiverState {
                next_seq: 1,
                deliveries: Vec::new(),
                attempts: HashMap::new(),
                accepted: HashSet::new(),
                newest_event: None,
                summary: Summary::default(),
                script: script::Running::new(config.script),
                record,
                record_error: None,
            }),
            latest: watch::channel(0).0,
        });
        let router = Router::new()
            .route("/", axum::routing::get(inspector::page).post(receive))
            .nest("/_sim", control::routes())
            .fallback(receive)
            .with_state(Arc::clone(&shared));
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(conn::serve(listener, router, rx));
        Ok(Receiver { addr, shared, shutdown: Some(tx), task: Some(task) })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The receiver's base URL, e.g. `http://127.0.0.1:40123`; any path under it receives.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far, in arrival order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.shared.lock().deliveries.clone()
    }

    /// The requests matching `filter`.
    pub fn matching(&self, filter: &Filter) -> Vec<Delivery> {
        self.shared.matching(filter)
    }

    pub fn summary(&self) -> Summary {
        self.shared.lock().summary.clone()
    }

    /// The last error writing the record file, if any (the delivery is still kept in memory).
    pub fn record_error(&self) -> Option<String> {
        self.shared.lock().record_error.clone()
    }

    /// Replaces the response script; its sequences start again.
    pub fn set_script(&self, script: Script) {
        self.shared.lock().script = script::Running::new(script);
    }

    /// Replaces the secrets signatures are checked with: a server generates an endpoint's secret
    /// when the receiver's URL is registered, so a test learns it only after starting the receiver.
    pub fn set_secrets(&self, secrets: &[String]) -> Result<(), crate::SimError> {
        let current = self.shared.verifier();
        let verifier = Verifier::new(secrets, current.tolerance_secs())?;
        *self.shared.verifier.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(verifier);
        Ok(())
    }

    /// Forgets every delivery and restarts the script's sequences.
    pub fn reset(&self) {
        self.shared.reset();
    }

    /// Waits until `n` requests have arrived; returns them all.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Result<Vec<Delivery>, WaitTimeout> {
        self.shared.wait(&Filter::default(), n, timeout).await
    }

    /// Waits until `n` requests match `filter`; returns those.
    pub async fn wait_matching(
        &self,
        filter: &Filter,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<Delivery>, WaitTimeout> {
        self.shared.wait(filter, n, timeout).await
    }

    /// Waits until a delivery of `event_type` has been received for good (verified signature and
    /// schema, answered 2xx) and returns the first such; fails with everything that arrived if
    /// none did within `timeout`.
    pub async fn expect(&self, event_type: &str, timeout: Duration) -> Result<Delivery, WaitTimeout> {
        let filter = Filter {
            event_type: Some(event_type.to_owned()),
            verified: Some(true),
            accepted: Some(true),
            ..Filter::default()
        };
        match self.shared.wait(&filter, 1, timeout).await {
            Ok(mut found) => Ok(found.remove(0)),
            Err(mut e) => {
                e.got = self.deliveries();
                Err(e)
            }
        }
    }

    /// Stops accepting and drops every open connection.
    pub async fn shutdown(mut self) -> Summary {
        self.stop().await;
        self.summary()
    }

    async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl Shared {
    /// The state lock; a panic while holding it cannot leave the counters half-updated in a way
    /// that matters to a test receiver, so a poisoned lock is still used.
    fn lock(&self) -> MutexGuard<'_, ReceiverState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn verifier(&self) -> Arc<Verifier> {
        Arc::clone(&self.verifier.read().unwrap_or_else(|p| p.into_inner()))
    }

    fn matching(&self, filter: &Filter) -> Vec<Delivery> {
        self.lock().deliveries.iter().filter(|d| filter.matches(d)).cloned().collect()
    }

    fn reset(&self) {
        let mut state = self.lock();
        let script = std::mem::take(&mut state.script.script);
        state.deliveries.clear();
        state.attempts.clear();
        state.accepted.clear();
        state.newest_event = None;
        state.summary = Summary::default();
        state.script = script::Running::new(script);
    }

    async fn wait(&self, filter: &Filter, n: usize, timeout: Duration) -> Result<Vec<Delivery>, WaitTimeout> {
        let mut latest = self.latest.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let found = self.matching(filter);
            if found.len() >= n {
                return Ok(found);
            }
            let changed = tokio::time::timeout_at(deadline, latest.changed()).await;
            if !matches!(changed, Ok(Ok(()))) {
                let got = self.matching(filter);
                if got.len() >= n {
                    return Ok(got);
                }
                return Err(WaitTimeout { wanted: n, waited: timeout, filter: filter.clone(), got });
            }
        }
    }

    /// Records one request and decides its answer.
    fn record(&self, mut delivery: Delivery, event_ts: Option<Timestamp>) -> (Delivery, Option<Reply>) {
        let mut state = self.lock();
        let state = &mut *state;
        delivery.seq = state.next_seq;
        state.next_seq += 1;
        if let Some(id) = &delivery.webhook_id {
            let attempts = state.attempts.entry(id.clone()).or_default();
            *attempts += 1;
            delivery.attempt = *attempts;
            delivery.duplicate = state.accepted.contains(id);
        }
        if delivery.attempt == 1
            && let Some(ts) = event_ts
        {
            delivery.out_of_order = state.newest_event.is_some_and(|newest| ts < newest);
            state.newest_event = Some(state.newest_event.map_or(ts, |newest| newest.max(ts)));
        }
        let request = script::Request {
            path: &delivery.path,
            event_type: delivery.event_type.as_deref(),
            webhook_id: delivery.webhook_id.as_deref(),
            attempt: delivery.attempt,
            seq: delivery.seq,
        };
        let (reply, jitter) = state.script.reply(&request);
        let default_status = if delivery.signature.valid { 200 } else { 400 };
        let reply_ref = reply.as_ref();
        let fault = reply_ref.and_then(|r| r.fault);
        delivery.answer = Answer {
            status: if fault.is_some() {
                None
            } else {
                Some(reply_ref.and_then(|r| r.status).unwrap_or(default_status))
            },
            fault,
            delay_ms: reply_ref.map_or(0, |r| r.delay_ms) + jitter,
        };
        let first_acceptance =
            delivery.accepted() && delivery.webhook_id.as_ref().is_some_and(|id| state.accepted.insert(id.clone()));
        state.summary.add(&delivery, first_acceptance);
        if let Some(file) = &mut state.record {
            // One write per line, straight to the file: a killed receiver loses at most the line
            // being written.
            let mut line = serde_json::to_vec(&delivery).unwrap_or_default();
            line.push(b'\n');
            if let Err(e) = file.write_all(&line) {
                state.record_error = Some(e.to_string());
            }
        }
        state.deliveries.push(delivery.clone());
        self.latest.send_replace(delivery.seq);
        (delivery, reply)
    }
}

/// Every request that is not the inspector or the control API is a delivery.
async fn receive(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let control = request.extensions().get::<ConnControl>().cloned();
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(body) => body,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("cannot read the body: {e}")).into_response(),
    };
    let (delivery, event_ts) = inspect(&shared.verifier(), &parts.method, &parts.uri, &parts.headers, &body);
    let (delivery, reply) = shared.record(delivery, event_ts);
    if delivery.answer.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(delivery.answer.delay_ms)).await;
    }
    match delivery.answer.fault {
        Some(Fault::Reset) => return abort(control).await,
        Some(Fault::Timeout) => {
            tokio::time::sleep(shared.hang).await;
            return abort(control).await;
        }
        None => {}
    }
    let status = StatusCode::from_u16(delivery.answer.status.unwrap_or(200)).unwrap_or(StatusCode::OK);
    let reply = reply.unwrap_or_default();
    let mut headers = HeaderMap::new();
    for (name, value) in
        reply.retry_after.iter().map(|v| ("retry-after", v)).chain(reply.location.iter().map(|v| ("location", v)))
    {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    }
    for (name, value) in &reply.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
            headers.insert(name, value);
        }
    }
    let body = reply.body.unwrap_or_else(|| {
        let verdict = match &delivery.signature.error {
            None => "valid".to_owned(),
            Some(e) => format!("invalid: {e}"),
        };
        serde_json::json!({ "seq": delivery.seq, "signature": verdict }).to_string()
    });
    (status, headers, body).into_response()
}

/// Resets the connection; the response is never sent.
async fn abort(control: Option<ConnControl>) -> Response {
    match control {
        Some(control) => {
            control.reset();
            std::future::pending().await
        }
        // Served outside the receiver's accept loop (not expected): the closest thing is a 502.
        None => StatusCode::BAD_GATEWAY.into_response(),
    }
}

/// Builds the record of a request: its bytes and headers, the signature and schema verdicts.
fn inspect(
    verifier: &Verifier,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> (Delivery, Option<Timestamp>) {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let signed = SignedHeaders {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
    };
    let signature = match verifier.verify(signed, body, crate::unix_now()) {
        Verdict::Valid => SignatureCheck { valid: true, error: None },
        Verdict::Invalid(why) => SignatureCheck { valid: false, error: Some(why) },
    };
    let payload: Option<Value> = serde_json::from_slice(body).ok();
    let schema = match &payload {
        None => SchemaCheck { valid: false, errors: vec!["the body is not JSON".into()] },
        Some(value) => match crate::events::validate_value(value) {
            Ok(errors) => SchemaCheck { valid: errors.is_empty(), errors },
            Err(e) => SchemaCheck { valid: false, errors: vec![e.to_string()] },
        },
    };
    let field = |name: &str| payload.as_ref().and_then(|p| p.get(name)).and_then(Value::as_str).map(str::to_owned);
    let event_timestamp = field("timestamp");
    let event_ts = event_timestamp.as_deref().and_then(|t| t.parse::<Timestamp>().ok());
    let (text, base64) = match std::str::from_utf8(body) {
        Ok(text) => (Some(text.to_owned()), None),
        Err(_) => (None, Some(base64::engine::general_purpose::STANDARD.encode(body))),
    };
    let delivery = Delivery {
        seq: 0,
        received_at: format!("{:.6}", Timestamp::now()),
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        headers: headers
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect(),
        body: text,
        body_base64: base64,
        webhook_id: header("webhook-id").map(str::to_owned),
        event_type: field("type"),
        event_timestamp,
        attempt: 1,
        signature,
        schema,
        duplicate: false,
        out_of_order: false,
        answer: Answer { status: None, fault: None, delay_ms: 0 },
    };
    (delivery, event_ts)
}
