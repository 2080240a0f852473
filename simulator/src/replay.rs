//! `webhook-sim replay`: sends requests a `receive --record` file holds to a receiver again, with
//! their exact body bytes, a fresh `webhook-timestamp` and a new signature (a naive replay of the
//! old headers fails the 5-minute tolerance), so a partner can debug with what really arrived.

use std::time::{Duration, Instant};

use jiff::Timestamp;

use crate::SimError;
use crate::receiver::{Delivery, Filter};

/// Which recorded requests to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Verdict {
    /// Signature and schema both valid.
    Verified,
    /// A bad signature or a schema failure.
    Unverified,
    /// Answered 2xx by the recording receiver.
    Accepted,
    /// Answered otherwise, or not at all.
    Rejected,
}

/// What to replay, where, and how fast.
#[derive(Debug, Clone)]
pub struct ReplayConfig {
    pub to: String,
    /// The secret of the receiver replayed to (`whsec_…`).
    pub secret: String,
    /// Give each message a new `webhook-id` instead of keeping the recorded one.
    pub new_id: bool,
    pub event_type: Option<String>,
    pub webhook_id: Option<String>,
    pub verdict: Option<Verdict>,
    /// Only requests received at or after this time ...
    pub since: Option<Timestamp>,
    /// ... and before this one.
    pub until: Option<Timestamp>,
    /// Requests per second; `None` sends them one after another as fast as answers come.
    pub rate: Option<f64>,
    /// Send every recorded request, retries included, instead of the first of each message.
    pub all_attempts: bool,
    pub timeout: Duration,
}

/// The outcome of one replayed request.
#[derive(Debug, Clone)]
pub struct Replayed {
    /// The recorded request's sequence number.
    pub seq: u64,
    pub webhook_id: String,
    pub event_type: Option<String>,
    /// The status, or why there was none.
    pub result: Result<u16, String>,
    pub latency: Duration,
}

impl Replayed {
    pub fn accepted(&self) -> bool {
        self.result.as_ref().is_ok_and(|s| (200..300).contains(s))
    }

    /// One line for a terminal.
    pub fn line(&self) -> String {
        let outcome = match &self.result {
            Ok(status) => status.to_string(),
            Err(e) => format!("failed: {e}"),
        };
        format!(
            "#{:<5} {:<28} {:<28} {outcome} in {} ms",
            self.seq,
            self.webhook_id,
            self.event_type.as_deref().unwrap_or("(no type)"),
            self.latency.as_millis()
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("line {line} of the record is not a recorded request: {reason}")]
    Record { line: usize, reason: String },
    #[error(transparent)]
    Sign(#[from] SimError),
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// Reads a record file's lines.
pub fn parse_record(text: &str) -> Result<Vec<Delivery>, ReplayError> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|e| ReplayError::Record { line: i + 1, reason: e.to_string() })
        })
        .collect()
}

/// The recorded requests `config` selects, in recorded order.
pub fn select(config: &ReplayConfig, record: Vec<Delivery>) -> Vec<Delivery> {
    // The receiver's own filter, the one its control API lists deliveries with.
    let filter = Filter {
        event_type: config.event_type.clone(),
        webhook_id: config.webhook_id.clone(),
        verified: match config.verdict {
            Some(Verdict::Verified) => Some(true),
            Some(Verdict::Unverified) => Some(false),
            _ => None,
        },
        accepted: match config.verdict {
            Some(Verdict::Accepted) => Some(true),
            Some(Verdict::Rejected) => Some(false),
            _ => None,
        },
        ..Filter::default()
    };
    let received = |d: &Delivery| d.received_at.parse::<Timestamp>().ok();
    let mut seen = std::collections::HashSet::new();
    record
        .into_iter()
        .filter(|d| filter.matches(d))
        .filter(|d| config.since.is_none_or(|since| received(d).is_some_and(|at| at >= since)))
        .filter(|d| config.until.is_none_or(|until| received(d).is_some_and(|at| at < until)))
        .filter(|d| config.all_attempts || d.webhook_id.as_ref().is_none_or(|id| seen.insert(id.clone())))
        .collect()
}

/// Sends each selected request, paced by `config.rate`; `progress` gets each outcome.
pub async fn run(
    config: &ReplayConfig,
    requests: &[Delivery],
    mut progress: impl FnMut(&Replayed),
) -> Result<Vec<Replayed>, ReplayError> {
    crate::signature::signature(&config.secret, "msg_replay", 0, b"{}")?;
    let client = crate::sender(config.timeout, "replay").map_err(ReplayError::Client)?;
    let started = Instant::now();
    let mut results = Vec::new();
    for (i, delivery) in requests.iter().enumerate() {
        if let Some(rate) = config.rate.filter(|r| *r > 0.0) {
            let due = started + Duration::from_secs_f64(i as f64 / rate);
            tokio::time::sleep_until(due.into()).await;
        }
        let body = delivery.body_bytes();
        let webhook_id = match (&delivery.webhook_id, config.new_id) {
            (Some(id), false) => id.clone(),
            _ => crate::random_msg_id(),
        };
        let mut request = client
            .post(&config.to)
            .header("content-type", delivery.header("content-type").unwrap_or("application/json"))
            .body(body.clone());
        for (name, value) in crate::sign(&config.secret, &webhook_id, crate::unix_now(), &body)? {
            request = request.header(name, value);
        }
        let sent = Instant::now();
        let result = match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let _ = response.bytes().await;
                Ok(status)
            }
            Err(e) if e.is_timeout() => Err(format!("no answer within {} s", config.timeout.as_secs_f64())),
            Err(e) => Err(e.to_string()),
        };
        let replayed = Replayed {
            seq: delivery.seq,
            webhook_id,
            event_type: delivery.event_type.clone(),
            result,
            latency: sent.elapsed(),
        };
        progress(&replayed);
        results.push(replayed);
    }
    Ok(results)
}
