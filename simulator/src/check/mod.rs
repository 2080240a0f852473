//! The grader: probes a partner's webhook receiver with valid and hostile deliveries and reports
//! which it handles as the contract requires. Every request is signed with the `standardwebhooks`
//! crate; payloads start from the published examples.

mod cases;
mod report;

use std::time::{Duration, Instant};

pub use cases::{Expect, Group, case_ids};
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
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .timeout(config.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(concat!("webhook-sim/", env!("CARGO_PKG_VERSION"), " (check)"))
        .build()
        .map_err(|e| CheckError::Client(e.to_string()))?;
    let started_at = jiff::Timestamp::now();
    let clock = Instant::now();
    let mut results = Vec::new();
    for case in cases::all() {
        let probes = (case.build)(&config.secret, crate::unix_now())?;
        let case_clock = Instant::now();
        let mut outcomes = Vec::new();
        for probe in &probes {
            outcomes.push(send(&client, &config.url, probe).await);
        }
        let result = report::judge(&case, &config.url, &probes, &outcomes, case_clock.elapsed(), config.timeout);
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

async fn send(client: &reqwest::Client, url: &str, probe: &Probe) -> Outcome {
    let mut request = client.post(url).body(probe.body.clone());
    for (name, value) in &probe.headers {
        request = request.header(name, value);
    }
    match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            // Read the body so the connection can be reused; its content does not matter.
            let _ = response.bytes().await;
            Outcome::Status(status)
        }
        Err(e) if e.is_timeout() => Outcome::TimedOut,
        Err(e) => Outcome::Failed(error_chain(&e)),
    }
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
