//! Signatures against the reference implementation, and the published test vectors.

use proptest::prelude::*;
use public_api::webhooks::signing::{Secret, verify};
use serde_json::Value;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// Any payload signed and then verified round-trips, the reference library computes the same
    /// signature, and changing any single byte of body, id, timestamp or signature breaks it.
    #[test]
    fn signatures_round_trip_and_any_change_breaks_them(
        key in prop::collection::vec(any::<u8>(), 24..=64),
        id in "[A-Za-z0-9_-]{1,40}",
        ts in 0i64..4_000_000_000,
        body in "\\PC{0,200}",
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let secret = Secret::from_bytes(key.clone()).unwrap();
        let header = secret.sign(&id, ts, body.as_bytes());
        prop_assert!(verify(&[&secret], &id, &ts.to_string(), &header, body.as_bytes(), ts, 300).is_ok());
        let reference = standardwebhooks::Webhook::from_bytes(key).unwrap();
        prop_assert_eq!(reference.sign(&id, ts, body.as_bytes()).unwrap(), header.clone());

        let flip_byte = |bytes: &[u8]| -> Vec<u8> {
            let mut b = bytes.to_vec();
            if !b.is_empty() {
                let i = flip.index(b.len());
                b[i] ^= 1 << bit;
            }
            b
        };
        if !body.is_empty() {
            let changed = flip_byte(body.as_bytes());
            prop_assert!(verify(&[&secret], &id, &ts.to_string(), &header, &changed, ts, 300).is_err());
        }
        let changed_id = String::from_utf8_lossy(&flip_byte(id.as_bytes())).into_owned();
        if changed_id != id {
            prop_assert!(verify(&[&secret], &changed_id, &ts.to_string(), &header, body.as_bytes(), ts, 300).is_err());
        }
        let other_ts = ts ^ (1 << bit);
        prop_assert!(verify(&[&secret], &id, &other_ts.to_string(), &header, body.as_bytes(), other_ts, 300).is_err());
        let changed_sig = String::from_utf8_lossy(&flip_byte(header.as_bytes())).into_owned();
        if changed_sig != header {
            prop_assert!(verify(&[&secret], &id, &ts.to_string(), &changed_sig, body.as_bytes(), ts, 300).is_err());
        }
    }
}

/// The checked-in vectors agree with the reference library.
#[test]
fn the_reference_library_agrees_with_the_vectors() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/spec/webhook-signature-vectors.json")).unwrap();
    let vectors: Value = serde_json::from_str(&text).unwrap();
    let reference = standardwebhooks::Webhook::new(vectors["secret"].as_str().unwrap()).unwrap();
    let mut valid = 0;
    for case in vectors["cases"].as_array().unwrap() {
        let ts: i64 = case["timestamp"].as_str().unwrap().parse().unwrap();
        let body = case["body"].as_str().unwrap().as_bytes();
        let expected = reference.sign(case["msg_id"].as_str().unwrap(), ts, body).unwrap();
        let signed = case["signature_header"].as_str().unwrap().split(' ').any(|s| s == expected);
        let in_time = (case["now"].as_i64().unwrap() - ts).abs() <= case["tolerance_seconds"].as_i64().unwrap();
        assert_eq!(signed && in_time, case["expected"] == "valid", "{}", case["name"]);
        valid += usize::from(case["expected"] == "valid");
    }
    assert!(valid >= 3);
}
