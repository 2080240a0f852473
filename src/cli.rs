//! The `public-api` command line. Every flag can also be set with a `PUBLIC_API_*`
//! environment variable.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use jiff::Timestamp;

use crate::api::auth::RateLimit;
use crate::clock::{Clock, SystemClock};
use crate::domain::Scope;
use crate::domain::audit::AuditContext;
use crate::domain::ids::IdKind;
use crate::interview::OutcomeWeights;
use crate::keys;
use crate::server::{ServeConfig, ServeError, Server};
use crate::store::sealing::{self, SealingKey};
use crate::store::sqlite::Access;
use crate::store::{self, Location, Store, StoreError};
use crate::webhooks::dispatcher::parse_schedule;

#[derive(Debug, Parser)]
#[command(name = "public-api", version, about = "The Public API reference server and its admin commands.")]
pub struct Cli {
    /// Where the embedded database lives.
    #[arg(long, global = true, env = "PUBLIC_API_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Use this PostgreSQL database (`postgres://user@host:port/db`) instead of the data
    /// directory; several `serve` processes may share it.
    #[arg(long, global = true, env = "PUBLIC_API_DATABASE_URL")]
    pub database_url: Option<String>,
    /// A file holding the key that seals webhook signing secrets at rest (32 bytes in base64,
    /// as `public-api secrets generate-key` or `openssl rand -base64 32` write it). Repeat it to
    /// hold two keys while `secrets rotate-key` moves secrets from one to the other. The key
    /// may instead be given itself in PUBLIC_API_ENCRYPTION_KEY. Without either, `serve` on a
    /// data directory uses (and on first start creates) `encryption.key` in it; PostgreSQL
    /// needs a key, the same on every replica.
    #[arg(long, global = true, env = "PUBLIC_API_ENCRYPTION_KEY_FILE", value_delimiter = ',')]
    pub encryption_key_file: Vec<PathBuf>,
    /// How log lines are written to stderr: `text` for people, `json` for log pipelines (one
    /// object per line: timestamp, level, target, message and fields; each request's line has
    /// request_id, method, route, path, status and latency_ms). PUBLIC_API_LOG sets the levels
    /// (default `info`).
    #[arg(long, global = true, env = "PUBLIC_API_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

/// See [`Cli::log_format`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the Public API.
    Serve(Box<ServeArgs>),
    /// Manage API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage organisations.
    #[command(subcommand)]
    Orgs(OrgsCommand),
    /// Manage the key that seals webhook signing secrets at rest.
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Copy the embedded store to a new file while a server may be serving from it (SQLite's
    /// online backup API: one consistent snapshot). For PostgreSQL use pg_dump.
    Backup {
        /// The file to write; it must not exist yet.
        #[arg(long)]
        to: PathBuf,
    },
    /// Write everything in the store as JSON (API key hashes and webhook secrets are left out).
    Export {
        /// Write to this file instead of standard output.
        #[arg(long, env = "PUBLIC_API_EXPORT_OUT")]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "PUBLIC_API_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Upsert jobs and applications from this JSON file at start-up.
    #[arg(long, env = "PUBLIC_API_SEED")]
    pub seed: Option<PathBuf>,
    /// The organisation to seed into (default: the first one).
    #[arg(long, env = "PUBLIC_API_SEED_ORG")]
    pub seed_org: Option<String>,
    /// Requests per second allowed per API key (0 turns the limit off).
    #[arg(long, env = "PUBLIC_API_RATE_LIMIT", default_value_t = 50.0)]
    pub rate_limit: f64,
    /// Burst size of the per-key rate limit.
    #[arg(long, env = "PUBLIC_API_RATE_LIMIT_BURST", default_value_t = 100)]
    pub rate_limit_burst: u32,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "PUBLIC_API_MAX_BODY_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Seconds a request may take before it is answered with 408.
    #[arg(long, env = "PUBLIC_API_REQUEST_TIMEOUT", default_value_t = 30)]
    pub request_timeout: u64,
    /// Seconds a client may take to send request headers, and an idle connection may stay open.
    #[arg(long, env = "PUBLIC_API_HEADER_READ_TIMEOUT", default_value_t = 10)]
    pub header_read_timeout: u64,
    /// Seconds a shutdown (SIGTERM, Ctrl-C) gives requests in progress and webhook attempts in
    /// flight to finish; work not started is handed to other replicas at once.
    #[arg(long, env = "PUBLIC_API_SHUTDOWN_GRACE", default_value_t = 10)]
    pub shutdown_grace: u64,
    /// Seconds from an application's creation to its first (simulated) call.
    #[arg(long, env = "PUBLIC_API_INTERVIEW_DELAY", default_value_t = 5.0)]
    pub interview_delay: f64,
    /// Seconds between an unanswered call and the next attempt.
    #[arg(long, env = "PUBLIC_API_INTERVIEW_RETRY_DELAY", default_value_t = 1800.0)]
    pub interview_retry_delay: f64,
    /// Seconds a server reserves a due interview for itself. With several replicas on one
    /// database, a killed replica's interviews are picked up by the others after this long.
    #[arg(long, env = "PUBLIC_API_INTERVIEW_LEASE", default_value_t = 60.0)]
    pub interview_lease: f64,
    /// Call attempts before an unanswered interview fails.
    #[arg(long, env = "PUBLIC_API_INTERVIEW_MAX_ATTEMPTS", default_value_t = 3)]
    pub interview_max_attempts: u32,
    /// Weights of call outcomes, e.g. `completed=70,no_answer=12,voicemail=8,invalid_number=3,hung_up=4,not_interested=3`.
    #[arg(long, env = "PUBLIC_API_INTERVIEW_OUTCOMES")]
    pub interview_outcomes: Option<String>,
    /// Seed of the simulated interviews: the same seed and application id give the same interview.
    #[arg(long, env = "PUBLIC_API_INTERVIEW_SEED", default_value_t = crate::interview::DEFAULT_SEED)]
    pub interview_seed: u64,
    /// The base URL clients reach this server at (behind a proxy, say): `servers` in the served
    /// OpenAPI document, so "Try it out" on /docs goes there, and links in results. Without it
    /// the document names a server relative to itself, and links use the listening address.
    #[arg(long, env = "PUBLIC_API_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Let webhooks go to this non-public range too, e.g. 127.0.0.1/32 for a local receiver
    /// (repeatable; comma-separated in the environment variable).
    #[arg(long = "webhook-allow-cidr", env = "PUBLIC_API_WEBHOOK_ALLOW_CIDR", value_delimiter = ',')]
    pub webhook_allow_cidr: Vec<String>,
    /// Deliver webhooks only to the --webhook-allow-cidr ranges. URLs elsewhere are still
    /// accepted, but every attempt to reach them fails as blocked without connecting, and host
    /// names resolve only from /etc/hosts and localhost: for sandboxes and test runs that must
    /// never call out.
    #[arg(long, env = "PUBLIC_API_WEBHOOK_SANDBOX")]
    pub webhook_sandbox: bool,
    /// Accept only https:// webhook URLs.
    #[arg(long, env = "PUBLIC_API_WEBHOOK_HTTPS_ONLY")]
    pub webhook_https_only: bool,
    /// Seconds a webhook attempt may take.
    #[arg(long, env = "PUBLIC_API_WEBHOOK_TIMEOUT", default_value_t = 15.0)]
    pub webhook_timeout: f64,
    /// Delays between webhook attempts, e.g. `5s,5m,30m,2h,5h,10h,10h` (the default).
    #[arg(long, env = "PUBLIC_API_WEBHOOK_RETRY_SCHEDULE")]
    pub webhook_retry_schedule: Option<String>,
    /// Hours an endpoint may fail without a success before it is disabled.
    #[arg(long, env = "PUBLIC_API_WEBHOOK_DISABLE_AFTER_HOURS", default_value_t = 120.0)]
    pub webhook_disable_after_hours: f64,
    /// Hours a rotated-out signing secret keeps signing.
    #[arg(long, env = "PUBLIC_API_WEBHOOK_ROTATION_OVERLAP_HOURS", default_value_t = 24.0)]
    pub webhook_rotation_overlap_hours: f64,
}

fn seconds(name: &str, value: f64) -> Result<jiff::SignedDuration, String> {
    if !value.is_finite() || value < 0.0 {
        return Err(format!("--{name} must be a number of seconds, 0 or more"));
    }
    jiff::SignedDuration::try_from_secs_f64(value).map_err(|e| format!("--{name}: {e}"))
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key and print its secret (shown only once).
    Create {
        /// The organisation (default: the only one, if there is exactly one).
        #[arg(long, env = "PUBLIC_API_ORG")]
        org: Option<String>,
        /// A label for the key.
        #[arg(long, default_value = "CLI key")]
        name: String,
        /// When the key stops working (RFC 3339).
        #[arg(long)]
        expires_at: Option<Timestamp>,
        /// What the key may do (repeatable or comma-separated), e.g. `jobs:write`; every scope
        /// when omitted. Scopes: jobs:read, jobs:write, applications:read, applications:write,
        /// webhooks:read, webhooks:write, keys:read, keys:write, sandbox.
        #[arg(long = "scope", value_delimiter = ',', value_parser = parse_scope)]
        scopes: Vec<Scope>,
    },
    /// List an organisation's keys.
    List {
        #[arg(long, env = "PUBLIC_API_ORG")]
        org: Option<String>,
    },
    /// Revoke a key for good.
    Revoke {
        #[arg(long, env = "PUBLIC_API_ORG")]
        org: Option<String>,
        /// The key's id (`key_…`).
        key_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Write a new random key to a file (mode 0600) and print its id.
    GenerateKey {
        /// The file to create; an existing file is never replaced.
        #[arg(long)]
        out: PathBuf,
    },
    /// Re-seal every webhook signing secret with a new key, in one transaction, and make it
    /// the store's key. Servers must hold both keys meanwhile (repeat --encryption-key-file);
    /// afterwards they need only the new one. A data directory's own `encryption.key` is
    /// replaced by the new key.
    RotateKey {
        /// The new key (see `generate-key`); the current one is given as usual.
        #[arg(long)]
        new_key_file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum OrgsCommand {
    /// Create an organisation and print its id.
    Create {
        #[arg(long)]
        name: String,
    },
    /// List organisations.
    List,
}

/// Runs the command line; the binary's `main`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PUBLIC_API_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).try_init(),
        // Fields at the top level beside the message, and no span list: one flat object a log
        // pipeline can index without knowing tracing.
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).with_span_list(false).try_init(),
    };
}

async fn run(cli: Cli) -> Result<(), String> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let location = Location::new(cli.data_dir, cli.database_url);
    let keys = encryption_keys(&cli.encryption_key_file)?;
    match cli.command {
        Command::Serve(args) => serve(location, keys, *args, clock).await,
        Command::Keys(cmd) => keys_command(&location, keys, cmd, clock).await,
        Command::Orgs(cmd) => orgs_command(&location, keys, cmd, clock).await,
        Command::Secrets(cmd) => secrets_command(&location, keys, cmd).await,
        Command::Export { out } => export(&location, keys, out).await,
        Command::Backup { to } => backup(&location, &to).await,
    }
}

async fn backup(location: &Location, to: &Path) -> Result<(), String> {
    let Location::DataDir(dir) = location else {
        return Err(
            "`backup` copies the embedded store; for PostgreSQL use pg_dump (README, \"Backup and restore\")".into()
        );
    };
    let (dir, to) = (dir.clone(), to.to_path_buf());
    let report = tokio::task::spawn_blocking(move || store::sqlite::backup::backup(&dir, &to))
        .await
        .map_err(|e| format!("the backup did not finish: {e}"))?
        .map_err(store_error)?;
    let rows: Vec<String> = report.tables.iter().map(|(name, count)| format!("{name} {count}")).collect();
    println!(
        "backed up {} to {} ({} bytes, schema version {}, integrity ok)\nrows: {}",
        report.source.display(),
        report.path.display(),
        report.bytes,
        report.schema_version,
        rows.join(", ")
    );
    let key = report.source.with_file_name(sealing::DATA_DIR_KEY_FILE);
    if key.exists() {
        println!(
            "webhook signing secrets in it are sealed with {}: keep a copy of that key apart from the backup; a restore needs it",
            key.display()
        );
    }
    Ok(())
}

fn parse_scope(text: &str) -> Result<Scope, String> {
    Scope::parse(text.trim()).ok_or_else(|| {
        let names: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
        format!("`{text}` is not a scope; scopes: {}", names.join(", "))
    })
}

/// The keys given by --encryption-key-file and PUBLIC_API_ENCRYPTION_KEY.
fn encryption_keys(files: &[PathBuf]) -> Result<Vec<SealingKey>, String> {
    let mut keys = Vec::new();
    for file in files.iter().filter(|f| !f.as_os_str().is_empty()) {
        keys.push(SealingKey::read_file(file).map_err(|e| format!("--encryption-key-file: {e}"))?);
    }
    if let Ok(text) = std::env::var("PUBLIC_API_ENCRYPTION_KEY")
        && !text.trim().is_empty()
    {
        keys.push(SealingKey::parse(&text).map_err(|e| format!("PUBLIC_API_ENCRYPTION_KEY: {e}"))?);
    }
    Ok(keys)
}

async fn serve(
    location: Location,
    keys: Vec<SealingKey>,
    args: ServeArgs,
    clock: Arc<dyn Clock>,
) -> Result<(), String> {
    let described = location.describe();
    let mut config = ServeConfig::new(args.addr, location);
    config.encryption_keys = keys;
    config.seed = args.seed;
    config.seed_org = args.seed_org;
    config.api.max_body_bytes = args.max_body_bytes;
    config.api.request_timeout = Duration::from_secs(args.request_timeout.max(1));
    config.api.header_read_timeout = Duration::from_secs(args.header_read_timeout.max(1));
    config.api.shutdown_grace = Duration::from_secs(args.shutdown_grace);
    config.api.rate_limit = (args.rate_limit > 0.0)
        .then_some(RateLimit { per_second: args.rate_limit, burst: args.rate_limit_burst.max(1) });
    config.interview.delay = seconds("interview-delay", args.interview_delay)?;
    config.interview.retry_delay = seconds("interview-retry-delay", args.interview_retry_delay)?;
    config.interview.max_attempts = args.interview_max_attempts.max(1);
    config.interview.lease = seconds("interview-lease", args.interview_lease.max(1.0))?;
    config.interview.seed = args.interview_seed;
    if let Some(weights) = &args.interview_outcomes {
        config.interview.outcomes = OutcomeWeights::parse(weights).map_err(|e| format!("--interview-outcomes: {e}"))?;
    }
    config.api.public_url = args.public_url.clone().filter(|u| !u.trim().is_empty());
    config.interview.public_url = args.public_url.unwrap_or_default();
    for cidr in &args.webhook_allow_cidr {
        config.delivery.policy.allow.push(cidr.parse().map_err(|e| format!("--webhook-allow-cidr: {e}"))?);
    }
    config.delivery.policy.https_only = args.webhook_https_only;
    config.delivery.policy.sandboxed = args.webhook_sandbox;
    config.delivery.timeout = seconds("webhook-timeout", args.webhook_timeout)?
        .try_into()
        .map_err(|_| "--webhook-timeout must be positive".to_owned())?;
    if let Some(schedule) = &args.webhook_retry_schedule {
        config.delivery.schedule = parse_schedule(schedule).map_err(|e| format!("--webhook-retry-schedule: {e}"))?;
    }
    config.delivery.disable_after = seconds("webhook-disable-after-hours", args.webhook_disable_after_hours * 3600.0)?;
    config.delivery.rotation_overlap =
        seconds("webhook-rotation-overlap-hours", args.webhook_rotation_overlap_hours * 3600.0)?;
    let server = Server::start(config, clock).await.map_err(|e| match e {
        ServeError::Store(e) => store_error(e),
        other => other.to_string(),
    })?;
    if let Some(b) = server.bootstrap() {
        println!("Created organisation {} ({}).", b.organization.name, b.organization.id);
        println!("API key (shown only once; keep it safe):");
        println!();
        println!("    {}", b.key.secret);
        println!();
    }
    if let Some(r) = server.seeded() {
        tracing::info!(
            jobs_created = r.jobs_created,
            jobs_existing = r.jobs_existing,
            applications_created = r.applications_created,
            applications_existing = r.applications_existing,
            "seeded"
        );
    }
    let addr = server.local_addr();
    println!("Listening on http://{addr} (API docs at http://{addr}/docs), {described}.");
    tracing::info!(%addr, store = %described, "listening");
    server.run_until(shutdown_signal()).await.map_err(|e| e.to_string())?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {},
            _ = terminate.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

async fn open_admin(location: &Location, keys: Vec<SealingKey>) -> Result<Arc<dyn Store>, String> {
    store::open(location, Access::Admin, keys).await.map_err(store_error)
}

/// A store error for the terminal, with the flag that gets past it where one does (the store
/// itself knows nothing of flags).
fn store_error(e: StoreError) -> String {
    let hint = match e {
        StoreError::Locked { .. } => "; stop it or choose another --data-dir",
        StoreError::NewerSchema { .. } => ", or choose another --data-dir or --database-url",
        StoreError::BadDatabaseUrl(_) => " (--database-url, PUBLIC_API_DATABASE_URL)",
        StoreError::Sealing(_) => {
            " (--encryption-key-file, PUBLIC_API_ENCRYPTION_KEY_FILE or PUBLIC_API_ENCRYPTION_KEY)"
        }
        _ => "",
    };
    format!("{e}{hint}")
}

/// The organisation to act on: the one named, or the only one there is.
async fn resolve_org(store: &dyn Store, org: Option<String>) -> Result<String, String> {
    let orgs = store.list_organizations().await.map_err(|e| e.to_string())?;
    match org {
        Some(id) => orgs
            .iter()
            .find(|o| o.id == id)
            .map(|o| o.id.clone())
            .ok_or_else(|| format!("no organisation {id}; see `public-api orgs list`")),
        None => match orgs.as_slice() {
            [only] => Ok(only.id.clone()),
            [] => Err("there is no organisation yet; create one with `public-api orgs create --name NAME`".into()),
            _ => Err("there are several organisations; choose one with --org (see `public-api orgs list`)".into()),
        },
    }
}

async fn keys_command(
    location: &Location,
    keys: Vec<SealingKey>,
    cmd: KeysCommand,
    clock: Arc<dyn Clock>,
) -> Result<(), String> {
    let store = open_admin(location, keys).await?;
    let err = |e: StoreError| e.to_string();
    match cmd {
        KeysCommand::Create { org, name, expires_at, scopes } => {
            let org_id = resolve_org(store.as_ref(), org).await?;
            let now = clock.now();
            if expires_at.is_some_and(|at| at <= now) {
                return Err("--expires-at must be in the future".into());
            }
            let scopes = if scopes.is_empty() { Scope::ALL.to_vec() } else { scopes };
            let request = keys::KeyRequest { org_id: &org_id, name: &name, expires_at, scopes };
            let issued = keys::issue(store.as_ref(), request, now, AuditContext::cli()).await.map_err(err)?;
            println!("Created key {} for {org_id}. Secret (shown only once):", issued.key.id);
            println!("{}", issued.secret);
        }
        KeysCommand::List { org } => {
            let org_id = resolve_org(store.as_ref(), org).await?;
            let keys = store.list_api_keys(&org_id).await.map_err(err)?;
            println!(
                "{:<38} {:<24} {:<14} {:<8} {:>8}  {:<26} SCOPES",
                "ID", "NAME", "PREFIX", "STATE", "USES", "LAST USED"
            );
            let now = clock.now();
            for k in keys {
                let state = if k.revoked_at.is_some() {
                    "revoked"
                } else if k.is_expired(now) {
                    "expired"
                } else {
                    "active"
                };
                let last = k.last_used_at.map_or_else(|| "never".to_owned(), |t| t.to_string());
                let scopes = if k.scopes.len() == Scope::ALL.len() {
                    "all".to_owned()
                } else {
                    k.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",")
                };
                println!(
                    "{:<38} {:<24} {:<14} {:<8} {:>8}  {last:<26} {scopes}",
                    k.id, k.name, k.prefix, state, k.usage_count
                );
            }
        }
        KeysCommand::Revoke { org, key_id } => {
            let org_id = resolve_org(store.as_ref(), org).await?;
            match store.revoke_api_key(&org_id, &key_id, clock.now(), AuditContext::cli()).await.map_err(err)? {
                Some(k) => println!("Revoked {} ({}).", k.id, k.name),
                None => return Err(format!("no key {key_id} in {org_id}")),
            }
        }
    }
    store.close();
    Ok(())
}

async fn orgs_command(
    location: &Location,
    keys: Vec<SealingKey>,
    cmd: OrgsCommand,
    clock: Arc<dyn Clock>,
) -> Result<(), String> {
    let store = open_admin(location, keys).await?;
    match cmd {
        OrgsCommand::Create { name } => {
            let name = name.trim().to_owned();
            if name.is_empty() || name.chars().count() > 200 {
                return Err("--name must be 1 to 200 characters".into());
            }
            let org = store
                .create_organization(IdKind::Organization.new_id(), name, clock.now())
                .await
                .map_err(|e| e.to_string())?;
            println!("Created organisation {} ({}).", org.name, org.id);
            println!("Create a key for it with: public-api keys create --org {}", org.id);
        }
        OrgsCommand::List => {
            println!("{:<38} {:<32} CREATED", "ID", "NAME");
            for o in store.list_organizations().await.map_err(|e| e.to_string())? {
                println!("{:<38} {:<32} {}", o.id, o.name, o.created_at);
            }
        }
    }
    store.close();
    Ok(())
}

async fn secrets_command(location: &Location, keys: Vec<SealingKey>, cmd: SecretsCommand) -> Result<(), String> {
    match cmd {
        SecretsCommand::GenerateKey { out } => {
            let key = sealing::write_key_file(&out).map_err(|e| e.to_string())?;
            println!("Wrote key {} to {}.", key.id(), out.display());
        }
        SecretsCommand::RotateKey { new_key_file } => {
            let new = SealingKey::read_file(&new_key_file).map_err(|e| format!("--new-key-file: {e}"))?;
            let own_key_file = match location {
                Location::DataDir(dir) if keys.is_empty() => Some(dir.join(sealing::DATA_DIR_KEY_FILE)),
                _ => None,
            };
            let mut held = store::keyring_for(location, Access::Admin, keys).map_err(store_error)?.into_keys();
            if held.is_empty() {
                return Err("give the current key with --encryption-key-file".into());
            }
            held.push(new.clone());
            let store = open_admin(location, held).await?;
            let resealed = store.rotate_encryption_key(new.id()).await.map_err(store_error)?;
            store.close();
            println!("Re-sealed the signing secrets of {resealed} endpoints with key {}.", new.id());
            if let Some(own) = own_key_file {
                sealing::replace_key_file(&own, &new_key_file).map_err(|e| e.to_string())?;
                println!("{} now holds the new key.", own.display());
            }
            println!("Servers need only the new key from now on.");
        }
    }
    Ok(())
}

async fn export(location: &Location, keys: Vec<SealingKey>, out: Option<PathBuf>) -> Result<(), String> {
    let store = open_admin(location, keys).await?;
    let export = store.export().await.map_err(|e| e.to_string())?;
    store.close();
    let json = serde_json::to_string_pretty(&export).map_err(|e| e.to_string())?;
    match out {
        Some(path) => std::fs::write(&path, json + "\n").map_err(|e| format!("cannot write {}: {e}", path.display())),
        None => {
            println!("{json}");
            Ok(())
        }
    }
}
