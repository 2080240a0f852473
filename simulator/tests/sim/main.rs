//! The simulator's integration tests: the receiver driven over real HTTP on loopback, and the
//! grader run against receivers written here (in Rust and in Python), one correct and several
//! broken.

mod grader;
mod pack;
mod python_partners;
mod receiver;
mod replay;

pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A signed request for `body`, as the server would send it.
pub fn signed_request(
    client: &reqwest::Client,
    url: &str,
    id: &str,
    timestamp: i64,
    body: &str,
) -> reqwest::RequestBuilder {
    let mut request = client.post(url).header("content-type", "application/json").body(body.to_owned());
    for (name, value) in webhook_sim::sign(SECRET, id, timestamp, body.as_bytes()).unwrap() {
        request = request.header(name, value);
    }
    request
}

/// A published example, compact and stamped with `timestamp`.
pub fn event(event_type: &str, timestamp: &str) -> String {
    let mut value: serde_json::Value = serde_json::from_str(webhook_sim::example(event_type).unwrap()).unwrap();
    value["timestamp"] = serde_json::Value::String(timestamp.to_owned());
    value.to_string()
}

pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().no_proxy().timeout(std::time::Duration::from_secs(10)).build().unwrap()
}
