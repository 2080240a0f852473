//! `public-api-bench`: the numbers behind the performance targets, measured side by side in one
//! run on this machine so that each target is a ratio or a bound that noise cannot fake.
//! Run it with `cargo xtask bench [--quick]`; it prints a table and writes `report.json`.

mod load;
mod server;
mod store;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use http_body_util::Full;
use hyper::Request;
use serde::Serialize;
use serde_json::{Value, json};

use load::{Body, Stop, closed_loop};
use server::ServerProcess;
use store::{Backend, BenchStore};

#[derive(Debug, Parser)]
#[command(name = "public-api-bench", about = "Benchmarks of the Public API server and the webhook simulator.")]
struct Args {
    /// A smoke run of a few seconds with small stores; targets are shown but not judged.
    #[arg(long)]
    quick: bool,
    /// The directory with the `public-api` and `webhook-sim` binaries to measure.
    #[arg(long)]
    bin_dir: PathBuf,
    /// Where to write the report: `report.json`, or `report-postgres.json` for `--store postgres`.
    #[arg(long)]
    out_dir: PathBuf,
    /// The store to measure. On PostgreSQL the pipeline also runs with two replicas.
    #[arg(long, value_enum, default_value_t = Backend::Sqlite)]
    store: Backend,
    /// The database for `--store postgres`. Each store of the run is a schema made in it for the
    /// run and dropped after.
    #[arg(long, env = "PUBLIC_API_BENCH_DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/test")]
    database_url: String,
    /// Run one part only (for working on it): `api` stops after the job reads, `pipeline` runs
    /// the webhook pipeline alone.
    #[arg(long, value_enum)]
    only: Option<Part>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Part {
    Api,
    Pipeline,
}

/// Sizes and durations of one run.
struct Plan {
    phase: Duration,
    jobs: u64,
    applications: u64,
    pipeline_rate: u64,
    pipeline_phase: Duration,
    burst_applications: u64,
    connections: usize,
}

/// What the report judges each figure against. SQLite's are the product's; PostgreSQL's shares
/// its two cores with the server here, and its own targets are the ones its issue set.
struct Targets {
    /// `POST /v1/jobs` over the disk's flush rate.
    jobs_per_flush: f64,
    /// `GET /v1/jobs/{id}` over the ceiling, warm.
    get_share: f64,
    /// The same after a restart, when judged.
    get_share_after_restart: Option<f64>,
    /// `POST /v1/applications` req/s, when judged, with the text saying where it comes from.
    applications: Option<(f64, &'static str)>,
    /// Verified deliveries per second, sustained, for any number of replicas, with its text.
    deliveries: (f64, &'static str),
    /// p99 enqueue to receipt in ms, by number of replicas.
    p99_ms: fn(usize) -> f64,
}

impl Targets {
    fn for_store(store: Backend) -> Targets {
        match store {
            Backend::Sqlite => Targets {
                jobs_per_flush: 2.0,
                get_share: 0.5,
                get_share_after_restart: None,
                applications: None,
                deliveries: (1000.0, "at least 1,000/s"),
                p99_ms: |_| 100.0,
            },
            Backend::Postgres => Targets {
                jobs_per_flush: 1.0,
                get_share: 0.3,
                get_share_after_restart: Some(0.3),
                applications: Some((4624.0, "at least 4,624 req/s (2x 2,312)")),
                deliveries: (1500.0, "at least 1,500/s"),
                p99_ms: |replicas| if replicas > 1 { 30.0 } else { 100.0 },
            },
        }
    }
}

/// One line of the report.
#[derive(Debug, Serialize)]
struct Row {
    name: String,
    value: f64,
    unit: String,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<String>,
    /// `None` in quick mode, where targets are not judged.
    #[serde(skip_serializing_if = "Option::is_none")]
    met: Option<bool>,
}

struct Report {
    quick: bool,
    rows: Vec<Row>,
}

impl Report {
    fn add(&mut self, name: &str, value: f64, unit: &str, detail: String, target: Option<(String, bool)>) {
        let (target, met) = match target {
            Some((text, met)) => (Some(text), (!self.quick).then_some(met)),
            None => (None, None),
        };
        let row = Row { name: name.into(), value, unit: unit.into(), detail, target, met };
        eprintln!("bench: {:<44} {:>10.1} {:<6} {}", row.name, row.value, row.unit, row.detail);
        self.rows.push(row);
    }
}

const SECRET_PLACEHOLDER: &str = "whsec_dW5zZXQ=";

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let plan = if args.quick {
        Plan {
            phase: Duration::from_secs(1),
            jobs: 2_000,
            applications: 2_000,
            pipeline_rate: 200,
            pipeline_phase: Duration::from_secs(1),
            burst_applications: 300,
            connections: 64,
        }
    } else {
        Plan {
            phase: Duration::from_secs(5),
            jobs: 100_000,
            applications: 100_000,
            pipeline_rate: 200,
            pipeline_phase: Duration::from_secs(10),
            burst_applications: 5_000,
            connections: 64,
        }
    };
    let mut report = Report { quick: args.quick, rows: Vec::new() };
    match run(&args, &plan, &mut report).await {
        Ok(()) => {}
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    }
    print_table(&report);
    let store = match args.store {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let json = json!({
        "mode": if args.quick { "quick" } else { "full" },
        "store": store,
        "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "rows": report.rows,
    });
    let out = args.out_dir.join(if args.store == Backend::Sqlite {
        "report.json".into()
    } else {
        format!("report-{store}.json")
    });
    let _ = std::fs::create_dir_all(&args.out_dir);
    if let Err(e) = std::fs::write(&out, serde_json::to_string_pretty(&json).unwrap_or_default()) {
        eprintln!("error: cannot write {}: {e}", out.display());
        return std::process::ExitCode::FAILURE;
    }
    println!("report written to {}", out.display());
    std::process::ExitCode::SUCCESS
}

async fn run(args: &Args, plan: &Plan, report: &mut Report) -> Result<(), String> {
    let public_api = args.bin_dir.join("public-api");
    let webhook_sim = args.bin_dir.join("webhook-sim");
    let scratch = tempfile::tempdir().map_err(|e| format!("cannot make a scratch dir: {e}"))?;
    let targets = Targets::for_store(args.store);
    // SQLite's server owns its data dir, so the pipeline can only run with several replicas on PostgreSQL.
    let replica_counts: &[usize] = if args.store == Backend::Postgres { &[1, 2] } else { &[1] };
    if args.only == Some(Part::Pipeline) {
        for &replicas in replica_counts {
            pipeline(&public_api, args, scratch.path(), replicas, plan, report).await?;
        }
        return Ok(());
    }

    // The disk's own flush rate, measured first beside where the store commits.
    let (flush_dir, flush_note) = store::flush_dir(args.store, &args.database_url, scratch.path()).await;
    let flushes = flush_rate(&flush_dir, plan.phase.min(Duration::from_secs(2)))?;
    report.add(
        "data disk: 4 KiB write + fdatasync",
        flushes,
        "/s",
        format!("{flush_note}; the flush rate durable commits face"),
        None,
    );

    // Interviews are put off for a day so that the API figures measure the API alone.
    let api_args = ["--interview-delay", "86400"];
    let store = BenchStore::create(args.store, &args.database_url, scratch.path(), "api").await?;
    let server = ServerProcess::start(&public_api, store.args(), &api_args)?;
    let key = server.key.clone().ok_or("the first start printed no key")?;
    let auth = Arc::new(format!("Bearer {key}"));

    let ceiling = closed_loop(&[server.addr], plan.connections, Stop::After(plan.phase), get("/healthz", None)).await;
    report.add(
        "ceiling: GET /healthz",
        ceiling.per_second(),
        "req/s",
        format!(
            "{} conns, p50 {:.2} ms, p99 {:.2} ms, {} failed",
            plan.connections,
            ceiling.ms(0.5),
            ceiling.ms(0.99),
            ceiling.failures
        ),
        None,
    );

    let jobs_auth = Arc::clone(&auth);
    let post_jobs: Arc<dyn Fn(u64) -> Request<Body> + Send + Sync> = Arc::new(move |n| {
        post(
            "/v1/jobs",
            &jobs_auth,
            json!({"title": "Delivery Driver", "external_id": format!("BENCH-{n}"), "location": "Bristol, UK"}),
        )
    });
    let writes = closed_loop(&[server.addr], 64, Stop::After(plan.phase), Arc::clone(&post_jobs)).await;
    let ratio = writes.per_second() / flushes;
    report.add(
        "POST /v1/jobs, durable, 64 conns",
        writes.per_second(),
        "req/s",
        format!(
            "{ratio:.1}x the flush rate, p50 {:.2} ms, p99 {:.2} ms, {} failed",
            writes.ms(0.5),
            writes.ms(0.99),
            writes.failures
        ),
        Some((
            format!("at least {}x the flush rate", targets.jobs_per_flush),
            ratio >= targets.jobs_per_flush && writes.failures == 0,
        )),
    );

    // Fill the store to its size, then read jobs by id from all of it.
    let made = writes.requests;
    if made < plan.jobs {
        let counter_base = made;
        let post_more = Arc::clone(&post_jobs);
        let fill: Arc<dyn Fn(u64) -> Request<Body> + Send + Sync> = Arc::new(move |n| post_more(counter_base + n));
        let filled = closed_loop(&[server.addr], 64, Stop::Count(plan.jobs - made), fill).await;
        if filled.failures > 0 {
            return Err(format!("{} job writes failed while filling the store", filled.failures));
        }
    }
    let ids = Arc::new(list_ids(&server.base, &key, "/v1/jobs").await?);
    let ids_for_get = Arc::clone(&ids);
    let get_auth = Arc::clone(&auth);
    let get_job: Arc<dyn Fn(u64) -> Request<Body> + Send + Sync> = Arc::new(move |n| {
        let id = &ids_for_get[(n.wrapping_mul(2_654_435_761) % ids_for_get.len() as u64) as usize];
        request("GET", &format!("/v1/jobs/{id}"), Some(&get_auth), Bytes::new())
    });
    let reads = closed_loop(&[server.addr], plan.connections, Stop::After(plan.phase), Arc::clone(&get_job)).await;
    let share = reads.per_second() / ceiling.per_second();
    report.add(
        &format!("GET /v1/jobs/{{id}}, {} jobs", ids.len()),
        reads.per_second(),
        "req/s",
        format!(
            "{:.1} % of the ceiling, p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, {} failed; jobs written through this server, read from its job cache as far as it holds them",
            share * 100.0,
            reads.ms(0.5),
            reads.ms(0.99),
            reads.ms(0.999),
            reads.failures
        ),
        Some((
            format!("at least {:.0} % of the ceiling", targets.get_share * 100.0),
            share >= targets.get_share && reads.failures == 0,
        )),
    );
    if args.only == Some(Part::Api) {
        return Ok(());
    }

    // Applications, for the start-up and memory figures.
    let app_ids = Arc::clone(&ids);
    let app_auth = Arc::clone(&auth);
    let post_app: Arc<dyn Fn(u64) -> Request<Body> + Send + Sync> = Arc::new(move |n| {
        let job = &app_ids[(n % app_ids.len() as u64) as usize];
        post("/v1/applications", &app_auth, application(job, &format!("BENCH-APP-{n}")))
    });
    let apps = closed_loop(&[server.addr], 64, Stop::Count(plan.applications), post_app).await;
    report.add(
        "POST /v1/applications, durable, 64 conns",
        apps.per_second(),
        "req/s",
        format!(
            "while filling the store; p50 {:.2} ms, p99 {:.2} ms, {} failed",
            apps.ms(0.5),
            apps.ms(0.99),
            apps.failures
        ),
        targets
            .applications
            .map(|(at_least, text)| (text.to_owned(), apps.per_second() >= at_least && apps.failures == 0)),
    );
    if apps.failures > 0 {
        return Err(format!("{} application writes failed", apps.failures));
    }
    server.stop();

    let started = Instant::now();
    let server = ServerProcess::start(&public_api, store.args(), &api_args)?;
    wait_ready(&server.base).await?;
    let ready = started.elapsed();
    report.add(
        &format!("start-up with {} jobs and {} applications", ids.len(), plan.applications),
        ready.as_secs_f64() * 1000.0,
        "ms",
        "from spawn to the first 200 from /readyz".into(),
        Some(("under 1 s".into(), ready < Duration::from_secs(1))),
    );
    // The server keeps jobs it read or wrote in memory; after a restart each job's first read
    // comes from the store. Shown beside the warm figure above; judged on PostgreSQL only.
    let after = closed_loop(&[server.addr], plan.connections, Stop::After(plan.phase), get_job).await;
    let after_share = after.per_second() / ceiling.per_second();
    report.add(
        "GET /v1/jobs/{id} after a restart",
        after.per_second(),
        "req/s",
        format!(
            "{:.1} % of the ceiling, {} reads of {} jobs, the first of each from the store; p50 {:.2} ms, p99 {:.2} ms, {} failed",
            after_share * 100.0,
            after.requests,
            ids.len(),
            after.ms(0.5),
            after.ms(0.99),
            after.failures
        ),
        targets.get_share_after_restart.map(|at_least| {
            (format!("at least {:.0} % of the ceiling", at_least * 100.0), after_share >= at_least && after.failures == 0)
        }),
    );
    let (rss, peak) = server.memory_mib();
    report.add(
        "resident memory after start-up and a read load",
        peak,
        "MiB",
        format!("peak (VmHWM); {rss:.1} MiB now, after the reads above"),
        Some(("under 200 MB".into(), peak * 1.048_576 < 200.0)),
    );
    server.stop();
    drop(store);

    for &replicas in replica_counts {
        pipeline(&public_api, args, scratch.path(), replicas, plan, report).await?;
    }
    receiver_alone(&webhook_sim, scratch.path(), plan, report).await?;
    Ok(())
}

/// Applications in with zero interview delay, webhooks out to the simulator's receiver, through
/// `replicas` servers on one store (applications and connections spread round-robin over them).
async fn pipeline(
    public_api: &Path,
    args: &Args,
    scratch: &Path,
    replicas: usize,
    plan: &Plan,
    report: &mut Report,
) -> Result<(), String> {
    use webhook_sim::receiver::{Filter, Receiver, ReceiverConfig};
    let targets = Targets::for_store(args.store);
    let store = BenchStore::create(args.store, &args.database_url, scratch, &format!("pipeline{replicas}")).await?;
    let server_args =
        ["--interview-delay", "0", "--interview-outcomes", "completed=1", "--webhook-allow-cidr", "127.0.0.1/32"];
    // The first replica makes the organisation and prints its key; the others join it.
    let server = ServerProcess::start(public_api, store.args(), &server_args)?;
    let key = server.key.clone().ok_or("no key")?;
    let mut servers = vec![server];
    for _ in 1..replicas {
        servers.push(ServerProcess::start(public_api, store.args(), &server_args)?);
    }
    let addrs: Vec<SocketAddr> = servers.iter().map(|s| s.addr).collect();
    let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
    let server = &servers[0];
    let label = match (args.store, replicas) {
        (Backend::Sqlite, _) => String::new(),
        (Backend::Postgres, 1) => ", 1 replica".into(),
        (Backend::Postgres, n) => format!(", {n} replicas"),
    };
    let receiver = Receiver::start(ReceiverConfig::new(SECRET_PLACEHOLDER)).await.map_err(|e| e.to_string())?;
    let client = reqwest::Client::builder().no_proxy().build().map_err(|e| e.to_string())?;
    let endpoint = json!({"url": format!("{}/hook", receiver.url())});
    let created = post_json(&client, &server.base, &key, "/v1/webhook-endpoints", endpoint).await?;
    let secret = created["secret"].as_str().ok_or("no endpoint secret")?.to_owned();
    receiver.set_secrets(&[secret]).map_err(|e| e.to_string())?;
    let job = json!({"title": "Delivery Driver", "external_id": "PIPELINE"});
    let job = post_json(&client, &server.base, &key, "/v1/jobs", job).await?;
    let job_id = job["id"].as_str().ok_or("no job id")?.to_owned();
    let completed = Filter { accepted: Some(true), ..Filter::event_type("interview.completed") };

    // Latency at a steady offered rate (open loop: one application every 1/rate s).
    let count = plan.pipeline_rate * plan.pipeline_phase.as_secs().max(1);
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / plan.pipeline_rate as f64));
    let mut posts = Vec::new();
    for n in 0..count {
        ticker.tick().await;
        let request = client
            .post(format!("{}/v1/applications", bases[n as usize % bases.len()]))
            .bearer_auth(&key)
            .json(&application(&job_id, &format!("STEADY-{n}")));
        posts.push(tokio::spawn(async move { request.send().await.map(|r| r.status().as_u16()).unwrap_or(0) }));
    }
    for post in posts {
        if post.await.unwrap_or(0) != 201 {
            return Err("an application POST failed during the pipeline run".into());
        }
    }
    receiver.wait_matching(&completed, count as usize, Duration::from_secs(120)).await.map_err(|e| e.to_string())?;
    let mut latency = load::histogram();
    for d in receiver.deliveries().iter().filter(|d| d.attempt == 1) {
        if let (Some(created), Ok(received)) = (
            d.event_timestamp.as_deref().and_then(|t| t.parse::<jiff::Timestamp>().ok()),
            d.received_at.parse::<jiff::Timestamp>(),
        ) {
            let micros = received.duration_since(created).as_micros().max(1);
            let _ = latency.record(micros as u64);
        }
    }
    let p99 = latency.value_at_quantile(0.99) as f64 / 1000.0;
    report.add(
        &format!("enqueue to receipt at {} applications/s{label}", plan.pipeline_rate),
        p99,
        "ms p99",
        format!("p50 {:.1} ms over {} deliveries", latency.value_at_quantile(0.5) as f64 / 1000.0, latency.len()),
        Some((format!("p99 under {:.0} ms", (targets.p99_ms)(replicas)), p99 < (targets.p99_ms)(replicas))),
    );

    // Throughput: as many applications as the API takes, then every event delivered.
    let before = receiver.deliveries().len();
    let started_at = jiff::Timestamp::now();
    let burst_auth = Arc::new(format!("Bearer {key}"));
    let burst_job = job_id.clone();
    let post_app: Arc<dyn Fn(u64) -> Request<Body> + Send + Sync> =
        Arc::new(move |n| post("/v1/applications", &burst_auth, application(&burst_job, &format!("BURST-{n}"))));
    let burst = closed_loop(&addrs, 16, Stop::Count(plan.burst_applications), post_app).await;
    if burst.failures > 0 {
        return Err(format!("{} application POSTs failed in the burst", burst.failures));
    }
    receiver
        .wait_matching(&completed, (count + plan.burst_applications) as usize, Duration::from_secs(300))
        .await
        .map_err(|e| e.to_string())?;
    let ledger = settle(&client, &server.base, &key, &receiver).await?;
    let phase: Vec<_> =
        receiver.deliveries().into_iter().skip(before).filter(|d| d.verified() && d.accepted()).collect();
    let last = phase.iter().filter_map(|d| d.received_at.parse::<jiff::Timestamp>().ok()).max().unwrap_or(started_at);
    let seconds = last.duration_since(started_at).as_secs_f64().max(1e-3);
    let rate = phase.len() as f64 / seconds;
    report.add(
        &format!("webhook deliveries, verified, sustained{label}"),
        rate,
        "/s",
        format!(
            "{} deliveries for {} applications in {seconds:.2} s (posted at {:.0}/s); {ledger}",
            phase.len(),
            plan.burst_applications,
            burst.per_second()
        ),
        Some((targets.deliveries.1.to_owned(), rate >= targets.deliveries.0)),
    );
    for server in servers {
        server.stop();
    }
    drop(receiver);
    drop(store);
    Ok(())
}

/// Waits until the server has no delivery left to make, then balances the ledger: events queued
/// = events received and accepted, every received request verified, and any message received
/// twice carried the same bytes under the same `webhook-id`.
async fn settle(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    receiver: &webhook_sim::receiver::Receiver,
) -> Result<String, String> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let metrics = client.get(format!("{base}/metrics")).send().await.map_err(|e| e.to_string())?;
        let text = metrics.text().await.map_err(|e| e.to_string())?;
        let pending = text
            .lines()
            .find_map(|l| l.strip_prefix("webhook_outbox_pending "))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(u64::MAX);
        if pending == 0 {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("{pending} deliveries still pending after 120 s"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let queued: BTreeSet<String> = list_all(client, base, key, "/v1/webhook-deliveries")
        .await?
        .iter()
        .map(|d| d["event_id"].as_str().unwrap_or_default().to_owned())
        .collect();
    let mut bodies: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut accepted = BTreeSet::new();
    let mut duplicates = 0;
    for d in receiver.deliveries() {
        if !d.verified() {
            return Err(format!("delivery {} did not verify: {:?} {:?}", d.seq, d.signature, d.schema));
        }
        let id = d.webhook_id.clone().unwrap_or_default();
        let first = bodies.entry(id.clone()).or_insert_with(|| d.body_bytes());
        if *first != d.body_bytes() {
            return Err(format!("message {id} arrived twice with different bytes"));
        }
        duplicates += usize::from(d.duplicate);
        if d.accepted() {
            accepted.insert(id);
        }
    }
    if accepted != queued {
        return Err(format!(
            "ledger off: {} events queued, {} received ({} missing)",
            queued.len(),
            accepted.len(),
            queued.difference(&accepted).count()
        ));
    }
    Ok(format!("ledger balanced: {} events queued = received, {duplicates} duplicates", queued.len()))
}

/// The simulator's receiver on its own: verify, validate and record signed deliveries.
async fn receiver_alone(webhook_sim: &Path, scratch: &Path, plan: &Plan, report: &mut Report) -> Result<(), String> {
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let port =
        std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let record = scratch.join("deliveries.jsonl");
    let mut child = std::process::Command::new(webhook_sim)
        .args(["receive", "--addr", &addr.to_string(), "--secret", SECRET, "--record"])
        .arg(&record)
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", webhook_sim.display()))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err("webhook-sim receive did not listen within 10 s".into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Signed in advance, so the load generator spends nothing on signing.
    let now = webhook_sim::unix_now();
    let template: Value = serde_json::from_str(webhook_sim::example("webhook.test").map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    let messages: Vec<(Bytes, Vec<(&'static str, String)>)> = (0..20_000)
        .map(|n| {
            let mut body = template.clone();
            body["id"] = json!(format!("evt_bench{n:08}"));
            let bytes = serde_json::to_vec(&body).unwrap_or_default();
            let headers = webhook_sim::sign(SECRET, &format!("msg_bench{n:08}"), now, &bytes).unwrap_or_default();
            (Bytes::from(bytes), headers.into_iter().collect())
        })
        .collect();
    let messages = Arc::new(messages);
    let make: Arc<dyn Fn(u64) -> Request<Body> + Send + Sync> = Arc::new(move |n| {
        let (body, headers) = &messages[(n % messages.len() as u64) as usize];
        let mut builder = Request::builder()
            .method("POST")
            .uri("/hook")
            .header("host", "127.0.0.1")
            .header("content-type", "application/json");
        for (name, value) in headers {
            builder = builder.header(*name, value);
        }
        builder.body(Full::new(body.clone())).unwrap_or_default()
    });
    let outcome = closed_loop(&[addr], plan.connections, Stop::After(plan.phase), make).await;
    let summary: Value = reqwest::get(format!("http://{addr}/_sim/summary"))
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let _ = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status();
    let _ = child.wait();
    let lines = std::fs::read_to_string(&record).map(|t| t.lines().count()).unwrap_or(0);
    let bad = summary["summary"]["bad_signatures"].as_u64().unwrap_or(u64::MAX)
        + summary["summary"]["schema_failures"].as_u64().unwrap_or(u64::MAX);
    report.add(
        "webhook-sim receive: verify + validate + record",
        outcome.per_second(),
        "/s",
        format!(
            "{} conns, p50 {:.2} ms, p99 {:.2} ms, {} failed, {bad} not verified, {lines} lines recorded",
            plan.connections,
            outcome.ms(0.5),
            outcome.ms(0.99),
            outcome.failures
        ),
        Some(("at least 5,000/s".into(), outcome.per_second() >= 5000.0 && bad == 0 && outcome.failures == 0)),
    );
    Ok(())
}

fn flush_rate(dir: &Path, duration: Duration) -> Result<f64, String> {
    use std::os::unix::fs::FileExt;
    let path = dir.join("flush-probe");
    let file = std::fs::File::create(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let block = [7u8; 4096];
    let started = Instant::now();
    let mut flushes = 0u64;
    while started.elapsed() < duration {
        file.write_all_at(&block, 0).map_err(|e| e.to_string())?;
        file.sync_data().map_err(|e| e.to_string())?;
        flushes += 1;
    }
    let _ = std::fs::remove_file(&path);
    Ok(flushes as f64 / started.elapsed().as_secs_f64())
}

fn application(job_id: &str, external_id: &str) -> Value {
    json!({
        "job_id": job_id,
        "external_id": external_id,
        "candidate": {"first_name": "Ada", "last_name": "Lovelace", "phone": "+14155550123", "email": "ada@example.com"},
        "resume": {"text": "Ten years of van deliveries; full UK driving licence."}
    })
}

fn request(method: &str, path: &str, auth: Option<&str>, body: Bytes) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(path).header("host", "127.0.0.1");
    if let Some(auth) = auth {
        builder = builder.header("authorization", auth);
    }
    if !body.is_empty() {
        builder = builder.header("content-type", "application/json");
    }
    // Every part above is a valid constant or a path the bench built itself.
    builder.body(Full::new(body)).unwrap_or_default()
}

fn post(path: &str, auth: &str, body: Value) -> Request<Body> {
    request("POST", path, Some(auth), Bytes::from(body.to_string()))
}

fn get(path: &'static str, auth: Option<Arc<String>>) -> Arc<dyn Fn(u64) -> Request<Body> + Send + Sync> {
    Arc::new(move |_| request("GET", path, auth.as_deref().map(String::as_str), Bytes::new()))
}

async fn wait_ready(base: &str) -> Result<(), String> {
    let client = reqwest::Client::builder().no_proxy().build().map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if client.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err("the server was not ready within 60 s".into());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn json_of(request: reqwest::RequestBuilder) -> Result<Value, String> {
    request.send().await.map_err(|e| e.to_string())?.json().await.map_err(|e| e.to_string())
}

async fn post_json(client: &reqwest::Client, base: &str, key: &str, path: &str, body: Value) -> Result<Value, String> {
    json_of(client.post(format!("{base}{path}")).bearer_auth(key).json(&body)).await
}

async fn list_all(client: &reqwest::Client, base: &str, key: &str, path: &str) -> Result<Vec<Value>, String> {
    let mut all = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = json_of(client.get(format!("{base}{path}?limit=100{cursor}")).bearer_auth(key)).await?;
        all.extend(page["data"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => return Ok(all),
        }
    }
}

async fn list_ids(base: &str, key: &str, path: &str) -> Result<Vec<String>, String> {
    let client = reqwest::Client::builder().no_proxy().build().map_err(|e| e.to_string())?;
    let ids: Vec<String> =
        list_all(&client, base, key, path).await?.iter().filter_map(|j| j["id"].as_str().map(str::to_owned)).collect();
    if ids.is_empty() {
        return Err(format!("{path} listed nothing"));
    }
    Ok(ids)
}

fn print_table(report: &Report) {
    println!("{:<46} {:>12} {:<7} {:<34} {:<8} detail", "bench", "value", "unit", "target", "result");
    for row in &report.rows {
        let result = match row.met {
            Some(true) => "met",
            Some(false) => "NOT MET",
            None if row.target.is_some() => "(quick)",
            None => "",
        };
        println!(
            "{:<46} {:>12.1} {:<7} {:<34} {:<8} {}",
            row.name,
            row.value,
            row.unit,
            row.target.as_deref().unwrap_or(""),
            result,
            row.detail
        );
    }
}
