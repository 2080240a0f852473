//! Webhook signing secrets (and stored idempotent responses, which may carry secrets) are
//! sealed at rest; a store opens only with its key; `secrets rotate-key` moves every secret to a
//! new key. Each test runs on either store.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use public_api::clock::SystemClock;
use public_api::server::{ServeError, Server};
use public_api::store::StoreError;
use public_api::store::sealing::{self, SealingError, SealingKey};
use serde_json::{Value, json};
use webhook_sim::receiver::{Receiver, ReceiverConfig};

use crate::support::{TestApp, TestStore, cli, config, execute_raw};

/// Everything the store holds, as bytes: the database files and key file of a data directory,
/// or the PostgreSQL rows of every table that could hold a secret.
async fn raw_store(store: &TestStore) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    if !store.is_postgres() {
        for entry in std::fs::read_dir(store.path()).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            // The `-shm` file is SQLite's shared-memory index of the WAL, rebuilt by every
            // reader; the database and its WAL are the data.
            let data = name.starts_with(public_api::store::sqlite::DB_FILE) && !name.ends_with("-shm");
            if data || name == sealing::DATA_DIR_KEY_FILE {
                files.insert(name, std::fs::read(&path).unwrap());
            }
        }
        return files;
    }
    let public_api::store::Location::Postgres(url) = store.location() else { unreachable!() };
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    for table in ["webhook_endpoints", "idempotency_keys", "api_keys", "encryption", "outbox"] {
        let mut bytes = Vec::new();
        for row in client.query(&format!("SELECT t::text FROM {table} t ORDER BY 1"), &[]).await.unwrap() {
            bytes.extend(row.get::<_, String>(0).into_bytes());
        }
        files.insert(table.to_owned(), bytes);
    }
    files
}

fn contains(store: &BTreeMap<String, Vec<u8>>, needle: &str) -> bool {
    store.values().any(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
}

/// An endpoint to a verifying receiver; returns its id.
async fn endpoint_to(app: &TestApp, receiver: &Receiver) -> String {
    let created = app.post("/v1/webhook-endpoints", json!({"url": format!("{}/hook", receiver.url())})).await;
    let body = created.expect(201);
    receiver.set_secrets(&[body["secret"].as_str().unwrap().to_owned()]).unwrap();
    body["endpoint"]["id"].as_str().unwrap().to_owned()
}

/// Sends a test event to the endpoint and asserts that the receiver verified its signature.
async fn assert_test_event_verified(app: &TestApp, receiver: &Receiver, endpoint_id: &str) {
    receiver.reset();
    let attempt = app.post(&format!("/v1/webhook-endpoints/{endpoint_id}/test"), json!({})).await;
    assert_eq!(attempt.expect(200)["attempt"]["status_code"], 200, "{}", attempt.text);
    let delivered = receiver.wait_for(1, Duration::from_secs(10)).await.unwrap();
    assert!(delivered[0].verified(), "{:?}", delivered[0].signature);
}

#[tokio::test]
async fn secrets_are_sealed_at_rest_and_never_exported() {
    let app = TestApp::start().await;
    let keyed = |path: &str, body: Value| {
        app.client
            .post(app.url(path))
            .bearer_auth(&app.key)
            .header("idempotency-key", format!("sealed-{path}"))
            .json(&body)
    };
    let created = app.send(keyed("/v1/webhook-endpoints", json!({"url": "http://127.0.0.1:9/hook"}))).await;
    let (id, first) =
        (created.expect(201)["endpoint"]["id"].as_str().unwrap(), created.json["secret"].as_str().unwrap());
    let rotated = app.send(keyed(&format!("/v1/webhook-endpoints/{id}/rotate-secret"), json!({}))).await;
    let second = rotated.expect(200)["secret"].as_str().unwrap();
    let api_key = app.send(keyed("/v1/api-keys", json!({"name": "sealed"}))).await;
    let api_secret = api_key.expect(201)["secret"].as_str().unwrap();
    // The idempotent replay still answers with the secret, from the sealed record.
    let replayed = app.send(keyed("/v1/api-keys", json!({"name": "sealed"}))).await;
    assert_eq!(replayed.expect(201)["secret"], api_secret);

    let stored = raw_store(&app.dir).await;
    assert!(contains(&stored, "sealed:v1:"), "the store holds sealed values");
    for secret in [first, second, api_secret] {
        let body = secret.trim_start_matches("whsec_").trim_start_matches("tenzo_pk_");
        assert!(!contains(&stored, body), "{secret} is stored in plain text");
    }

    let (ok, exported, err) = cli(&app.dir, &["export"]);
    assert!(ok, "{err}");
    assert!(exported.contains(id), "the endpoint is exported");
    for secret in [first, second, api_secret] {
        assert!(!exported.contains(secret.trim_start_matches("whsec_")), "export leaks {secret}");
    }
}

#[tokio::test]
async fn a_store_opens_only_with_its_key_and_a_refusal_changes_nothing() {
    let app = TestApp::start().await;
    let receiver = Receiver::start(ReceiverConfig::new("whsec_dW5zZXQ=")).await.unwrap();
    let endpoint = endpoint_to(&app, &receiver).await;
    let TestApp { server, dir, key, client, .. } = app;
    server.shutdown().await.unwrap();
    let before = raw_store(&dir).await;

    let mut wrong = config(&dir);
    wrong.encryption_keys = vec![SealingKey::from_bytes(&[9; sealing::KEY_BYTES])];
    let refused = Server::start(wrong, Arc::new(SystemClock)).await.err().expect("a wrong key is refused");
    assert!(matches!(refused, ServeError::Store(StoreError::Sealing(SealingError::WrongKey { .. }))), "{refused}");
    assert!(raw_store(&dir).await == before, "a refused start changes nothing");

    if !dir.is_postgres() {
        // A data directory whose key file is gone is refused too, and no new key is made.
        let own = dir.path().join(sealing::DATA_DIR_KEY_FILE);
        let aside = dir.path().join("aside.key");
        std::fs::rename(&own, &aside).unwrap();
        let refused = Server::start(config(&dir), Arc::new(SystemClock)).await.err().expect("no key, no start");
        assert!(refused.to_string().contains("is missing"), "{refused}");
        assert!(!own.exists(), "no new key file replaces the lost one");
        let mut without_key = before.clone();
        without_key.remove(sealing::DATA_DIR_KEY_FILE);
        assert!(raw_store(&dir).await == without_key);
        std::fs::rename(&aside, &own).unwrap();
    }

    let server = Server::start(config(&dir), Arc::new(SystemClock)).await.expect("the right key opens the store");
    let app = TestApp { base: format!("http://{}", server.local_addr()), server, key, client, dir };
    assert_test_event_verified(&app, &receiver, &endpoint).await;
}

#[tokio::test]
async fn rotate_key_reseals_every_secret_under_the_new_key() {
    let app = TestApp::start().await;
    let receiver = Receiver::start(ReceiverConfig::new("whsec_dW5zZXQ=")).await.unwrap();
    let endpoint = endpoint_to(&app, &receiver).await;
    app.post(&format!("/v1/webhook-endpoints/{endpoint}/rotate-secret"), json!({})).await.expect(200);
    let rotated = app.get(&format!("/v1/webhook-endpoints/{endpoint}")).await.expect(200).clone();
    let old_keys = app.dir.encryption_keys();
    let old_file = app.dir.path().join("old.key");
    if !app.dir.is_postgres() {
        std::fs::copy(app.dir.path().join(sealing::DATA_DIR_KEY_FILE), &old_file).unwrap();
    }
    let new_file = app.dir.path().join("new.key");
    let (ok, out, err) = cli(&app.dir, &["secrets", "generate-key", "--out", new_file.to_str().unwrap()]);
    assert!(ok && out.contains("Wrote key"), "{err}");
    let (ok, _, err) = cli(&app.dir, &["secrets", "generate-key", "--out", new_file.to_str().unwrap()]);
    assert!(!ok && err.contains("exists"), "an existing key file is never replaced: {err}");

    // Beside the running server (which would need both keys to keep delivering meanwhile; it
    // stops next).
    let (ok, out, err) = cli(&app.dir, &["secrets", "rotate-key", "--new-key-file", new_file.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(out.contains("Re-sealed the signing secrets of 1 endpoints"), "{out}");
    let new_key = SealingKey::read_file(&new_file).unwrap();
    let TestApp { server, dir, key, client, .. } = app;
    server.shutdown().await.unwrap();
    let stored = raw_store(&dir).await;
    assert!(contains(&stored, &format!("sealed:v1:{}:", new_key.id())));
    for old in &old_keys {
        assert!(!contains(&stored, &format!("sealed:v1:{}:", old.id())), "nothing is left under the old key");
    }

    // The old key alone no longer opens the store; the new one does, and signs as before.
    let mut with_old = config(&dir);
    with_old.encryption_keys =
        if dir.is_postgres() { old_keys } else { vec![SealingKey::read_file(&old_file).unwrap()] };
    let refused = Server::start(with_old, Arc::new(SystemClock)).await.err().expect("the old key is refused");
    assert!(matches!(refused, ServeError::Store(StoreError::Sealing(SealingError::WrongKey { .. }))), "{refused}");
    let mut with_new = config(&dir);
    if dir.is_postgres() {
        with_new.encryption_keys = vec![new_key];
    }
    let server = Server::start(with_new, Arc::new(SystemClock)).await.expect("the new key opens the store");
    let app = TestApp { base: format!("http://{}", server.local_addr()), server, key, client, dir };
    assert_eq!(app.get(&format!("/v1/webhook-endpoints/{endpoint}")).await.expect(200), &rotated);
    // Both the current secret and the one rotated out still sign, as before the key rotation.
    assert_test_event_verified(&app, &receiver, &endpoint).await;
    let delivered = receiver.deliveries();
    let signatures = delivered[0].headers.iter().find(|(name, _)| name == "webhook-signature").unwrap();
    assert_eq!(signatures.1.split(' ').count(), 2, "{signatures:?}");
}

#[tokio::test]
async fn plain_text_secrets_from_before_encryption_are_sealed_at_the_next_start() {
    let app = TestApp::start().await;
    let receiver = Receiver::start(ReceiverConfig::new("whsec_dW5zZXQ=")).await.unwrap();
    let endpoint = endpoint_to(&app, &receiver).await;
    let plain = "whsec_cGxhaW4gdGV4dCBmcm9tIGJlZm9yZSBlbmNyeXB0aW9u";
    receiver.set_secrets(&[plain.to_owned()]).unwrap();
    let TestApp { server, dir, key, client, .. } = app;
    server.shutdown().await.unwrap();
    // The store as a build from before encryption left it: plain text, no key named.
    let secrets = json!([{"secret": plain, "expires_at": null}]).to_string();
    execute_raw(&dir, &format!("UPDATE webhook_endpoints SET secrets = '{secrets}'; DELETE FROM encryption;")).await;
    assert!(contains(&raw_store(&dir).await, plain));

    let server = Server::start(config(&dir), Arc::new(SystemClock)).await.expect("the store opens");
    let app = TestApp { base: format!("http://{}", server.local_addr()), server, key, client, dir };
    assert!(!contains(&raw_store(&app.dir).await, plain.trim_start_matches("whsec_")), "sealed in place");
    assert_test_event_verified(&app, &receiver, &endpoint).await;
}
