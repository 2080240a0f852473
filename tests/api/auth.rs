use public_api::clock::{Clock, SystemClock};
use public_api::domain::Scope;
use public_api::domain::audit::AuditContext;
use public_api::keys;
use serde_json::json;

use crate::support::{TestApp, application};

#[tokio::test]
async fn requests_without_a_good_key_are_refused() {
    let app = TestApp::start().await;
    let r = app.send(app.client.get(app.url("/v1/jobs"))).await;
    r.expect_problem(401, "api_key_missing");
    assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"public-api\""));

    for header in ["Basic abc", "Bearer", "Bearer tenzo_pk_short", "tenzo_pk_x y"] {
        let r = app.send(app.client.get(app.url("/v1/jobs")).header("authorization", header)).await;
        r.expect_problem(401, "api_key_malformed");
    }
    let unknown = keys::generate_secret().unwrap();
    app.get_as(&unknown, "/v1/jobs").await.expect_problem(401, "api_key_invalid");
}

#[tokio::test]
async fn revoked_and_expired_keys_stop_working() {
    let app = TestApp::start().await;
    let created = app.post("/v1/api-keys", json!({"name": "temp"})).await;
    let created = created.expect(201).clone();
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("tenzo_pk_"));
    assert!(secret.starts_with(created["key"]["prefix"].as_str().unwrap()));
    app.get_as(&secret, "/v1/jobs").await.expect(200);

    let key_id = created["key"]["id"].as_str().unwrap();
    let revoked = app.delete(&format!("/v1/api-keys/{key_id}")).await;
    assert!(revoked.expect(200)["revoked_at"].is_string());
    app.get_as(&secret, "/v1/jobs").await.expect_problem(401, "api_key_revoked");

    // An expiry in the past gives a key that is already expired.
    let old = app.post("/v1/api-keys", json!({"name": "old", "expires_at": "2001-01-01T00:00:00Z"})).await;
    let old_secret = old.expect(201)["secret"].as_str().unwrap().to_owned();
    app.get_as(&old_secret, "/v1/jobs").await.expect_problem(401, "api_key_expired");
    let store = app.server.store();
    let org = store.list_organizations().await.unwrap()[0].id.clone();
    let now = SystemClock.now();
    let past = now.checked_sub(jiff::SignedDuration::from_secs(1)).unwrap();
    let request =
        keys::KeyRequest { org_id: &org, name: "expired", expires_at: Some(past), scopes: Scope::ALL.to_vec() };
    let expired = keys::issue(store.as_ref(), request, now, AuditContext::cli()).await.unwrap();
    app.get_as(&expired.secret, "/v1/jobs").await.expect_problem(401, "api_key_expired");
}

#[tokio::test]
async fn keys_are_listed_without_secrets_and_count_their_uses() {
    let app = TestApp::start().await;
    for _ in 0..3 {
        app.get("/v1/jobs").await.expect(200);
    }
    let list = app.get("/v1/api-keys").await;
    let list = list.expect(200).clone();
    assert!(!list.to_string().contains(&app.key), "no secret in listings");
    let key = &list["data"][0];
    assert!(key["usage_count"].as_u64().unwrap() >= 4, "{key}");
    assert!(key["last_used_at"].is_string());
    assert!(key.get("secret_hash").is_none());
}

#[tokio::test]
async fn organisations_never_see_each_other() {
    let app = TestApp::start().await;
    let job = app.job("REQ-1").await;
    let mut body = application(&job);
    body["resume"] = json!({"text": "cv"});
    let created = app.post("/v1/applications", body).await.expect(201).clone();
    let app_id = created["id"].as_str().unwrap();
    let cand_id = created["candidate_id"].as_str().unwrap();
    let own_keys = app.get("/v1/api-keys").await.expect(200).clone();
    let own_key_id = own_keys["data"][0]["id"].as_str().unwrap();

    let other = app.other_org().await;
    app.get_as(&other, &format!("/v1/jobs/{job}")).await.expect_problem(404, "job_not_found");
    app.get_as(&other, &format!("/v1/applications/{app_id}")).await.expect_problem(404, "application_not_found");
    app.get_as(&other, &format!("/v1/candidates/{cand_id}")).await.expect_problem(404, "candidate_not_found");
    app.get_as(&other, &format!("/v1/candidates/{cand_id}/resume")).await.expect_problem(404, "candidate_not_found");
    app.post_as(&other, &format!("/v1/applications/{app_id}/cancel"), json!({}))
        .await
        .expect_problem(404, "application_not_found");
    app.post_as(&other, "/v1/applications", application(&job)).await.expect_problem(404, "job_not_found");
    let revoke = app.send(app.client.delete(app.url(&format!("/v1/api-keys/{own_key_id}"))).bearer_auth(&other)).await;
    revoke.expect_problem(404, "api_key_not_found");
    // Same external ids in another organisation are independent.
    let r = app.post_as(&other, "/v1/jobs", json!({"title": "Theirs", "external_id": "REQ-1"})).await;
    assert_ne!(r.expect(201)["id"], job.as_str());
    for path in ["/v1/jobs", "/v1/applications"] {
        let list = app.get_as(&other, path).await;
        let list = list.expect(200);
        assert!(!list.to_string().contains(&job), "{path} leaks");
    }
    app.get(&format!("/v1/jobs/{job}")).await.expect(200);
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let app = TestApp::start_with(|c| {
        c.api.rate_limit = Some(public_api::api::auth::RateLimit { per_second: 0.5, burst: 3 })
    })
    .await;
    for _ in 0..3 {
        let r = app.get("/v1/jobs").await;
        r.expect(200);
        assert_eq!(r.header("ratelimit-limit"), Some("3"));
    }
    let r = app.get("/v1/jobs").await;
    r.expect_problem(429, "rate_limited");
    assert_eq!(r.header("retry-after"), Some("2"));
    // Another key has its own budget.
    let other = app.other_org().await;
    app.get_as(&other, "/v1/jobs").await.expect(200);
}
