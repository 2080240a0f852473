//! `check --export`: the conformance pack. The same options give the same bytes, and at the
//! pack's pinned time a correct verifier accepts every request of a 2xx case and rejects every
//! request of a 4xx case.

use std::time::Duration;

use base64::Engine as _;
use webhook_sim::check::{CheckConfig, Generation, Group, PACK_FORMAT, PACK_TIME, export};
use webhook_sim::{SignedHeaders, Verdict, Verifier};

use crate::SECRET;

fn config() -> CheckConfig {
    CheckConfig::new("", SECRET, Duration::from_secs(15))
}

#[test]
fn the_same_options_give_the_same_pack() {
    let first = export(&config()).unwrap().json();
    assert_eq!(first, export(&config()).unwrap().json());
    let mut other = config();
    other.generation = Generation { per_type: 5, seed: 2 };
    let second = export(&other).unwrap();
    assert_ne!(first, second.json(), "another seed gives other ids and payloads");
    assert_eq!(second.seed, 2);
}

#[test]
fn at_the_pinned_time_a_correct_verifier_agrees_with_every_expectation() {
    let pack = export(&config()).unwrap();
    let value: serde_json::Value = serde_json::from_str(&pack.json()).unwrap();
    assert_eq!(value["format"], PACK_FORMAT);
    assert_eq!(value["timestamp"], PACK_TIME);
    assert_eq!(value["timestamp_rfc3339"], "2027-01-15T08:00:00Z");
    assert_eq!(value["secret"], SECRET);
    let ids: Vec<&str> = value["cases"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, webhook_sim::check::case_ids());

    let verifier = Verifier::new(&[SECRET.to_owned()], Some(300)).unwrap();
    let mut requests = 0;
    for case in value["cases"].as_array().unwrap() {
        let expect = case["expect"].as_str().unwrap();
        assert!(expect == "2xx" || expect == "4xx");
        assert_eq!(case["concurrent"], case["id"] == "burst.concurrent");
        assert_eq!(case["required"], case["id"] != "robustness.large_payload");
        for request in case["requests"].as_array().unwrap() {
            requests += 1;
            assert_eq!(request["method"], "POST");
            let header = |name: &str| request["headers"][name].as_str();
            assert_eq!(header("content-type"), Some("application/json"));
            let body =
                base64::engine::general_purpose::STANDARD.decode(request["body_base64"].as_str().unwrap()).unwrap();
            let headers = SignedHeaders {
                id: header("webhook-id"),
                timestamp: header("webhook-timestamp"),
                signature: header("webhook-signature"),
            };
            let verdict = verifier.verify(headers, &body, PACK_TIME);
            match expect {
                "2xx" => assert_eq!(verdict, Verdict::Valid, "{}", case["id"]),
                _ => assert!(matches!(verdict, Verdict::Invalid(_)), "{}: {verdict:?}", case["id"]),
            }
            // Valid bodies are valid events; the attacks break the signature, not the payload.
            if case["id"] != "tolerance.unknown_event_type" && case["id"] != "attack.tampered_body" {
                assert_eq!(webhook_sim::validate(&body).unwrap(), Vec::<String>::new(), "{}", case["id"]);
            }
        }
    }
    assert_eq!(requests, 60);
}

#[test]
fn only_selects_groups_and_generated_sets_the_count() {
    let mut config = config();
    config.only = vec![Group::Generated, Group::Ordering];
    config.generation = Generation { per_type: 2, seed: 9 };
    let pack = export(&config).unwrap();
    let groups: Vec<Group> = pack.cases.iter().map(|c| c.group).collect();
    assert_eq!(groups, [Group::Ordering, Group::Generated, Group::Generated, Group::Generated, Group::Generated]);
    assert!(pack.cases.iter().filter(|c| c.group == Group::Generated).all(|c| c.requests.len() == 2));
    assert_eq!(pack.generated_per_type, 2);
}

#[test]
fn a_broken_secret_is_refused_before_anything_is_built() {
    let config = CheckConfig::new("", "not-a-secret", Duration::from_secs(1));
    assert!(export(&config).unwrap_err().to_string().contains("whsec_"));
}
