//! `webhook-sim`: helpers for anyone writing a receiver for the Public API's webhooks.
//!
//! Signatures are made and checked with the `standardwebhooks` reference library, and payloads
//! are checked against the JSON Schemas published in `spec/webhooks/`, so this crate is an
//! independent check of the server, not a copy of it.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::Value;

/// The published schema and example of every event type, embedded at build time.
pub const EVENTS: [(&str, &str, &str); 4] = [
    (
        "interview.completed",
        include_str!("../../spec/webhooks/interview.completed.schema.json"),
        include_str!("../../spec/webhooks/examples/interview.completed.json"),
    ),
    (
        "interview.failed",
        include_str!("../../spec/webhooks/interview.failed.schema.json"),
        include_str!("../../spec/webhooks/examples/interview.failed.json"),
    ),
    (
        "application.status_changed",
        include_str!("../../spec/webhooks/application.status_changed.schema.json"),
        include_str!("../../spec/webhooks/examples/application.status_changed.json"),
    ),
    (
        "webhook.test",
        include_str!("../../spec/webhooks/webhook.test.schema.json"),
        include_str!("../../spec/webhooks/examples/webhook.test.json"),
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("the secret is not a whsec_ secret: {0}")]
    Secret(String),
    #[error("the body is not UTF-8, which Standard Webhooks signing requires")]
    NotUtf8,
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    #[error(
        "unknown event type `{0}`; known: interview.completed, interview.failed, application.status_changed, webhook.test"
    )]
    UnknownType(String),
    #[error("header {0} is not valid")]
    BadHeader(&'static str),
}

/// The three signature headers for `body`.
pub fn sign(
    secret: &str,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<BTreeMap<&'static str, String>, SimError> {
    let wh = standardwebhooks::Webhook::new(secret).map_err(|e| SimError::Secret(e.to_string()))?;
    let signature = wh.sign(msg_id, timestamp, body).map_err(|_| SimError::NotUtf8)?;
    Ok(BTreeMap::from([
        ("webhook-id", msg_id.to_owned()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", signature),
    ]))
}

/// Why a captured request does or does not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Valid,
    Invalid(String),
}

/// Verifies a request the way a receiver must: against the current time (±5 minutes), or,
/// with `ignore_timestamp`, only the signature.
pub fn verify(
    secret: &str,
    msg_id: &str,
    timestamp: &str,
    signature: &str,
    body: &[u8],
    ignore_timestamp: bool,
) -> Result<Verdict, SimError> {
    let wh = standardwebhooks::Webhook::new(secret).map_err(|e| SimError::Secret(e.to_string()))?;
    if ignore_timestamp {
        let ts: i64 = timestamp.trim().parse().map_err(|_| SimError::BadHeader("webhook-timestamp"))?;
        let expected = wh.sign(msg_id, ts, body).map_err(|_| SimError::NotUtf8)?;
        return Ok(if signature.split(' ').any(|s| s == expected) {
            Verdict::Valid
        } else {
            Verdict::Invalid("no v1 signature matches".into())
        });
    }
    let mut headers = http::HeaderMap::new();
    for (name, value) in [("webhook-id", msg_id), ("webhook-timestamp", timestamp), ("webhook-signature", signature)] {
        headers.insert(name, http::HeaderValue::from_str(value).map_err(|_| SimError::BadHeader(name))?);
    }
    Ok(match wh.verify(body, &headers) {
        Ok(()) => Verdict::Valid,
        Err(e) => Verdict::Invalid(e.to_string()),
    })
}

/// Checks a payload against the schema of its `type`; returns every problem found.
pub fn validate(payload: &[u8]) -> Result<Vec<String>, SimError> {
    let value: Value = serde_json::from_slice(payload).map_err(|e| SimError::NotJson(e.to_string()))?;
    let event_type = value["type"].as_str().ok_or_else(|| SimError::UnknownType("(missing `type`)".into()))?;
    let (_, schema, _) =
        EVENTS.iter().find(|(t, _, _)| *t == event_type).ok_or_else(|| SimError::UnknownType(event_type.into()))?;
    let schema: Value = serde_json::from_str(schema).map_err(|e| SimError::NotJson(e.to_string()))?;
    let validator = jsonschema::validator_for(&schema).map_err(|e| SimError::NotJson(e.to_string()))?;
    Ok(validator.iter_errors(&value).map(|e| format!("{} at {}", e, e.instance_path())).collect())
}

/// The published example payload of `event_type`.
pub fn example(event_type: &str) -> Result<&'static str, SimError> {
    EVENTS
        .iter()
        .find(|(t, _, _)| *t == event_type)
        .map(|(_, _, e)| *e)
        .ok_or_else(|| SimError::UnknownType(event_type.into()))
}

/// A random message id, for signing by hand.
pub fn random_msg_id(seed: &[u8]) -> String {
    format!("msg_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(seed))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    #[test]
    fn every_example_is_valid_and_signs_and_verifies() {
        for (event_type, _, example_text) in EVENTS {
            assert_eq!(validate(example_text.as_bytes()).unwrap(), Vec::<String>::new(), "{event_type}");
            let headers = sign(SECRET, "msg_1", 1_800_000_000, example_text.as_bytes()).unwrap();
            let verdict =
                verify(SECRET, "msg_1", "1800000000", &headers["webhook-signature"], example_text.as_bytes(), true)
                    .unwrap();
            assert_eq!(verdict, Verdict::Valid);
            let tampered = example_text.replacen('{', "{ ", 1);
            let verdict =
                verify(SECRET, "msg_1", "1800000000", &headers["webhook-signature"], tampered.as_bytes(), true)
                    .unwrap();
            assert!(matches!(verdict, Verdict::Invalid(_)));
        }
    }

    #[test]
    fn broken_payloads_are_reported() {
        let mut v: Value = serde_json::from_str(example("webhook.test").unwrap()).unwrap();
        v.as_object_mut().unwrap().remove("data");
        assert!(!validate(v.to_string().as_bytes()).unwrap().is_empty());
        assert!(matches!(validate(b"{\"type\":\"nope\"}"), Err(SimError::UnknownType(_))));
        let stale = sign(SECRET, "m", 1_000, b"{}").unwrap();
        assert!(matches!(
            verify(SECRET, "m", "1000", &stale["webhook-signature"], b"{}", false).unwrap(),
            Verdict::Invalid(_)
        ));
    }
}
