//! Organisations (tenants) and their API keys.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Scope;

/// A tenant. Nothing of one organisation is ever visible to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organization {
    pub id: String,
    pub name: String,
    pub created_at: Timestamp,
}

/// An API key. The secret itself is never stored; only its SHA-256 hash is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApiKey {
    /// Our identifier for the key, prefixed `key_`.
    #[schema(example = "key_0192d5e7c1b27a3f8e6b8c2f4d1a9e73")]
    pub id: String,
    /// A label to recognise the key by.
    #[schema(example = "CI pipeline")]
    pub name: String,
    /// The first characters of the secret, to tell keys apart.
    #[schema(example = "tenzo_pk_Xq3v")]
    pub prefix: String,
    /// What the key may do. Each operation names the one scope it needs; a key without it
    /// gets 403 `insufficient_scope`.
    #[schema(example = json!(["jobs:read", "jobs:write", "applications:write"]))]
    pub scopes: Vec<Scope>,
    pub created_at: Timestamp,
    /// After this time the key no longer authenticates.
    pub expires_at: Option<Timestamp>,
    /// When the key was revoked; a revoked key never authenticates again.
    pub revoked_at: Option<Timestamp>,
    /// When the key last authenticated a request.
    pub last_used_at: Option<Timestamp>,
    /// How many requests the key has authenticated.
    pub usage_count: u64,
    #[serde(skip)]
    #[schema(ignore)]
    pub org_id: String,
}

impl ApiKey {
    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }

    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }
}
