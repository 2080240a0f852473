//! `webhook-sim replay`: what one receiver recorded, sent to a second one with another secret,
//! arrives byte for byte, re-signed so that it verifies, with the recorded `webhook-id`.

use std::process::Command;
use std::time::Duration;

use webhook_sim::receiver::{Receiver, ReceiverConfig};

use crate::{SECRET, client, event, signed_request};

const OTHER_SECRET: &str = "whsec_dGhlIHNlY29uZCByZWNlaXZlcidzIHNlY3JldA==";

/// Runs `webhook-sim replay` off the runtime's thread, so the receivers keep answering.
async fn replay(args: &[&str]) -> (bool, String) {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_webhook-sim"))
            .arg("replay")
            .args(args)
            .env_remove("WEBHOOK_SECRET")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
}

#[tokio::test]
async fn a_replay_into_a_second_receiver_gives_the_same_bytes_re_signed() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("first.jsonl");
    let first =
        Receiver::start(ReceiverConfig { record: Some(record.clone()), ..ReceiverConfig::new(SECRET) }).await.unwrap();
    let client = client();
    let now = webhook_sim::unix_now();
    let test = event("webhook.test", "2026-12-01T10:00:00Z");
    // Bytes that only survive an exact replay: spacing, escapes and non-ASCII text.
    let odd = "{ \"api_version\":\"2026-12-01\", \"data\": {\"endpoint_id\":\"ep_0192d5e7c1b27a3f8e6b8c2f4d1a9e76\",\t\"message\": \"Caf\\u00e9 — 😀\" },\n\"id\":\"evt_0192d5e7c1b27a3f8e6b8c2f4d1a9e83\",\"timestamp\":\"2026-12-01T10:00:01Z\",\"type\":\"webhook.test\"}\n";
    let completed = event("interview.completed", "2026-12-01T10:00:02Z");
    for (id, body) in
        [("msg_one", test.as_str()), ("msg_one", test.as_str()), ("msg_two", odd), ("msg_three", &completed)]
    {
        signed_request(&client, &first.url(), id, now, body).send().await.unwrap();
    }
    let forged = client.post(first.url()).header("webhook-id", "msg_forged").body(test.clone()).send().await.unwrap();
    assert_eq!(forged.status(), 400);
    first.wait_for(5, Duration::from_secs(10)).await.unwrap();
    let recorded = first.deliveries();

    let second = Receiver::start(ReceiverConfig::new(OTHER_SECRET)).await.unwrap();
    let path = record.to_str().unwrap();
    let (ok, out) = replay(&[path, "--to", &second.url(), "--secret", OTHER_SECRET, "--verdict", "verified"]).await;
    assert!(ok, "{out}");
    assert!(out.contains("replayed 3 of 5 recorded requests"), "one request per verified message: {out}");
    let replayed = second.wait_for(3, Duration::from_secs(10)).await.unwrap();
    for (got, sent) in replayed.iter().zip(recorded.iter().filter(|d| d.attempt == 1 && d.verified())) {
        assert!(got.verified(), "{:?}", got.signature);
        assert_eq!(got.body_bytes(), sent.body_bytes(), "byte-identical");
        assert_eq!(got.webhook_id, sent.webhook_id, "the recorded webhook-id is kept");
        assert_ne!(got.header("webhook-signature"), sent.header("webhook-signature"), "re-signed");
    }

    // Filters, --new-id and pacing.
    second.reset();
    let (ok, out) = replay(&[
        path,
        "--to",
        &second.url(),
        "--secret",
        OTHER_SECRET,
        "--event-type",
        "webhook.test",
        "--new-id",
        "--all-attempts",
        "--rate",
        "50",
    ])
    .await;
    assert!(ok, "{out}");
    let again = second.wait_for(4, Duration::from_secs(10)).await.unwrap();
    assert_eq!(again.len(), 4, "msg_one twice, msg_two, and the forged one, each with a new id");
    assert!(again.iter().all(|d| d.webhook_id.as_deref().is_some_and(|id| !["msg_one", "msg_two"].contains(&id))));
    let (ok, out) = replay(&[path, "--to", &second.url(), "--secret", OTHER_SECRET, "--webhook-id", "msg_three"]).await;
    assert!(ok && out.contains("replayed 1 of 5"), "{out}");

    // A receiver that refuses (here: the wrong secret) makes replay exit 1, with each line.
    let (ok, out) = replay(&[path, "--to", &second.url(), "--secret", SECRET, "--verdict", "accepted"]).await;
    assert!(!ok, "{out}");
    assert!(out.contains(" 400 in ") && out.contains("0 answered 2xx, 3 not"), "{out}");
    let (ok, out) = replay(&[path, "--to", &second.url(), "--secret", SECRET, "--since", "2999-01-01T00:00:00Z"]).await;
    assert!(ok && out.contains("replayed 0 of 5"), "{out}");
}
