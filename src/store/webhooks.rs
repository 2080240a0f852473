//! Store inputs and outputs for webhook endpoints and deliveries.

use std::collections::BTreeMap;

use jiff::Timestamp;

use crate::domain::Cursor;
use crate::domain::webhooks::{DeliveryStatus, WebhookEndpoint};

#[derive(Debug, Clone)]
pub struct NewEndpoint {
    pub id: String,
    pub url: String,
    pub description: Option<String>,
    pub event_types: Vec<String>,
    pub enabled: bool,
    pub headers: BTreeMap<String, String>,
    pub rate_limit_per_second: Option<u32>,
    /// The first secret, `whsec_…`.
    pub secret: String,
}

/// A new signing secret for an endpoint.
#[derive(Debug, Clone)]
pub struct SecretRotation {
    /// The secret that becomes current, `whsec_…`.
    pub new_secret: String,
    /// Until when the replaced secret keeps signing.
    pub previous_expires_at: Timestamp,
}

/// A partial update; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct EndpointPatch {
    pub url: Option<String>,
    pub description: Option<Option<String>>,
    pub event_types: Option<Vec<String>>,
    pub enabled: Option<bool>,
    pub headers: Option<BTreeMap<String, String>>,
    pub rate_limit_per_second: Option<Option<u32>>,
}

/// An endpoint with what a delivery needs to sign.
#[derive(Debug, Clone)]
pub struct DeliveryTarget {
    pub org_id: String,
    pub endpoint: WebhookEndpoint,
    /// Secrets that sign now, current first (`whsec_…`).
    pub secrets: Vec<String>,
    pub deleted: bool,
}

/// A delivery claimed for an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryTask {
    pub delivery_id: String,
    pub org_id: String,
    pub endpoint_id: String,
    pub event_id: String,
    pub event_type: String,
    /// Attempts made before this one.
    pub attempts: u32,
    pub status: DeliveryStatus,
    /// The exact bytes to send.
    pub payload: Vec<u8>,
}

/// What an attempt means for its delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    Succeeded,
    /// Try again at this time.
    RetryAt(Timestamp),
    /// Give up.
    Failed,
    /// A manual attempt: the delivery succeeds if it did, and is otherwise left as it was.
    Manual {
        succeeded: bool,
    },
}

#[derive(Debug, Clone, Default)]
pub struct DeliveryQuery {
    pub limit: u32,
    pub after: Option<Cursor>,
    /// Only deliveries changed (created or attempted) after this time.
    pub updated_after: Option<Timestamp>,
    pub endpoint_id: Option<String>,
    pub event_type: Option<String>,
    pub status: Option<DeliveryStatus>,
}

/// Figures for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WebhookStats {
    pub pending_deliveries: u64,
    pub disabled_endpoints: u64,
}
