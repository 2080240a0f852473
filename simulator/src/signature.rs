//! Standard Webhooks signatures, made and checked with the `standardwebhooks` reference crate so
//! the simulator is an independent check of the server's own signing code.

use std::collections::BTreeMap;

use crate::SimError;

/// The tolerance Standard Webhooks recommends between a message's timestamp and the receiver's clock.
pub const DEFAULT_TOLERANCE_SECS: i64 = 5 * 60;

/// The three signature headers for `body`.
pub fn sign(
    secret: &str,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<BTreeMap<&'static str, String>, SimError> {
    Ok(BTreeMap::from([
        ("webhook-id", msg_id.to_owned()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", signature(secret, msg_id, timestamp, body)?),
    ]))
}

/// The `v1,<base64>` signature of `body` under `secret`.
pub fn signature(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> Result<String, SimError> {
    let wh = standardwebhooks::Webhook::new(secret).map_err(|e| SimError::Secret(e.to_string()))?;
    wh.sign(msg_id, timestamp, body).map_err(|_| SimError::NotUtf8)
}

/// Why a request does or does not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Valid,
    Invalid(String),
}

/// The signature headers of one request, as received (any may be missing).
#[derive(Debug, Clone, Copy, Default)]
pub struct SignedHeaders<'a> {
    pub id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
}

/// How a receiver checks requests: the secrets it accepts (several while rotating) and how far
/// the message timestamp may be from its clock (`None`: not checked).
pub struct Verifier {
    secrets: Vec<standardwebhooks::Webhook>,
    tolerance_secs: Option<i64>,
}

impl Verifier {
    pub fn new(secrets: &[String], tolerance_secs: Option<i64>) -> Result<Verifier, SimError> {
        let secrets = secrets
            .iter()
            .map(|s| standardwebhooks::Webhook::new(s).map_err(|e| SimError::Secret(format!("{s}: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Verifier { secrets, tolerance_secs })
    }

    pub fn tolerance_secs(&self) -> Option<i64> {
        self.tolerance_secs
    }

    /// Checks a request at `now` (Unix seconds): every header present, the timestamp within the
    /// tolerance, and at least one `v1` signature made by one of the secrets over the exact bytes.
    /// Signatures of other versions are ignored, as the standard requires.
    pub fn verify(&self, headers: SignedHeaders<'_>, body: &[u8], now: i64) -> Verdict {
        let (Some(id), Some(timestamp), Some(signature)) = (headers.id, headers.timestamp, headers.signature) else {
            let missing: Vec<&str> = [
                ("webhook-id", headers.id.is_none()),
                ("webhook-timestamp", headers.timestamp.is_none()),
                ("webhook-signature", headers.signature.is_none()),
            ]
            .into_iter()
            .filter_map(|(name, missing)| missing.then_some(name))
            .collect();
            return Verdict::Invalid(format!("missing header {}", missing.join(", ")));
        };
        let Ok(ts) = timestamp.trim().parse::<i64>() else {
            return Verdict::Invalid(format!("webhook-timestamp `{timestamp}` is not Unix seconds"));
        };
        if let Some(tolerance) = self.tolerance_secs {
            if now - ts > tolerance {
                return Verdict::Invalid(format!("timestamp is {} s old (tolerance {tolerance} s)", now - ts));
            }
            if ts - now > tolerance {
                return Verdict::Invalid(format!(
                    "timestamp is {} s in the future (tolerance {tolerance} s)",
                    ts - now
                ));
            }
        }
        let offered: Vec<&str> = signature
            .split(' ')
            .filter_map(|s| s.split_once(','))
            .filter(|(v, _)| *v == "v1")
            .map(|(_, s)| s)
            .collect();
        if offered.is_empty() {
            return Verdict::Invalid("no v1 signature in webhook-signature".into());
        }
        for wh in &self.secrets {
            let Ok(expected) = wh.sign(id, ts, body) else {
                return Verdict::Invalid("the body is not UTF-8".into());
            };
            let expected = expected.split_once(',').map_or("", |(_, s)| s);
            if offered.iter().any(|s| constant_time_eq(s.as_bytes(), expected.as_bytes())) {
                return Verdict::Valid;
            }
        }
        if self.secrets.is_empty() {
            return Verdict::Invalid("the receiver has no secret to verify with".into());
        }
        Verdict::Invalid("no v1 signature matches the body under the configured secret".into())
    }
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secrets.
        f.debug_struct("Verifier")
            .field("secrets", &self.secrets.len())
            .field("tolerance_secs", &self.tolerance_secs)
            .finish()
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Verifies a captured request the way a receiver must: against `now` (±5 minutes), or, with
/// `ignore_timestamp`, only the signature.
pub fn verify(
    secret: &str,
    msg_id: &str,
    timestamp: &str,
    signature: &str,
    body: &[u8],
    ignore_timestamp: bool,
) -> Result<Verdict, SimError> {
    let verifier = Verifier::new(&[secret.to_owned()], (!ignore_timestamp).then_some(DEFAULT_TOLERANCE_SECS))?;
    let headers = SignedHeaders { id: Some(msg_id), timestamp: Some(timestamp), signature: Some(signature) };
    Ok(verifier.verify(headers, body, crate::unix_now()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const OTHER: &str = "whsec_dGhpcyBpcyBhbm90aGVyIHNlY3JldCBrZXk=";

    #[test]
    fn verifier_agrees_with_the_reference_crate() {
        let body = br#"{"type":"webhook.test"}"#;
        let now = crate::unix_now();
        let sig = signature(SECRET, "msg_1", now, body).unwrap();
        let mut headers = http::HeaderMap::new();
        headers.insert("webhook-id", "msg_1".parse().unwrap());
        headers.insert("webhook-timestamp", now.to_string().parse().unwrap());
        headers.insert("webhook-signature", sig.parse().unwrap());
        standardwebhooks::Webhook::new(SECRET).unwrap().verify(body, &headers).unwrap();

        let ts = now.to_string();
        let ok = SignedHeaders { id: Some("msg_1"), timestamp: Some(&ts), signature: Some(&sig) };
        let one = Verifier::new(&[SECRET.into()], Some(300)).unwrap();
        assert_eq!(one.verify(ok, body, now), Verdict::Valid);
        assert_eq!(
            one.verify(ok, body, now + 301),
            Verdict::Invalid("timestamp is 301 s old (tolerance 300 s)".into())
        );
        assert!(matches!(one.verify(ok, b"{}", now), Verdict::Invalid(_)));
        let rotated = Verifier::new(&[OTHER.into(), SECRET.into()], None).unwrap();
        assert_eq!(rotated.verify(ok, body, 0), Verdict::Valid);
        let wrong = Verifier::new(&[OTHER.into()], None).unwrap();
        assert!(matches!(wrong.verify(ok, body, now), Verdict::Invalid(_)));
        let two = format!("v1a,AAAA v1,bm90IGl0 {sig}");
        let several = SignedHeaders { signature: Some(&two), ..ok };
        assert_eq!(one.verify(several, body, now), Verdict::Valid);
        let missing = SignedHeaders { signature: None, ..ok };
        assert_eq!(one.verify(missing, body, now), Verdict::Invalid("missing header webhook-signature".into()));
    }
}
