//! A server per test, and a small HTTP client around it.

use std::path::Path;
use std::sync::Arc;

use public_api::clock::{Clock, SystemClock};
use public_api::domain::Scope;
use public_api::domain::audit::AuditContext;
use public_api::domain::ids::IdKind;
use public_api::keys;
use public_api::server::{ServeConfig, Server};
use public_api::store::sealing::{self, SealingKey};
use public_api::store::{Location, postgres};
use serde_json::Value;
use tempfile::TempDir;

/// Set to a PostgreSQL URL (`postgres://postgres@127.0.0.1:5432/test`) to run the tests on
/// PostgreSQL instead of SQLite data directories.
pub const DATABASE_URL_VAR: &str = "PUBLIC_API_TEST_DATABASE_URL";

/// Where a test's server keeps its data: a temporary data directory, or, with
/// [`DATABASE_URL_VAR`] set, a schema of its own in that database (dropped when the test
/// ends), so that the same tests run on both stores and stay parallel.
pub struct TestStore {
    dir: TempDir,
    postgres: Option<(String, String)>,
}

impl TestStore {
    pub async fn new() -> TestStore {
        let dir = tempfile::tempdir().expect("temp dir");
        let postgres = match std::env::var(DATABASE_URL_VAR) {
            Ok(url) if !url.is_empty() => {
                let schema = format!("test_{}", uuid::Uuid::now_v7().simple());
                postgres::create_schema(&url, &schema).await.expect("a schema for the test");
                // A shared database needs its key given; a data directory makes its own.
                sealing::write_key_file(&dir.path().join(PG_KEY_FILE)).expect("a key for the test schema");
                Some((url, schema))
            }
            _ => None,
        };
        TestStore { dir, postgres }
    }

    /// The data directory (also used for files a test writes beside the store).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn location(&self) -> Location {
        match &self.postgres {
            Some((url, schema)) => Location::Postgres(postgres::url_with_schema(url, schema)),
            None => Location::DataDir(self.dir.path().to_path_buf()),
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.postgres.is_some()
    }

    /// The keys a server on this store is given: on PostgreSQL the test schema's key, on a
    /// data directory none (it uses its own key file).
    pub fn encryption_keys(&self) -> Vec<SealingKey> {
        match self.postgres {
            Some(_) => vec![SealingKey::read_file(&self.dir.path().join(PG_KEY_FILE)).expect("the test schema's key")],
            None => Vec::new(),
        }
    }

    /// The `public-api` flags that select this store.
    pub fn cli_args(&self) -> Vec<String> {
        match self.location() {
            Location::Postgres(url) => vec![
                "--database-url".into(),
                url,
                "--encryption-key-file".into(),
                self.dir.path().join(PG_KEY_FILE).display().to_string(),
            ],
            Location::DataDir(dir) => vec!["--data-dir".into(), dir.display().to_string()],
        }
    }
}

impl Drop for TestStore {
    fn drop(&mut self) {
        let Some((url, schema)) = self.postgres.take() else { return };
        if let Err(e) = postgres::drop_schema_blocking(url, schema) {
            eprintln!("could not drop a test schema: {e}");
        }
    }
}

pub struct TestApp {
    pub server: Server,
    pub base: String,
    /// A key of the default organisation.
    pub key: String,
    pub client: reqwest::Client,
    pub dir: TestStore,
}

/// A response, with its body parsed as JSON when it is JSON.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Value {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.text);
        &self.json
    }

    /// Asserts an RFC 9457 problem with this status and code.
    #[track_caller]
    pub fn expect_problem(&self, status: u16, code: &str) -> &Value {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.text);
        assert_eq!(self.header("content-type"), Some("application/problem+json"), "not a problem: {}", self.text);
        assert_eq!(self.json["code"], code, "body: {}", self.text);
        assert_eq!(self.json["status"], status);
        assert!(self.json["request_id"].is_string());
        assert_eq!(self.json["request_id"].as_str(), self.header("x-request-id"));
        &self.json
    }
}

/// Where a PostgreSQL test schema's key is kept, in the test's temporary directory.
const PG_KEY_FILE: &str = "pg-encryption.key";

/// The tests' server configuration on the test's store.
pub fn config(store: &TestStore) -> ServeConfig {
    let mut config = configured(store.location());
    config.encryption_keys = store.encryption_keys();
    config
}

/// The tests' server configuration on a SQLite data directory, for tests of the data
/// directory itself.
pub fn sqlite_config(dir: &Path) -> ServeConfig {
    configured(Location::DataDir(dir.to_path_buf()))
}

fn configured(location: Location) -> ServeConfig {
    let mut config = ServeConfig::new("127.0.0.1:0".parse().expect("loopback address"), location);
    config.api.rate_limit = None;
    // Interviews wait for a test to ask for them (sandbox) unless a test sets a delay.
    config.interview.delay = jiff::SignedDuration::from_hours(24);
    config.interview.retry_delay = jiff::SignedDuration::from_hours(1);
    // Receivers in tests listen on loopback.
    config.delivery.policy.allow = vec!["127.0.0.1/32".parse().expect("cidr")];
    config.delivery.timeout = std::time::Duration::from_secs(2);
    config
}

impl TestApp {
    pub async fn start() -> TestApp {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut ServeConfig)) -> TestApp {
        Self::start_with_clock(Arc::new(SystemClock), adjust).await
    }

    pub async fn start_with_clock(clock: Arc<dyn Clock>, adjust: impl FnOnce(&mut ServeConfig)) -> TestApp {
        let dir = TestStore::new().await;
        let mut config = config(&dir);
        adjust(&mut config);
        let server = Server::start(config, clock).await.expect("server starts");
        let key = server.bootstrap().expect("a fresh data dir is bootstrapped").key.secret.clone();
        TestApp { base: format!("http://{}", server.local_addr()), server, key, client: reqwest::Client::new(), dir }
    }

    /// Shuts the server down and starts a new one on the same data directory.
    pub async fn restart(self) -> TestApp {
        self.restart_with(|_| {}).await
    }

    /// As [`TestApp::restart`], with a changed configuration.
    pub async fn restart_with(self, adjust: impl FnOnce(&mut ServeConfig)) -> TestApp {
        let TestApp { server, key, dir, client, .. } = self;
        server.shutdown().await.expect("clean shutdown");
        let mut config = config(&dir);
        adjust(&mut config);
        let server = Server::start(config, Arc::new(SystemClock)).await.expect("server restarts");
        assert!(server.bootstrap().is_none(), "a used data dir is not bootstrapped again");
        TestApp { base: format!("http://{}", server.local_addr()), server, key, client, dir }
    }

    /// A new organisation and a key for it.
    pub async fn other_org(&self) -> String {
        let store = self.server.store();
        let now = SystemClock.now();
        let org = store.create_organization(IdKind::Organization.new_id(), "Other".into(), now).await.expect("org");
        {
            let request =
                keys::KeyRequest { org_id: &org.id, name: "other", expires_at: None, scopes: Scope::ALL.to_vec() };
            keys::issue(store.as_ref(), request, now, AuditContext::cli()).await.expect("key").secret
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Resp {
        let response = request.send().await.expect("request is sent");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp { status, headers, text, json }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.get_as(&self.key, path).await
    }

    pub async fn get_as(&self, key: &str, path: &str) -> Resp {
        self.send(self.client.get(self.url(path)).bearer_auth(key)).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.post_as(&self.key, path, body).await
    }

    pub async fn post_as(&self, key: &str, path: &str, body: Value) -> Resp {
        self.send(self.client.post(self.url(path)).bearer_auth(key).json(&body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.send(self.client.patch(self.url(path)).bearer_auth(&self.key).json(&body)).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send(self.client.delete(self.url(path)).bearer_auth(&self.key)).await
    }

    /// Creates a phone job and returns its id.
    pub async fn job(&self, external_id: &str) -> String {
        let r =
            self.post("/v1/jobs", serde_json::json!({"title": "Delivery Driver", "external_id": external_id})).await;
        r.expect(201)["id"].as_str().expect("id").to_owned()
    }
}

/// Replaces ids, times and ports in a JSON value with placeholders, for snapshots.
pub fn redact(value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(redact_text(s)),
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), redact(v))).collect()),
        other => other.clone(),
    }
}

fn redact_text(s: &str) -> String {
    let mut out = String::new();
    for (i, word) in s.split_inclusive(['/', ' ', '"', '.']).enumerate() {
        let _ = i;
        let core = word.trim_end_matches(['/', ' ', '"', '.']);
        let tail = &word[core.len()..];
        let is_id = core.split_once('_').is_some_and(|(prefix, hex)| {
            ["evt", "app", "job", "cand", "key", "org", "req"].contains(&prefix)
                && hex.len() == 32
                && hex.bytes().all(|b| b.is_ascii_hexdigit())
        });
        if is_id {
            out.push_str(&format!("[{}_id]{tail}", core.split('_').next().unwrap_or("")));
        } else {
            out.push_str(word);
        }
    }
    if out.parse::<jiff::Timestamp>().is_ok() {
        return "[timestamp]".into();
    }
    // Loopback ports change from run to run.
    match out.find("127.0.0.1:") {
        Some(i) => {
            let rest = &out[i + 10..];
            let digits = rest.chars().take_while(char::is_ascii_digit).count();
            format!("{}127.0.0.1:[port]{}", &out[..i], &rest[digits..])
        }
        None => out,
    }
}

/// A minimal valid application body for `job_id`.
pub fn application(job_id: &str) -> Value {
    serde_json::json!({
        "job_id": job_id,
        "candidate": {"first_name": "Ada", "last_name": "Lovelace", "phone": "+14155550123"}
    })
}

/// Runs insta assertions with snapshots in the repository's `snapshots/` folder.
#[macro_export]
macro_rules! snapshot {
    ($($arg:tt)*) => {{
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots"));
        settings.bind(|| insta::assert_json_snapshot!($($arg)*));
    }};
}

/// Like `snapshot!`, for plain text.
#[macro_export]
macro_rules! text_snapshot {
    ($($arg:tt)*) => {{
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots"));
        settings.bind(|| insta::assert_snapshot!($($arg)*));
    }};
}

/// Completed results as the interview engine would post them.
pub fn sample_results() -> public_api::domain::results::CallResults {
    use public_api::domain::results::*;
    let at = jiff::Timestamp::from_second(1_790_000_000).unwrap();
    CallResults::Completed(Box::new(InterviewResults {
        score: 80,
        completion_rate: 1.0,
        summary: "Strong candidate.".into(),
        question_grades: vec![],
        candidate_questions: vec!["When do I start?".into()],
        extracted_fields: Default::default(),
        transcript: vec![TranscriptTurn {
            speaker: Speaker::Agent,
            text: "Hello".into(),
            start_seconds: 0.0,
            end_seconds: 1.0,
        }],
        resume_review: ResumeReview {
            has_resume: false,
            star_rating: None,
            meets_all_required: None,
            requirements: vec![],
            summary: "No resume.".into(),
        },
        recording_url: "https://example.invalid/r".into(),
        report_url: "https://example.invalid/p".into(),
        call: CallSummary {
            attempts: 1,
            outcomes: vec![CallOutcome::Completed],
            started_at: at,
            ended_at: at,
            duration_seconds: 300,
        },
    }))
}

/// Every request the simulator's receiver got verified (signature and schema), and a message that
/// arrived more than once carried the same bytes under the same `webhook-id` each time. Returns
/// how many distinct messages arrived.
pub fn assert_verified_and_redeliveries_identical(receiver: &webhook_sim::receiver::Receiver) -> usize {
    let mut bodies: std::collections::BTreeMap<String, Vec<u8>> = std::collections::BTreeMap::new();
    for d in receiver.deliveries() {
        assert!(d.verified(), "{:?} {:?}", d.signature, d.schema);
        let first = bodies.entry(d.webhook_id.clone().unwrap()).or_insert_with(|| d.body_bytes());
        assert_eq!(*first, d.body_bytes(), "a redelivery carries the same bytes under the same webhook-id");
    }
    bodies.len()
}

/// Runs the `public-api` binary on the test's store.
pub fn cli(store: &TestStore, args: &[&str]) -> (bool, String, String) {
    let mut all = store.cli_args();
    all.extend(args.iter().map(|a| (*a).to_owned()));
    run_binary(&all)
}

/// Runs the `public-api` binary with `args` alone (no store flags from the environment).
pub fn run_binary(args: &[impl AsRef<std::ffi::OsStr>]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_public-api"))
        .args(args)
        .env_remove("PUBLIC_API_DATA_DIR")
        .env_remove("PUBLIC_API_DATABASE_URL")
        .env_remove("PUBLIC_API_ENCRYPTION_KEY")
        .env_remove("PUBLIC_API_ENCRYPTION_KEY_FILE")
        .output()
        .expect("binary runs");
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    (out.status.success(), text(out.stdout), text(out.stderr))
}

/// Runs `sql` on the test's store directly (with the server stopped).
pub async fn execute_raw(store: &TestStore, sql: &str) {
    match store.location() {
        public_api::store::Location::DataDir(dir) => {
            let conn = rusqlite::Connection::open(dir.join(public_api::store::sqlite::DB_FILE)).unwrap();
            conn.execute_batch(sql).unwrap();
        }
        public_api::store::Location::Postgres(url) => {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
            tokio::spawn(connection);
            client.batch_execute(sql).await.unwrap();
        }
    }
}
