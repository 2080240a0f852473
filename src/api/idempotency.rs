//! `Idempotency-Key` on POST: a retried request gets the first response back instead of
//! doing the work twice.
//!
//! The key is claimed in the store before the handler runs, so two concurrent requests with
//! one key cannot both run (the second gets 409), even across server processes. Successful
//! responses are kept for the retention period (24 h by default) and replayed byte for byte
//! with `Idempotent-Replayed: true`. Failed requests are not kept: they changed nothing, so
//! retrying them with the same key simply runs them again. The same key with a different
//! method, path or body is refused with 422 `idempotency_key_reused`.

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};

use super::AppState;
use super::extract::Principal;
use super::problem::ApiError;
use crate::store::{IdempotencyBegin, IdempotencyClaim, StoredResponse};

pub const HEADER: &str = "idempotency-key";
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
const MAX_KEY_LEN: usize = 255;

/// Runs the rest of an authenticated request under its `Idempotency-Key`, if it is a POST that
/// has one. Called by [`super::auth::authenticate`] rather than being a layer of its own: one
/// middleware per request instead of two saves cloning a second stack of services.
pub async fn idempotency(state: &AppState, request: Request, next: Next) -> Result<Response, ApiError> {
    if request.method() != Method::POST {
        return Ok(next.run(request).await);
    }
    let Some(raw) = request.headers().get(HEADER) else {
        return Ok(next.run(request).await);
    };
    let key = raw
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= MAX_KEY_LEN && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_idempotency_key",
                "The Idempotency-Key header must be 1 to 255 visible ASCII characters, such as a UUID.",
            )
        })?
        .to_owned();
    let principal = request
        .extensions()
        .get::<Principal>()
        .cloned()
        .ok_or_else(|| ApiError::internal("Idempotency needs an authenticated caller."))?;

    let (parts, body) = request.into_parts();
    let bytes = to_bytes(body, state.config.max_body_bytes).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "Payload too large",
            "The request body is larger than this server accepts.",
        )
    })?;
    let fingerprint = {
        let mut h = Sha256::new();
        h.update(parts.method.as_str());
        h.update(b"\n");
        h.update(parts.uri.path_and_query().map_or("", |p| p.as_str()));
        h.update(b"\n");
        h.update(&bytes);
        h.finalize().iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    let claim = IdempotencyClaim {
        org_id: principal.org_id.clone(),
        key: key.clone(),
        fingerprint,
        now: state.clock.now(),
        retention: state.config.idempotency_retention,
        abandon_after: state.config.idempotency_abandon_after,
    };
    match state.store.idempotency_begin(claim).await? {
        IdempotencyBegin::Proceed => {
            let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
            if !response.status().is_success() {
                if let Err(e) = state.store.idempotency_release(&principal.org_id, &key).await {
                    tracing::warn!(error = %e, "could not release an idempotency key; it frees itself later");
                }
                return Ok(response);
            }
            let (parts, body) = response.into_parts();
            let body = to_bytes(body, usize::MAX)
                .await
                .map_err(|e| ApiError::internal(format!("The response could not be buffered: {e}")))?;
            let stored = StoredResponse {
                status: parts.status.as_u16(),
                content_type: parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned),
                body: body.to_vec(),
            };
            // The work is done and durable; failing to remember the response must not turn
            // it into an error. A retry then re-runs the (upsert-safe) request.
            if let Err(e) = state.store.idempotency_finish(&principal.org_id, &key, stored).await {
                tracing::warn!(error = %e, "could not store a response for idempotent replay");
            }
            Ok(Response::from_parts(parts, Body::from(body)))
        }
        IdempotencyBegin::Replay(stored) => {
            let mut response = Response::new(Body::from(stored.body));
            *response.status_mut() = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
            if let Some(ct) = stored.content_type.and_then(|ct| HeaderValue::from_str(&ct).ok()) {
                response.headers_mut().insert(header::CONTENT_TYPE, ct);
            }
            response.headers_mut().insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
            Ok(response)
        }
        IdempotencyBegin::Mismatch => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "Idempotency key reused",
            "This Idempotency-Key was already used with a different request; use a new key for a new request.",
        )),
        IdempotencyBegin::InProgress => Err(ApiError::conflict(
            "idempotency_key_in_use",
            "A request with this Idempotency-Key is still being processed; retry shortly.",
        )
        .with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))),
    }
}
