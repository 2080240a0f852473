use serde_json::json;

use crate::snapshot;
use crate::support::TestApp;

#[tokio::test]
async fn every_kind_of_bad_request_gets_a_problem() {
    let app = TestApp::start().await;
    let post = |body: &'static str, content_type: &'static str| {
        app.client.post(app.url("/v1/jobs")).bearer_auth(&app.key).header("content-type", content_type).body(body)
    };

    let r = app.send(post("{\"title\": ", "application/json")).await;
    snapshot!("malformed_json", r.expect_problem(400, "malformed_json"), {".request_id" => "[request_id]"});

    let r = app.send(post("{\"title\": \"x\"} trailing", "application/json")).await;
    r.expect_problem(400, "malformed_json");

    let r = app.send(post("{\"title\": \"x\"}", "text/plain")).await;
    snapshot!("unsupported_media_type", r.expect_problem(415, "unsupported_media_type"), {".request_id" => "[request_id]"});
    let r = app.send(app.client.post(app.url("/v1/jobs")).bearer_auth(&app.key).body("{}")).await;
    r.expect_problem(415, "unsupported_media_type");

    let r = app.send(post("{\"title\": 42}", "application/json")).await;
    let body = r.expect_problem(422, "validation_failed");
    assert_eq!(body["errors"][0]["field"], "title");
    snapshot!("wrong_type", body, {".request_id" => "[request_id]"});

    let r = app.send(post("{}", "application/json")).await;
    assert_eq!(r.expect_problem(422, "validation_failed")["errors"][0]["code"], "required");

    let r = app.send(post("{\"title\": \"x\", \"colour\": \"red\"}", "application/json")).await;
    let body = r.expect_problem(422, "validation_failed");
    assert_eq!(body["errors"][0]["field"], "colour");
    assert_eq!(body["errors"][0]["code"], "unknown_field");

    let r = app.send(post("[1, 2]", "application/json")).await;
    assert_eq!(r.expect_problem(422, "validation_failed")["errors"][0]["field"], "body");
    let r = app.send(post("\"title\"", "application/json")).await;
    r.expect_problem(422, "validation_failed");
    let r = app.send(post("not json", "application/json")).await;
    r.expect_problem(400, "malformed_json");
    // A struct must not be read from an array, even when every field is optional.
    let job = app.job("REQ-1").await;
    let r = app
        .send(
            app.client
                .patch(app.url(&format!("/v1/jobs/{job}")))
                .bearer_auth(&app.key)
                .header("content-type", "application/json")
                .body("[null, null]"),
        )
        .await;
    r.expect_problem(422, "validation_failed");

    let r = app.send(post("{\"title\": \"x\"}", "application/merge-patch+json")).await;
    r.expect(201);
}

#[tokio::test]
async fn bodies_over_the_limit_get_413() {
    let app = TestApp::start_with(|c| c.api.max_body_bytes = 1024).await;
    let big = json!({"title": "x", "description": "y".repeat(2000)});
    let r = app.post("/v1/jobs", big.clone()).await;
    snapshot!("body_too_large", r.expect_problem(413, "body_too_large"), {".request_id" => "[request_id]"});
    // Also when the body is read by the idempotency layer first.
    let r = app
        .send(app.client.post(app.url("/v1/jobs")).bearer_auth(&app.key).header("idempotency-key", "k1").json(&big))
        .await;
    r.expect_problem(413, "body_too_large");
}

#[tokio::test]
async fn unknown_routes_and_methods_get_problems() {
    let app = TestApp::start().await;
    let r = app.get("/v1/nothing-here").await;
    snapshot!("route_not_found", r.expect_problem(404, "route_not_found"), {".request_id" => "[request_id]"});
    let r = app.send(app.client.put(app.url("/v1/jobs")).bearer_auth(&app.key)).await;
    r.expect_problem(405, "method_not_allowed");
    assert!(r.header("allow").unwrap().contains("POST"));
    let r = app.get("/v1/jobs/not-an-id").await;
    r.expect_problem(404, "job_not_found");
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let app = TestApp::start().await;
    let r = app.send(app.client.get(app.url("/healthz")).header("x-request-id", "trace-123")).await;
    assert_eq!(r.header("x-request-id"), Some("trace-123"));
    let r = app.send(app.client.get(app.url("/healthz"))).await;
    assert!(r.header("x-request-id").unwrap().starts_with("req_"));
    let r = app.send(app.client.get(app.url("/v1/jobs")).header("x-request-id", "caller-7")).await;
    assert_eq!(r.expect_problem(401, "api_key_missing")["request_id"], "caller-7");
}
