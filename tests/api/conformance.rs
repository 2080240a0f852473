//! Every operation of `spec/openapi.json`, called on a live server for its success and its
//! error responses; every response's status must be documented for that operation and its
//! body must validate against the documented schema. The schemas are made strict first (no
//! undeclared properties), so a handler returning a field the spec does not declare fails.
//! The list of operations comes from the spec: one without a scenario here fails the test.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Resp, TestApp, application};

/// The spec, with strict schemas, ready to validate responses.
struct Spec {
    doc: Value,
}

impl Spec {
    fn load() -> Spec {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/spec/openapi.json")).unwrap();
        let mut doc: Value = serde_json::from_str(&text).unwrap();
        let mut in_all_of = BTreeSet::new();
        collect_all_of_refs(&doc, &mut in_all_of);
        if let Some(schemas) = doc.pointer_mut("/components/schemas").and_then(Value::as_object_mut) {
            for (name, schema) in schemas.iter_mut() {
                make_strict(schema, !in_all_of.contains(name));
            }
        }
        Spec { doc }
    }

    fn operations(&self) -> Vec<(Method, String, String, Value)> {
        let mut out = Vec::new();
        for (path, item) in self.doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                if let Ok(m) = method.to_uppercase().parse::<Method>() {
                    out.push((m, path.clone(), op["operationId"].as_str().unwrap().to_owned(), op.clone()));
                }
            }
        }
        out
    }

    /// Checks a response against the operation's documentation; returns the problems.
    fn check(&self, op: &Value, r: &Resp) -> Vec<String> {
        let responses = &op["responses"];
        let key = r.status.to_string();
        let class = format!("{}XX", r.status / 100);
        let Some(mut response) = responses.get(&key).or_else(|| responses.get(&class)).cloned() else {
            return vec![format!("status {} is not documented", r.status)];
        };
        if let Some(reference) = response.get("$ref").and_then(Value::as_str) {
            response = self.doc.pointer(&reference.replace("#/", "/")).cloned().unwrap();
        }
        let Some(content) = response.get("content").and_then(Value::as_object) else {
            return if r.text.is_empty() { vec![] } else { vec!["a body where none is documented".into()] };
        };
        let got_type = r.header("content-type").unwrap_or("").split(';').next().unwrap_or("").to_owned();
        let essence = |t: &str| t.split(';').next().unwrap_or("").trim().to_owned();
        let Some(media) = content.iter().find(|(k, _)| essence(k) == got_type).map(|(_, v)| v) else {
            return vec![format!(
                "content type {got_type} is not documented (documented: {:?})",
                content.keys().collect::<Vec<_>>()
            )];
        };
        if !got_type.contains("json") {
            return vec![];
        }
        let mut root = self.doc.clone();
        root["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
        root["x-response"] = media["schema"].clone();
        root["$ref"] = json!("#/x-response");
        let validator = jsonschema::validator_for(&root).unwrap();
        validator.iter_errors(&r.json).map(|e| format!("{e} at {}", e.instance_path())).collect()
    }
}

fn collect_all_of_refs(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            if let Some(Value::Array(items)) = map.get("allOf") {
                for item in items {
                    if let Some(r) = item.get("$ref").and_then(Value::as_str) {
                        out.insert(r.rsplit('/').next().unwrap().to_owned());
                    }
                }
            }
            map.values().for_each(|v| collect_all_of_refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_all_of_refs(v, out)),
        _ => {}
    }
}

/// Forbids undeclared properties: on objects with `properties` (unless they are combined by
/// `allOf`, where the combining schema says it instead).
fn make_strict(schema: &mut Value, strict_here: bool) {
    let Value::Object(map) = schema else { return };
    if map.contains_key("allOf") {
        map.insert("unevaluatedProperties".into(), json!(false));
        if let Some(Value::Array(items)) = map.get_mut("allOf") {
            items.iter_mut().for_each(|i| make_strict(i, false));
        }
    } else if strict_here && map.contains_key("properties") && !map.contains_key("additionalProperties") {
        map.insert("unevaluatedProperties".into(), json!(false));
    }
    for (key, value) in map.iter_mut() {
        match key.as_str() {
            "properties" => {
                if let Value::Object(props) = value {
                    props.values_mut().for_each(|p| make_strict(p, true));
                }
            }
            "items" | "additionalProperties" => make_strict(value, true),
            "oneOf" | "anyOf" => {
                if let Value::Array(items) = value {
                    items.iter_mut().for_each(|i| make_strict(i, true));
                }
            }
            _ => {}
        }
    }
}

/// Objects the scenarios use.
struct Fixture {
    job: String,
    application: String,
    to_cancel: String,
    finished: String,
    candidate: String,
    key_to_revoke: String,
    endpoint: String,
    endpoint_to_delete: String,
    delivery: String,
}

async fn fixture(app: &TestApp) -> Fixture {
    let job = app.job("REQ-1").await;
    let mut body = application(&job);
    body["resume"] = json!({"text": "Ten years of deliveries."});
    let created = app.post("/v1/applications", body).await.expect(201).clone();
    let new_app = || {
        let mut body = application(&job);
        body["external_id"] = json!(uuid::Uuid::now_v7().simple().to_string());
        body
    };
    let to_cancel = app.post("/v1/applications", new_app()).await.expect(201)["id"].as_str().unwrap().to_owned();
    let finished = app.post("/v1/applications", new_app()).await.expect(201)["id"].as_str().unwrap().to_owned();
    app.post(&format!("/v1/sandbox/applications/{finished}/complete"), json!({})).await.expect(200);
    let key = app.post("/v1/api-keys", json!({"name": "to revoke"})).await.expect(201).clone();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let url = format!("http://{closed}/hook");
    let ep = app.post("/v1/webhook-endpoints", json!({"url": url})).await.expect(201)["endpoint"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ep2 = app.post("/v1/webhook-endpoints", json!({"url": url})).await.expect(201)["endpoint"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let test = app.post(&format!("/v1/webhook-endpoints/{ep}/test"), json!({})).await.expect(200).clone();
    Fixture {
        job,
        application: created["id"].as_str().unwrap().to_owned(),
        to_cancel,
        finished,
        candidate: created["candidate_id"].as_str().unwrap().to_owned(),
        key_to_revoke: key["key"]["id"].as_str().unwrap().to_owned(),
        endpoint: ep,
        endpoint_to_delete: ep2,
        delivery: test["delivery"]["id"].as_str().unwrap().to_owned(),
    }
}

/// A request: method, path (with query), optional JSON body.
type Call = (Method, String, Option<Value>);

/// The successful call of every operation, by operation id.
fn successes(f: &Fixture) -> BTreeMap<&'static str, Vec<Call>> {
    use Method as M;
    let (job, app, cand, ep, del) = (&f.job, &f.application, &f.candidate, &f.endpoint, &f.delivery);
    let mut other_app = application(job);
    other_app["external_id"] = json!("APP-OTHER");
    BTreeMap::from([
        ("healthz", vec![(M::GET, "/healthz".into(), None)]),
        ("readyz", vec![(M::GET, "/readyz".into(), None)]),
        ("openapi_json", vec![(M::GET, "/openapi.json".into(), None)]),
        ("metrics", vec![(M::GET, "/metrics".into(), None)]),
        (
            "create_job",
            vec![
                (M::POST, "/v1/jobs".into(), Some(json!({"title": "Cook", "external_id": "REQ-2"}))),
                (M::POST, "/v1/jobs".into(), Some(json!({"title": "Cook", "external_id": "REQ-2"}))),
            ],
        ),
        ("list_jobs", vec![(M::GET, "/v1/jobs?limit=1".into(), None), (M::GET, "/v1/jobs?status=closed".into(), None)]),
        ("get_job", vec![(M::GET, format!("/v1/jobs/{job}"), None)]),
        ("update_job", vec![(M::PATCH, format!("/v1/jobs/{job}"), Some(json!({"location": null, "title": "Driver"})))]),
        ("close_job", vec![(M::POST, format!("/v1/jobs/{job}/close"), None)]),
        ("create_application", vec![(M::POST, "/v1/applications".into(), Some(other_app))]),
        ("list_applications", vec![(M::GET, format!("/v1/applications?job_id={job}"), None)]),
        ("get_application", vec![(M::GET, format!("/v1/applications/{app}"), None)]),
        ("cancel_application", vec![(M::POST, format!("/v1/applications/{}/cancel", f.to_cancel), None)]),
        ("get_results", vec![(M::GET, format!("/v1/applications/{}/results", f.finished), None)]),
        (
            "complete_interview",
            vec![(M::POST, format!("/v1/sandbox/applications/{app}/complete"), Some(json!({"score": 70})))],
        ),
        ("get_candidate", vec![(M::GET, format!("/v1/candidates/{cand}"), None)]),
        ("get_resume", vec![(M::GET, format!("/v1/candidates/{cand}/resume"), None)]),
        ("list_api_keys", vec![(M::GET, "/v1/api-keys".into(), None)]),
        ("create_api_key", vec![(M::POST, "/v1/api-keys".into(), Some(json!({"name": "ci"})))]),
        ("revoke_api_key", vec![(M::DELETE, format!("/v1/api-keys/{}", f.key_to_revoke), None)]),
        ("get_integration", vec![(M::GET, "/v1/integration".into(), None)]),
        (
            "create_endpoint",
            vec![(
                M::POST,
                "/v1/webhook-endpoints".into(),
                Some(json!({"url": "http://127.0.0.1:9/x", "rate_limit_per_second": 5})),
            )],
        ),
        ("list_endpoints", vec![(M::GET, "/v1/webhook-endpoints".into(), None)]),
        ("get_endpoint", vec![(M::GET, format!("/v1/webhook-endpoints/{ep}"), None)]),
        (
            "update_endpoint",
            vec![(
                M::PATCH,
                format!("/v1/webhook-endpoints/{ep}"),
                Some(json!({"description": "d", "rate_limit_per_second": null})),
            )],
        ),
        ("delete_endpoint", vec![(M::DELETE, format!("/v1/webhook-endpoints/{}", f.endpoint_to_delete), None)]),
        ("rotate_secret", vec![(M::POST, format!("/v1/webhook-endpoints/{ep}/rotate-secret"), None)]),
        (
            "test_endpoint",
            vec![
                (M::POST, format!("/v1/webhook-endpoints/{ep}/test"), None),
                (
                    M::POST,
                    format!("/v1/webhook-endpoints/{ep}/test"),
                    Some(json!({"event_type": "application.status_changed"})),
                ),
            ],
        ),
        (
            "list_deliveries",
            vec![
                (M::GET, format!("/v1/webhook-deliveries?endpoint_id={ep}&status=failed"), None),
                (M::GET, "/v1/webhook-deliveries?updated_after=2026-01-01T00:00:00Z".into(), None),
            ],
        ),
        ("get_delivery", vec![(M::GET, format!("/v1/webhook-deliveries/{del}"), None)]),
        ("redeliver", vec![(M::POST, format!("/v1/webhook-deliveries/{del}/redeliver"), None)]),
        (
            "list_audit_events",
            vec![
                (M::GET, "/v1/audit-events?limit=2".into(), None),
                (M::GET, format!("/v1/audit-events?object_id={ep}&action=webhook_endpoint.created"), None),
            ],
        ),
    ])
}

/// The path with every id replaced by one that exists nowhere.
fn missing_ids(path: &str) -> String {
    path.split('/')
        .map(|seg| match seg.split_once('_') {
            Some((prefix, rest)) if rest.len() == 32 => format!("{prefix}_{}", "0".repeat(32)),
            _ => seg.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn every_operation_answers_as_documented() {
    let app = TestApp::start().await;
    let spec = Spec::load();
    let f = fixture(&app).await;
    let successes = successes(&f);
    let mut problems: Vec<String> = Vec::new();
    let mut checked = 0;
    let run =
        |problems: &mut Vec<String>, checked: &mut usize, label: String, op: &Value, r: &Resp, expect_success: bool| {
            *checked += 1;
            if expect_success && !(200..300).contains(&r.status) {
                problems.push(format!("{label}: expected success, got {} {}", r.status, r.text));
            }
            for p in spec.check(op, r) {
                problems.push(format!("{label}: {p}"));
            }
        };
    // Error cases first, so that the successful calls (some of which close or delete) come last.
    let operations = spec.operations();
    for (method, path, id, op) in &operations {
        let Some(calls) = successes.get(id.as_str()) else {
            problems.push(format!("{method} {path} ({id}) has no conformance scenario"));
            continue;
        };
        let (_, url, body) = &calls[0];
        if path.starts_with("/v1/") {
            let r = app.send(app.client.request(method.clone(), app.url(url))).await;
            run(&mut problems, &mut checked, format!("{id} without a key"), op, &r, false);
            if path.contains('{') {
                let r = app
                    .send(
                        app.client
                            .request(method.clone(), app.url(&missing_ids(url)))
                            .bearer_auth(&app.key)
                            .json(&json!({})),
                    )
                    .await;
                run(&mut problems, &mut checked, format!("{id} with an unknown id"), op, &r, false);
            }
            if op.get("requestBody").is_some() {
                let bad = app
                    .send(
                        app.client
                            .request(method.clone(), app.url(url))
                            .bearer_auth(&app.key)
                            .header("content-type", "application/json")
                            .body("{"),
                    )
                    .await;
                run(&mut problems, &mut checked, format!("{id} with malformed JSON"), op, &bad, false);
                let wrong = app
                    .send(
                        app.client
                            .request(method.clone(), app.url(url))
                            .bearer_auth(&app.key)
                            .header("content-type", "text/plain")
                            .body("{}"),
                    )
                    .await;
                run(&mut problems, &mut checked, format!("{id} with text/plain"), op, &wrong, false);
                let mut invalid = body.clone().unwrap_or(json!({}));
                invalid["not_a_field"] = json!(1);
                let r = app
                    .send(app.client.request(method.clone(), app.url(url)).bearer_auth(&app.key).json(&invalid))
                    .await;
                run(&mut problems, &mut checked, format!("{id} with an unknown field"), op, &r, false);
            }
            if method == Method::GET
                && op["parameters"].as_array().is_some_and(|p| p.iter().any(|p| p["name"] == "limit"))
            {
                let r = app.get(&format!("{}?limit=0", url.split('?').next().unwrap())).await;
                run(&mut problems, &mut checked, format!("{id} with limit=0"), op, &r, false);
            }
        }
    }
    for (method, path, id, op) in &operations {
        let Some(calls) = successes.get(id.as_str()) else { continue };
        for (m, url, body) in calls {
            let mut request = app.client.request(m.clone(), app.url(url)).bearer_auth(&app.key);
            if let Some(body) = body {
                request = request.json(body);
            }
            let r = app.send(request).await;
            run(&mut problems, &mut checked, format!("{method} {path} ({id})"), op, &r, true);
        }
    }
    assert!(problems.is_empty(), "{} problems in {checked} responses:\n{}", problems.len(), problems.join("\n"));
    assert!(checked > 100, "only {checked} responses checked");
}

/// The strict check is not a formality: a response with an undeclared field fails it.
#[tokio::test]
async fn an_undeclared_field_fails_the_check() {
    let app = TestApp::start().await;
    let spec = Spec::load();
    let op = spec.operations().into_iter().find(|(_, _, id, _)| id == "healthz").unwrap().3;
    let mut r = app.send(app.client.get(app.url("/healthz"))).await;
    assert!(spec.check(&op, &r).is_empty());
    r.json["surprise"] = json!(true);
    assert!(!spec.check(&op, &r).is_empty());
    let job = app.job("REQ-1").await;
    let op = spec.operations().into_iter().find(|(_, _, id, _)| id == "get_job").unwrap().3;
    let mut r = app.get(&format!("/v1/jobs/{job}")).await;
    assert!(spec.check(&op, &r).is_empty());
    r.json["requirements"] = json!([{"text": "x", "importance": "required", "extra": 1}]);
    assert!(!spec.check(&op, &r).is_empty(), "nested objects are strict too");
}
