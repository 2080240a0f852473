//! `/v1/webhook-endpoints`: where your organisation receives events, with their secrets.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jiff::Timestamp;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::extract::{ApiJson, EndpointId, OptionalJson, Principal};
use super::problem::ApiError;
use super::webhook_deliveries::{AttemptResult, attempt_now};
use crate::domain::events::{EVENT_TYPES, EventType, OutboxEvent, WebhookTestData, WebhookTestEvent};
use crate::domain::ids::IdKind;
use crate::domain::webhooks::WebhookEndpoint;
use crate::domain::{Violations, rules};
use crate::store::webhooks::{EndpointPatch, NewEndpoint, SecretRotation};
use crate::webhooks::guard::GuardError;
use crate::webhooks::signing::Secret;

pub const TAG: &str = "Webhook endpoints";

/// The most custom headers an endpoint may have.
pub const MAX_HEADERS: usize = 20;
/// The longest webhook URL.
pub const MAX_URL_CHARS: usize = 2048;
/// The longest custom header value.
pub const MAX_HEADER_VALUE_CHARS: usize = 1000;

/// An endpoint to create.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"url": "https://hooks.example.com/tenzo", "description": "Production", "event_types": ["interview.completed", "interview.failed"]}))]
pub struct CreateEndpointRequest {
    /// Where events are POSTed: https (or http where the server allows it), a public address.
    pub url: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Event types to send; empty or absent for all.
    #[serde(default)]
    #[schema(value_type = Vec<EventType>)]
    pub event_types: Vec<String>,
    /// Defaults to `true`.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Extra headers for every delivery (up to 20; not `webhook-*`, `content-type`, `user-agent`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// At most this many deliveries per second (1 to 10,000); absent for no limit.
    #[serde(default, deserialize_with = "crate::domain::validate::whole_number::optional")]
    #[schema(minimum = 1, maximum = 10000)]
    pub rate_limit_per_second: Option<u32>,
}

/// Changes to an endpoint; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"enabled": true}))]
pub struct UpdateEndpointRequest {
    #[serde(default)]
    pub url: Option<String>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    /// Event types to send; empty for all.
    #[serde(default)]
    #[schema(value_type = Option<Vec<EventType>>)]
    pub event_types: Option<Vec<String>>,
    /// `true` re-enables a disabled endpoint (and forgets its failures).
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub headers: Option<BTreeMap<String, String>>,
    /// At most this many deliveries per second (1 to 10,000); `null` removes the limit.
    #[serde(default, deserialize_with = "crate::domain::validate::whole_number::present")]
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 10000)]
    pub rate_limit_per_second: Option<Option<u32>>,
}

fn present<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// An endpoint with its signing secret, shown only now.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EndpointWithSecret {
    pub endpoint: WebhookEndpoint,
    /// `whsec_…`: verify `webhook-signature` with it. Store it safely; it is not shown again.
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: String,
}

/// The organisation's endpoints, oldest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EndpointList {
    pub data: Vec<WebhookEndpoint>,
}

/// Checks a webhook URL: its shape ([`rules::WEBHOOK_URL`]), the server's https policy, and the
/// addresses it names. A host name that does not resolve yet is accepted (DNS for a new
/// receiver is often set up after its endpoint); every delivery resolves it again through the
/// guard, and attempts fail until it resolves to a public address.
async fn check_url(state: &AppState, v: &mut Violations, url: &str) {
    if url.chars().count() > MAX_URL_CHARS {
        v.push("url", "too_long", format!("must be at most {MAX_URL_CHARS} characters"));
        return;
    }
    if !rules::WEBHOOK_URL.is_match(url) {
        let message = if url.contains('@') && url.split(['/', '?', '#']).nth(2).is_some_and(|a| a.contains('@')) {
            "must not contain a user name or password; send credentials as custom headers"
        } else if url.contains("://[") {
            "must name its host by DNS name or IPv4 address; IPv6 literals are not accepted"
        } else {
            "must be an absolute http(s) URL with a DNS host name or a dotted IPv4 address, an optional port, and no spaces"
        };
        v.push("url", "invalid_format", message);
        return;
    }
    let policy = &state.dispatcher.config().policy;
    if let Err(e) = policy.check_url_resolved(url).await {
        let code = match e {
            GuardError::NotHttp(_) | GuardError::Credentials => "invalid_format",
            GuardError::HttpsRequired => "https_required",
            GuardError::Blocked { .. } => "blocked_address",
            GuardError::Unresolvable { .. } => return,
        };
        v.push("url", code, e.to_string());
    }
}

fn check_event_types(v: &mut Violations, types: &[String]) {
    for (i, t) in types.iter().enumerate() {
        if !EVENT_TYPES.contains(&t.as_str()) {
            v.push(format!("event_types[{i}]"), "invalid_value", format!("must be one of {}", EVENT_TYPES.join(", ")));
        }
    }
}

fn check_headers(v: &mut Violations, headers: &BTreeMap<String, String>) {
    if headers.len() > MAX_HEADERS {
        v.push("headers", "too_many", format!("must have at most {MAX_HEADERS} headers"));
    }
    for (name, value) in headers {
        let field = format!("headers.{name}");
        if !rules::HEADER_NAME.is_match(name) {
            v.push(&field, "invalid_format", "is not a valid HTTP header name");
        } else if rules::RESERVED_HEADER.is_match(name) {
            v.push(&field, "invalid_value", "is set by the sender and cannot be overridden");
        }
        if !rules::HEADER_VALUE.is_match(value) || value.chars().count() > MAX_HEADER_VALUE_CHARS {
            v.push(&field, "invalid_format", "must be visible ASCII, spaces and tabs, at most 1,000 characters");
        }
    }
}

fn check_rate(v: &mut Violations, rate: Option<u32>) {
    if rate.is_some_and(|r| !(1..=10_000).contains(&r)) {
        v.push("rate_limit_per_second", "invalid_value", "must be between 1 and 10,000");
    }
}

fn new_secret() -> Result<Secret, ApiError> {
    Secret::generate().map_err(|e| ApiError::internal(format!("No randomness for a secret: {e}")))
}

/// Create an endpoint. The response carries its signing secret, which is not shown again.
#[utoipa::path(
    post,
    path = "/v1/webhook-endpoints",
    tag = TAG,
    request_body = CreateEndpointRequest,
    responses((status = 201, description = "The endpoint was created.", body = EndpointWithSecret))
)]
pub async fn create_endpoint(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<CreateEndpointRequest>,
) -> Result<(StatusCode, Json<EndpointWithSecret>), ApiError> {
    let mut v = Violations::new();
    check_url(&state, &mut v, &body.url).await;
    let description = v.optional_text("description", body.description.as_deref(), 500, false);
    check_event_types(&mut v, &body.event_types);
    check_headers(&mut v, &body.headers);
    check_rate(&mut v, body.rate_limit_per_second);
    v.finish(()).map_err(ApiError::validation)?;
    let secret = new_secret()?;
    let endpoint = state
        .store
        .create_endpoint(
            &principal.org_id,
            NewEndpoint {
                id: IdKind::Endpoint.new_id(),
                url: body.url,
                description,
                event_types: body.event_types,
                enabled: body.enabled.unwrap_or(true),
                headers: body.headers,
                rate_limit_per_second: body.rate_limit_per_second,
                secret: secret.expose(),
            },
            state.clock.now(),
            principal.audit(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(EndpointWithSecret { endpoint, secret: secret.expose() })))
}

/// List the organisation's endpoints.
#[utoipa::path(
    get,
    path = "/v1/webhook-endpoints",
    tag = TAG,
    responses((status = 200, description = "Every endpoint, oldest first.", body = EndpointList))
)]
pub async fn list_endpoints(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<EndpointList>, ApiError> {
    Ok(Json(EndpointList { data: state.store.list_endpoints(&principal.org_id).await? }))
}

/// Get an endpoint.
#[utoipa::path(
    get,
    path = "/v1/webhook-endpoints/{endpoint_id}",
    tag = TAG,
    params(EndpointId),
    responses((status = 200, description = "The endpoint.", body = WebhookEndpoint))
)]
pub async fn get_endpoint(
    State(state): State<AppState>,
    principal: Principal,
    endpoint_id: EndpointId,
) -> Result<Json<WebhookEndpoint>, ApiError> {
    state
        .store
        .get_endpoint(&principal.org_id, &endpoint_id)
        .await?
        .map(Json)
        .ok_or_else(|| EndpointId::not_found(&endpoint_id))
}

/// Change an endpoint.
#[utoipa::path(
    patch,
    path = "/v1/webhook-endpoints/{endpoint_id}",
    tag = TAG,
    params(EndpointId),
    request_body = UpdateEndpointRequest,
    responses((status = 200, description = "The updated endpoint.", body = WebhookEndpoint))
)]
pub async fn update_endpoint(
    State(state): State<AppState>,
    principal: Principal,
    endpoint_id: EndpointId,
    ApiJson(body): ApiJson<UpdateEndpointRequest>,
) -> Result<Json<WebhookEndpoint>, ApiError> {
    let mut v = Violations::new();
    if let Some(url) = &body.url {
        check_url(&state, &mut v, url).await;
    }
    let description = body.description.map(|d| v.optional_text("description", d.as_deref(), 500, false));
    if let Some(types) = &body.event_types {
        check_event_types(&mut v, types);
    }
    if let Some(headers) = &body.headers {
        check_headers(&mut v, headers);
    }
    if let Some(rate) = body.rate_limit_per_second {
        check_rate(&mut v, rate);
    }
    v.finish(()).map_err(ApiError::validation)?;
    let patch = EndpointPatch {
        url: body.url,
        description,
        event_types: body.event_types,
        enabled: body.enabled,
        headers: body.headers,
        rate_limit_per_second: body.rate_limit_per_second,
    };
    let updated = state
        .store
        .update_endpoint(&principal.org_id, &endpoint_id, patch, state.clock.now(), principal.audit())
        .await?;
    updated.map(Json).ok_or_else(|| EndpointId::not_found(&endpoint_id))
}

/// Delete an endpoint. Its pending deliveries fail; the delivery log keeps its history.
#[utoipa::path(
    delete,
    path = "/v1/webhook-endpoints/{endpoint_id}",
    tag = TAG,
    params(EndpointId),
    responses((status = 204, description = "The endpoint was deleted."))
)]
pub async fn delete_endpoint(
    State(state): State<AppState>,
    principal: Principal,
    endpoint_id: EndpointId,
) -> Result<StatusCode, ApiError> {
    if state.store.delete_endpoint(&principal.org_id, &endpoint_id, state.clock.now(), principal.audit()).await? {
        return Ok(StatusCode::NO_CONTENT);
    }
    Err(EndpointId::not_found(&endpoint_id))
}

/// Replace the endpoint's signing secret. The previous secret keeps signing (deliveries carry
/// both signatures) until `previous_secret_expires_at`, 24 h by default.
#[utoipa::path(
    post,
    path = "/v1/webhook-endpoints/{endpoint_id}/rotate-secret",
    tag = TAG,
    params(EndpointId),
    responses((status = 200, description = "The endpoint and its new secret.", body = EndpointWithSecret))
)]
pub async fn rotate_secret(
    State(state): State<AppState>,
    principal: Principal,
    endpoint_id: EndpointId,
) -> Result<Json<EndpointWithSecret>, ApiError> {
    let now = state.clock.now();
    let overlap = state.dispatcher.config().rotation_overlap;
    let secret = new_secret()?;
    let endpoint = state
        .store
        .rotate_endpoint_secret(
            &principal.org_id,
            &endpoint_id,
            SecretRotation {
                new_secret: secret.expose(),
                previous_expires_at: now.checked_add(overlap).unwrap_or(now),
            },
            now,
            principal.audit(),
        )
        .await?
        .ok_or_else(|| EndpointId::not_found(&endpoint_id))?;
    Ok(Json(EndpointWithSecret { endpoint, secret: secret.expose() }))
}

/// Which event to send as a test.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"event_type": "interview.completed"}))]
pub struct TestEventRequest {
    /// The type of event to send: its published example, with a new `id`, the current
    /// `timestamp` and `"test": true`. Defaults to `webhook.test`. Any other type must be one
    /// the endpoint takes (409 `event_type_not_subscribed` otherwise).
    #[serde(default)]
    pub event_type: Option<EventType>,
}

/// Send a test event to the endpoint now and return the attempt: `webhook.test`, or the example
/// of any event type (marked `"test": true`, so your receiver can tell it from a real one). A
/// failed test is retried on the usual schedule, like any delivery.
#[utoipa::path(
    post,
    path = "/v1/webhook-endpoints/{endpoint_id}/test",
    tag = TAG,
    params(EndpointId),
    request_body(content = Option<TestEventRequest>, description = "Optional; without a body a `webhook.test` event is sent."),
    responses(
        (status = 200, description = "The test delivery and its first attempt (which may have failed: see `attempt`).", body = AttemptResult),
        (status = 409, description = "The endpoint does not take events of the type asked for (`event_type_not_subscribed`).", body = super::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn test_endpoint(
    State(state): State<AppState>,
    principal: Principal,
    endpoint_id: EndpointId,
    OptionalJson(body): OptionalJson<TestEventRequest>,
) -> Result<Json<AttemptResult>, ApiError> {
    let now = state.clock.now();
    let event_type = body.unwrap_or_default().event_type.unwrap_or(EventType::WebhookTest);
    let endpoint = state
        .store
        .get_endpoint(&principal.org_id, &endpoint_id)
        .await?
        .ok_or_else(|| EndpointId::not_found(&endpoint_id))?;
    let type_name = event_type.as_str();
    if event_type != EventType::WebhookTest && !crate::store::rules::takes(&endpoint, type_name) {
        // The endpoint's filter is stored state, which no schema can state: a 409, not a 422.
        return Err(ApiError::conflict(
            "event_type_not_subscribed",
            format!("The endpoint does not take {type_name} events; it takes {}.", endpoint.event_types.join(", ")),
        ));
    }
    let outbox = test_event(event_type, &endpoint_id, now)?;
    let delivery_id = state
        .store
        .queue_test_event(&principal.org_id, &endpoint_id, outbox)
        .await?
        .ok_or_else(|| EndpointId::not_found(&endpoint_id))?;
    attempt_now(&state, &principal, &delivery_id, true).await.map(Json)
}

/// The test event of `event_type`: `webhook.test` addressed to the endpoint, or the published
/// example of another type, each with a new id, the time `now` and the test marker.
fn test_event(event_type: EventType, endpoint_id: &str, now: Timestamp) -> Result<OutboxEvent, ApiError> {
    let encode = |e: serde_json::Error| ApiError::internal(format!("The test event does not encode: {e}"));
    if event_type == EventType::WebhookTest {
        let mut event = WebhookTestEvent::new(
            WebhookTestData {
                message: "This is a test event from the Public API.".into(),
                endpoint_id: endpoint_id.to_owned(),
            },
            now,
        );
        event.test = true;
        return OutboxEvent::from_event(&event.id, WebhookTestEvent::TYPE, None, now, &event).map_err(encode);
    }
    let (_, mut example) = crate::interview::examples::event_examples()
        .into_iter()
        .find(|(t, _)| *t == event_type.as_str())
        .ok_or_else(|| ApiError::internal(format!("No example of {} events.", event_type.as_str())))?;
    let id = IdKind::Event.new_id();
    example["id"] = id.clone().into();
    example["timestamp"] = now.to_string().into();
    example["test"] = true.into();
    OutboxEvent::from_event(&id, event_type.as_str(), None, now, &example).map_err(encode)
}
