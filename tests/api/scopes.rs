//! Scoped API keys: every operation names the scope it needs in the spec, and the server
//! enforces exactly that.

use public_api::domain::Scope;
use serde_json::{Value, json};

use crate::spec::{METHODS, concrete};
use crate::support::TestApp;

/// A new key of the test organisation with `scopes`; its secret.
async fn key_with(app: &TestApp, scopes: &[&str]) -> String {
    let created = app.post("/v1/api-keys", json!({"name": "scoped", "scopes": scopes})).await;
    created.expect(201)["secret"].as_str().unwrap().to_owned()
}

/// Every authenticated operation in the spec, read from the spec so that a new one is covered
/// (and fails here unless it names a scope): a key with every other scope gets 403
/// `insufficient_scope` naming it, and a key with that scope alone gets past the check.
#[tokio::test]
async fn every_operation_needs_the_scope_the_spec_names() {
    let app = TestApp::start().await;
    let spec: Value = serde_json::from_str(&std::fs::read_to_string("spec/openapi.json").unwrap()).unwrap();
    let all: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
    let mut checked = 0;
    for (path, item) in spec["paths"].as_object().unwrap().iter().filter(|(p, _)| p.starts_with("/v1/")) {
        for method in METHODS.into_iter().filter(|m| item.get(*m).is_some()) {
            let scope = item[method]["security"][0]["bearer"][0].as_str();
            let scope = scope.unwrap_or_else(|| panic!("{method} {path} names no scope"));
            assert!(Scope::parse(scope).is_some(), "{method} {path}: unknown scope {scope}");
            let others: Vec<&str> = all.iter().copied().filter(|s| *s != scope).collect();
            let (without, only) = (key_with(&app, &others).await, key_with(&app, &[scope]).await);

            let request = |key: &str| {
                app.client
                    .request(method.to_uppercase().parse().unwrap(), app.url(&concrete(path)))
                    .bearer_auth(key)
                    .header("content-type", "application/json")
                    .body("{}")
            };
            let r = app.send(request(&without)).await;
            let problem = r.expect_problem(403, "insufficient_scope");
            assert!(problem["detail"].as_str().unwrap().contains(scope), "{method} {path}: {problem}");

            let r = app.send(request(&only)).await;
            assert!(![401, 403].contains(&r.status), "{method} {path} with {scope}: {}", r.text);
            checked += 1;
        }
    }
    assert!(checked >= 27, "only {checked} operations");
}

#[tokio::test]
async fn a_key_never_creates_a_key_with_more_than_it_has() {
    let app = TestApp::start().await;
    let limited = key_with(&app, &["jobs:read", "keys:write"]).await;
    let r =
        app.post_as(&limited, "/v1/api-keys", json!({"name": "wider", "scopes": ["jobs:read", "jobs:write"]})).await;
    let problem = r.expect_problem(403, "insufficient_scope");
    assert!(problem["detail"].as_str().unwrap().contains("jobs:write"), "{problem}");
    let r = app.post_as(&limited, "/v1/api-keys", json!({"name": "same"})).await;
    assert_eq!(r.expect(201)["key"]["scopes"], json!(["jobs:read", "keys:write"]), "the creator's scopes by default");
    let r = app.post("/v1/api-keys", json!({"name": "bad", "scopes": ["jobs:admin"]})).await;
    assert_eq!(r.expect_problem(422, "validation_failed")["errors"][0]["field"], "scopes[0]");
    let listed = app.get("/v1/api-keys").await;
    let bootstrap = &listed.expect(200)["data"][0];
    assert_eq!(bootstrap["scopes"].as_array().unwrap().len(), Scope::ALL.len(), "the bootstrap key has every scope");
}
