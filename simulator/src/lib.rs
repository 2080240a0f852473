//! `webhook-sim`: the customer's side of the Public API's webhooks.
//!
//! - [`receiver`]: a scripted webhook receiver that verifies, validates and records every
//!   delivery, injects faults, and offers a control API, an inspector page and a Rust test API.
//! - [`check`]: a grader that probes a partner's receiver with valid and hostile deliveries.
//! - [`replay`]: sends recorded requests again, re-signed, byte for byte.
//! - [`sign`], [`verify`], [`validate`], [`example`]: helpers for writing a receiver.
//!
//! Signatures are made and checked with the `standardwebhooks` reference library, and payloads
//! are checked against the JSON Schemas published in `spec/webhooks/`, so this crate is an
//! independent check of the server, not a copy of it: it never uses the server's code.

pub mod check;
pub mod events;
pub mod receiver;
pub mod replay;
pub mod signature;

pub use events::{EVENTS, event_types, example, validate};
pub use signature::{SignedHeaders, Verdict, Verifier, sign, verify};

use base64::Engine as _;

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
}

/// The HTTP client that sends deliveries for `check` and `replay` (`purpose` goes into the
/// user agent): per-request `timeout`, no redirects followed, no proxy.
pub(crate) fn sender(timeout: std::time::Duration, purpose: &str) -> Result<reqwest::Client, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(format!("webhook-sim/{} ({purpose})", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| e.to_string())
}

/// A random message id, for signing by hand.
pub fn random_msg_id() -> String {
    msg_id(&random_bytes::<16>())
}

/// A message id made of `bytes`, in the shape the server's ids take on the wire.
pub(crate) fn msg_id(bytes: &[u8]) -> String {
    format!("msg_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// `N` random bytes. Without OS randomness the clock is unique enough for ids typed at a
/// terminal or made for one grading run.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        for (byte, clock) in bytes.iter_mut().zip(nanos.to_le_bytes().iter().cycle()) {
            *byte = *clock;
        }
    }
    bytes
}

/// The current time in Unix seconds.
pub fn unix_now() -> i64 {
    jiff::Timestamp::now().as_second()
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
        let mut v: serde_json::Value = serde_json::from_str(example("webhook.test").unwrap()).unwrap();
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
