//! The control API under `/_sim/`: list, filter, summarise, reset, wait for deliveries, and read
//! or replace the response script, all as JSON.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use super::{Filter, Script, Shared, script};

pub(super) fn routes() -> axum::Router<Arc<Shared>> {
    axum::Router::new()
        .route("/deliveries", get(list))
        .route("/summary", get(summary))
        .route("/reset", post(reset))
        .route("/wait", get(wait))
        .route("/script", get(get_script).put(put_script))
}

/// `GET /_sim/deliveries?event_type=&path=&webhook_id=&verified=&accepted=&after_seq=`
async fn list(State(shared): State<Arc<Shared>>, Query(filter): Query<Filter>) -> Response {
    Json(json!({ "deliveries": shared.matching(&filter) })).into_response()
}

async fn summary(State(shared): State<Arc<Shared>>) -> Response {
    let state = shared.lock();
    Json(json!({ "summary": state.summary, "record_error": state.record_error })).into_response()
}

async fn reset(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.reset();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct WaitQuery {
    count: usize,
    #[serde(default = "default_wait_ms")]
    timeout_ms: u64,
    #[serde(flatten)]
    filter: Filter,
}

fn default_wait_ms() -> u64 {
    10_000
}

/// `GET /_sim/wait?count=N&timeout_ms=T&…filter`: 200 with the deliveries once N match, 408 with
/// those that did when the time runs out (at most 5 minutes).
async fn wait(State(shared): State<Arc<Shared>>, Query(query): Query<WaitQuery>) -> Response {
    let timeout = Duration::from_millis(query.timeout_ms.min(300_000));
    match shared.wait(&query.filter, query.count, timeout).await {
        Ok(found) => Json(json!({ "deliveries": found })).into_response(),
        Err(e) => {
            (StatusCode::REQUEST_TIMEOUT, Json(json!({ "error": e.to_string(), "deliveries": e.got }))).into_response()
        }
    }
}

async fn get_script(State(shared): State<Arc<Shared>>) -> Json<Script> {
    Json(shared.lock().script.script.clone())
}

/// `PUT /_sim/script` with a script as JSON; its sequences start again.
async fn put_script(State(shared): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    match serde_json::from_slice::<Script>(&body) {
        Ok(new) => {
            shared.lock().script = script::Running::new(new);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, Json(json!({ "error": format!("not a script: {e}") }))).into_response(),
    }
}
