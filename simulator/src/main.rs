//! `webhook-sim`: the customer's side of the Public API's webhooks: a scripted receiver, a grader
//! for partners' receivers, and helpers to sign, verify, validate and print example payloads.

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use webhook_sim::check::{CheckConfig, Group, Report};
use webhook_sim::receiver::{Chaos, Receiver, ReceiverConfig, Reply, Rule, Script};
use webhook_sim::{Verdict, example, sign, validate, verify};

#[derive(Debug, Parser)]
#[command(name = "webhook-sim", version, about = "The customer's side of the Public API's webhooks.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Receive webhooks: verify, validate, record and answer per a script, until Ctrl-C.
    Receive(ReceiveArgs),
    /// Grade a webhook receiver against the contract; exits 1 when a required case fails.
    Check(CheckArgs),
    /// Send requests from a `receive --record` file again, with their exact bodies, a fresh
    /// timestamp and a new signature; exits 1 when any is not answered 2xx.
    Replay(ReplayArgs),
    /// Print the Standard Webhooks headers for a body (read from FILE or standard input).
    Sign {
        #[arg(long, env = "WEBHOOK_SECRET")]
        secret: String,
        /// The message id (`webhook-id`); defaults to a random one.
        #[arg(long)]
        id: Option<String>,
        /// Unix seconds (`webhook-timestamp`); defaults to now.
        #[arg(long)]
        timestamp: Option<i64>,
        file: Option<PathBuf>,
    },
    /// Check a captured request's signature; exits 1 when it does not verify.
    Verify {
        #[arg(long, env = "WEBHOOK_SECRET")]
        secret: String,
        #[arg(long)]
        id: String,
        #[arg(long)]
        timestamp: String,
        /// The `webhook-signature` header.
        #[arg(long)]
        signature: String,
        /// Check only the signature, not that the timestamp is within 5 minutes of now.
        #[arg(long)]
        ignore_timestamp: bool,
        file: Option<PathBuf>,
    },
    /// Check a payload against the published schema of its type; exits 1 on problems.
    Validate { file: Option<PathBuf> },
    /// Print a valid example payload of an event type.
    Example {
        /// interview.completed, interview.failed, application.status_changed or webhook.test
        event_type: String,
    },
}

#[derive(Debug, clap::Args)]
struct ReceiveArgs {
    #[arg(long, default_value = "127.0.0.1:9090")]
    addr: SocketAddr,
    /// The endpoint's signing secret; repeat it to accept several (during a rotation).
    #[arg(long = "secret", env = "WEBHOOK_SECRET", required = true, value_delimiter = ',')]
    secrets: Vec<String>,
    /// Seconds a `webhook-timestamp` may be from this machine's clock.
    #[arg(long, default_value_t = 300)]
    tolerance: u64,
    /// Append one JSON line per request to this file.
    #[arg(long)]
    record: Option<PathBuf>,
    /// A response script (JSON); the flags below add one rule after its own.
    #[arg(long)]
    script: Option<PathBuf>,
    /// Answer the first N attempts of every message with --fail-status.
    #[arg(long, default_value_t = 0)]
    fail_first: usize,
    #[arg(long, default_value_t = 500)]
    fail_status: u16,
    /// The status of every other answer (default: 200 when the signature verifies, 400 when not).
    #[arg(long)]
    status: Option<u16>,
    /// Wait this long before every answer.
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
    /// Wait up to this much longer, at random.
    #[arg(long, default_value_t = 0)]
    jitter_ms: u64,
    /// Send this `Retry-After` with failing answers.
    #[arg(long)]
    retry_after: Option<String>,
    /// Fail this fraction of attempts at random (500, 503, 429 or a connection reset).
    #[arg(long)]
    chaos_rate: Option<f64>,
    /// The seed of --chaos-rate and --jitter-ms.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Debug, clap::Args)]
struct CheckArgs {
    /// The receiver's URL, as it would be registered as a webhook endpoint.
    #[arg(required_unless_present = "export")]
    url: Option<String>,
    /// The secret the receiver verifies with.
    #[arg(long, env = "WEBHOOK_SECRET")]
    secret: String,
    /// Seconds the receiver may take to answer one request (the server gives up after 15).
    #[arg(long, default_value_t = 15.0)]
    timeout: f64,
    /// Fail the burst case when any of its answers takes longer than this (tighter than
    /// --timeout).
    #[arg(long)]
    latency_budget_ms: Option<u64>,
    /// Run only the cases of this group; repeat or separate with commas for several.
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Group>,
    /// How many payloads the `generated` group makes per event type.
    #[arg(long, default_value_t = 5)]
    generated: usize,
    /// The seed of the `generated` group: the same seed sends the same payload bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write the report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the report as JUnit XML here.
    #[arg(long)]
    junit: Option<PathBuf>,
    /// Send nothing: write the selected cases as a conformance pack (JSON) here, every request
    /// signed with --secret for a fixed time, ids and random bytes from --seed.
    #[arg(long, conflicts_with_all = ["url", "json", "junit", "latency_budget_ms"])]
    export: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct ReplayArgs {
    /// The record file (one JSON line per request, as `receive --record` writes).
    record: PathBuf,
    /// Where to send the requests.
    #[arg(long)]
    to: String,
    /// The secret to sign with: the one the receiver at --to verifies with.
    #[arg(long, env = "WEBHOOK_SECRET")]
    secret: String,
    /// Give each message a new `webhook-id` (by default the recorded one is kept).
    #[arg(long)]
    new_id: bool,
    /// Only requests of this event type.
    #[arg(long)]
    event_type: Option<String>,
    /// Only the message with this `webhook-id`.
    #[arg(long)]
    webhook_id: Option<String>,
    /// Only requests the recording receiver judged so.
    #[arg(long, value_enum)]
    verdict: Option<webhook_sim::replay::Verdict>,
    /// Only requests received at or after this time (RFC 3339).
    #[arg(long)]
    since: Option<jiff::Timestamp>,
    /// Only requests received before this time (RFC 3339).
    #[arg(long)]
    until: Option<jiff::Timestamp>,
    /// At most this many requests per second (default: one after another, as answers come).
    #[arg(long)]
    rate: Option<f64>,
    /// Send retries too, not only the first request of each message.
    #[arg(long)]
    all_attempts: bool,
    /// Seconds to wait for each answer.
    #[arg(long, default_value_t = 15.0)]
    timeout: f64,
}

async fn replay(args: ReplayArgs) -> Result<bool, String> {
    use webhook_sim::replay::{self, ReplayConfig};
    if args.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
        return Err("--rate must be a positive number of requests per second".into());
    }
    if !(args.timeout > 0.0 && args.timeout.is_finite()) {
        return Err("--timeout must be a positive number of seconds".into());
    }
    let text =
        std::fs::read_to_string(&args.record).map_err(|e| format!("cannot read {}: {e}", args.record.display()))?;
    let config = ReplayConfig {
        to: args.to,
        secret: args.secret,
        new_id: args.new_id,
        event_type: args.event_type,
        webhook_id: args.webhook_id,
        verdict: args.verdict,
        since: args.since,
        until: args.until,
        rate: args.rate,
        all_attempts: args.all_attempts,
        timeout: Duration::from_secs_f64(args.timeout),
    };
    let record = replay::parse_record(&text).map_err(|e| e.to_string())?;
    let recorded = record.len();
    let selected = replay::select(&config, record);
    let results = replay::run(&config, &selected, |r| println!("{}", r.line())).await.map_err(|e| e.to_string())?;
    let accepted = results.iter().filter(|r| r.accepted()).count();
    println!(
        "\nreplayed {} of {recorded} recorded requests to {}: {accepted} answered 2xx, {} not",
        results.len(),
        config.to,
        results.len() - accepted
    );
    Ok(accepted == results.len())
}

impl ReceiveArgs {
    fn script(&self) -> Result<Script, String> {
        let mut script = match &self.script {
            Some(path) => {
                let text = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                serde_json::from_slice(&text).map_err(|e| format!("{} is not a script: {e}", path.display()))?
            }
            None => Script::default(),
        };
        let fail = Reply {
            status: Some(self.fail_status),
            retry_after: self.retry_after.clone(),
            delay_ms: self.delay_ms,
            jitter_ms: self.jitter_ms,
            ..Reply::default()
        };
        let then =
            Reply { status: self.status, delay_ms: self.delay_ms, jitter_ms: self.jitter_ms, ..Reply::default() };
        if self.fail_first > 0 || then != Reply::default() {
            script.rules.push(Rule { replies: vec![fail; self.fail_first], then: Some(then), ..Rule::default() });
        }
        if let Some(rate) = self.chaos_rate {
            if !(0.0..=1.0).contains(&rate) {
                return Err("--chaos-rate must be between 0 and 1".into());
            }
            script.chaos = Some(Chaos { seed: self.seed, rate, faults: vec![] });
        }
        Ok(script)
    }
}

async fn receive(args: ReceiveArgs) -> Result<bool, String> {
    let config = ReceiverConfig {
        addr: args.addr,
        secrets: args.secrets.clone(),
        tolerance: Duration::from_secs(args.tolerance),
        record: args.record.clone(),
        script: args.script()?,
        hang: Duration::from_secs(300),
    };
    let receiver = Receiver::start(config).await.map_err(|e| e.to_string())?;
    eprintln!("receiving on {} (inspector and control API at the same address; Ctrl-C to stop)", receiver.url());
    if let Some(path) = &args.record {
        eprintln!("recording to {}", path.display());
    }
    tokio::signal::ctrl_c().await.map_err(|e| format!("cannot wait for Ctrl-C: {e}"))?;
    let record_error = receiver.record_error();
    let summary = receiver.shutdown().await;
    for line in summary.lines() {
        eprintln!("{line}");
    }
    if let Some(e) = record_error {
        eprintln!("error: writing the record file failed: {e}");
        return Ok(false);
    }
    Ok(true)
}

async fn check(args: CheckArgs) -> Result<bool, String> {
    if !(args.timeout > 0.0 && args.timeout.is_finite()) {
        return Err("--timeout must be a positive number of seconds".into());
    }
    let url = args.url.unwrap_or_default();
    let mut config = CheckConfig::new(url, args.secret, Duration::from_secs_f64(args.timeout));
    config.latency_budget = args.latency_budget_ms.map(Duration::from_millis);
    config.only = args.only;
    config.generation = webhook_sim::check::Generation { per_type: args.generated, seed: args.seed };
    if let Some(path) = &args.export {
        let pack = webhook_sim::check::export(&config).map_err(|e| e.to_string())?;
        let requests: usize = pack.cases.iter().map(|c| c.requests.len()).sum();
        std::fs::write(path, pack.json()).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!(
            "wrote {} cases ({requests} requests, signed for {}) to {}",
            pack.cases.len(),
            pack.timestamp_rfc3339,
            path.display()
        );
        return Ok(true);
    }
    let bar = indicatif::ProgressBar::new(config.case_count() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let report: Report = webhook_sim::check::run(&config, |result| {
        bar.set_message(result.id.clone());
        bar.inc(1);
    })
    .await
    .map_err(|e| e.to_string())?;
    bar.finish_and_clear();
    print!("{}", report.table());
    for (path, text) in [(&args.json, report.json()), (&args.junit, report.junit())] {
        if let Some(path) = path {
            std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
    }
    Ok(report.success())
}

fn read(file: &Option<PathBuf>) -> Result<Vec<u8>, String> {
    match file {
        Some(path) => std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display())),
        None => {
            let mut buf = Vec::new();
            std::io::stdin().read_to_end(&mut buf).map_err(|e| format!("cannot read standard input: {e}"))?;
            Ok(buf)
        }
    }
}

async fn run(cli: Cli) -> Result<bool, String> {
    match cli.command {
        Command::Receive(args) => receive(args).await,
        Command::Check(args) => check(args).await,
        Command::Replay(args) => replay(args).await,
        Command::Sign { secret, id, timestamp, file } => {
            let body = read(&file)?;
            let id = id.unwrap_or_else(webhook_sim::random_msg_id);
            let timestamp = timestamp.unwrap_or_else(webhook_sim::unix_now);
            for (name, value) in sign(&secret, &id, timestamp, &body).map_err(|e| e.to_string())? {
                println!("{name}: {value}");
            }
            Ok(true)
        }
        Command::Verify { secret, id, timestamp, signature, ignore_timestamp, file } => {
            let body = read(&file)?;
            match verify(&secret, &id, &timestamp, &signature, &body, ignore_timestamp).map_err(|e| e.to_string())? {
                Verdict::Valid => {
                    println!("valid");
                    Ok(true)
                }
                Verdict::Invalid(why) => {
                    println!("invalid: {why}");
                    Ok(false)
                }
            }
        }
        Command::Validate { file } => {
            let problems = validate(&read(&file)?).map_err(|e| e.to_string())?;
            for p in &problems {
                println!("{p}");
            }
            if problems.is_empty() {
                println!("valid");
            }
            Ok(problems.is_empty())
        }
        Command::Example { event_type } => {
            print!("{}", example(&event_type).map_err(|e| e.to_string())?);
            Ok(true)
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
