//! Webhook delivery against real receivers on loopback (httpmock), verified with the
//! `standardwebhooks` crate as an independent implementation.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use httpmock::{HttpMockRequest, HttpMockResponse, MockServer};
use jiff::{SignedDuration, Timestamp};
use public_api::clock::{Clock, ManualClock};
use public_api::interview::OutcomeWeights;
use public_api::webhooks::dispatcher::Dispatcher;
use serde_json::{Value, json};

use crate::support::{TestApp, application};

/// What the receiver saw.
#[derive(Debug, Clone)]
struct Seen {
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A scripted answer: status and headers.
type Reply = (u16, Vec<(String, String)>);

/// A receiver that records every request and answers from a script (then 200).
struct Receiver {
    server: MockServer,
    seen: Arc<Mutex<Vec<Seen>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
}

impl Receiver {
    async fn start() -> Receiver {
        let server = MockServer::start_async().await;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script: Arc<Mutex<VecDeque<Reply>>> = Arc::default();
        let (s, sc) = (Arc::clone(&seen), Arc::clone(&script));
        server
            .mock_async(move |when, then| {
                when.path("/hook");
                then.respond_with(move |req: &HttpMockRequest| {
                    s.lock().unwrap().push(Seen { headers: req.headers(), body: req.body_ref().to_vec() });
                    let (status, headers) = sc.lock().unwrap().pop_front().unwrap_or((200, vec![]));
                    let mut r = HttpMockResponse::builder().status(status).body("ok");
                    for (k, v) in headers {
                        r = r.header(k, v);
                    }
                    r.build()
                });
            })
            .await;
        Receiver { server, seen, script }
    }

    fn url(&self) -> String {
        self.server.url("/hook")
    }

    fn answer(&self, status: u16, times: usize) {
        self.answer_with(status, vec![], times);
    }

    fn answer_with(&self, status: u16, headers: Vec<(&str, &str)>, times: usize) {
        let headers: Vec<(String, String)> = headers.into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        for _ in 0..times {
            self.script.lock().unwrap().push_back((status, headers.clone()));
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

struct Harness {
    app: TestApp,
    clock: Arc<ManualClock>,
    dispatcher: Arc<Dispatcher>,
}

async fn harness(adjust: impl FnOnce(&mut public_api::server::ServeConfig)) -> Harness {
    // Start at the real time so that the reference library's ±5 min check passes.
    let clock = Arc::new(ManualClock::new(Timestamp::now()));
    let app = TestApp::start_with_clock(clock.clone(), |c| {
        c.interview.delay = SignedDuration::ZERO;
        c.interview.outcomes = OutcomeWeights::parse("completed=1").unwrap();
        c.interview.background = false;
        c.delivery.background = false;
        adjust(c);
    })
    .await;
    let dispatcher = Arc::clone(&app.server.state().dispatcher);
    Harness { app, clock, dispatcher }
}

impl Harness {
    async fn endpoint(&self, body: Value) -> (String, String) {
        let r = self.app.post("/v1/webhook-endpoints", body).await;
        let created = r.expect(201);
        (created["endpoint"]["id"].as_str().unwrap().to_owned(), created["secret"].as_str().unwrap().to_owned())
    }

    /// An application whose interview completes now: four events are queued.
    async fn completed_application(&self) -> String {
        let job = self.app.job(&format!("REQ-{}", uuid::Uuid::now_v7().simple())).await;
        let id =
            self.app.post("/v1/applications", application(&job)).await.expect(201)["id"].as_str().unwrap().to_owned();
        self.app.post(&format!("/v1/sandbox/applications/{id}/complete"), json!({})).await.expect(200);
        id
    }

    async fn deliveries(&self, query: &str) -> Vec<Value> {
        self.app.get(&format!("/v1/webhook-deliveries?{query}")).await.expect(200)["data"].as_array().unwrap().clone()
    }
}

/// The reference library's own signature for what was received must be among those sent.
fn assert_signed_by(seen: &Seen, secret: &str) {
    let wh = standardwebhooks::Webhook::new(secret).unwrap();
    let ts: i64 = seen.header("webhook-timestamp").parse().unwrap();
    let expected = wh.sign(seen.header("webhook-id"), ts, &seen.body).unwrap();
    assert!(seen.header("webhook-signature").split(' ').any(|s| s == expected), "not signed by this secret");
}

#[tokio::test]
async fn deliveries_are_signed_and_verify_with_the_reference_library() {
    let h = harness(|_| {}).await;
    let rx = Receiver::start().await;
    let (endpoint, secret) = h
        .endpoint(json!({"url": rx.url(), "event_types": ["interview.completed"], "headers": {"X-Team": "hiring"}}))
        .await;
    let app_id = h.completed_application().await;
    assert_eq!(h.dispatcher.run_due().await.unwrap(), 1);

    let seen = rx.seen();
    assert_eq!(seen.len(), 1, "only the subscribed event type");
    let got = &seen[0];
    standardwebhooks::Webhook::new(&secret)
        .unwrap()
        .verify(&got.body, &got.headers)
        .expect("the reference library verifies it");
    assert_eq!(got.header("content-type"), "application/json");
    assert!(got.header("user-agent").starts_with("tenzo-public-api-webhooks/"));
    assert_eq!(got.header("x-team"), "hiring");
    assert_eq!(got.header("webhook-timestamp"), h.clock.now().as_second().to_string());
    let body = got.json();
    assert_eq!(body["type"], "interview.completed");
    assert_eq!(got.header("webhook-id"), body["id"].as_str().unwrap());
    assert_eq!(body["data"]["application"]["id"], app_id.as_str());

    // The bytes sent are the bytes stored, and the attempt log says so.
    let deliveries = h.deliveries(&format!("endpoint_id={endpoint}")).await;
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0]["status"], "succeeded");
    let detail = h.app.get(&format!("/v1/webhook-deliveries/{}", deliveries[0]["id"].as_str().unwrap())).await;
    assert_eq!(detail.expect(200)["event"], body, "the detail shows the event as it was sent");
    let attempt = &detail.json["attempts"][0];
    assert_eq!(attempt["status_code"], 200);
    assert_eq!(attempt["trigger"], "scheduled");
    assert_eq!(attempt["response_body"], "ok");
    assert_eq!(attempt["error_class"], Value::Null);
    assert_eq!(h.dispatcher.run_due().await.unwrap(), 0, "no retry after a 2xx");
}

#[tokio::test]
async fn retries_keep_the_id_refresh_the_timestamp_and_then_succeed() {
    let h = harness(|_| {}).await;
    let rx = Receiver::start().await;
    let (_, secret) = h.endpoint(json!({"url": rx.url(), "event_types": ["interview.completed"]})).await;
    rx.answer(500, 2);
    h.completed_application().await;
    assert_eq!(h.dispatcher.run_due().await.unwrap(), 1);
    let pending = h.deliveries("status=pending").await;
    assert_eq!(pending.len(), 1);
    let next: Timestamp = pending[0]["next_attempt_at"].as_str().unwrap().parse().unwrap();
    let wait = next.duration_since(h.clock.now());
    assert!((SignedDuration::from_secs(4)..=SignedDuration::from_secs(6)).contains(&wait), "5 s ± 20 %: {wait:?}");

    h.clock.advance(SignedDuration::from_secs(3));
    assert_eq!(h.dispatcher.run_due().await.unwrap(), 0, "not before it is due");
    h.clock.advance(SignedDuration::from_secs(4));
    assert_eq!(h.dispatcher.run_due().await.unwrap(), 1);
    h.clock.advance(SignedDuration::from_mins(7));
    assert_eq!(h.dispatcher.run_due().await.unwrap(), 1);

    let seen = rx.seen();
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|s| s.header("webhook-id") == seen[0].header("webhook-id")), "one id across retries");
    assert!(seen.iter().all(|s| s.body == seen[0].body), "the same bytes");
    let stamps: Vec<&str> = seen.iter().map(|s| s.header("webhook-timestamp")).collect();
    assert!(stamps[0] < stamps[1] && stamps[1] < stamps[2], "a fresh timestamp each time: {stamps:?}");
    for s in &seen {
        assert_signed_by(s, &secret);
    }
    let delivery = &h.deliveries("").await[0];
    assert_eq!(delivery["status"], "succeeded");
    assert_eq!(delivery["attempt_count"], 3);
    let detail = h.app.get(&format!("/v1/webhook-deliveries/{}", delivery["id"].as_str().unwrap())).await;
    let codes: Vec<Value> =
        detail.expect(200)["attempts"].as_array().unwrap().iter().map(|a| a["status_code"].clone()).collect();
    assert_eq!(codes, [json!(500), json!(500), json!(200)]);
    assert_eq!(detail.json["attempts"][0]["error_class"], "http_status");
}

#[tokio::test]
async fn refused_connections_and_timeouts_are_retried() {
    let h = harness(|c| c.delivery.timeout = Duration::from_millis(300)).await;
    // A port with nothing listening.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    h.endpoint(json!({"url": format!("http://{closed}/hook"), "event_types": ["interview.completed"]})).await;
    let slow = MockServer::start_async().await;
    slow.mock_async(|when, then| {
        when.path("/slow");
        then.status(200).delay(Duration::from_secs(2));
    })
    .await;
    h.endpoint(json!({"url": slow.url("/slow"), "event_types": ["interview.completed"]})).await;
    h.completed_application().await;
    assert_eq!(h.dispatcher.run_due().await.unwrap(), 2);
    for delivery in h.deliveries("").await {
        assert_eq!(delivery["status"], "pending", "retried later");
        let detail = h.app.get(&format!("/v1/webhook-deliveries/{}", delivery["id"].as_str().unwrap())).await;
        let attempt = detail.expect(200)["attempts"][0].clone();
        let class = attempt["error_class"].as_str().unwrap().to_owned();
        assert!(class == "connect" || class == "timeout", "{attempt}");
        let next: Timestamp = delivery["next_attempt_at"].as_str().unwrap().parse().unwrap();
        if class == "timeout" {
            assert!(next.duration_since(h.clock.now()) >= SignedDuration::from_secs(60), "a timeout backs off harder");
        }
    }
}

#[tokio::test]
async fn redirects_are_not_followed_and_gone_disables_the_endpoint() {
    let h = harness(|_| {}).await;
    let rx = Receiver::start().await;
    let target = MockServer::start_async().await;
    let followed = target
        .mock_async(|when, then| {
            when.any_request();
            then.status(200);
        })
        .await;
    let (endpoint, _) = h.endpoint(json!({"url": rx.url(), "event_types": ["interview.completed"]})).await;
    rx.answer_with(302, vec![("location", &target.url("/elsewhere"))], 1);
    rx.answer(410, 1);
    h.completed_application().await;
    h.dispatcher.run_due().await.unwrap();
    assert_eq!(followed.calls_async().await, 0, "3xx is not followed");
    let delivery = &h.deliveries("").await[0];
    let detail = h.app.get(&format!("/v1/webhook-deliveries/{}", delivery["id"].as_str().unwrap())).await;
    assert_eq!(detail.expect(200)["attempts"][0]["error_class"], "redirect");

    h.clock.advance(SignedDuration::from_secs(10));
    h.dispatcher.run_due().await.unwrap();
    let delivery = &h.deliveries("").await[0];
    assert_eq!(delivery["status"], "failed", "410 is final");
    let ep = h.app.get(&format!("/v1/webhook-endpoints/{endpoint}")).await;
    assert_eq!(ep.expect(200)["enabled"], false);
    assert!(ep.json["disabled_reason"].as_str().unwrap().contains("410"));
    let audit = h.app.get(&format!("/v1/audit-events?object_id={endpoint}&action=webhook_endpoint.disabled")).await;
    let entry = &audit.expect(200)["data"][0];
    assert_eq!(entry["actor"], json!({"type": "system"}), "the server disabled it: {entry}");
    assert_eq!(entry["changed_fields"], json!(["enabled", "disabled_reason"]));

    // A disabled endpoint gets nothing new, until it is enabled again.
    h.completed_application().await;
    assert_eq!(h.deliveries("").await.len(), 1);
    h.app.patch(&format!("/v1/webhook-endpoints/{endpoint}"), json!({"enabled": true})).await.expect(200);
    h.completed_application().await;
    assert_eq!(h.deliveries("").await.len(), 2);
}

#[tokio::test]
async fn retry_after_is_obeyed_within_bounds() {
    let h = harness(|_| {}).await;
    let rx = Receiver::start().await;
    h.endpoint(json!({"url": rx.url(), "event_types": ["interview.completed"]})).await;
    rx.answer_with(503, vec![("retry-after", "120")], 1);
    rx.answer_with(429, vec![("retry-after", "999999")], 1);
    h.completed_application().await;
    h.dispatcher.run_due().await.unwrap();
    let next: Timestamp = h.deliveries("").await[0]["next_attempt_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(next.duration_since(h.clock.now()), SignedDuration::from_secs(120));
    h.clock.advance(SignedDuration::from_secs(119));
    assert_eq!(h.dispatcher.run_due().await.unwrap(), 0);
    h.clock.advance(SignedDuration::from_secs(1));
    assert_eq!(h.dispatcher.run_due().await.unwrap(), 1);
    let next: Timestamp = h.deliveries("").await[0]["next_attempt_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(next.duration_since(h.clock.now()), SignedDuration::from_hours(1), "clamped to the maximum");
}

#[tokio::test]
async fn a_rotation_signs_with_both_secrets() {
    let h = harness(|_| {}).await;
    let rx = Receiver::start().await;
    let (endpoint, old) = h.endpoint(json!({"url": rx.url(), "event_types": ["interview.completed"]})).await;
    let rotated = h.app.post(&format!("/v1/webhook-endpoints/{endpoint}/rotate-secret"), json!({})).await;
    let new = rotated.expect(200)["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    h.completed_application().await;
    h.dispatcher.run_due().await.unwrap();
    let seen = &rx.seen()[0];
    assert_eq!(seen.header("webhook-signature").split(' ').count(), 2);
    for secret in [&old, &new] {
        standardwebhooks::Webhook::new(secret).unwrap().verify(&seen.body, &seen.headers).expect("verifies");
    }
    // After the overlap only the new secret signs.
    h.clock.advance(SignedDuration::from_hours(25));
    h.completed_application().await;
    h.dispatcher.run_due().await.unwrap();
    let last = rx.seen().last().unwrap().clone();
    assert_eq!(last.header("webhook-signature").split(' ').count(), 1);
    assert_signed_by(&last, &new);
}

#[tokio::test]
async fn an_endpoint_failing_for_too_long_is_disabled() {
    let h = harness(|c| {
        c.delivery.disable_after = SignedDuration::from_hours(1);
        c.delivery.schedule = vec![SignedDuration::from_mins(20); 10];
        c.delivery.jitter = 0.0;
    })
    .await;
    let rx = Receiver::start().await;
    let (endpoint, _) = h.endpoint(json!({"url": rx.url(), "event_types": ["interview.completed"]})).await;
    rx.answer(500, 100);
    h.completed_application().await;
    for _ in 0..3 {
        h.dispatcher.run_due().await.unwrap();
        h.clock.advance(SignedDuration::from_mins(20));
    }
    let ep = h.app.get(&format!("/v1/webhook-endpoints/{endpoint}")).await;
    assert_eq!(ep.expect(200)["enabled"], true, "40 min of failures is within the window");
    h.dispatcher.run_due().await.unwrap();
    let ep = h.app.get(&format!("/v1/webhook-endpoints/{endpoint}")).await;
    assert_eq!(ep.expect(200)["enabled"], false, "60 min without a success");
    assert!(ep.json["disabled_reason"].as_str().unwrap().contains("failed"));
}

#[tokio::test]
async fn the_rate_limit_is_enforced_and_a_slow_endpoint_delays_no_other() {
    let h = harness(|_| {}).await;
    let limited = Receiver::start().await;
    let other = Receiver::start().await;
    h.endpoint(json!({"url": limited.url(), "event_types": ["interview.completed"], "rate_limit_per_second": 2})).await;
    h.endpoint(json!({"url": other.url(), "event_types": ["interview.completed"]})).await;
    for _ in 0..6 {
        h.completed_application().await;
    }
    h.dispatcher.run_due().await.unwrap();
    assert_eq!(limited.seen().len(), 2, "a burst of at most 2");
    assert_eq!(other.seen().len(), 6, "the other endpoint is not held back");
    h.clock.advance(SignedDuration::from_secs(1));
    h.dispatcher.run_due().await.unwrap();
    assert_eq!(limited.seen().len(), 4);
    h.clock.advance(SignedDuration::from_secs(1));
    h.dispatcher.run_due().await.unwrap();
    assert_eq!(limited.seen().len(), 6);
}

#[tokio::test]
async fn redelivery_and_test_events() {
    let h = harness(|_| {}).await;
    let rx = Receiver::start().await;
    let (endpoint, secret) = h.endpoint(json!({"url": rx.url()})).await;
    let test = h.app.post(&format!("/v1/webhook-endpoints/{endpoint}/test"), json!({})).await;
    let test = test.expect(200).clone();
    assert_eq!(test["attempt"]["status_code"], 200);
    assert_eq!(test["attempt"]["trigger"], "manual");
    assert_eq!(test["delivery"]["event_type"], "webhook.test");
    assert_eq!(test["delivery"]["status"], "succeeded");
    let seen = &rx.seen()[0];
    assert_eq!(seen.json()["type"], "webhook.test");
    assert_eq!(seen.json()["data"]["endpoint_id"], endpoint.as_str());
    standardwebhooks::Webhook::new(&secret).unwrap().verify(&seen.body, &seen.headers).unwrap();

    let delivery_id = test["delivery"]["id"].as_str().unwrap();
    rx.answer(500, 1);
    let again = h.app.post(&format!("/v1/webhook-deliveries/{delivery_id}/redeliver"), json!({})).await;
    let again = again.expect(200);
    assert_eq!(again["attempt"]["status_code"], 500);
    assert_eq!(again["delivery"]["status"], "succeeded", "a failed redelivery changes nothing");
    assert_eq!(again["delivery"]["attempt_count"], 2);
    assert_eq!(rx.seen()[1].header("webhook-id"), rx.seen()[0].header("webhook-id"));
    assert_eq!(h.dispatcher.run_due().await.unwrap(), 0, "manual attempts are not retried");

    h.app
        .post("/v1/webhook-deliveries/del_00000000000000000000000000000000/redeliver", json!({}))
        .await
        .expect_problem(404, "webhook_delivery_not_found");
    let other = h.app.other_org().await;
    h.app
        .get_as(&other, &format!("/v1/webhook-deliveries/{delivery_id}"))
        .await
        .expect_problem(404, "webhook_delivery_not_found");
    h.app
        .get_as(&other, &format!("/v1/webhook-endpoints/{endpoint}"))
        .await
        .expect_problem(404, "webhook_endpoint_not_found");
    let metrics = h.app.send(h.app.client.get(h.app.url("/metrics"))).await;
    assert!(metrics.text.contains("webhook_attempts_total{outcome=\"success\"} 1"), "{}", metrics.text);
    assert!(metrics.text.contains("webhook_attempts_total{outcome=\"http_status\"} 1"));
}

#[tokio::test]
async fn test_events_of_every_type_are_valid_marked_and_respect_the_filter() {
    let h = harness(|_| {}).await;
    let rx = Receiver::start().await;
    let (endpoint, secret) = h.endpoint(json!({"url": rx.url()})).await;
    let path = format!("/v1/webhook-endpoints/{endpoint}/test");
    // No body at all (no content type either) sends webhook.test.
    let bare = h.app.send(h.app.client.post(h.app.url(&path)).bearer_auth(&h.app.key)).await;
    assert_eq!(bare.expect(200)["delivery"]["event_type"], "webhook.test");
    for event_type in webhook_sim::event_types() {
        let r = h.app.post(&path, json!({"event_type": event_type})).await;
        assert_eq!(r.expect(200)["attempt"]["status_code"], 200, "{event_type}: {}", r.text);
        assert_eq!(r.json["delivery"]["event_type"], event_type);
    }
    let seen = rx.seen();
    assert_eq!(seen.len(), 5);
    let mut ids = std::collections::BTreeSet::new();
    for delivery in &seen {
        standardwebhooks::Webhook::new(&secret).unwrap().verify(&delivery.body, &delivery.headers).unwrap();
        assert_eq!(webhook_sim::validate(&delivery.body).unwrap(), Vec::<String>::new(), "{:?}", delivery.json());
        assert_eq!(delivery.json()["test"], true, "marked as a test: {:?}", delivery.json());
        ids.insert(delivery.json()["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 5, "each test event has its own id");

    let (filtered, _) = h.endpoint(json!({"url": rx.url(), "event_types": ["interview.failed"]})).await;
    let path = format!("/v1/webhook-endpoints/{filtered}/test");
    let refused = h.app.post(&path, json!({"event_type": "interview.completed"})).await;
    let problem = refused.expect_problem(409, "event_type_not_subscribed");
    assert!(problem["detail"].as_str().unwrap().contains("interview.failed"), "{problem}");
    h.app.post(&path, json!({"event_type": "interview.failed"})).await.expect(200);
    h.app.post(&path, json!({})).await.expect(200);
    let bad = h.app.post(&path, json!({"event_type": "interview.rescheduled"})).await;
    assert_eq!(bad.expect_problem(422, "validation_failed")["errors"][0]["field"], "event_type");

    // Real events carry no marker.
    h.completed_application().await;
    h.dispatcher.run_due().await.unwrap();
    let real: Vec<_> = rx.seen().into_iter().skip(7).collect();
    assert!(!real.is_empty());
    assert!(real.iter().all(|d| d.json().get("test").is_none()), "{:?}", real[0].json());
}

#[tokio::test]
async fn endpoint_urls_are_checked_when_configured() {
    let h = harness(|_| {}).await;
    let bad = |url: &str| json!({"url": url});
    for (url, code) in [
        ("http://10.0.0.1/hook", "blocked_address"),
        ("http://169.254.169.254/latest", "blocked_address"),
        ("http://[::1]:9/hook", "invalid_format"),
        ("http://[::ffff:192.168.0.1]/hook", "invalid_format"),
        ("http://2130706433/hook", "invalid_format"),
        ("ftp://example.com/hook", "invalid_format"),
        ("not a url", "invalid_format"),
        ("https://user:pw@example.com/", "invalid_format"),
    ] {
        let r = h.app.post("/v1/webhook-endpoints", bad(url)).await;
        assert_eq!(r.expect_problem(422, "validation_failed")["errors"][0]["code"], code, "{url}");
    }
    let r = h
        .app
        .post(
            "/v1/webhook-endpoints",
            json!({"url": "http://127.0.0.1:9/x", "event_types": ["nope"], "headers": {"webhook-id": "x"}}),
        )
        .await;
    let fields: Vec<Value> = r.expect_problem(422, "validation_failed")["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].clone())
        .collect();
    assert_eq!(fields, [json!("event_types[0]"), json!("headers.webhook-id")]);

    let strict = harness(|c| c.delivery.policy.https_only = true).await;
    let r = strict.app.post("/v1/webhook-endpoints", bad("http://127.0.0.1:9/x")).await;
    assert_eq!(r.expect_problem(422, "validation_failed")["errors"][0]["code"], "https_required");
}

/// The guard at delivery time: an endpoint whose address became forbidden (here: the
/// allow-list no longer covers it) fails without a retry and the receiver sees nothing.
#[tokio::test]
async fn a_refused_address_at_delivery_time_is_not_retried() {
    let rx = Receiver::start().await;
    let h = harness(|_| {}).await;
    let (endpoint, _) = h.endpoint(json!({"url": rx.url(), "event_types": ["interview.completed"]})).await;
    h.completed_application().await;
    let TestApp { server, dir, key, client, .. } = h.app;
    server.shutdown().await.unwrap();
    let mut config = crate::support::config(&dir);
    config.delivery.policy.allow.clear();
    config.delivery.background = false;
    config.interview.background = false;
    let server = public_api::server::Server::start(config, h.clock.clone()).await.unwrap();
    let dispatcher = Arc::clone(&server.state().dispatcher);
    let app = TestApp { base: format!("http://{}", server.local_addr()), server, key, client, dir };
    dispatcher.run_due().await.unwrap();
    assert!(rx.seen().is_empty());
    let delivery =
        &app.get(&format!("/v1/webhook-deliveries?endpoint_id={endpoint}")).await.expect(200)["data"][0].clone();
    assert_eq!(delivery["status"], "failed");
    let detail = app.get(&format!("/v1/webhook-deliveries/{}", delivery["id"].as_str().unwrap())).await;
    assert_eq!(detail.expect(200)["attempts"][0]["error_class"], "blocked");
}

/// With the background dispatcher, an endpoint that takes seconds to answer holds only its own
/// deliveries: another endpoint's events arrive meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_endpoint_does_not_hold_up_another() {
    let app = TestApp::start_with_clock(Arc::new(public_api::clock::SystemClock), |c| {
        c.interview.delay = SignedDuration::ZERO;
        c.interview.outcomes = OutcomeWeights::parse("completed=1").unwrap();
        c.delivery.timeout = Duration::from_secs(5);
    })
    .await;
    let (fast_took, slow_calls) = slow_beside_fast(&app, Duration::from_secs(3), 3).await;
    assert!(fast_took < Duration::from_secs(3), "the fast endpoint waited for the slow one: {fast_took:?}");
    assert!(slow_calls <= 3);
}

/// With few attempt slots in the process, a slow endpoint's full queue is left out of claims, so
/// its deliveries never take the slots another endpoint needs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_endpoint_takes_no_more_than_its_queue_of_the_process_slots() {
    let app = TestApp::start_with_clock(Arc::new(public_api::clock::SystemClock), |c| {
        c.interview.delay = SignedDuration::ZERO;
        c.interview.outcomes = OutcomeWeights::parse("completed=1").unwrap();
        c.delivery.timeout = Duration::from_secs(10);
        // One attempt at a time per endpoint (a queue of 8 waiting), 24 slots in all.
        c.delivery.concurrency_per_endpoint = 1;
        c.delivery.max_in_flight = 24;
    })
    .await;
    let (fast_took, slow_calls) = slow_beside_fast(&app, Duration::from_secs(4), 40).await;
    assert!(fast_took < Duration::from_secs(4), "the fast endpoint waited for slots the slow one held: {fast_took:?}");
    assert!(slow_calls <= 2);
}

/// Two endpoints for `interview.completed`, one answering after `delay`, and `applications`
/// completed interviews: how long until the fast endpoint had them all, and how many requests
/// the slow one got.
async fn slow_beside_fast(app: &TestApp, delay: Duration, applications: usize) -> (Duration, usize) {
    let slow = MockServer::start_async().await;
    let slow_mock = slow
        .mock_async(|when, then| {
            when.path("/slow");
            then.status(200).delay(delay);
        })
        .await;
    let fast = Receiver::start().await;
    for url in [slow.url("/slow"), fast.url()] {
        app.post("/v1/webhook-endpoints", json!({"url": url, "event_types": ["interview.completed"]}))
            .await
            .expect(201);
    }
    let job = app.job("REQ-1").await;
    let started = std::time::Instant::now();
    for _ in 0..applications {
        app.post("/v1/applications", application(&job)).await.expect(201);
    }
    while fast.seen().len() < applications {
        let got = fast.seen().len();
        assert!(started.elapsed() < Duration::from_secs(20), "the fast endpoint got {got} of {applications}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (started.elapsed(), slow_mock.calls_async().await)
}
