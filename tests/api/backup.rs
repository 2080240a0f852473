//! Backups: `public-api backup` copies the embedded store while a server writes to it, and a
//! restored copy reads back every row; on PostgreSQL, a pg_dump and pg_restore round trip.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use public_api::clock::SystemClock;
use public_api::server::Server;
use public_api::store::sqlite::DB_FILE;
use serde_json::{Value, json};

use crate::support::{DATABASE_URL_VAR, TestApp, application, run_binary as run, sqlite_config};

fn export(data_dir: &Path) -> Value {
    let (ok, out, err) = run(&["--data-dir", &data_dir.display().to_string(), "export"]);
    assert!(ok, "export failed: {err}");
    serde_json::from_str(&out).unwrap()
}

/// A data directory holding `backup` as its database and `key` as its key, as the README says.
fn restore(backup: &Path, key: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(backup, dir.path().join(DB_FILE)).unwrap();
    std::fs::copy(key, dir.path().join("encryption.key")).unwrap();
    dir
}

async fn job_ids(base: &str, key: &str) -> BTreeSet<String> {
    let client = reqwest::Client::new();
    let (mut ids, mut cursor) = (BTreeSet::new(), None::<String>);
    loop {
        let mut url = format!("{base}/v1/jobs?limit=100");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page: Value = client.get(url).bearer_auth(key).send().await.unwrap().json().await.unwrap();
        ids.extend(page["data"].as_array().unwrap().iter().map(|j| j["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return ids,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_serving_restores_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(sqlite_config(dir.path()), Arc::new(SystemClock)).await.unwrap();
    let key = server.bootstrap().unwrap().key.secret.clone();
    let base = format!("http://{}", server.local_addr());
    let client = reqwest::Client::new();
    let post = |path: &str, body: Value| client.post(format!("{base}{path}")).bearer_auth(&key).json(&body).send();
    let created = post("/v1/webhook-endpoints", json!({"url": "https://hooks.example.com/in"})).await.unwrap();
    assert_eq!(created.status(), 201);
    let job: Value =
        post("/v1/jobs", json!({"external_id": "REQ-B", "title": "Driver"})).await.unwrap().json().await.unwrap();
    let job_id = job["id"].as_str().unwrap();
    assert_eq!(post("/v1/applications", application(job_id)).await.unwrap().status(), 201);

    // Quiet: the restored copy exports exactly what the live store does.
    let backups = tempfile::tempdir().unwrap();
    let quiet = backups.path().join("quiet.sqlite3");
    let (ok, out, err) =
        run(&["--data-dir", &dir.path().display().to_string(), "backup", "--to", &quiet.display().to_string()]);
    assert!(ok, "backup failed: {err}");
    assert!(out.contains("integrity ok") && out.contains("jobs 1") && out.contains("encryption.key"), "{out}");
    let restored = restore(&quiet, &dir.path().join("encryption.key"));
    assert_eq!(export(restored.path()), export(dir.path()), "every row reads back");

    // Busy: writes go on while the backup is taken. Every job acknowledged before it began is in
    // the copy, and the copy holds nothing that was not written.
    let before = job_ids(&base, &key).await;
    let writing = Arc::new(AtomicBool::new(true));
    let writer = {
        let (client, base, key, writing) = (client.clone(), base.clone(), key.clone(), Arc::clone(&writing));
        tokio::spawn(async move {
            let mut i = 0;
            while writing.load(Ordering::SeqCst) {
                let body = json!({"external_id": format!("REQ-W{i}"), "title": "Driver"});
                let r = client.post(format!("{base}/v1/jobs")).bearer_auth(&key).json(&body).send().await.unwrap();
                assert_eq!(r.status(), 201);
                i += 1;
            }
            i
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let busy = backups.path().join("busy.sqlite3");
    let args = [
        "--data-dir".to_owned(),
        dir.path().display().to_string(),
        "backup".into(),
        "--to".into(),
        busy.display().to_string(),
    ];
    let (ok, out, err) =
        tokio::task::spawn_blocking(move || run(&args.iter().map(String::as_str).collect::<Vec<_>>())).await.unwrap();
    writing.store(false, Ordering::SeqCst);
    let written = writer.await.unwrap();
    assert!(ok, "backup under load failed: {err}");
    assert!(written > 0, "the writer wrote while the backup ran");
    let after = job_ids(&base, &key).await;

    let restored = restore(&busy, &dir.path().join("encryption.key"));
    let copy = Server::start(sqlite_config(restored.path()), Arc::new(SystemClock)).await.unwrap();
    let in_copy = job_ids(&format!("http://{}", copy.local_addr()), &key).await;
    assert!(before.is_subset(&in_copy), "a job acknowledged before the backup is missing");
    assert!(in_copy.is_subset(&after), "the copy holds a job never written");
    eprintln!("{out}busy backup: {} jobs in the copy, {} before, {} after", in_copy.len(), before.len(), after.len());
    copy.shutdown().await.unwrap();

    // It never overwrites, and it says where PostgreSQL backups come from.
    let (ok, _, err) =
        run(&["--data-dir", &dir.path().display().to_string(), "backup", "--to", &busy.display().to_string()]);
    assert!(!ok && err.contains("exists"), "{err}");
    let (ok, _, err) = run(&["--database-url", "postgres://u@127.0.0.1:1/db", "backup", "--to", "x"]);
    assert!(!ok && err.contains("pg_dump"), "{err}");
    server.shutdown().await.unwrap();
}

/// The README's PostgreSQL backup: `pg_dump -Fc` of the schema, `pg_restore` into a new
/// database, and a server on it with the same key exports the same rows.
#[tokio::test]
async fn a_pg_dump_round_trip_restores_every_row() {
    let app = TestApp::start().await;
    if !app.dir.is_postgres() {
        eprintln!("skipped: pg_dump needs PostgreSQL; set {DATABASE_URL_VAR} to run this test");
        return;
    }
    if Command::new("pg_dump").arg("--version").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "pg_dump is needed in CI (postgresql-client)");
        eprintln!("skipped: no pg_dump on PATH");
        return;
    }
    let job = app.job("REQ-DUMP").await;
    app.post("/v1/applications", application(&job)).await.expect(201);
    app.post("/v1/webhook-endpoints", json!({"url": "https://hooks.example.com/in"})).await.expect(201);

    let public_api::store::Location::Postgres(url) = app.dir.location() else { unreachable!() };
    let parsed = url::Url::parse(&url).unwrap();
    let schema = parsed
        .query_pairs()
        .find(|(k, _)| k == "options")
        .and_then(|(_, v)| v.strip_prefix("-csearch_path=").map(str::to_owned))
        .expect("the test URL names its schema");
    let base_url = std::env::var(DATABASE_URL_VAR).unwrap();
    let dump = app.dir.path().join("store.dump");
    let status = Command::new("pg_dump")
        .args(["-Fc", "-n", &schema, "-f", &dump.display().to_string(), "-d", &base_url])
        .status()
        .unwrap();
    assert!(status.success(), "pg_dump failed");

    let database = format!("restore_{}", uuid::Uuid::now_v7().simple());
    let psql = |sql: &str| Command::new("psql").args(["-X", "-q", "-d", &base_url, "-c", sql]).status().unwrap();
    assert!(psql(&format!("CREATE DATABASE {database}")).success());
    let mut target = url::Url::parse(&base_url).unwrap();
    target.set_path(&database);
    let status = Command::new("pg_restore")
        .args(["--no-owner", "-d", target.as_str(), &dump.display().to_string()])
        .status()
        .unwrap();
    let restored_url = public_api::store::postgres::url_with_schema(target.as_str(), &schema);
    let key_file = app.dir.path().join("pg-encryption.key").display().to_string();
    let export_of = |url: &str| {
        let (ok, out, err) = run(&["--database-url", url, "--encryption-key-file", &key_file, "export"]);
        assert!(ok, "export failed: {err}");
        serde_json::from_str::<Value>(&out).unwrap()
    };
    let (original, restored) = (export_of(&url), status.success().then(|| export_of(&restored_url)));
    assert!(psql(&format!("DROP DATABASE {database}")).success());
    assert!(status.success(), "pg_restore failed");
    assert_eq!(restored.unwrap(), original, "every row reads back");
}
