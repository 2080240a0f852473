//! The grader: probes a partner's webhook receiver with valid and hostile deliveries and reports
//! which it handles as the contract requires. Every request is signed with the `standardwebhooks`
//! crate; payloads start from the published examples.

mod cases;
mod generate;
mod pack;
mod report;

use std::time::{Duration, Instant};

pub use cases::{BURST, Expect, Generation, Group, case_ids, generated_payloads};
pub use pack::{PACK_FORMAT, PACK_TIME, Pack, PackCase, PackRequest, export};
pub use report::{CaseResult, Report};

/// What to grade and how patiently.
#[derive(Debug, Clone)]
pub struct CheckConfig {
    /// The receiver's URL, exactly as configured as a webhook endpoint.
    pub url: String,
    /// The endpoint's signing secret (`whsec_…`).
    pub secret: String,
    /// How long a receiver may take to answer one request (the server's default attempt timeout
    /// is 15 s).
    pub timeout: Duration,
    /// A tighter limit for each answer of the burst case, which then fails when any answer is
    /// slower, even if it came within `timeout`.
    pub latency_budget: Option<Duration>,
    /// Run only the cases of these groups (every group when empty).
    pub only: Vec<Group>,
    /// The `generated` group's size and seed.
    pub generation: Generation,
}

impl CheckConfig {
    pub fn new(url: impl Into<String>, secret: impl Into<String>, timeout: Duration) -> CheckConfig {
        CheckConfig {
            url: url.into(),
            secret: secret.into(),
            timeout,
            latency_budget: None,
            only: Vec::new(),
            generation: Generation::default(),
        }
    }

    /// The cases this configuration runs, in order.
    pub(crate) fn cases(&self) -> Vec<cases::Case> {
        cases::all(self.generation)
            .into_iter()
            .filter(|c| self.only.is_empty() || self.only.contains(&c.group))
            .collect()
    }

    /// How many cases this configuration runs.
    pub fn case_count(&self) -> usize {
        self.cases().len()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Secret(#[from] crate::SimError),
    #[error("`{0}` is not an http:// or https:// URL")]
    Url(String),
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// One HTTP request of a case, exactly as sent.
#[derive(Debug, Clone)]
pub struct Probe {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Runs every case in order against the receiver; `progress` is called after each.
pub async fn run(config: &CheckConfig, mut progress: impl FnMut(&CaseResult)) -> Result<Report, CheckError> {
    let url = url::Url::parse(&config.url).map_err(|_| CheckError::Url(config.url.clone()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(CheckError::Url(config.url.clone()));
    }
    // Make sure the secret is usable before sending anything.
    crate::signature::signature(&config.secret, "msg_check", 0, b"{}")?;
    let client = crate::sender(config.timeout, "check").map_err(CheckError::Client)?;
    let started_at = jiff::Timestamp::now();
    let clock = Instant::now();
    let mut results = Vec::new();
    for case in config.cases() {
        let probes = (case.build)(&mut cases::Env::live(&config.secret, crate::unix_now()))?;
        let case_clock = Instant::now();
        let mut outcomes = Vec::new();
        if case.concurrent {
            let mut running = tokio::task::JoinSet::new();
            for (i, probe) in probes.iter().cloned().enumerate() {
                let (client, url) = (client.clone(), config.url.clone());
                running.spawn(async move { (i, send(&client, &url, &probe).await) });
            }
            let mut answered: Vec<_> = running.join_all().await;
            answered.sort_by_key(|(i, _)| *i);
            outcomes.extend(answered.into_iter().map(|(_, answer)| answer));
        } else {
            for probe in &probes {
                outcomes.push(send(&client, &config.url, probe).await);
            }
        }
        let limits = report::Limits { timeout: config.timeout, latency_budget: config.latency_budget };
        let result = report::judge(&case, &config.url, &probes, &outcomes, case_clock.elapsed(), limits);
        progress(&result);
        results.push(result);
    }
    Ok(Report::new(&config.url, started_at, clock.elapsed(), results))
}

/// What one request got back.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    Status(u16),
    TimedOut,
    Failed(String),
}

/// One request's outcome and how long it took, from sending to the end of the answer.
#[derive(Debug, Clone)]
pub(crate) struct Answered {
    pub outcome: Outcome,
    pub latency: Duration,
}

async fn send(client: &reqwest::Client, url: &str, probe: &Probe) -> Answered {
    let started = Instant::now();
    let mut request = client.post(url).body(probe.body.clone());
    for (name, value) in &probe.headers {
        request = request.header(name, value);
    }
    let outcome = match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            // Read the body so the connection can be reused; its content does not matter.
            let _ = response.bytes().await;
            Outcome::Status(status)
        }
        Err(e) if e.is_timeout() => Outcome::TimedOut,
        Err(e) => Outcome::Failed(error_chain(&e)),
    };
    Answered { outcome, latency: started.elapsed() }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
