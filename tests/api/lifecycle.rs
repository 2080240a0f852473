//! Start-up, shutdown, restart, the data directory and the admin commands.

use std::process::Command;
use std::sync::Arc;

use public_api::clock::SystemClock;
use public_api::server::{ServeError, Server};
use public_api::store::StoreError;
use serde_json::json;

use crate::support::{TestApp, application, config, sqlite_config};

const BIN: &str = env!("CARGO_BIN_EXE_public-api");

#[tokio::test]
async fn writes_survive_a_restart() {
    let app = TestApp::start().await;
    let job = app.job("REQ-1").await;
    let created = app.post("/v1/applications", application(&job)).await.expect(201).clone();
    let app = app.restart().await;
    let job_after = app.get(&format!("/v1/jobs/{job}")).await;
    assert_eq!(job_after.expect(200)["external_id"], "REQ-1");
    let app_after = app.get(&format!("/v1/applications/{}", created["id"].as_str().unwrap())).await;
    assert_eq!(app_after.expect(200), &created);
    let keys = app.get("/v1/api-keys").await;
    assert!(keys.expect(200)["data"][0]["usage_count"].as_u64().unwrap() >= 3, "usage was flushed at shutdown");
}

#[tokio::test]
async fn a_second_server_on_the_same_data_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let first = Server::start(sqlite_config(dir.path()), Arc::new(SystemClock)).await.unwrap();
    let second = Server::start(sqlite_config(dir.path()), Arc::new(SystemClock)).await;
    match second {
        Err(ServeError::Store(StoreError::Locked { holder, .. })) => {
            assert!(holder.contains(&std::process::id().to_string()), "{holder}")
        }
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("a second server started"),
    }
    first.store().ping().await.expect("the first server keeps its store");
    first.shutdown().await.unwrap();
}

#[tokio::test]
async fn unusable_data_dirs_fail_clearly_and_are_left_alone() {
    // Not a database.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join(public_api::store::sqlite::DB_FILE);
    std::fs::write(&db, vec![0x42u8; 8192]).unwrap();
    let err = Server::start(sqlite_config(dir.path()), Arc::new(SystemClock)).await.err().expect("refused");
    assert!(err.to_string().contains("not a SQLite database"), "{err}");
    assert_eq!(std::fs::read(&db).unwrap(), vec![0x42u8; 8192], "file untouched");

    // From a newer version.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join(public_api::store::sqlite::DB_FILE);
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.pragma_update(None, "user_version", 999).unwrap();
    }
    let before = std::fs::read(&db).unwrap();
    let err = Server::start(sqlite_config(dir.path()), Arc::new(SystemClock)).await.err().expect("refused");
    assert!(err.to_string().contains("newer"), "{err}");
    assert_eq!(std::fs::read(&db).unwrap(), before, "file untouched");
}

/// A read-only view of a directory: a read-only bind mount when running as root (permissions do
/// not bind root), file modes otherwise. Undone on drop.
struct ReadOnly {
    path: std::path::PathBuf,
    mounted: bool,
    _mount_point: Option<tempfile::TempDir>,
}

impl ReadOnly {
    fn new(dir: &std::path::Path) -> ReadOnly {
        let is_root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        if is_root {
            let mount_point = tempfile::tempdir().unwrap();
            let target = mount_point.path().to_owned();
            let ok = |args: &[&str]| Command::new("mount").args(args).status().is_ok_and(|s| s.success());
            assert!(
                ok(&["--bind", dir.to_str().unwrap(), target.to_str().unwrap()])
                    && ok(&["-o", "remount,bind,ro", target.to_str().unwrap()]),
                "running as root, this test needs `mount --bind` to make a read-only data dir"
            );
            return ReadOnly { path: target, mounted: true, _mount_point: Some(mount_point) };
        }
        set_modes(dir, 0o555, 0o444);
        ReadOnly { path: dir.to_owned(), mounted: false, _mount_point: None }
    }
}

fn set_modes(dir: &std::path::Path, dir_mode: u32, file_mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    for entry in std::fs::read_dir(dir).unwrap() {
        std::fs::set_permissions(entry.unwrap().path(), std::fs::Permissions::from_mode(file_mode)).unwrap();
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(dir_mode)).unwrap();
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        if self.mounted {
            let _ = Command::new("umount").arg(&self.path).status();
        } else {
            set_modes(&self.path, 0o755, 0o644);
        }
    }
}

fn contents(dir: &std::path::Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect()
}

#[tokio::test]
async fn a_read_only_data_dir_fails_clearly_and_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(sqlite_config(dir.path()), Arc::new(SystemClock)).await.unwrap();
    server.shutdown().await.unwrap();
    let before = contents(dir.path());
    let read_only = ReadOnly::new(dir.path());
    let cfg = sqlite_config(&read_only.path);
    let err = Server::start(cfg, Arc::new(SystemClock)).await.err().expect("refused");
    let text = err.to_string();
    assert!(text.contains("Read-only file system") || text.contains("Permission denied"), "{text}");
    assert!(text.contains(&read_only.path.display().to_string()), "names the path: {text}");
    drop(read_only);
    assert_eq!(contents(dir.path()), before, "files untouched");
}

#[tokio::test]
async fn seed_files_upsert_jobs_and_applications() {
    let seed_dir = tempfile::tempdir().unwrap();
    let seed = seed_dir.path().join("seed.json");
    std::fs::write(
        &seed,
        json!({
            "jobs": [{"external_id": "REQ-1", "title": "Driver"}, {"external_id": "REQ-2", "title": "Cook", "interview_type": "video"}],
            "applications": [{"job_external_id": "REQ-1", "external_id": "APP-1",
                              "candidate": {"first_name": "Ada", "last_name": "L", "phone": "+14155550123"}}]
        })
        .to_string(),
    )
    .unwrap();
    let seed_path = seed.clone();
    let app = TestApp::start_with(move |c| c.seed = Some(seed_path)).await;
    let report = app.server.seeded().unwrap().clone();
    assert_eq!((report.jobs_created, report.applications_created), (2, 1));
    assert_eq!(app.get("/v1/jobs").await.expect(200)["data"].as_array().unwrap().len(), 2);

    // Seeding again changes nothing.
    let TestApp { server, dir, .. } = app;
    server.shutdown().await.unwrap();
    let mut c = config(&dir);
    c.seed = Some(seed.clone());
    let server = Server::start(c, Arc::new(SystemClock)).await.unwrap();
    let report = server.seeded().unwrap();
    assert_eq!((report.jobs_existing, report.applications_existing), (2, 1));
    server.shutdown().await.unwrap();

    // A bad seed names the item at fault.
    std::fs::write(&seed, json!({"jobs": [{"title": "ok"}, {"title": ""}]}).to_string()).unwrap();
    let mut c = config(&dir);
    c.seed = Some(seed);
    let err = Server::start(c, Arc::new(SystemClock)).await.err().expect("refused");
    assert!(err.to_string().contains("jobs[1]"), "{err}");
}

fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .env_remove("PUBLIC_API_DATA_DIR")
        .env_remove("PUBLIC_API_DATABASE_URL")
        .output()
        .expect("binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn admin_commands_work_beside_a_running_server() {
    let app = TestApp::start().await;
    let store = app.dir.cli_args();
    let run = |args: &[&str]| run(&[store.iter().map(String::as_str).collect::<Vec<_>>(), args.to_vec()].concat());
    let job = app.job("REQ-1").await;
    let created = app.post("/v1/applications", application(&job)).await.expect(201)["id"].as_str().unwrap().to_owned();
    app.post(&format!("/v1/sandbox/applications/{created}/complete"), json!({})).await.expect(200);
    app.post("/v1/webhook-endpoints", json!({"url": "http://127.0.0.1:9/hook"})).await.expect(201);

    let (ok, out, err) = run(&["keys", "create", "--name", "from cli"]);
    assert!(ok, "{err}");
    let secret = out.lines().find(|l| l.starts_with("tenzo_pk_")).expect("secret printed").to_owned();
    app.get_as(&secret, "/v1/jobs").await.expect(200);

    let (ok, out, err) = run(&["keys", "create", "--name", "pusher", "--scope", "jobs:write,applications:write"]);
    assert!(ok, "{err}");
    let pusher = out.lines().find(|l| l.starts_with("tenzo_pk_")).expect("secret printed").to_owned();
    app.get_as(&pusher, "/v1/jobs").await.expect_problem(403, "insufficient_scope");
    let (ok, _, err) = run(&["keys", "create", "--scope", "jobs:admin"]);
    assert!(!ok && err.contains("not a scope"), "{err}");

    let (ok, out, _) = run(&["keys", "list"]);
    assert!(ok && out.contains("from cli") && !out.contains(&secret), "{out}");
    assert!(out.contains("applications:write,jobs:write") || out.contains("jobs:write,applications:write"), "{out}");

    let key_id =
        out.lines().find(|l| l.contains("from cli")).and_then(|l| l.split_whitespace().next()).unwrap().to_owned();
    let (ok, _, err) = run(&["keys", "revoke", &key_id]);
    assert!(ok, "{err}");
    app.get_as(&secret, "/v1/jobs").await.expect_problem(401, "api_key_revoked");

    let (ok, out, err) = run(&["orgs", "create", "--name", "Acme"]);
    assert!(ok, "{err}");
    assert!(out.contains("Acme"));
    let (ok, _, err) = run(&["keys", "create"]);
    assert!(!ok && err.contains("--org"), "two orgs need --org: {err}");

    let (ok, out, err) = run(&["export"]);
    assert!(ok, "{err}");
    let export: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(export["jobs"][0]["external_id"], "REQ-1");
    assert_eq!(export["organizations"].as_array().unwrap().len(), 2);
    assert!(!out.contains("secret_hash") && !out.contains("whsec_"), "no secrets in exports");
    assert_eq!(export["applications"][0]["id"], created.as_str());
    assert_eq!(export["call_results"][0]["application_id"], created.as_str());
    assert!(export["events"].as_array().unwrap().iter().any(|e| e["type"] == "interview.completed"));
    assert_eq!(export["webhook_endpoints"].as_array().unwrap().len(), 1);

    if !app.dir.is_postgres() {
        let (ok, _, err) = run(&["serve", "--addr", "127.0.0.1:0"]);
        assert!(!ok && err.contains("in use") && err.contains("--data-dir"), "a second server is refused: {err}");
    }
}

#[tokio::test]
async fn a_bad_or_unreachable_database_url_fails_clearly() {
    let (ok, _, err) = run(&["--database-url", "postgres://nobody@127.0.0.1:1/x", "orgs", "list"]);
    assert!(!ok && err.contains("cannot connect to the database at postgres://nobody@127.0.0.1:1/x"), "{err}");
    assert!(err.contains("refused"), "says why: {err}");
    let (ok, _, err) = run(&["--database-url", "mysql://x", "serve", "--addr", "127.0.0.1:0"]);
    assert!(!ok && err.contains("not a PostgreSQL connection URL"), "{err}");
    let (ok, _, err) = run(&["--database-url", "postgres://u:hunter2@127.0.0.1:1/x", "export"]);
    assert!(!ok && !err.contains("hunter2") && err.contains("***"), "the password is not shown: {err}");
}
