//! `/v1/webhook-deliveries`: every event sent to every endpoint, with every attempt.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::extract::{DeliveryId, Principal};
use super::pagination::{ApiQuery, ChangedAfter, PageParams, query_result};
use super::problem::ApiError;
use crate::domain::events::{EVENT_TYPES, EventType};
use crate::domain::ids::IdKind;
use crate::domain::webhooks::{DeliveryAttempt, DeliveryStatus, WebhookDelivery};
use crate::domain::{Cursor, Violations};
use crate::store::webhooks::DeliveryQuery;
use crate::webhooks::dispatcher::DispatchError;

pub const TAG: &str = "Webhook deliveries";

/// Filters for listing deliveries.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryFilter {
    /// Only deliveries to this endpoint.
    #[param(pattern = "^ep_[0-9a-f]{32}$")]
    pub endpoint_id: Option<String>,
    /// Only deliveries of this event type.
    #[param(value_type = Option<EventType>)]
    pub event_type: Option<String>,
    /// Only deliveries with this status.
    #[param(value_type = Option<DeliveryStatus>)]
    pub status: Option<String>,
}

/// A page of deliveries, oldest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeliveryList {
    pub data: Vec<WebhookDelivery>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
    pub has_more: bool,
}

/// A delivery with its event and every attempt, oldest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeliveryDetail {
    pub delivery: WebhookDelivery,
    /// The event as every attempt sends it: the body that `webhook-signature` signs, parsed
    /// (the payload of its type in `spec/webhooks/`).
    #[schema(value_type = Object)]
    pub event: serde_json::Value,
    pub attempts: Vec<DeliveryAttempt>,
}

/// List deliveries.
#[utoipa::path(
    get,
    path = "/v1/webhook-deliveries",
    tag = TAG,
    params(PageParams, ChangedAfter, DeliveryFilter),
    responses((status = 200, description = "A page of deliveries.", body = DeliveryList))
)]
pub async fn list_deliveries(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(page): ApiQuery<PageParams>,
    ApiQuery(changed): ApiQuery<ChangedAfter>,
    ApiQuery(filter): ApiQuery<DeliveryFilter>,
) -> Result<Json<DeliveryList>, ApiError> {
    let mut v = Violations::new();
    let paging = page.parse(&mut v);
    let updated_after = changed.parse(&mut v);
    let endpoint_id = super::pagination::given_id(&mut v, "endpoint_id", &filter.endpoint_id, IdKind::Endpoint);
    let event_type = super::pagination::given(&mut v, "event_type", &filter.event_type).and_then(|t| {
        let known = EVENT_TYPES.contains(&t);
        if !known {
            v.push("event_type", "invalid_value", format!("must be one of {}", EVENT_TYPES.join(", ")));
        }
        known.then(|| t.to_owned())
    });
    let status = super::pagination::given(&mut v, "status", &filter.status).and_then(|s| {
        let parsed = DeliveryStatus::parse(s);
        if parsed.is_none() {
            v.push("status", "invalid_value", "must be pending, succeeded or failed");
        }
        parsed
    });
    let paging = query_result(v, paging)?;
    let page = state
        .store
        .list_deliveries(
            &principal.org_id,
            DeliveryQuery { limit: paging.limit, after: paging.after, updated_after, endpoint_id, event_type, status },
        )
        .await?;
    Ok(Json(DeliveryList {
        data: page.items,
        next_cursor: page.next.map(Cursor::encode),
        has_more: page.next.is_some(),
    }))
}

/// Get a delivery and every attempt made for it.
#[utoipa::path(
    get,
    path = "/v1/webhook-deliveries/{delivery_id}",
    tag = TAG,
    params(DeliveryId),
    responses((status = 200, description = "The delivery and its attempts.", body = DeliveryDetail))
)]
pub async fn get_delivery(
    State(state): State<AppState>,
    principal: Principal,
    delivery_id: DeliveryId,
) -> Result<Json<DeliveryDetail>, ApiError> {
    let (delivery, attempts) = state
        .store
        .get_delivery(&principal.org_id, &delivery_id)
        .await?
        .ok_or_else(|| DeliveryId::not_found(&delivery_id))?;
    let payload =
        state.store.event_payload(&principal.org_id, &delivery.event_id).await?.ok_or_else(|| {
            ApiError::internal(format!("delivery {} has no event {}", delivery.id, delivery.event_id))
        })?;
    let event = serde_json::from_slice(&payload)
        .map_err(|e| ApiError::internal(format!("the event {} is not JSON: {e}", delivery.event_id)))?;
    Ok(Json(DeliveryDetail { delivery, event, attempts }))
}

/// Send the event again now, with the same `webhook-id`. A failed redelivery is not retried.
#[utoipa::path(
    post,
    path = "/v1/webhook-deliveries/{delivery_id}/redeliver",
    tag = TAG,
    params(DeliveryId),
    responses(
        (status = 200, description = "The delivery and the attempt just made (which may have failed: see `attempt`).", body = AttemptResult),
        (status = 409, description = "An attempt of this delivery is running right now (`delivery_busy`).", body = super::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn redeliver(
    State(state): State<AppState>,
    principal: Principal,
    delivery_id: DeliveryId,
) -> Result<Json<AttemptResult>, ApiError> {
    attempt_now(&state, &principal, &delivery_id, false).await.map(Json)
}

/// A delivery and the attempt just made.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttemptResult {
    pub delivery: WebhookDelivery,
    pub attempt: DeliveryAttempt,
}

/// Makes a manual attempt of a delivery and returns it with the delivery's new state.
pub async fn attempt_now(
    state: &AppState,
    principal: &Principal,
    delivery_id: &str,
    retry_on_failure: bool,
) -> Result<AttemptResult, ApiError> {
    let attempted = match state.dispatcher.manual(&principal.org_id, delivery_id, retry_on_failure).await {
        Ok(Some(a)) => a,
        Ok(None) => {
            return match state.store.get_delivery(&principal.org_id, delivery_id).await? {
                Some(_) => {
                    Err(ApiError::conflict("delivery_busy", "An attempt of this delivery is running; retry shortly."))
                }
                None => Err(DeliveryId::not_found(delivery_id)),
            };
        }
        Err(DispatchError::Store(e)) => return Err(e.into()),
        Err(e) => return Err(ApiError::internal(e.to_string())),
    };
    let (delivery, _) = state
        .store
        .get_delivery(&principal.org_id, delivery_id)
        .await?
        .ok_or_else(|| DeliveryId::not_found(delivery_id))?;
    Ok(AttemptResult { delivery, attempt: attempted.attempt })
}
