//! Store outages: while PostgreSQL cannot be reached, every request is answered quickly with 503
//! `store_unavailable` and `Retry-After`, never a 500 and never the driver's text; when it comes
//! back the server serves again within seconds on its own, nothing acknowledged is lost, and the
//! background loops resume. The outage is a TCP proxy between the server and PostgreSQL that the
//! test cuts and restores; the machine's PostgreSQL is never touched. Needs
//! `PUBLIC_API_TEST_DATABASE_URL`, like the replica tests.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use public_api::store::Location;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;
use webhook_sim::receiver::{Receiver, ReceiverConfig};

use crate::support::{DATABASE_URL_VAR, Resp, TestApp, application};

/// A TCP proxy to `upstream` whose connections the test can cut (every open one is closed and
/// new ones are closed at once) and restore.
struct Proxy {
    addr: SocketAddr,
    cut: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<AbortHandle>>>,
    accept: AbortHandle,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let open: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let (is_cut, connections) = (Arc::clone(&cut), Arc::clone(&open));
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if is_cut.load(Ordering::SeqCst) {
                    drop(client); // The database "is down": the connection closes at once.
                    continue;
                }
                let piped = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                connections.lock().unwrap().push(piped.abort_handle());
            }
        })
        .abort_handle();
        Proxy { addr, cut, open, accept }
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for connection in self.open.lock().unwrap().drain(..) {
            connection.abort();
        }
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

/// The test's server on PostgreSQL through a proxy; `None` (with a note) on SQLite.
async fn behind_proxy() -> Option<(TestApp, Proxy)> {
    let Some(url) = std::env::var(DATABASE_URL_VAR).ok().filter(|u| !u.is_empty()) else {
        eprintln!("skipped: the outage test cuts a PostgreSQL connection; set {DATABASE_URL_VAR} to run it");
        return None;
    };
    let parsed = url::Url::parse(&url).unwrap();
    let upstream = format!("{}:{}", parsed.host_str().unwrap(), parsed.port().unwrap_or(5432));
    let proxy = Proxy::start(tokio::net::lookup_host(upstream).await.unwrap().next().unwrap()).await;
    let port = proxy.addr.port();
    let app = TestApp::start_with(move |c| {
        let Location::Postgres(direct) = &c.store else { unreachable!("the test store is PostgreSQL") };
        let mut through = url::Url::parse(direct).unwrap();
        through.set_host(Some("127.0.0.1")).unwrap();
        through.set_port(Some(port)).unwrap();
        c.store = Location::Postgres(through.to_string());
        c.api.request_timeout = Duration::from_secs(10);
        c.delivery.poll_interval = Duration::from_millis(50);
    })
    .await;
    Some((app, proxy))
}

/// Asserts the outage answer: 503 `store_unavailable`, `Retry-After`, and nothing of the cause.
#[track_caller]
fn assert_unavailable(r: &Resp) {
    let problem = r.expect_problem(503, "store_unavailable");
    assert_eq!(r.header("retry-after"), Some("2"));
    let detail = problem["detail"].as_str().unwrap();
    for leak in ["127.0.0.1", "error", "SQLSTATE", "os error", "connection", "postgres"] {
        assert!(!detail.to_lowercase().contains(&leak.to_lowercase()), "the detail leaks `{leak}`: {detail}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_outage_is_answered_503_and_the_server_recovers_by_itself() {
    let Some((app, proxy)) = behind_proxy().await else { return };
    let receiver = Receiver::start(ReceiverConfig::new("whsec_dW5zZXQ=")).await.unwrap();
    let created = app
        .post(
            "/v1/webhook-endpoints",
            json!({ "url": format!("{}/hook", receiver.url()), "event_types": ["interview.completed"] }),
        )
        .await;
    receiver.set_secrets(&[created.expect(201)["secret"].as_str().unwrap().to_owned()]).unwrap();
    let mut acknowledged = Vec::new();
    for i in 0..20 {
        acknowledged.push(app.job(&format!("REQ-OUT-{i}")).await);
    }

    proxy.cut();
    let job_path = format!("/v1/jobs/{}", acknowledged[0]);
    for attempt in 0..3 {
        let started = Instant::now();
        assert_unavailable(&app.get(&job_path).await);
        assert_unavailable(&app.get("/v1/jobs?limit=5").await);
        let body = json!({"external_id": format!("REQ-DURING-{attempt}"), "title": "Driver"});
        let request = app.client.post(app.url("/v1/jobs")).bearer_auth(&app.key).json(&body);
        assert_unavailable(&app.send(request.header("Idempotency-Key", format!("during-{attempt}"))).await);
        let ready = app.get("/readyz").await;
        assert_unavailable(&ready);
        // An operator needs the metrics most now: they answer, and say the store is down.
        let metrics = app.get("/metrics").await;
        assert_eq!(metrics.status, 200, "{}", metrics.text);
        assert!(metrics.text.contains("\nstore_up 0\n"), "{}", metrics.text);
        assert!(started.elapsed() < Duration::from_secs(10), "no request hangs: {:?}", started.elapsed());
    }

    proxy.restore();
    let restored = Instant::now();
    while app.get("/readyz").await.status != 200 {
        assert!(restored.elapsed() < Duration::from_secs(10), "the server did not recover in 10 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let recovered_in = restored.elapsed();
    eprintln!("recovered {recovered_in:?} after the store came back");

    // Nothing acknowledged was lost, and a write refused during the outage can be retried.
    for id in &acknowledged {
        app.get(&format!("/v1/jobs/{id}")).await.expect(200);
    }
    let body = json!({"external_id": "REQ-DURING-0", "title": "Driver"});
    let request = app.client.post(app.url("/v1/jobs")).bearer_auth(&app.key).json(&body);
    app.send(request.header("Idempotency-Key", "during-0")).await.expect(201);

    // The background loops resumed: an interview finished now is delivered.
    let posted = app.post("/v1/applications", application(&acknowledged[1])).await;
    let application_id = posted.expect(201)["id"].as_str().unwrap().to_owned();
    app.post(&format!("/v1/sandbox/applications/{application_id}/complete"), json!({"score": 80})).await.expect(200);
    let delivered = receiver.expect("interview.completed", Duration::from_secs(15)).await.unwrap();
    assert!(delivered.verified());
    assert_eq!(delivered.json().unwrap()["data"]["application"]["id"], application_id.as_str());
}

/// A small tmpfs mounted on a temporary directory (as root), unmounted on drop; `None` with a
/// loud note where mounting is not allowed.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            eprintln!("\n*** SKIPPED: the disk-full test needs to mount a tmpfs (run as root) ***\n");
            return None;
        }
        Some(SmallDisk { dir })
    }

    /// Fills the disk with a file until a write fails for lack of space.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.dir.path().join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let block = vec![0u8; 64 * 1024];
        while file.write_all(&block).is_ok() {}
        let _ = file.write_all(&block[..4096]);
        let _ = file.sync_all();
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(self.dir.path()).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_with_503_keeps_reads_and_recovers() {
    use public_api::clock::SystemClock;
    use public_api::server::Server;

    let Some(disk) = SmallDisk::mount("8m") else { return };
    let data = disk.dir.path().join("data");
    let server = Server::start(crate::support::sqlite_config(&data), Arc::new(SystemClock)).await.unwrap();
    let key = server.bootstrap().unwrap().key.secret.clone();
    let base = format!("http://{}", server.local_addr());
    let client = reqwest::Client::new();
    let post_job = |i: usize| {
        let body = json!({"external_id": format!("REQ-FULL-{i}"), "title": "Driver", "description": "x".repeat(8_000)});
        client.post(format!("{base}/v1/jobs")).bearer_auth(&key).json(&body).send()
    };
    let mut acknowledged = Vec::new();
    for i in 0..5 {
        let r = post_job(i).await.unwrap();
        assert_eq!(r.status(), 201);
        acknowledged.push(r.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_owned());
    }

    let filler = disk.fill();
    let mut refused = 0;
    for i in 5..400 {
        let r = post_job(i).await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body: serde_json::Value = r.json().await.unwrap();
        match status {
            201 => acknowledged.push(body["id"].as_str().unwrap().to_owned()),
            503 => {
                assert_eq!(body["code"], "store_unavailable", "{body}");
                assert_eq!(headers.get("retry-after").and_then(|v| v.to_str().ok()), Some("2"));
                refused += 1;
                if refused == 3 {
                    break;
                }
            }
            other => panic!("a write on a full disk answered {other}: {body}"),
        }
    }
    assert_eq!(refused, 3, "writes kept succeeding on a full disk");
    // Reads keep working.
    for id in &acknowledged {
        let r = client.get(format!("{base}/v1/jobs/{id}")).bearer_auth(&key).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    let r = client.get(format!("{base}/v1/jobs?limit=100")).bearer_auth(&key).send().await.unwrap();
    assert_eq!(r.status(), 200);

    // Space comes back, and so do writes, without a restart.
    std::fs::remove_file(filler).unwrap();
    let r = post_job(1000).await.unwrap();
    assert_eq!(r.status(), 201, "writes resume when space returns");
    acknowledged.push(r.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_owned());
    server.shutdown().await.unwrap();

    // The file is sound and holds every acknowledged write.
    let conn = rusqlite::Connection::open(data.join(public_api::store::sqlite::DB_FILE)).unwrap();
    let verdict: String = conn.query_row("PRAGMA integrity_check", [], |row| row.get(0)).unwrap();
    assert_eq!(verdict, "ok");
    drop(conn);
    let server = Server::start(crate::support::sqlite_config(&data), Arc::new(SystemClock)).await.unwrap();
    let base = format!("http://{}", server.local_addr());
    for id in &acknowledged {
        let r = client.get(format!("{base}/v1/jobs/{id}")).bearer_auth(&key).send().await.unwrap();
        assert_eq!(r.status(), 200, "acknowledged job {id} lost");
    }
    server.shutdown().await.unwrap();
}
