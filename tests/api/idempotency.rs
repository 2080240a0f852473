use serde_json::json;

use crate::support::TestApp;

async fn post_with_key(app: &TestApp, key: &str, body: serde_json::Value) -> crate::support::Resp {
    app.send(app.client.post(app.url("/v1/jobs")).bearer_auth(&app.key).header("idempotency-key", key).json(&body))
        .await
}

#[tokio::test]
async fn a_retry_with_the_same_key_replays_the_first_response() {
    let app = TestApp::start().await;
    let first = post_with_key(&app, "retry-1", json!({"title": "Driver"})).await;
    let first_body = first.expect(201).clone();
    assert!(first.header("idempotent-replayed").is_none());

    let second = post_with_key(&app, "retry-1", json!({"title": "Driver"})).await;
    assert_eq!(second.expect(201), &first_body, "same status and body");
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    let list = app.get("/v1/jobs").await;
    assert_eq!(list.expect(200)["data"].as_array().unwrap().len(), 1, "created once");

    let reused = post_with_key(&app, "retry-1", json!({"title": "Cook"})).await;
    reused.expect_problem(422, "idempotency_key_reused");
}

#[tokio::test]
async fn failed_requests_are_not_remembered() {
    let app = TestApp::start().await;
    post_with_key(&app, "k", json!({"title": ""})).await.expect_problem(422, "validation_failed");
    // Same key, same (bad) body: runs again rather than replaying.
    post_with_key(&app, "k", json!({"title": ""})).await.expect_problem(422, "validation_failed");
    // A corrected body under the same key now runs.
    post_with_key(&app, "k", json!({"title": "Fixed"})).await.expect(201);
}

#[tokio::test]
async fn keys_are_per_organisation_and_checked() {
    let app = TestApp::start().await;
    post_with_key(&app, "shared", json!({"title": "Mine"})).await.expect(201);
    let other = app.other_org().await;
    let r = app
        .send(
            app.client
                .post(app.url("/v1/jobs"))
                .bearer_auth(&other)
                .header("idempotency-key", "shared")
                .json(&json!({"title": "Theirs"})),
        )
        .await;
    assert_eq!(r.expect(201)["title"], "Theirs");
    let too_long = "x".repeat(256);
    post_with_key(&app, &too_long, json!({"title": "A"})).await.expect_problem(400, "invalid_idempotency_key");
}
