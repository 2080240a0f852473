//! The audit log: every change to API keys and webhook endpoints, and every forced sandbox
//! interview, is recorded with the acting key, the request id, the action and the names of the
//! changed fields, never a secret. Each test runs on either store.

use std::sync::Arc;

use public_api::clock::SystemClock;
use public_api::server::Server;
use serde_json::{Value, json};

use crate::support::{TestApp, application, cli, config, execute_raw};

/// Every entry of the organisation's audit log, walking the pages.
async fn audit_log(app: &TestApp, query: &str) -> Vec<Value> {
    let mut entries = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/v1/audit-events?limit=3{query}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = app.get(&path).await;
        let page = page.expect(200);
        entries.extend(page["data"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return entries,
        }
    }
}

/// The id of the key `app.key` (the bootstrap key).
async fn bootstrap_key_id(app: &TestApp) -> String {
    app.get("/v1/api-keys").await.expect(200)["data"][0]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn every_change_to_keys_and_endpoints_is_recorded_with_its_key_and_request() {
    let app = TestApp::start().await;
    let me = bootstrap_key_id(&app).await;
    let before = audit_log(&app, "").await;

    let created = app.post("/v1/api-keys", json!({"name": "ci", "scopes": ["jobs:read"]})).await;
    let key_request = created.header("x-request-id").unwrap().to_owned();
    let created = created.expect(201).clone();
    let (key_id, key_secret) = (created["key"]["id"].as_str().unwrap(), created["secret"].as_str().unwrap());
    app.delete(&format!("/v1/api-keys/{key_id}")).await.expect(200);
    app.delete(&format!("/v1/api-keys/{key_id}")).await.expect(200);

    let header_value = "Bearer partner-token-that-must-not-be-logged";
    let ep = app
        .post(
            "/v1/webhook-endpoints",
            json!({"url": "http://127.0.0.1:9/a", "headers": {"Authorization": header_value}}),
        )
        .await;
    let ep = ep.expect(201).clone();
    let (ep_id, first_secret) = (ep["endpoint"]["id"].as_str().unwrap(), ep["secret"].as_str().unwrap());
    let path = format!("/v1/webhook-endpoints/{ep_id}");
    app.patch(
        &path,
        json!({"url": "http://127.0.0.1:9/b", "event_types": ["interview.completed"], "description": null}),
    )
    .await
    .expect(200);
    app.patch(&path, json!({"enabled": false})).await.expect(200);
    app.patch(&path, json!({"enabled": true, "rate_limit_per_second": 5})).await.expect(200);
    let rotated = app.post(&format!("{path}/rotate-secret"), json!({})).await;
    let second_secret = rotated.expect(200)["secret"].as_str().unwrap().to_owned();
    let deleted = app.delete(&path).await;
    assert_eq!(deleted.status, 204);
    let delete_request = deleted.header("x-request-id").unwrap().to_owned();

    let job = app.job("REQ-AUDIT").await;
    let app_id = app.post("/v1/applications", application(&job)).await.expect(201)["id"].as_str().unwrap().to_owned();
    app.post(&format!("/v1/sandbox/applications/{app_id}/complete"), json!({"score": 90})).await.expect(200);

    let log = audit_log(&app, "").await;
    let new = &log[before.len()..];
    let summary: Vec<(&str, &str, Vec<&str>)> = new
        .iter()
        .map(|e| {
            let fields = e["changed_fields"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
            (e["action"].as_str().unwrap(), e["object_id"].as_str().unwrap(), fields)
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("api_key.created", key_id, vec!["name", "scopes"]),
            ("api_key.revoked", key_id, vec!["revoked_at"]),
            ("webhook_endpoint.created", ep_id, vec!["url", "headers", "secret"]),
            ("webhook_endpoint.updated", ep_id, vec!["url", "event_types"]),
            ("webhook_endpoint.disabled", ep_id, vec!["enabled"]),
            ("webhook_endpoint.enabled", ep_id, vec!["rate_limit_per_second", "enabled"]),
            ("webhook_endpoint.secret_rotated", ep_id, vec!["secret", "previous_secret_expires_at"]),
            ("webhook_endpoint.deleted", ep_id, vec![]),
            ("application.sandbox_completed", app_id.as_str(), vec!["status"]),
        ],
        "revoking twice records once; a PATCH lists only the fields whose values changed"
    );
    for entry in new {
        assert_eq!(entry["actor"], json!({"type": "api_key", "api_key_id": me}), "{entry}");
        assert!(entry["id"].as_str().unwrap().starts_with("aud_"), "{entry}");
        assert!(entry["request_id"].as_str().unwrap().starts_with("req_"), "{entry}");
    }
    assert_eq!(new[0]["request_id"], key_request.as_str(), "the request id of the response");
    assert_eq!(new[7]["request_id"], delete_request.as_str());
    assert_eq!(new[0]["object_type"], "api_key");
    assert_eq!(new[2]["object_type"], "webhook_endpoint");
    assert_eq!(new[8]["object_type"], "application");

    // No value of a secret or a header appears, and neither does the response of a request.
    let text = serde_json::to_string(&log).unwrap();
    for secret in [key_secret, first_secret, second_secret.as_str(), header_value, "partner-token"] {
        assert!(!text.contains(secret), "{secret} leaked into the audit log");
    }
}

#[tokio::test]
async fn the_log_filters_by_object_and_action_and_pages_without_gaps() {
    let app = TestApp::start().await;
    let mut endpoints = Vec::new();
    for n in 0..4 {
        let ep = app.post("/v1/webhook-endpoints", json!({"url": format!("http://127.0.0.1:9/{n}")})).await;
        let id = ep.expect(201)["endpoint"]["id"].as_str().unwrap().to_owned();
        app.patch(&format!("/v1/webhook-endpoints/{id}"), json!({"description": format!("n{n}")})).await.expect(200);
        endpoints.push(id);
    }
    let all = audit_log(&app, "").await;
    let ids: std::collections::BTreeSet<&str> = all.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), all.len(), "no entry twice across pages");
    assert!(all.len() >= 9, "bootstrap key, four creates, four updates: {}", all.len());

    let one = audit_log(&app, &format!("&object_id={}", endpoints[2])).await;
    let actions: Vec<&str> = one.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["webhook_endpoint.created", "webhook_endpoint.updated"]);
    let updates = audit_log(&app, "&action=webhook_endpoint.updated").await;
    assert_eq!(updates.len(), 4);
    assert!(updates.iter().all(|e| e["changed_fields"] == json!(["description"])));
    let both = audit_log(&app, &format!("&object_id={}&action=webhook_endpoint.created", endpoints[0])).await;
    assert_eq!(both.len(), 1);

    // The bootstrap key was made by the server itself, on the first start.
    assert_eq!(all[0]["action"], "api_key.created");
    assert_eq!(all[0]["actor"], json!({"type": "system"}));
    assert_eq!(all[0]["request_id"], Value::Null);

    let bad = app.get("/v1/audit-events?action=endpoint.created").await;
    assert_eq!(bad.expect_problem(400, "invalid_query")["errors"][0]["field"], "action");
    let bad = app.get("/v1/audit-events?object_id=job_0192d5e7c1b27a3f8e6b8c2f4d1a9e70").await;
    assert_eq!(bad.expect_problem(400, "invalid_query")["errors"][0]["field"], "object_id");
    let other = app.other_org().await;
    let theirs = app.get_as(&other, "/v1/audit-events").await;
    let theirs = theirs.expect(200)["data"].as_array().unwrap().clone();
    assert!(theirs.iter().all(|e| !endpoints.contains(&e["object_id"].as_str().unwrap().to_owned())), "{theirs:?}");
}

#[tokio::test]
async fn the_command_line_is_recorded_as_the_cli() {
    let app = TestApp::start().await;
    let (ok, out, err) = cli(&app.dir, &["keys", "create", "--name", "ops"]);
    assert!(ok, "{out}{err}");
    let key_id = out.split_whitespace().find(|w| w.starts_with("key_")).unwrap().to_owned();
    let (ok, out, err) = cli(&app.dir, &["keys", "revoke", &key_id]);
    assert!(ok, "{out}{err}");
    let entries = audit_log(&app, &format!("&object_id={key_id}")).await;
    let actions: Vec<&str> = entries.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["api_key.created", "api_key.revoked"]);
    assert!(entries.iter().all(|e| e["actor"] == json!({"type": "cli"}) && e["request_id"].is_null()));
}

/// Keys that held every scope before `audit:read` existed (the bootstrap key of an older
/// store, say) keep holding every scope after the migration; narrower keys do not gain it.
#[tokio::test]
async fn keys_with_every_old_scope_gain_audit_read_in_the_migration() {
    let app = TestApp::start().await;
    let narrow = app.post("/v1/api-keys", json!({"name": "narrow", "scopes": ["jobs:read"]})).await;
    let narrow_secret = narrow.expect(201)["secret"].as_str().unwrap().to_owned();
    let TestApp { server, dir, key, client, .. } = app;
    server.shutdown().await.unwrap();
    let old_all = "jobs:read jobs:write applications:read applications:write webhooks:read webhooks:write keys:read keys:write sandbox";
    let version = if dir.is_postgres() { "UPDATE schema_version SET version = 3;" } else { "PRAGMA user_version = 3;" };
    execute_raw(
        &dir,
        &format!(
            "DROP TABLE audit_events; UPDATE api_keys SET scopes = '{old_all}' WHERE name = 'Bootstrap key'; {version}"
        ),
    )
    .await;

    let server = Server::start(config(&dir), Arc::new(SystemClock)).await.expect("the store migrates");
    let app = TestApp { base: format!("http://{}", server.local_addr()), server, key, client, dir };
    let keys = app.get("/v1/api-keys").await;
    let keys = keys.expect(200)["data"].as_array().unwrap().clone();
    assert!(keys[0]["scopes"].as_array().unwrap().contains(&json!("audit:read")), "{}", keys[0]);
    assert_eq!(keys[1]["scopes"], json!(["jobs:read"]));
    app.get("/v1/audit-events").await.expect(200);
    app.get_as(&narrow_secret, "/v1/audit-events").await.expect_problem(403, "insufficient_scope");
}
