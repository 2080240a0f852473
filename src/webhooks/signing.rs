//! Standard Webhooks signatures (v1): `webhook-signature` = `v1,` + base64 HMAC-SHA256 of
//! `"{webhook-id}.{webhook-timestamp}.{body}"`, keyed with the endpoint's secret. During a
//! secret rotation several signatures are sent, separated by spaces.

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Every secret is shown as this prefix plus standard base64.
pub const SECRET_PREFIX: &str = "whsec_";
/// Random bytes in a new secret (the spec allows 24 to 64).
const SECRET_BYTES: usize = 32;
/// The tolerance receivers should apply to `webhook-timestamp` (the reference libraries' value).
pub const DEFAULT_TOLERANCE_SECONDS: i64 = 5 * 60;

/// A signing secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("a webhook secret starts with whsec_")]
    Prefix,
    #[error("the part after whsec_ is not standard base64")]
    Base64,
    #[error("a webhook secret has 24 to 64 bytes (got {0})")]
    Length(usize),
}

impl Secret {
    /// A new random secret.
    pub fn generate() -> Result<Secret, getrandom::Error> {
        let mut bytes = vec![0u8; SECRET_BYTES];
        getrandom::fill(&mut bytes)?;
        Ok(Secret(bytes))
    }

    /// Parses `whsec_<base64>`.
    pub fn parse(text: &str) -> Result<Secret, SecretError> {
        let encoded = text.strip_prefix(SECRET_PREFIX).ok_or(SecretError::Prefix)?;
        let bytes = base64::engine::general_purpose::STANDARD.decode(encoded).map_err(|_| SecretError::Base64)?;
        Secret::from_bytes(bytes)
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Result<Secret, SecretError> {
        if !(24..=64).contains(&bytes.len()) {
            return Err(SecretError::Length(bytes.len()));
        }
        Ok(Secret(bytes))
    }

    /// The text form, `whsec_<base64>`.
    pub fn expose(&self) -> String {
        format!("{SECRET_PREFIX}{}", base64::engine::general_purpose::STANDARD.encode(&self.0))
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// `v1,<base64 signature>` of one message.
    pub fn sign(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
        format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(self.mac(msg_id, timestamp, body)))
    }

    fn mac(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().to_vec()
    }
}

/// The `webhook-signature` header: one signature per secret, space-separated.
pub fn signature_header(secrets: &[&Secret], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets.iter().map(|s| s.sign(msg_id, timestamp, body)).collect::<Vec<_>>().join(" ")
}

/// Why a signature did not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("webhook-timestamp is not a whole number of seconds")]
    BadTimestamp,
    #[error("webhook-timestamp is too old")]
    TooOld,
    #[error("webhook-timestamp is in the future")]
    TooNew,
    #[error("no v1 signature matches")]
    NoMatch,
}

/// Checks a message: the timestamp within `tolerance` seconds of `now`, and at least one `v1`
/// signature in `header` matching one of `secrets` (compared in constant time). Entries of
/// other versions are ignored.
pub fn verify(
    secrets: &[&Secret],
    msg_id: &str,
    timestamp: &str,
    header: &str,
    body: &[u8],
    now: i64,
    tolerance: i64,
) -> Result<(), VerifyError> {
    let ts: i64 = timestamp.trim().parse().map_err(|_| VerifyError::BadTimestamp)?;
    if ts < now - tolerance {
        return Err(VerifyError::TooOld);
    }
    if ts > now + tolerance {
        return Err(VerifyError::TooNew);
    }
    for entry in header.split(' ').filter(|e| !e.is_empty()) {
        let Some(("v1", encoded)) = entry.split_once(',') else { continue };
        let Ok(given) = base64::engine::general_purpose::STANDARD.decode(encoded) else { continue };
        for secret in secrets {
            let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.bytes()).expect("any key length");
            mac.update(msg_id.as_bytes());
            mac.update(b".");
            mac.update(ts.to_string().as_bytes());
            mac.update(b".");
            mac.update(body);
            if mac.verify_slice(&given).is_ok() {
                return Ok(());
            }
        }
    }
    Err(VerifyError::NoMatch)
}

/// Language-neutral test vectors, published as `spec/webhook-signature-vectors.json`.
pub fn test_vectors() -> serde_json::Value {
    use serde_json::json;
    let secret = Secret::from_bytes((0u8..32).collect()).expect("32 bytes");
    let old = Secret::from_bytes((100u8..132).collect()).expect("32 bytes");
    let other = Secret::from_bytes(vec![7u8; 32]).expect("32 bytes");
    let id = "evt_0192d5e7c1b27a3f8e6b8c2f4d1a9e75";
    let ts: i64 = 1_800_000_000;
    let body = br#"{"id":"evt_0192d5e7c1b27a3f8e6b8c2f4d1a9e75","type":"webhook.test","timestamp":"2027-01-15T08:00:00Z","api_version":"2026-12-01","data":{"message":"Hello \u00e9t\u00e9","endpoint_id":"ep_1"}}"#;
    let body_text = std::str::from_utf8(body).expect("ASCII");
    let valid = secret.sign(id, ts, body);
    let case = |name: &str, header: String, body: &str, now: i64, valid: bool, why: &str| {
        json!({
            "name": name, "msg_id": id, "timestamp": ts.to_string(), "body": body,
            "signature_header": header, "now": now, "tolerance_seconds": DEFAULT_TOLERANCE_SECONDS,
            "expected": if valid { "valid" } else { "invalid" }, "why": why
        })
    };
    let tampered = body_text.replace("webhook.test", "webhook.tset");
    let mut flipped = valid.clone().into_bytes();
    let last = flipped.len() - 2;
    flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).expect("ASCII");
    json!({
        "description": "Standard Webhooks v1 signature vectors. Sign `{msg_id}.{timestamp}.{body}` (the exact body bytes, UTF-8) with HMAC-SHA256 keyed by the base64-decoded part of the secret after `whsec_`; the signature header lists `v1,<base64>` entries separated by spaces. A message is valid when its timestamp is within tolerance_seconds of `now` and any v1 entry matches.",
        "secret": secret.expose(),
        "rotated_out_secret": old.expose(),
        "cases": [
            case("valid", valid.clone(), body_text, ts, true, "signed with the secret"),
            case("valid_within_tolerance_past", valid.clone(), body_text, ts + DEFAULT_TOLERANCE_SECONDS, true, "exactly at the tolerance"),
            case("valid_during_rotation", format!("{} {}", old.sign(id, ts, body), valid), body_text, ts, true, "two signatures; the second matches"),
            case("valid_beside_unknown_version", format!("v1a,{} {}", "bm90LWEtcmVhbC1zaWduYXR1cmU=", valid), body_text, ts, true, "unknown versions are ignored"),
            case("tampered_body", valid.clone(), &tampered, ts, false, "the body changed after signing"),
            case("tampered_signature", flipped, body_text, ts, false, "one character of the signature changed"),
            case("wrong_secret", other.sign(id, ts, body), body_text, ts, false, "signed with another secret"),
            case("stale_timestamp", valid.clone(), body_text, ts + DEFAULT_TOLERANCE_SECONDS + 1, false, "older than the tolerance"),
            case("future_timestamp", valid.clone(), body_text, ts - DEFAULT_TOLERANCE_SECONDS - 1, false, "newer than the tolerance"),
            case("unknown_version_only", valid.replacen("v1,", "v2,", 1), body_text, ts, false, "no v1 entry"),
            case("empty_header", String::new(), body_text, ts, false, "no signature at all"),
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_round_trip_and_are_checked() {
        let s = Secret::generate().unwrap();
        assert_eq!(Secret::parse(&s.expose()).unwrap(), s);
        assert_eq!(Secret::parse("whsec_!!"), Err(SecretError::Base64));
        assert_eq!(Secret::parse("abc"), Err(SecretError::Prefix));
        assert_eq!(Secret::parse("whsec_AAAA"), Err(SecretError::Length(3)));
    }

    #[test]
    fn the_published_vectors_hold() {
        let vectors = test_vectors();
        let secret = Secret::parse(vectors["secret"].as_str().unwrap()).unwrap();
        for case in vectors["cases"].as_array().unwrap() {
            let result = verify(
                &[&secret],
                case["msg_id"].as_str().unwrap(),
                case["timestamp"].as_str().unwrap(),
                case["signature_header"].as_str().unwrap(),
                case["body"].as_str().unwrap().as_bytes(),
                case["now"].as_i64().unwrap(),
                case["tolerance_seconds"].as_i64().unwrap(),
            );
            assert_eq!(result.is_ok(), case["expected"] == "valid", "{}", case["name"]);
        }
    }
}
