//! `/v1/api-keys`: the organisation's keys. A secret is shown once, when its key is created.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::extract::{ApiJson, KeyId, Principal};
use super::problem::ApiError;
use crate::domain::{ApiKey, Scope, Violations};
use crate::keys;

pub const TAG: &str = "API keys";

/// A key to create.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "CI pipeline", "expires_at": "2027-06-30T00:00:00Z", "scopes": ["jobs:write", "applications:write"]}))]
pub struct CreateApiKeyRequest {
    /// A label to recognise the key by (1 to 100 characters).
    pub name: String,
    /// When the key stops working (RFC 3339). Omit for a key that does not expire. A time that
    /// has passed gives a key that is already expired.
    #[serde(default)]
    pub expires_at: Option<Timestamp>,
    /// What the new key may do. Omit it for the scopes of the key making the request; a key
    /// cannot give another key a scope it lacks itself (403 `insufficient_scope`).
    #[serde(default)]
    pub scopes: Option<Vec<Scope>>,
}

/// A new key and its secret.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreatedApiKey {
    pub key: ApiKey,
    /// The secret to send as `Authorization: Bearer …`. It is shown only now; store it safely.
    #[schema(example = "tenzo_pk_Xq3vR2m9cT4yB7nL0pK8sD1fG6hJ5wE2aZ3xC4vB5nM")]
    pub secret: String,
}

/// The organisation's keys, oldest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApiKeyList {
    pub data: Vec<ApiKey>,
}

/// List the organisation's API keys (without their secrets).
#[utoipa::path(
    get,
    path = "/v1/api-keys",
    tag = TAG,
    responses((status = 200, description = "Every key of the organisation, revoked ones included.", body = ApiKeyList))
)]
pub async fn list_api_keys(State(state): State<AppState>, principal: Principal) -> Result<Json<ApiKeyList>, ApiError> {
    let _settled = state.usage.settled().await;
    let mut data = state.store.list_api_keys(&principal.org_id).await?;
    for key in &mut data {
        with_pending_usage(&state, key);
    }
    Ok(Json(ApiKeyList { data }))
}

/// Create an API key. The response carries the secret; it cannot be shown again.
#[utoipa::path(
    post,
    path = "/v1/api-keys",
    tag = TAG,
    request_body = CreateApiKeyRequest,
    responses((status = 201, description = "The key was created, with the scopes asked for or, without `scopes`, those of the key that made it.", body = CreatedApiKey))
)]
pub async fn create_api_key(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<CreateApiKeyRequest>,
) -> Result<(StatusCode, Json<CreatedApiKey>), ApiError> {
    let now = state.clock.now();
    let mut v = Violations::new();
    let name = v.text("name", &body.name, 100, false);
    v.finish(()).map_err(ApiError::validation)?;
    let scopes = body.scopes.unwrap_or_else(|| principal.scopes.clone());
    let missing: Vec<Scope> = scopes.iter().copied().filter(|s| !principal.scopes.contains(s)).collect();
    if !missing.is_empty() {
        return Err(ApiError::insufficient_scope(&missing));
    }
    let new = keys::KeyRequest { org_id: &principal.org_id, name: &name, expires_at: body.expires_at, scopes };
    let issued = keys::issue(state.store.as_ref(), new, now, principal.audit()).await?;
    Ok((StatusCode::CREATED, Json(CreatedApiKey { key: issued.key, secret: issued.secret })))
}

/// Revoke an API key, at once and for good. Revoking a revoked key returns it unchanged.
#[utoipa::path(
    delete,
    path = "/v1/api-keys/{key_id}",
    tag = TAG,
    params(KeyId),
    responses((status = 200, description = "The key, now revoked.", body = ApiKey))
)]
pub async fn revoke_api_key(
    State(state): State<AppState>,
    principal: Principal,
    key_id: KeyId,
) -> Result<Json<ApiKey>, ApiError> {
    let not_found = || KeyId::not_found(&key_id);
    let _settled = state.usage.settled().await;
    let mut key = state
        .store
        .revoke_api_key(&principal.org_id, &key_id, state.clock.now(), principal.audit())
        .await?
        .ok_or_else(not_found)?;
    with_pending_usage(&state, &mut key);
    Ok(Json(key))
}

/// Adds uses counted in memory but not yet written to the store.
fn with_pending_usage(state: &AppState, key: &mut ApiKey) {
    if let Some((uses, last)) = state.usage.pending(&key.id) {
        key.usage_count += uses;
        key.last_used_at = key.last_used_at.max(Some(last));
    }
}
