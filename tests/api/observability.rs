//! What an operator reads: `/metrics` after real traffic, checked as exposition format here
//! (and by `promtool check metrics` in the `metrics` CI stage, from the scrape this writes to
//! `PUBLIC_API_METRICS_SCRAPE`); the Grafana dashboard against it; and the JSON log lines.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use httpmock::MockServer;
use serde_json::{Value, json};

use crate::crash::read_address;
use crate::support::{TestApp, TestStore, application};

const DASHBOARD: &str = include_str!("../../ops/grafana/public-api.json");

type Labels = Vec<(String, String)>;

/// One sample line: its name, labels in order, and value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: Labels,
    value: f64,
}

/// A scrape parsed as the text exposition format, failing on anything a scraper would reject
/// or misread: a sample outside the family its `# TYPE` line opened, a family declared twice,
/// a series repeated, a malformed label, or a histogram whose buckets are not cumulative or
/// do not end at `+Inf` with the count.
fn parse(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut families: BTreeMap<String, String> = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    let mut series = BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            assert!(families.insert(name.to_owned(), kind.to_owned()).is_none(), "family declared twice: {name}");
            current = Some((name.to_owned(), kind.to_owned()));
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (head, value) = line.rsplit_once(' ').expect("name value");
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("not a number: {line}"));
        let (name, labels) = match head.split_once('{') {
            Some((name, rest)) => (name, parse_labels(rest.strip_suffix('}').expect("labels end with }"))),
            None => (head, Vec::new()),
        };
        let (family, kind) = current.as_ref().unwrap_or_else(|| panic!("a sample before any # TYPE: {line}"));
        let belongs = match kind.as_str() {
            "histogram" => [format!("{family}_bucket"), format!("{family}_sum"), format!("{family}_count")]
                .contains(&name.to_owned()),
            _ => name == family,
        };
        assert!(belongs, "{name} is outside its family {family}");
        assert!(series.insert(format!("{name}{labels:?}")), "series repeated: {line}");
        samples.push(Sample { name: name.to_owned(), labels, value });
    }
    check_histograms(&samples, &families);
    samples
}

fn parse_labels(text: &str) -> Labels {
    let mut labels = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"").expect("label=\"value\"");
        assert!(key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "label name {key}");
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next().expect("a closing quote") {
                (_, '\\') => value.push(chars.next().expect("an escaped character").1),
                (i, '"') => break i,
                (_, c) => value.push(c),
            }
        };
        labels.push((key.to_owned(), value));
        rest = after[end + 1..].strip_prefix(',').unwrap_or(&after[end + 1..]);
    }
    labels
}

fn check_histograms(samples: &[Sample], families: &BTreeMap<String, String>) {
    for (family, _) in families.iter().filter(|(_, kind)| *kind == "histogram") {
        let mut buckets: BTreeMap<Labels, Vec<(String, f64)>> = BTreeMap::new();
        for s in samples.iter().filter(|s| s.name == format!("{family}_bucket")) {
            let le = s.labels.iter().find(|(k, _)| k == "le").expect("a bucket has le").1.clone();
            let others = s.labels.iter().filter(|(k, _)| k != "le").cloned().collect();
            buckets.entry(others).or_default().push((le, s.value));
        }
        for (labels, bounds) in buckets {
            assert!(bounds.windows(2).all(|w| w[0].1 <= w[1].1), "{family}{labels:?}: buckets not cumulative");
            let (last, inf) = bounds.last().expect("buckets");
            assert_eq!(last, "+Inf", "{family}{labels:?}: the last bucket is +Inf");
            let count = samples
                .iter()
                .find(|s| s.name == format!("{family}_count") && s.labels == labels)
                .expect("a count per series");
            assert_eq!(count.value, *inf, "{family}{labels:?}: +Inf equals the count");
        }
    }
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| s.name == name && labels.iter().all(|(k, v)| s.labels.iter().any(|(sk, sv)| sk == k && sv == v)))
        .map(|s| s.value)
}

/// Requests across routes, methods and status classes, and one webhook attempt of each kind;
/// then the scrape, as text.
async fn scrape_after_traffic(app: &TestApp) -> String {
    let job = app.job("REQ-1").await;
    app.job("REQ-2").await;
    for _ in 0..3 {
        app.get(&format!("/v1/jobs/{job}")).await.expect(200);
    }
    app.get("/v1/jobs/job_01jd2x3y4z5a6b7c8d9e0f1g2h").await.expect(404);
    app.post("/v1/jobs", json!({"title": ""})).await.expect(422);
    app.get_as("tenzo_pk_not_a_key", "/v1/jobs").await.expect(401);
    app.send(app.client.get(app.url("/no/such/route"))).await.expect(404);
    app.send(app.client.put(app.url("/v1/jobs"))).await.expect(405);
    app.post("/v1/applications", application(&job)).await.expect(201);

    let receiver = MockServer::start_async().await;
    receiver
        .mock_async(|when, then| {
            when.path("/hook");
            then.status(204);
        })
        .await;
    let endpoint = app.post("/v1/webhook-endpoints", json!({"url": receiver.url("/hook")})).await;
    let endpoint = endpoint.expect(201)["endpoint"]["id"].as_str().expect("id").to_owned();
    app.post(&format!("/v1/webhook-endpoints/{endpoint}/test"), json!({})).await.expect(200);

    let scrape = app.send(app.client.get(app.url("/metrics"))).await;
    assert_eq!(scrape.status, 200);
    assert_eq!(scrape.header("content-type"), Some("text/plain; version=0.0.4"));
    if let Ok(path) = std::env::var("PUBLIC_API_METRICS_SCRAPE") {
        std::fs::write(&path, &scrape.text).expect("the scrape is written for promtool");
    }
    scrape.text
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_method_and_status_class() {
    let app = TestApp::start().await;
    let text = scrape_after_traffic(&app).await;
    let samples = parse(&text);
    let requests = |route: &str, method: &str, status: &str| {
        value(&samples, "http_requests_total", &[("route", route), ("method", method), ("status", status)])
    };
    assert_eq!(requests("/v1/jobs/{job_id}", "GET", "2xx"), Some(3.0), "{text}");
    assert_eq!(requests("/v1/jobs/{job_id}", "GET", "4xx"), Some(1.0));
    assert_eq!(requests("/v1/jobs", "POST", "2xx"), Some(2.0));
    assert_eq!(requests("/v1/jobs", "POST", "4xx"), Some(1.0));
    assert_eq!(requests("/v1/jobs", "GET", "4xx"), Some(1.0), "a 401 counts under its route");
    assert_eq!(requests("/v1/jobs", "PUT", "4xx"), Some(1.0), "a 405 counts under its route");
    assert_eq!(requests("unmatched", "GET", "4xx"), Some(1.0), "no path ever becomes a label");
    assert_eq!(requests("/v1/webhook-endpoints/{endpoint_id}/test", "POST", "2xx"), Some(1.0));
    assert!(!text.contains("job_01"), "ids never become labels");
    let count = value(
        &samples,
        "http_request_duration_seconds_count",
        &[("route", "/v1/jobs/{job_id}"), ("method", "GET"), ("status", "2xx")],
    );
    assert_eq!(count, Some(3.0));

    assert_eq!(value(&samples, "store_up", &[]), Some(1.0));
    assert!(value(&samples, "store_connections", &[("state", "idle")]).is_some());
    assert_eq!(value(&samples, "store_connection_waiters", &[]), Some(0.0));
    if app.dir.is_postgres() {
        assert!(value(&samples, "store_connections_max", &[]).is_some_and(|max| max > 0.0));
        assert_eq!(value(&samples, "store_writer_queue", &[]), None, "PostgreSQL has no writer thread");
    } else {
        let transactions = value(&samples, "store_writer_transactions_total", &[]).expect("the writer's commits");
        let writes = value(&samples, "store_writer_writes_total", &[]).expect("the writer's writes");
        assert!(transactions >= 1.0 && writes >= transactions, "{transactions} commits of {writes} writes");
        assert_eq!(value(&samples, "store_writer_queue", &[]), Some(0.0), "nothing waits once requests are answered");
    }
    assert_eq!(value(&samples, "webhook_attempts_total", &[("outcome", "success")]), Some(1.0));
    assert_eq!(value(&samples, "webhook_attempt_duration_seconds_count", &[]), Some(1.0));
}

#[tokio::test]
async fn the_grafana_dashboard_uses_only_metrics_the_server_exposes() {
    let dashboard: Value = serde_json::from_str(DASHBOARD).expect("the dashboard is JSON");
    assert!(dashboard["title"].is_string() && dashboard["uid"].is_string());
    let panels = dashboard["panels"].as_array().expect("panels");
    let mut ids = BTreeSet::new();
    let mut exprs = Vec::new();
    for panel in panels {
        assert!(ids.insert(panel["id"].as_u64().expect("a panel id")), "panel ids are unique");
        assert!(panel["gridPos"]["w"].is_u64() && panel["gridPos"]["h"].is_u64(), "{panel}");
        for target in panel["targets"].as_array().into_iter().flatten() {
            exprs.push(target["expr"].as_str().expect("a PromQL expression").to_owned());
        }
    }

    let app = TestApp::start().await;
    let samples = parse(&scrape_after_traffic(&app).await);
    let exposed: BTreeSet<&str> = samples.iter().map(|s| s.name.as_str()).collect();
    let mut used = BTreeSet::new();
    for expr in &exprs {
        let words = expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'));
        for word in words.filter(|w| ["http_", "store_", "webhook_"].iter().any(|p| w.starts_with(p))) {
            used.insert(word.to_owned());
        }
    }
    let missing: Vec<&String> = used.iter().filter(|name| !exposed.contains(name.as_str())).collect();
    // The writer's families exist only on SQLite, the pool's limit only on PostgreSQL.
    let backend_only = if app.dir.is_postgres() {
        ["store_writer_queue", "store_writer_transactions_total", "store_writer_writes_total"].as_slice()
    } else {
        ["store_connections_max"].as_slice()
    };
    let missing: Vec<&&String> = missing.iter().filter(|name| !backend_only.contains(&name.as_str())).collect();
    assert!(missing.is_empty(), "the dashboard uses metrics /metrics does not expose: {missing:?}");
    for family in ["http_requests_total", "http_request_duration_seconds_bucket", "store_up", "webhook_attempts_total"]
    {
        assert!(used.contains(family), "the dashboard shows {family}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_per_line_with_each_request() {
    let store = TestStore::new().await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_public-api"))
        .args(store.cli_args())
        .args(["--log-format", "json", "serve", "--addr", "127.0.0.1:0", "--rate-limit", "0"])
        .env("PUBLIC_API_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("server starts");
    let (base, key) = read_address(&mut child);
    let key = key.expect("first start prints a key");
    public_api::install_crypto_provider();
    let client = reqwest::Client::new();
    let created = client
        .post(format!("{base}/v1/jobs"))
        .bearer_auth(&key)
        .header("x-request-id", "req_log_test_1")
        .json(&json!({"title": "Driver"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(created.status(), 201);
    let job = created.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_owned();
    let missing = client.get(format!("{base}/v1/jobs/{job}x")).bearer_auth(&key).send().await.expect("sent");
    let missing_id = missing.headers()["x-request-id"].to_str().expect("ascii").to_owned();

    // SIGTERM: the server stops and closes stderr, so the lines can be read to the end.
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().expect("kill runs").success());
    let stderr = child.stderr.take().expect("stderr is piped");
    let lines: Vec<Value> = BufReader::new(stderr)
        .lines()
        .map(|line| {
            let line = line.expect("text");
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {line}"))
        })
        .collect();
    assert!(child.wait().expect("exits").success());

    for line in &lines {
        for field in ["timestamp", "level", "message", "target"] {
            assert!(line[field].is_string(), "{field} in {line}");
        }
        let time = line["timestamp"].as_str().unwrap_or_default();
        time.parse::<jiff::Timestamp>().unwrap_or_else(|e| panic!("timestamp {time}: {e}"));
    }
    let request =
        |id: &str| lines.iter().find(|l| l["target"] == "public_api::access" && l["request_id"] == id).cloned();
    let post = request("req_log_test_1").expect("the POST's line");
    assert_eq!(post["level"], "INFO");
    assert_eq!(post["method"], "POST");
    assert_eq!(post["route"], "/v1/jobs");
    assert_eq!(post["status"], 201);
    assert!(post["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0), "{post}");
    let get = request(&missing_id).expect("the GET's line, under the id its response carried");
    assert_eq!(get["route"], "/v1/jobs/{job_id}");
    assert_eq!(get["path"], format!("/v1/jobs/{job}x"));
    assert!(get["status"].as_u64().is_some_and(|s| (400..500).contains(&s)), "{get}");
    assert!(lines.iter().any(|l| l["message"] == "listening"), "the start is logged");
    assert!(lines.iter().any(|l| l["message"] == "stopped"), "the stop is logged");
}
