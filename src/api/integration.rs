//! `GET /v1/integration`: the provider behind the Public API and what it supports, the same
//! facts as `spec/ats-coverage.md`, from the same table.

use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::extract::Principal;
use crate::ats::capabilities::{self, Capability, PUBLIC_API, ProviderConfig};

pub const TAG: &str = "Integration";

/// How your organisation is integrated: the `public_api` provider and its capability table.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Integration {
    pub provider: ProviderConfig,
    /// One row per ATS client method, with its support status.
    pub capabilities: Vec<Capability>,
}

/// The integration's provider and capabilities.
#[utoipa::path(
    get,
    path = "/v1/integration",
    tag = TAG,
    responses((status = 200, description = "The provider and its capability table.", body = Integration))
)]
pub async fn get_integration(_principal: Principal) -> Json<Integration> {
    Json(Integration { provider: PUBLIC_API, capabilities: capabilities::table() })
}
