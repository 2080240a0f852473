//! Webhook endpoints, deliveries and delivery attempts, as the API shows them.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where your organisation receives webhooks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WebhookEndpoint {
    /// Our id of the endpoint (`ep_…`).
    #[schema(example = "ep_0192d5e7c1b27a3f8e6b8c2f4d1a9e76")]
    pub id: String,
    /// Where events are POSTed.
    #[schema(example = "https://hooks.example.com/tenzo")]
    pub url: String,
    #[schema(example = "Production receiver")]
    pub description: Option<String>,
    /// The event types sent to this endpoint; empty means all.
    #[schema(example = json!(["interview.completed", "interview.failed"]))]
    pub event_types: Vec<String>,
    /// Whether events are sent.
    pub enabled: bool,
    /// Why the endpoint was disabled (by you, by a 410 answer, or after failing too long).
    pub disabled_reason: Option<String>,
    /// Extra headers sent with every delivery.
    #[schema(example = json!({"X-Team": "hiring"}))]
    pub headers: BTreeMap<String, String>,
    /// At most this many deliveries per second to this endpoint; `null` for no limit.
    #[schema(example = 20)]
    pub rate_limit_per_second: Option<u32>,
    /// When the current secret was made.
    pub secret_created_at: Timestamp,
    /// Until when the previous secret still signs (after a rotation).
    pub previous_secret_expires_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its first or next attempt.
    Pending,
    /// An attempt got a 2xx answer.
    Succeeded,
    /// Attempts ran out, or the endpoint refused it for good (410, blocked address, disabled).
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Succeeded => "succeeded",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [DeliveryStatus::Pending, DeliveryStatus::Succeeded, DeliveryStatus::Failed]
            .into_iter()
            .find(|d| d.as_str() == s)
    }
}

/// What started an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttemptTrigger {
    /// The retry schedule.
    Scheduled,
    /// A redelivery or test you asked for.
    Manual,
}

/// Why an attempt failed before or instead of a 2xx answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// No complete answer within the timeout.
    Timeout,
    /// The connection was refused or broke.
    Connect,
    /// The host name did not resolve.
    Dns,
    /// The address is not allowed to receive webhooks.
    Blocked,
    /// A redirect (3xx); redirects are never followed.
    Redirect,
    /// Any other non-2xx status.
    HttpStatus,
    Other,
}

/// One attempt to deliver an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeliveryAttempt {
    pub attempted_at: Timestamp,
    pub trigger: AttemptTrigger,
    /// The HTTP status code, if an answer came.
    #[schema(example = 200)]
    pub status_code: Option<u16>,
    /// From sending the request to the end of the answer, in milliseconds.
    #[schema(example = 42)]
    pub latency_ms: u64,
    /// `null` when the attempt succeeded.
    pub error_class: Option<ErrorClass>,
    /// What went wrong, for humans.
    pub error: Option<String>,
    /// The first 4 KiB of the answer's body.
    pub response_body: Option<String>,
}

/// One event on its way to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WebhookDelivery {
    /// Our id of the delivery (`del_…`).
    #[schema(example = "del_0192d5e7c1b27a3f8e6b8c2f4d1a9e77")]
    pub id: String,
    #[schema(example = "ep_0192d5e7c1b27a3f8e6b8c2f4d1a9e76")]
    pub endpoint_id: String,
    /// The event's id; also the `webhook-id` header of every attempt.
    #[schema(example = "evt_0192d5e7c1b27a3f8e6b8c2f4d1a9e78")]
    pub event_id: String,
    #[schema(example = "interview.completed")]
    pub event_type: String,
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempt_count: u32,
    /// When the next scheduled attempt is due (pending deliveries only).
    pub next_attempt_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}
