//! The grader against receivers written here: a correct one passes every case, and each broken
//! one fails exactly the cases that expose its flaw.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use webhook_sim::check::{CheckConfig, Report};

use crate::SECRET;

/// How a test receiver gets verification wrong.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Flaw {
    None,
    /// Accepts anything that parses as JSON.
    NoSignatureCheck,
    /// Checks the signature but not the timestamp's age.
    NoTimestampCheck,
    /// Parses the body and verifies its re-serialisation, as `JSON.stringify(req.body)` does.
    Reserialises,
}

#[derive(Clone)]
struct Partner {
    flaw: Flaw,
    seen: Arc<Mutex<HashSet<String>>>,
}

async fn partner(flaw: Flaw) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhooks", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route("/webhooks", axum::routing::post(receive))
        .with_state(Partner { flaw, seen: Arc::default() });
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

async fn receive(State(partner): State<Partner>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let wh = standardwebhooks::Webhook::new(SECRET).unwrap();
    let verified = match partner.flaw {
        Flaw::None => wh.verify(&body, &headers).is_ok(),
        Flaw::NoSignatureCheck => serde_json::from_slice::<serde_json::Value>(&body).is_ok(),
        Flaw::NoTimestampCheck => {
            let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
            match (
                header("webhook-id"),
                header("webhook-timestamp").and_then(|t| t.parse().ok()),
                header("webhook-signature"),
            ) {
                (Some(id), Some(ts), Some(signatures)) => {
                    let expected = wh.sign(id, ts, &body).unwrap();
                    signatures.split(' ').any(|s| s == expected)
                }
                _ => false,
            }
        }
        Flaw::Reserialises => wh.verify(&restringify(&body), &headers).is_ok(),
    };
    if !verified {
        return StatusCode::BAD_REQUEST;
    }
    // A correct receiver remembers message ids so a redelivery is acknowledged, not processed twice.
    let id = headers.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    partner.seen.lock().unwrap().insert(id);
    StatusCode::NO_CONTENT
}

/// What JavaScript's `JSON.stringify(JSON.parse(body))` does to bytes: whitespace outside strings
/// goes, and `\uXXXX` and `\/` escapes become the characters they stand for.
fn restringify(body: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(body);
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        match (in_string, c) {
            (false, c) if c.is_whitespace() => {}
            (false, '"') | (true, '"') => {
                in_string = !in_string;
                out.push('"');
            }
            (true, '\\') => match chars.next() {
                Some('u') => {
                    let hex: String = chars.by_ref().take(4).collect();
                    let mut unit = u32::from_str_radix(&hex, 16).unwrap_or(0xFFFD);
                    if (0xD800..0xDC00).contains(&unit) {
                        let low: String = chars.by_ref().skip(2).take(4).collect();
                        let low = u32::from_str_radix(&low, 16).unwrap_or(0xDC00);
                        unit = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                    }
                    match char::from_u32(unit) {
                        Some('"') => out.push_str("\\\""),
                        Some('\\') => out.push_str("\\\\"),
                        Some(c) => out.push(c),
                        None => out.push('\u{FFFD}'),
                    }
                }
                Some('/') => out.push('/'),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => {}
            },
            (_, c) => out.push(c),
        }
    }
    out.into_bytes()
}

async fn grade(flaw: Flaw) -> Report {
    let config = CheckConfig::new(partner(flaw).await, SECRET, Duration::from_secs(5));
    let mut progress = 0;
    let report = webhook_sim::check::run(&config, |_| progress += 1).await.unwrap();
    assert_eq!(progress, report.cases.len());
    report
}

fn failing(report: &Report) -> Vec<&str> {
    report.cases.iter().filter(|c| !c.passed).map(|c| c.id.as_str()).collect()
}

#[tokio::test]
async fn a_correct_receiver_passes_every_case() {
    let report = grade(Flaw::None).await;
    assert_eq!(failing(&report), Vec::<&str>::new(), "{}", report.table());
    assert!(report.success());
    assert_eq!(report.cases.len(), webhook_sim::check::case_ids().len());
    assert!(report.cases.len() >= 17);
    let duplicate = report.cases.iter().find(|c| c.id == "robustness.duplicate_id").unwrap();
    assert_eq!(duplicate.statuses, [Some(204), Some(204)]);
    assert!(duplicate.detail.contains("handled"));
}

#[tokio::test]
async fn a_receiver_without_signature_checks_fails_every_attack() {
    let report = grade(Flaw::NoSignatureCheck).await;
    assert_eq!(
        failing(&report),
        [
            "attack.tampered_body",
            "attack.tampered_signature",
            "attack.wrong_secret",
            "attack.missing_id",
            "attack.missing_timestamp",
            "attack.missing_signature",
            "attack.stale_timestamp",
            "attack.future_timestamp",
        ]
    );
    assert!(!report.success());
}

#[tokio::test]
async fn a_receiver_without_timestamp_checks_fails_the_replay_cases_with_reproducers() {
    let report = grade(Flaw::NoTimestampCheck).await;
    assert_eq!(failing(&report), ["attack.stale_timestamp", "attack.future_timestamp"]);
    assert!(!report.success());
    let stale = &report.cases.iter().find(|c| c.id == "attack.stale_timestamp").unwrap();
    let curl = stale.curl.as_deref().unwrap();
    assert!(curl.starts_with(&format!("curl -sS -i -X POST '{}'", report.target)), "{curl}");
    // The reproducer sends the same bytes again, so the broken receiver accepts it again.
    if std::process::Command::new("curl").arg("--version").output().is_ok() {
        let target = report.target.clone();
        let curl = curl.to_owned();
        let output = tokio::task::spawn_blocking(move || {
            std::process::Command::new("sh").arg("-c").arg(&curl).output().unwrap()
        })
        .await
        .unwrap();
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(text.starts_with("HTTP/1.1 204"), "{target}: {text}");
    }
    let junit = report.junit();
    assert_eq!(junit.matches("<failure").count(), 2, "{junit}");
    assert!(junit.contains(&format!("tests=\"{}\"", report.cases.len())), "{junit}");

    let table = report.table();
    assert!(table.contains("FAIL  attack.stale_timestamp") && table.contains("reproduce attack.stale_timestamp:"));
    insta::assert_json_snapshot!("report_without_timestamp_checks", report, {
        ".target" => "[target]",
        ".started_at" => "[time]",
        ".duration_ms" => "[ms]",
        ".cases[].elapsed_ms" => "[ms]",
        ".cases[].curl" => "[curl]",
        ".cases[].detail" => insta::dynamic_redaction(|value, _| match value.as_str() {
            Some(text) if text.contains("latency") => "[latency]".into(),
            _ => value,
        }),
    });
}

#[tokio::test]
async fn a_receiver_that_reserialises_the_body_fails_the_byte_exact_case() {
    let report = grade(Flaw::Reserialises).await;
    assert_eq!(failing(&report), ["robustness.byte_exact"]);
}

#[tokio::test]
async fn an_unreachable_receiver_fails_with_a_clear_reason() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    drop(listener);
    let config = CheckConfig::new(url, SECRET, Duration::from_secs(2));
    let report = webhook_sim::check::run(&config, |_| {}).await.unwrap();
    assert_eq!(report.passed, 0);
    assert!(report.cases[0].detail.contains("failed:"), "{}", report.cases[0].detail);
    let bad = CheckConfig::new("ftp://example", SECRET, Duration::from_secs(1));
    assert!(webhook_sim::check::run(&bad, |_| {}).await.is_err());
}

#[tokio::test]
async fn webhook_sim_receive_passes_every_case() {
    let receiver =
        webhook_sim::receiver::Receiver::start(webhook_sim::receiver::ReceiverConfig::new(SECRET)).await.unwrap();
    let mut config = CheckConfig::new(format!("{}/hook", receiver.url()), SECRET, Duration::from_secs(5));
    config.latency_budget = Some(Duration::from_millis(1000));
    let report = webhook_sim::check::run(&config, |_| {}).await.unwrap();
    assert_eq!(failing(&report), Vec::<&str>::new(), "{}", report.table());
    // The compatible changes are valid against the published schemas, open enums included.
    let compatible: Vec<_> = receiver.deliveries().into_iter().filter(|d| d.verified()).collect();
    assert!(compatible.iter().any(|d| d.body.as_deref().is_some_and(|b| b.contains("on_hold"))));
}

#[test]
fn generated_payloads_are_valid_varied_and_the_same_for_the_same_seed() {
    use webhook_sim::check::{Generation, generated_payloads};
    let generation = Generation { per_type: 20, seed: 7 };
    for (stream, event_type) in webhook_sim::event_types().enumerate() {
        let first = generated_payloads(event_type, stream as u64, generation).unwrap();
        assert_eq!(first, generated_payloads(event_type, stream as u64, generation).unwrap(), "same seed, same bytes");
        let other = generated_payloads(event_type, stream as u64, Generation { seed: 8, ..generation }).unwrap();
        assert_ne!(first, other, "another seed, other payloads");
        for body in &first {
            assert_eq!(webhook_sim::validate(body).unwrap(), Vec::<String>::new(), "{event_type}");
        }
        let text: Vec<String> = first.iter().map(|b| String::from_utf8(b.clone()).unwrap()).collect();
        assert!(text.iter().any(|t| !t.is_ascii()), "{event_type}: non-ASCII text");
        if event_type != "webhook.test" {
            assert!(text.iter().any(|t| t.contains(":null")), "{event_type}: some optional field null");
        }
        if event_type.starts_with("interview.") {
            assert!(text.iter().any(|t| t.contains(":[]")), "{event_type}: an empty array");
        }
        let lengths: Vec<usize> = text.iter().map(String::len).collect();
        assert!(lengths.iter().max() > Some(&(lengths.iter().min().unwrap() * 2)), "{event_type}: {lengths:?}");
    }
}
