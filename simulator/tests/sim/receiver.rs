//! The receiver over real HTTP: verdicts, the record file, scripts and faults, the control API and
//! the inspector page.

use std::time::Duration;

use serde_json::{Value, json};
use webhook_sim::receiver::{Chaos, Count, Fault, Filter, Receiver, ReceiverConfig, Reply, Rule, Script};

use crate::{SECRET, client, event, signed_request};

const WAIT: Duration = Duration::from_secs(10);

async fn start(script: Script) -> Receiver {
    Receiver::start(ReceiverConfig { script, ..ReceiverConfig::new(SECRET) }).await.unwrap()
}

fn now() -> i64 {
    webhook_sim::unix_now()
}

#[tokio::test]
async fn verifies_validates_and_records_every_request_as_a_json_line() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("deliveries.jsonl");
    let rx =
        Receiver::start(ReceiverConfig { record: Some(record.clone()), ..ReceiverConfig::new(SECRET) }).await.unwrap();
    let client = client();
    let body = event("webhook.test", "2026-12-01T10:00:00Z");
    let ok = signed_request(&client, &format!("{}/hooks/a", rx.url()), "msg_one", now(), &body).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    // A valid signature over a payload that breaks its schema, and a forged signature.
    let broken = r#"{"type":"interview.completed","timestamp":"2026-12-01T10:00:01Z","data":{}}"#;
    let bad_schema = signed_request(&client, &rx.url(), "msg_two", now(), broken).send().await.unwrap();
    assert_eq!(bad_schema.status(), 200);
    let forged = client
        .post(rx.url())
        .header("webhook-id", "msg_three")
        .header("webhook-timestamp", now().to_string())
        .header("webhook-signature", "v1,AAAA")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 400);

    let all = rx.wait_for(3, WAIT).await.unwrap();
    assert_eq!(all.len(), 3);
    assert!(all[0].verified() && all[0].body_bytes() == body.as_bytes() && all[0].path == "/hooks/a");
    assert!(all[1].signature.valid && !all[1].schema.valid, "{:?}", all[1].schema);
    assert!(!all[2].signature.valid && all[2].schema.valid);
    assert_eq!(rx.expect("webhook.test", WAIT).await.unwrap().webhook_id.as_deref(), Some("msg_one"));
    let summary = rx.summary();
    assert_eq!((summary.requests, summary.bad_signatures, summary.schema_failures), (3, 1, 1));

    // The record file holds the same deliveries, one flushed JSON line each.
    let text = std::fs::read_to_string(&record).unwrap();
    let lines: Vec<webhook_sim::receiver::Delivery> =
        text.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(lines, all);
    let mut first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    first["received_at"] = json!("[received_at]");
    for (name, value) in first["headers"].as_array_mut().unwrap().iter_mut().map(|h| {
        let pair = h.as_array_mut().unwrap();
        let name = pair[0].as_str().unwrap().to_owned();
        (name, &mut pair[1])
    }) {
        if matches!(name.as_str(), "webhook-timestamp" | "webhook-signature" | "host") {
            *value = json!(format!("[{name}]"));
        }
    }
    insta::assert_json_snapshot!("record_line", first);
}

#[tokio::test]
async fn attempts_duplicates_and_order_are_reported() {
    let rx = start(Script::default()).await;
    let client = client();
    let late = event("webhook.test", "2026-12-01T10:00:05Z");
    let early = event("webhook.test", "2026-12-01T10:00:01Z");
    for (id, body) in [("msg_late", &late), ("msg_early", &early), ("msg_late", &late)] {
        signed_request(&client, &rx.url(), id, now(), body).send().await.unwrap();
    }
    let all = rx.wait_for(3, WAIT).await.unwrap();
    assert_eq!(all.iter().map(|d| d.attempt).collect::<Vec<_>>(), [1, 1, 2]);
    assert_eq!(all.iter().map(|d| d.out_of_order).collect::<Vec<_>>(), [false, true, false]);
    assert_eq!(all.iter().map(|d| d.duplicate).collect::<Vec<_>>(), [false, false, true]);
    let summary = rx.summary();
    assert_eq!((summary.messages, summary.accepted_messages, summary.retries, summary.duplicates), (2, 2, 1, 1));
    assert_eq!(summary.out_of_order, 1);
}

#[tokio::test]
async fn a_script_fails_the_first_attempts_per_message_and_per_request() {
    let fail = |status| Reply { status: Some(status), retry_after: Some("7".into()), ..Reply::default() };
    let rx = start(Script {
        rules: vec![
            Rule { path: Some("/attempts".into()), replies: vec![fail(503), fail(500)], ..Rule::default() },
            Rule {
                path: Some("/gone*".into()),
                count: Count::Request,
                replies: vec![Reply { status: Some(301), location: Some("/elsewhere".into()), ..Reply::default() }],
                then: Some(Reply { status: Some(410), ..Reply::default() }),
                ..Rule::default()
            },
        ],
        chaos: None,
    })
    .await;
    let client = client();
    let body = event("webhook.test", "2026-12-01T10:00:00Z");
    let url = format!("{}/attempts", rx.url());
    let mut statuses = vec![];
    for id in ["m1", "m2", "m1", "m1", "m2"] {
        let response = signed_request(&client, &url, id, now(), &body).send().await.unwrap();
        if response.status() == 503 {
            assert_eq!(response.headers()["retry-after"], "7");
        }
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [503, 503, 500, 200, 500]);

    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let gone = format!("{}/gone/x", rx.url());
    let first = signed_request(&no_redirects, &gone, "m3", now(), &body).send().await.unwrap();
    assert_eq!((first.status().as_u16(), first.headers()["location"].to_str().unwrap()), (301, "/elsewhere"));
    let second = signed_request(&no_redirects, &gone, "m4", now(), &body).send().await.unwrap();
    assert_eq!(second.status(), 410);

    // Scripts can be replaced while running, through the API or over HTTP.
    rx.set_script(Script::default());
    assert_eq!(signed_request(&client, &url, "m5", now(), &body).send().await.unwrap().status(), 200);
    let put = client.put(format!("{}/_sim/script", rx.url())).body(r#"{"rules":[{"then":{"status":418}}]}"#);
    assert_eq!(put.send().await.unwrap().status(), 204);
    assert_eq!(signed_request(&client, &url, "m6", now(), &body).send().await.unwrap().status(), 418);
    let bad = client.put(format!("{}/_sim/script", rx.url())).body(r#"{"rulez":[]}"#).send().await.unwrap();
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn faults_reset_the_connection_delay_and_time_out() {
    let rx = Receiver::start(ReceiverConfig {
        script: Script {
            rules: vec![
                Rule { path: Some("/reset".into()), then: Some(fault(Fault::Reset)), ..Rule::default() },
                Rule { path: Some("/hang".into()), then: Some(fault(Fault::Timeout)), ..Rule::default() },
                Rule {
                    path: Some("/slow".into()),
                    then: Some(Reply { delay_ms: 300, ..Reply::default() }),
                    ..Rule::default()
                },
            ],
            chaos: None,
        },
        hang: Duration::from_millis(1500),
        ..ReceiverConfig::new(SECRET)
    })
    .await
    .unwrap();
    let client = client();
    let body = event("webhook.test", "2026-12-01T10:00:00Z");

    let reset = signed_request(&client, &format!("{}/reset", rx.url()), "m1", now(), &body).send().await;
    let error = reset.expect_err("a reset connection has no response");
    assert!(!error.is_timeout(), "{error:?}");

    let started = std::time::Instant::now();
    let slow = signed_request(&client, &format!("{}/slow", rx.url()), "m2", now(), &body).send().await.unwrap();
    assert_eq!(slow.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(300));

    let hang = signed_request(&client, &format!("{}/hang", rx.url()), "m3", now(), &body)
        .timeout(Duration::from_millis(500))
        .send()
        .await;
    assert!(hang.expect_err("no answer").is_timeout());

    let all = rx.wait_for(3, WAIT).await.unwrap();
    assert_eq!(
        all.iter().map(|d| d.answer.fault).collect::<Vec<_>>(),
        [Some(Fault::Reset), None, Some(Fault::Timeout)]
    );
    assert_eq!(all[1].answer.delay_ms, 300);
}

fn fault(fault: Fault) -> Reply {
    Reply { fault: Some(fault), ..Reply::default() }
}

#[tokio::test]
async fn seeded_chaos_fails_the_same_attempts_every_run() {
    let run = || async {
        let rx = start(Script { rules: vec![], chaos: Some(Chaos { seed: 42, rate: 0.3, faults: vec![] }) }).await;
        let client = client();
        let body = event("webhook.test", "2026-12-01T10:00:00Z");
        let mut outcomes = vec![];
        for i in 0..40 {
            let sent = signed_request(&client, &rx.url(), &format!("msg_{i}"), now(), &body).send().await;
            outcomes.push(sent.map(|r| r.status().as_u16()).unwrap_or(0));
        }
        outcomes
    };
    let first = run().await;
    assert_eq!(first, run().await);
    let failed = first.iter().filter(|s| **s != 200).count();
    assert!((4..=24).contains(&failed), "{failed} of 40 failed at rate 0.3: {first:?}");
}

#[tokio::test]
async fn the_control_api_lists_waits_resets_and_the_inspector_shows_deliveries() {
    let rx = start(Script::default()).await;
    let client = client();
    let body = event("interview.failed", "2026-12-01T10:00:00Z").replace("Lovelace", "<b>Lovelace</b>");
    signed_request(&client, &rx.url(), "msg_x", now(), &body).send().await.unwrap();
    signed_request(&client, &rx.url(), "msg_y", now(), &event("webhook.test", "2026-12-01T10:00:00Z"))
        .send()
        .await
        .unwrap();

    let get = |path: String| {
        let client = client.clone();
        async move { client.get(path).send().await.unwrap() }
    };
    let listed: Value =
        get(format!("{}/_sim/deliveries?event_type=webhook.test", rx.url())).await.json().await.unwrap();
    assert_eq!(listed["deliveries"].as_array().unwrap().len(), 1);
    assert_eq!(listed["deliveries"][0]["webhook_id"], "msg_y");
    let waited = get(format!("{}/_sim/wait?count=2&timeout_ms=2000", rx.url())).await;
    assert_eq!(waited.status(), 200);
    let timed_out = get(format!("{}/_sim/wait?count=3&timeout_ms=100", rx.url())).await;
    assert_eq!(timed_out.status(), 408);
    let summary: Value = get(format!("{}/_sim/summary", rx.url())).await.json().await.unwrap();
    assert_eq!(summary["summary"]["requests"], 2);

    let page = get(rx.url()).await;
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = page.text().await.unwrap();
    assert!(html.contains("msg_x") && html.contains("&lt;b&gt;Lovelace&lt;/b&gt;") && !html.contains("<b>Lovelace"));
    assert!(!html.contains("src=") && !html.contains("stylesheet"), "the page must need nothing from elsewhere");

    assert_eq!(client.post(format!("{}/_sim/reset", rx.url())).send().await.unwrap().status(), 204);
    assert!(rx.deliveries().is_empty());
    let err = rx.wait_matching(&Filter::event_type("webhook.test"), 1, Duration::from_millis(50)).await.unwrap_err();
    assert!(err.got.is_empty());
}
