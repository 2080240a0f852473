//! `webhook-sim`: sign, verify, validate and example payloads for Public API webhooks.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use webhook_sim::{Verdict, example, sign, validate, verify};

#[derive(Debug, Parser)]
#[command(name = "webhook-sim", version, about = "Helpers for receivers of the Public API's webhooks.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
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

fn run(cli: Cli) -> Result<bool, String> {
    match cli.command {
        Command::Sign { secret, id, timestamp, file } => {
            let body = read(&file)?;
            let now =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
            let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
            let id = id.unwrap_or_else(|| webhook_sim::random_msg_id(&nanos.to_le_bytes()));
            for (name, value) in sign(&secret, &id, timestamp.unwrap_or(now), &body).map_err(|e| e.to_string())? {
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

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
