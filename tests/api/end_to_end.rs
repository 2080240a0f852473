//! The whole loop with the simulator as the customer: the server and `webhook-sim`'s receiver on
//! loopback, a job and an application in, a verified and schema-valid `interview.completed` out.
//! Everything runs in the background as in production (interview engine and dispatcher loops);
//! the test waits on deliveries, never on a fixed sleep.

use std::time::Duration;

use jiff::SignedDuration;
use public_api::interview::OutcomeWeights;
use public_api::webhooks::dispatcher::parse_schedule;
use serde_json::json;
use webhook_sim::receiver::{Filter, Receiver, ReceiverConfig, Reply, Rule, Script};

use crate::support::{TestApp, application};

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn an_application_in_gives_a_verified_interview_completed_out_even_after_failed_attempts() {
    let app = TestApp::start_with(|c| {
        c.interview.delay = SignedDuration::ZERO;
        c.interview.outcomes = OutcomeWeights::parse("completed=1").unwrap();
        c.interview.poll_interval = Duration::from_millis(20);
        c.delivery.schedule = parse_schedule("0.1s,0.1s,0.1s,0.1s").unwrap();
        c.delivery.poll_interval = Duration::from_millis(20);
    })
    .await;
    // The customer's receiver fails the first two attempts of every message.
    let fail = Reply { status: Some(503), ..Reply::default() };
    let script = Script { rules: vec![Rule { replies: vec![fail.clone(), fail], ..Rule::default() }], chaos: None };
    let receiver = Receiver::start(ReceiverConfig { script, ..ReceiverConfig::new("whsec_dW5zZXQ=") }).await.unwrap();
    let created = app
        .post(
            "/v1/webhook-endpoints",
            json!({ "url": format!("{}/webhooks/public-api", receiver.url()), "event_types": ["interview.completed"] }),
        )
        .await;
    let secret = created.expect(201)["secret"].as_str().unwrap().to_owned();
    receiver.set_secrets(&[secret]).unwrap();

    let job = app.job("REQ-E2E").await;
    let posted = app.post("/v1/applications", application(&job)).await;
    let application_id = posted.expect(201)["id"].as_str().unwrap().to_owned();

    let delivered = receiver.expect("interview.completed", WAIT).await.unwrap();
    assert!(delivered.verified(), "{:?} {:?}", delivered.signature, delivered.schema);
    assert_eq!(delivered.path, "/webhooks/public-api");
    assert_eq!(delivered.attempt, 3, "two scripted failures, then success");
    let payload = delivered.json().unwrap();
    assert_eq!(payload["data"]["application"]["id"], application_id.as_str());
    assert_eq!(payload["data"]["job"]["external_id"], "REQ-E2E");
    assert_eq!(payload["data"]["application"]["status"], "completed");

    // Every attempt carried the same message id, and each was signed afresh and verified.
    let id = delivered.webhook_id.clone().unwrap();
    let attempts = receiver.matching(&Filter { webhook_id: Some(id.clone()), ..Filter::default() });
    assert_eq!(attempts.iter().map(|d| d.attempt).collect::<Vec<_>>(), [1, 2, 3]);
    assert!(attempts.iter().all(|d| d.verified() && d.body_bytes() == delivered.body_bytes()));
    assert_eq!(attempts.iter().map(|d| d.answer.status).collect::<Vec<_>>(), [Some(503), Some(503), Some(200)]);

    // The server's own log agrees once it has read the answer: one delivery, three attempts.
    let deadline = std::time::Instant::now() + WAIT;
    let delivery = loop {
        let listed = app.get("/v1/webhook-deliveries?event_type=interview.completed").await;
        let deliveries = listed.expect(200)["data"].as_array().unwrap().clone();
        assert_eq!(deliveries.len(), 1);
        if deliveries[0]["status"] == "succeeded" || std::time::Instant::now() > deadline {
            break deliveries[0].clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(delivery["status"], "succeeded");
    assert_eq!(delivery["attempt_count"], 3);
    assert_eq!(receiver.summary().duplicates, 0);
}
