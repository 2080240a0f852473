//! Fault tests: a receiver that is down, failing, then slow; a restart with work pending; a
//! thousand idle and slow-loris connections. Each is bounded and runs on loopback; clocks are
//! injected where the dispatcher's schedule matters.

use std::time::{Duration, Instant};

use jiff::SignedDuration;
use public_api::interview::OutcomeWeights;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use webhook_sim::receiver::{Filter, Receiver, ReceiverConfig, Reply, Rule, Script};

use crate::support::{TestApp, application};

const WAIT: Duration = Duration::from_secs(20);

fn always(reply: Reply) -> Script {
    Script { rules: vec![Rule { then: Some(reply), ..Rule::default() }], chaos: None }
}

/// Every delivery the server lists, all pages.
async fn all_deliveries(app: &TestApp) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = app.get(&format!("/v1/webhook-deliveries?limit=100{cursor}")).await;
        let page = page.expect(200).clone();
        all.extend(page["data"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => return all,
        }
    }
}

/// The ledger: every event the server queued reached the receiver verified, and a message that
/// arrived more than once carried the same bytes under the same `webhook-id` each time.
fn assert_ledger_balances(server_deliveries: &[Value], receiver: &Receiver) {
    crate::support::assert_verified_and_redeliveries_identical(receiver);
    let accepted: std::collections::BTreeSet<String> = receiver
        .matching(&Filter { accepted: Some(true), ..Filter::default() })
        .into_iter()
        .filter_map(|d| d.webhook_id)
        .collect();
    let queued: std::collections::BTreeSet<String> =
        server_deliveries.iter().map(|d| d["event_id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(accepted, queued, "events queued = events received");
    assert!(server_deliveries.iter().all(|d| d["status"] == "succeeded"), "{server_deliveries:?}");
}

#[tokio::test]
async fn a_receiver_down_then_failing_then_slow_then_healthy_gets_every_event_once_accepted() {
    let clock = std::sync::Arc::new(public_api::clock::ManualClock::new(jiff::Timestamp::now()));
    let app = TestApp::start_with_clock(clock.clone(), |c| {
        c.interview.background = false;
        c.delivery.background = false;
        c.delivery.timeout = Duration::from_millis(300);
        // All events go out in each round; the concurrency cap has its own test.
        c.delivery.concurrency_per_endpoint = 64;
    })
    .await;
    let dispatcher = std::sync::Arc::clone(&app.server.state().dispatcher);
    // A port nobody listens on yet: the receiver will come up there later.
    let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let created = app.post("/v1/webhook-endpoints", json!({ "url": format!("http://{addr}/hook") })).await;
    let secret = created.expect(201)["secret"].as_str().unwrap().to_owned();
    let job = app.job("REQ-FAULTS").await;
    for i in 0..3 {
        let mut body = application(&job);
        body["external_id"] = json!(format!("APP-{i}"));
        let id = app.post("/v1/applications", body).await.expect(201)["id"].as_str().unwrap().to_owned();
        app.post(&format!("/v1/sandbox/applications/{id}/complete"), json!({})).await.expect(200);
    }
    let events = all_deliveries(&app).await.len();
    assert!(events >= 6, "{events} events queued");

    // Down: connection refused.
    assert_eq!(dispatcher.run_due().await.unwrap(), events);
    // Up, but answering 500.
    let receiver = Receiver::start(ReceiverConfig {
        addr,
        script: always(Reply { status: Some(500), ..Reply::default() }),
        // The server's clock is moved on by hours between rounds; signatures are still checked.
        tolerance: Duration::from_secs(7 * 24 * 3600),
        ..ReceiverConfig::new(&secret)
    })
    .await
    .unwrap();
    let mut expected_requests = 0;
    for phase in [
        None,
        Some(always(Reply { delay_ms: 900, ..Reply::default() })), // Slower than the 300 ms timeout.
        Some(Script::default()),                                   // Healthy.
    ] {
        if let Some(script) = phase {
            receiver.set_script(script);
        }
        clock.advance(SignedDuration::from_hours(11));
        let started = dispatcher.run_due().await.unwrap();
        assert_eq!(started, events, "after {expected_requests} requests: {:?}", all_deliveries(&app).await);
        expected_requests += events;
        receiver.wait_for(expected_requests, WAIT).await.unwrap();
    }
    let deliveries = all_deliveries(&app).await;
    assert!(deliveries.iter().all(|d| d["attempt_count"] == 4), "refused, 500, timeout, success");
    assert_ledger_balances(&deliveries, &receiver);
    clock.advance(SignedDuration::from_hours(11));
    assert_eq!(dispatcher.run_due().await.unwrap(), 0, "nothing left to send");
}

#[tokio::test]
async fn a_restart_with_deliveries_pending_and_interviews_scheduled_resumes_both() {
    // First run: interviews are scheduled but their engine is off; the receiver fails every
    // delivery, so the test events stay pending.
    let app = TestApp::start_with(|c| {
        c.interview.delay = SignedDuration::ZERO;
        c.interview.background = false;
        c.delivery.schedule = public_api::webhooks::dispatcher::parse_schedule("0.1s,0.1s,0.1s,0.1s,0.1s").unwrap();
        c.delivery.poll_interval = Duration::from_millis(20);
    })
    .await;
    let receiver = Receiver::start(ReceiverConfig {
        script: always(Reply { status: Some(503), ..Reply::default() }),
        ..ReceiverConfig::new("whsec_dW5zZXQ=")
    })
    .await
    .unwrap();
    let created = app.post("/v1/webhook-endpoints", json!({ "url": format!("{}/hook", receiver.url()) })).await;
    let endpoint = created.expect(201).clone();
    receiver.set_secrets(&[endpoint["secret"].as_str().unwrap().to_owned()]).unwrap();
    let endpoint_id = endpoint["endpoint"]["id"].as_str().unwrap();
    for _ in 0..2 {
        let sent = app.post(&format!("/v1/webhook-endpoints/{endpoint_id}/test"), json!({})).await;
        assert_eq!(sent.json["delivery"]["status"], "pending", "{:?}", sent.json);
    }
    let job = app.job("REQ-RESTART").await;
    let mut applications = Vec::new();
    for i in 0..3 {
        let mut body = application(&job);
        body["external_id"] = json!(format!("APP-{i}"));
        applications.push(app.post("/v1/applications", body).await.expect(201)["id"].as_str().unwrap().to_owned());
    }
    receiver.wait_matching(&Filter::event_type("webhook.test"), 2, WAIT).await.unwrap();

    // Second run: engine on, receiver healthy.
    receiver.set_script(Script::default());
    let app = app
        .restart_with(|c| {
            c.interview.delay = SignedDuration::ZERO;
            c.interview.outcomes = OutcomeWeights::parse("completed=1").unwrap();
            c.interview.poll_interval = Duration::from_millis(20);
            c.delivery.schedule = public_api::webhooks::dispatcher::parse_schedule("0.1s,0.1s,0.1s").unwrap();
            c.delivery.poll_interval = Duration::from_millis(20);
        })
        .await;
    for id in &applications {
        let filter = Filter { accepted: Some(true), ..Filter::event_type("interview.completed") };
        let done = receiver.wait_matching(&filter, applications.len(), WAIT).await.unwrap();
        assert!(done.iter().any(|d| d.json().unwrap()["data"]["application"]["id"] == id.as_str()), "{id}");
    }
    let tests = Filter { accepted: Some(true), ..Filter::event_type("webhook.test") };
    assert_eq!(receiver.wait_matching(&tests, 2, WAIT).await.unwrap().len(), 2);
    // Wait for the server to record the last answers, then check the ledger.
    let started = Instant::now();
    let deliveries = loop {
        let deliveries = all_deliveries(&app).await;
        if deliveries.iter().all(|d| d["status"] == "succeeded") || started.elapsed() > WAIT {
            break deliveries;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_ledger_balances(&deliveries, &receiver);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_idle_and_slow_loris_connections_do_not_stop_other_clients() {
    let app = TestApp::start_with(|c| c.api.header_read_timeout = Duration::from_secs(2)).await;
    let addr = app.server.local_addr();
    let mut held = Vec::new();
    for i in 0..1000 {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        if i % 2 == 1 {
            // Slow loris: a request line and one header, then nothing.
            stream.write_all(b"GET /v1/jobs HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        }
        held.push(stream);
    }
    for _ in 0..20 {
        let started = Instant::now();
        app.get("/healthz").await.expect(200);
        app.get("/v1/jobs?limit=1").await.expect(200);
        assert!(started.elapsed() < Duration::from_secs(1), "answered in {:?}", started.elapsed());
    }
    // Past the header-read timeout the server has closed every one of them.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let mut closed = 0;
    for stream in &mut held {
        let mut buf = [0u8; 256];
        match tokio::time::timeout(Duration::from_millis(200), tokio::io::AsyncReadExt::read(stream, &mut buf)).await {
            Ok(Ok(_)) | Ok(Err(_)) => closed += 1, // EOF, an error answer, or a reset.
            Err(_) => {}
        }
    }
    assert_eq!(closed, 1000, "connections left open past the header-read timeout");
}
