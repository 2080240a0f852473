//! Malformed input never gets a 5xx: arbitrary JSON, and valid bodies with one field
//! replaced by arbitrary JSON, sent to every endpoint that takes a body or a query.

use proptest::prelude::*;
use serde_json::{Value, json};

use crate::support::{TestApp, application};

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
        "\\PC{0,300}".prop_map(Value::from),
        Just(Value::from("+14155550123")),
        Just(Value::from("phone")),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(48)
}

/// Replaces the value at a dotted path.
fn with_field(mut body: Value, path: &[&str], value: Value) -> Value {
    let mut slot = &mut body;
    for key in path {
        slot = &mut slot[*key];
    }
    *slot = value;
    body
}

#[test]
fn malformed_input_never_gets_a_server_error() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let app = rt.block_on(TestApp::start());
    let job = rt.block_on(app.job("REQ-1"));
    let job_path = format!("/v1/jobs/{job}");
    let valid_app = application(&job);
    let valid_job = json!({"title": "T", "requirements": [{"text": "x", "importance": "required"}],
                           "screening_questions": [{"question": "q"}], "metadata": {"k": "v"}});
    let app_fields: [&[&str]; 9] = [
        &["job_id"],
        &["external_id"],
        &["candidate"],
        &["candidate", "phone"],
        &["candidate", "email"],
        &["candidate", "timezone"],
        &["candidate", "first_name"],
        &["resume"],
        &["metadata"],
    ];
    let job_fields: [&[&str]; 7] = [
        &["title"],
        &["external_id"],
        &["interview_type"],
        &["requirements"],
        &["screening_questions"],
        &["metadata"],
        &["status"],
    ];

    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(cases()));
    runner
        .run(&(arbitrary_json(), 0usize..9, 0usize..7, "[ -~]{0,40}"), |(value, app_field, job_field, query)| {
            let requests: Vec<(reqwest::Method, String, Option<Value>)> = vec![
                (reqwest::Method::POST, "/v1/jobs".into(), Some(value.clone())),
                (reqwest::Method::POST, "/v1/applications".into(), Some(value.clone())),
                (reqwest::Method::PATCH, job_path.clone(), Some(value.clone())),
                (reqwest::Method::POST, "/v1/api-keys".into(), Some(value.clone())),
                (
                    reqwest::Method::POST,
                    "/v1/applications".into(),
                    Some(with_field(valid_app.clone(), app_fields[app_field], value.clone())),
                ),
                (
                    reqwest::Method::POST,
                    "/v1/jobs".into(),
                    Some(with_field(valid_job.clone(), job_fields[job_field], value.clone())),
                ),
                (reqwest::Method::GET, format!("/v1/jobs?{query}"), None),
                (reqwest::Method::GET, format!("/v1/applications?{query}"), None),
            ];
            for (method, path, body) in requests {
                let mut request = app.client.request(method.clone(), app.url(&path)).bearer_auth(&app.key);
                if let Some(body) = &body {
                    request = request.json(body);
                }
                let r = rt.block_on(app.send(request));
                prop_assert!(r.status < 500, "{method} {path} {body:?} -> {} {}", r.status, r.text);
                if r.status >= 400 {
                    prop_assert_eq!(r.header("content-type"), Some("application/problem+json"));
                }
            }
            Ok(())
        })
        .unwrap();

    // Raw bytes that are not JSON at all.
    runner
        .run(&prop::collection::vec(any::<u8>(), 0..200), |bytes| {
            let request = app
                .client
                .post(app.url("/v1/applications"))
                .bearer_auth(&app.key)
                .header("content-type", "application/json")
                .body(bytes);
            let r = rt.block_on(app.send(request));
            prop_assert!(r.status == 400 || r.status == 422, "{} {}", r.status, r.text);
            Ok(())
        })
        .unwrap();
    rt.block_on(app.server.shutdown()).unwrap();
}
