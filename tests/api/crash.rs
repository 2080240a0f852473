//! `kill -9` of a server with undelivered events: after a restart every event arrives, with
//! its original `webhook-id`, and nothing acknowledged is lost.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use httpmock::{HttpMockRequest, HttpMockResponse, MockServer};
use serde_json::{Value, json};

use crate::support::TestStore;

/// The `webhook-id`, body and headers of a request the receiver accepted.
type Received = (String, Vec<u8>, axum::http::HeaderMap);

const BIN: &str = env!("CARGO_BIN_EXE_public-api");

/// Starts the binary and reads its key (first start only) and address from standard output.
/// Leases are short, so that on a shared store (where a restart does not free them) a killed
/// server's work is picked up within seconds.
pub(crate) fn spawn(store: &TestStore) -> (Child, String, Option<String>) {
    spawn_with(store, &["--interview-lease", "3", "--webhook-timeout", "2"])
}

/// [`spawn`] with other lease flags (`--interview-lease`, `--webhook-timeout`) and any more.
pub(crate) fn spawn_with(store: &TestStore, flags: &[&str]) -> (Child, String, Option<String>) {
    let mut child = Command::new(BIN)
        .args(store.cli_args())
        .args(["serve", "--addr", "127.0.0.1:0"])
        .args(["--interview-delay", "0", "--interview-outcomes", "completed=1", "--rate-limit", "0"])
        .args(flags)
        .args([
            "--webhook-allow-cidr",
            "127.0.0.1/32",
            "--webhook-retry-schedule",
            "1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s",
        ])
        .env("PUBLIC_API_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("server starts");
    let (base, key) = read_address(&mut child);
    (child, base, key)
}

/// The address a spawned server prints on standard output, and its key (first start only).
pub(crate) fn read_address(child: &mut Child) -> (String, Option<String>) {
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut key = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("stdout is text");
        if let Some(k) = line.split_whitespace().find(|w| w.starts_with("tenzo_pk_")) {
            key = Some(k.to_owned());
        }
        if let Some(rest) = line.strip_prefix("Listening on ") {
            let base = rest.split_whitespace().next().expect("an address").to_owned();
            return (base, key);
        }
    }
    panic!("the server exited without printing its address");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_survive_kill_9_and_are_delivered_after_restart() {
    let rx = MockServer::start_async().await;
    let healthy = Arc::new(Mutex::new(false));
    let seen: Arc<Mutex<Vec<Received>>> = Arc::default();
    let (h, s) = (Arc::clone(&healthy), Arc::clone(&seen));
    rx.mock_async(move |when, then| {
        when.path("/hook");
        then.respond_with(move |req: &HttpMockRequest| {
            let headers = req.headers();
            let id = headers.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
            let ok = *h.lock().unwrap();
            if ok {
                s.lock().unwrap().push((id, req.body_ref().to_vec(), headers));
            }
            HttpMockResponse::builder().status(if ok { 200 } else { 500 }).build()
        });
    })
    .await;

    let store = TestStore::new().await;
    let (mut child, base, key) = spawn(&store);
    let key = key.expect("first start prints a key");
    public_api::install_crypto_provider();
    let client = reqwest::Client::new();
    let post = |path: &str, body: Value| client.post(format!("{base}{path}")).bearer_auth(&key).json(&body).send();
    let endpoint = post("/v1/webhook-endpoints", json!({"url": rx.url("/hook")})).await.unwrap();
    assert_eq!(endpoint.status(), 201);
    let secret = endpoint.json::<Value>().await.unwrap()["secret"].as_str().unwrap().to_owned();
    let job = post("/v1/jobs", json!({"title": "Driver"})).await.unwrap().json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut acknowledged = Vec::new();
    for i in 0..10 {
        let body = json!({"job_id": job, "external_id": format!("APP-{i}"),
                          "candidate": {"first_name": "Ada", "last_name": "L", "phone": "+14155550123"}});
        let r = post("/v1/applications", body).await.unwrap();
        assert_eq!(r.status(), 201);
        acknowledged.push(r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned());
    }
    // Let interviews finish and deliveries fail a few times, then kill the process outright.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    child.kill().unwrap();
    child.wait().unwrap();
    *healthy.lock().unwrap() = true;

    let (mut child, base, _) = spawn(&store);
    let get = |path: String| client.get(format!("{base}{path}")).bearer_auth(&key).send();
    for id in &acknowledged {
        assert_eq!(get(format!("/v1/applications/{id}")).await.unwrap().status(), 200, "acknowledged write lost");
    }
    let started = Instant::now();
    let expected: BTreeSet<String> = loop {
        let mut all = Vec::new();
        let mut cursor = String::new();
        loop {
            let page: Value =
                get(format!("/v1/webhook-deliveries?limit=100{cursor}")).await.unwrap().json().await.unwrap();
            all.extend(page["data"].as_array().unwrap().clone());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = format!("&cursor={c}"),
                None => break,
            }
        }
        if all.len() == 40 && all.iter().all(|d| d["status"] == "succeeded") {
            break all.iter().map(|d| d["event_id"].as_str().unwrap().to_owned()).collect();
        }
        assert!(started.elapsed() < Duration::from_secs(60), "not all delivered: {} deliveries", all.len());
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    child.kill().unwrap();
    child.wait().unwrap();

    // The ledger: 10 applications × 4 events, each received, duplicates only by webhook-id.
    let seen = seen.lock().unwrap().clone();
    let received: BTreeSet<String> = seen.iter().map(|(id, _, _)| id.clone()).collect();
    assert_eq!(received, expected, "every event arrived");
    let mut bodies: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let wh = standardwebhooks::Webhook::new(&secret).unwrap();
    for (id, body, headers) in &seen {
        wh.verify(body, headers).expect("signed");
        let first = bodies.entry(id.clone()).or_insert_with(|| body.clone());
        assert_eq!(first, body, "a duplicate carries the same bytes under the same webhook-id");
    }
}

/// `kill -9` while four clients keep writing jobs and applications: after a restart every write
/// that got a 2xx is there, the store opened without help, and every acknowledged application's
/// events still reach the receiver, verified, with duplicates only under the same `webhook-id`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_sustained_writes_loses_no_acknowledged_write_or_event() {
    use webhook_sim::receiver::{Filter, Receiver, ReceiverConfig};

    let receiver = Receiver::start(ReceiverConfig::new("whsec_dW5zZXQ=")).await.unwrap();
    let store = TestStore::new().await;
    let (mut child, base, key) = spawn(&store);
    let key = key.expect("first start prints a key");
    public_api::install_crypto_provider();
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let endpoint = client
        .post(format!("{base}/v1/webhook-endpoints"))
        .bearer_auth(&key)
        .json(&json!({"url": format!("{}/hook", receiver.url()), "event_types": ["interview.completed"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(endpoint.status(), 201);
    receiver.set_secrets(&[endpoint.json::<Value>().await.unwrap()["secret"].as_str().unwrap().to_owned()]).unwrap();

    // Four writers: a job, then an application for it, again and again, until the process dies.
    let jobs: Arc<Mutex<Vec<String>>> = Arc::default();
    let applications: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut writers = Vec::new();
    for w in 0..4 {
        let (client, base, key) = (client.clone(), base.clone(), key.clone());
        let (jobs, applications) = (Arc::clone(&jobs), Arc::clone(&applications));
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let job = client
                    .post(format!("{base}/v1/jobs"))
                    .bearer_auth(&key)
                    .json(&json!({"title": "Driver", "external_id": format!("REQ-{w}-{i}")}))
                    .send()
                    .await;
                let Ok(job) = job else { return };
                if job.status() != 201 {
                    return;
                }
                let Ok(job) = job.json::<Value>().await else { return };
                let job_id = job["id"].as_str().unwrap().to_owned();
                jobs.lock().unwrap().push(job_id.clone());
                let body = json!({"job_id": job_id, "external_id": format!("APP-{w}-{i}"),
                                  "candidate": {"first_name": "Ada", "last_name": "L", "phone": "+14155550123"}});
                let app = client.post(format!("{base}/v1/applications")).bearer_auth(&key).json(&body).send().await;
                let Ok(app) = app else { return };
                if app.status() != 201 {
                    return;
                }
                let Ok(app) = app.json::<Value>().await else { return };
                applications.lock().unwrap().push(app["id"].as_str().unwrap().to_owned());
            }
        }));
    }
    let started = Instant::now();
    while applications.lock().unwrap().len() < 100 {
        assert!(started.elapsed() < Duration::from_secs(60), "writers too slow");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    for writer in writers {
        writer.await.unwrap();
    }
    let jobs = jobs.lock().unwrap().clone();
    let applications = applications.lock().unwrap().clone();

    let (mut child, base, _) = spawn(&store);
    for (kind, ids) in [("jobs", &jobs), ("applications", &applications)] {
        for id in ids {
            let r = client.get(format!("{base}/v1/{kind}/{id}")).bearer_auth(&key).send().await.unwrap();
            assert_eq!(r.status(), 200, "acknowledged {kind} write {id} lost");
        }
    }
    let completed = Filter { accepted: Some(true), ..Filter::event_type("interview.completed") };
    // Wait by id, not by count: applications whose 201 was lost in the kill also get their
    // interview, and on PostgreSQL a message the killed process sent is sent again (same
    // webhook-id) once its lease expires.
    let deadline = Instant::now() + Duration::from_secs(60);
    let delivered: BTreeSet<String> = loop {
        let delivered: BTreeSet<String> = receiver
            .matching(&completed)
            .iter()
            .map(|d| d.json().unwrap()["data"]["application"]["id"].as_str().unwrap().to_owned())
            .collect();
        if applications.iter().all(|id| delivered.contains(id)) || Instant::now() > deadline {
            break delivered;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for id in &applications {
        assert!(delivered.contains(id), "no interview.completed for acknowledged application {id}");
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let messages = crate::support::assert_verified_and_redeliveries_identical(&receiver);
    eprintln!(
        "kill -9 after {} jobs and {} applications acknowledged; {messages} events received",
        jobs.len(),
        applications.len()
    );
}
