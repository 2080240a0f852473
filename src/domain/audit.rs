//! The audit log: who changed an API key or a webhook endpoint, or forced a sandbox interview,
//! and when. Entries are written in the same transaction as the change they record, and hold
//! the names of the fields that changed, never their values.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What was done. The part before the dot is the kind of object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum AuditAction {
    /// An API key was issued (by the API, the `keys create` command, or the first start).
    #[serde(rename = "api_key.created")]
    ApiKeyCreated,
    /// An API key was revoked.
    #[serde(rename = "api_key.revoked")]
    ApiKeyRevoked,
    #[serde(rename = "webhook_endpoint.created")]
    EndpointCreated,
    /// Fields other than `enabled` changed, or nothing changed.
    #[serde(rename = "webhook_endpoint.updated")]
    EndpointUpdated,
    /// The endpoint was turned back on (other fields may have changed too).
    #[serde(rename = "webhook_endpoint.enabled")]
    EndpointEnabled,
    /// The endpoint was turned off: by a request, or by the server after a 410 answer or
    /// failing too long (actor `system`).
    #[serde(rename = "webhook_endpoint.disabled")]
    EndpointDisabled,
    /// A new signing secret was made; the old one signs until `previous_secret_expires_at`.
    #[serde(rename = "webhook_endpoint.secret_rotated")]
    EndpointSecretRotated,
    #[serde(rename = "webhook_endpoint.deleted")]
    EndpointDeleted,
    /// A call attempt was forced through `/v1/sandbox`; recorded as the attempt starts.
    #[serde(rename = "application.sandbox_completed")]
    SandboxCompleted,
}

impl AuditAction {
    pub const ALL: [AuditAction; 9] = [
        AuditAction::ApiKeyCreated,
        AuditAction::ApiKeyRevoked,
        AuditAction::EndpointCreated,
        AuditAction::EndpointUpdated,
        AuditAction::EndpointEnabled,
        AuditAction::EndpointDisabled,
        AuditAction::EndpointSecretRotated,
        AuditAction::EndpointDeleted,
        AuditAction::SandboxCompleted,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            AuditAction::ApiKeyCreated => "api_key.created",
            AuditAction::ApiKeyRevoked => "api_key.revoked",
            AuditAction::EndpointCreated => "webhook_endpoint.created",
            AuditAction::EndpointUpdated => "webhook_endpoint.updated",
            AuditAction::EndpointEnabled => "webhook_endpoint.enabled",
            AuditAction::EndpointDisabled => "webhook_endpoint.disabled",
            AuditAction::EndpointSecretRotated => "webhook_endpoint.secret_rotated",
            AuditAction::EndpointDeleted => "webhook_endpoint.deleted",
            AuditAction::SandboxCompleted => "application.sandbox_completed",
        }
    }

    pub fn parse(text: &str) -> Option<AuditAction> {
        AuditAction::ALL.into_iter().find(|a| a.as_str() == text)
    }

    /// The kind of object the action is about.
    pub const fn object_type(self) -> AuditObjectType {
        match self {
            AuditAction::ApiKeyCreated | AuditAction::ApiKeyRevoked => AuditObjectType::ApiKey,
            AuditAction::SandboxCompleted => AuditObjectType::Application,
            _ => AuditObjectType::WebhookEndpoint,
        }
    }
}

/// The kind of object an entry is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditObjectType {
    ApiKey,
    WebhookEndpoint,
    Application,
}

/// Who made a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Actor {
    /// A request authenticated with this API key.
    ApiKey {
        #[schema(example = "key_0192d5e7c1b27a3f8e6b8c2f4d1a9e73")]
        api_key_id: String,
    },
    /// An operator, with the `public-api` command (for example `keys create`).
    Cli,
    /// The server itself: issuing the bootstrap key on the first start, or disabling an
    /// endpoint that answered 410 Gone or failed too long.
    System,
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "aud_0192d5e7c1b27a3f8e6b8c2f4d1a9e79",
    "action": "webhook_endpoint.updated",
    "object_type": "webhook_endpoint",
    "object_id": "ep_0192d5e7c1b27a3f8e6b8c2f4d1a9e76",
    "actor": {"type": "api_key", "api_key_id": "key_0192d5e7c1b27a3f8e6b8c2f4d1a9e73"},
    "request_id": "req_0192d5e7c1b27a3f8e6b8c2f4d1a9e74",
    "changed_fields": ["url", "event_types"],
    "occurred_at": "2026-01-31T09:00:00Z"
}))]
pub struct AuditEvent {
    /// Our id of the entry (`aud_…`).
    #[schema(example = "aud_0192d5e7c1b27a3f8e6b8c2f4d1a9e79")]
    pub id: String,
    pub action: AuditAction,
    pub object_type: AuditObjectType,
    /// The id of the key, endpoint or application acted on.
    #[schema(example = "ep_0192d5e7c1b27a3f8e6b8c2f4d1a9e76")]
    pub object_id: String,
    pub actor: Actor,
    /// The `x-request-id` of the request that made the change; `null` for the command line and
    /// the server's own changes.
    #[schema(example = "req_0192d5e7c1b27a3f8e6b8c2f4d1a9e74")]
    pub request_id: Option<String>,
    /// The names of the fields that were set or changed; never their values. `secret` means a
    /// signing secret was made; its value is never recorded.
    #[schema(example = json!(["url", "event_types"]))]
    pub changed_fields: Vec<String>,
    pub occurred_at: Timestamp,
}

/// Who is making a change and under which request: what a store needs to write the entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditContext {
    pub actor: Actor,
    pub request_id: Option<String>,
}

impl AuditContext {
    pub fn cli() -> AuditContext {
        AuditContext { actor: Actor::Cli, request_id: None }
    }

    pub fn system() -> AuditContext {
        AuditContext { actor: Actor::System, request_id: None }
    }

    /// The entry for `action` on `object_id` at `now`.
    pub fn entry(
        &self,
        action: AuditAction,
        object_id: &str,
        changed_fields: &[&str],
        occurred_at: Timestamp,
    ) -> AuditEvent {
        AuditEvent {
            id: super::ids::IdKind::Audit.new_id(),
            action,
            object_type: action.object_type(),
            object_id: object_id.to_owned(),
            actor: self.actor.clone(),
            request_id: self.request_id.clone(),
            changed_fields: changed_fields.iter().map(|f| (*f).to_owned()).collect(),
            occurred_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_round_trip_through_their_wire_names() {
        for action in AuditAction::ALL {
            assert_eq!(AuditAction::parse(action.as_str()), Some(action));
            assert_eq!(serde_json::to_value(action).unwrap(), serde_json::json!(action.as_str()));
            let object = serde_json::to_value(action.object_type()).unwrap();
            assert!(action.as_str().starts_with(&format!("{}.", object.as_str().unwrap())), "{action:?}");
        }
    }
}
