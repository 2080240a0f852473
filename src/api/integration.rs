//! `GET /v1/integration`: the provider behind the Public API and what it supports, the same
//! facts as `spec/ats-coverage.md`, from the same table.

use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::extract::Principal;
use crate::ats::capabilities::{self, Capability, PUBLIC_API, ProviderConfig};
use crate::domain::Scope;

pub const TAG: &str = "Integration";

/// How your organisation is integrated: the `public_api` provider, its capability table, and
/// the scopes API keys are given.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Integration {
    pub provider: ProviderConfig,
    /// One row per ATS client method, with its support status.
    pub capabilities: Vec<Capability>,
    /// Every API key scope, what it grants, and the operations that need it.
    pub scopes: Vec<ScopeInfo>,
}

/// One API key scope.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ScopeInfo {
    pub scope: Scope,
    /// What it allows.
    #[schema(example = "Create, change and close jobs.")]
    pub grants: String,
    /// The `operationId`s that need it.
    #[schema(example = json!(["create_job", "update_job", "close_job"]))]
    pub operations: Vec<String>,
}

/// The integration's provider and capabilities.
#[utoipa::path(
    get,
    path = "/v1/integration",
    tag = TAG,
    responses((status = 200, description = "The provider and its capability table.", body = Integration))
)]
pub async fn get_integration(_principal: Principal) -> Json<Integration> {
    let scopes = Scope::ALL
        .into_iter()
        .map(|scope| ScopeInfo {
            scope,
            grants: scope.grants().to_owned(),
            operations: super::scopes::operations_needing(scope).map(str::to_owned).collect(),
        })
        .collect();
    Json(Integration { provider: PUBLIC_API, capabilities: capabilities::table(), scopes })
}
