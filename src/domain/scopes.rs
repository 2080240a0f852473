//! What an API key may do: a set of scopes, each granting reads or writes of one resource.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One permission of an API key. Each operation needs exactly one (it is named in the
/// operation's `security` requirement); a key without it gets 403 `insufficient_scope`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
pub enum Scope {
    /// Read jobs, and the integration's capabilities.
    #[serde(rename = "jobs:read")]
    JobsRead,
    /// Create, change and close jobs.
    #[serde(rename = "jobs:write")]
    JobsWrite,
    /// Read applications, candidates, resumes and interview results.
    #[serde(rename = "applications:read")]
    ApplicationsRead,
    /// Create and cancel applications.
    #[serde(rename = "applications:write")]
    ApplicationsWrite,
    /// Read webhook endpoints and the delivery log.
    #[serde(rename = "webhooks:read")]
    WebhooksRead,
    /// Create, change, delete and test webhook endpoints, rotate their secrets, redeliver.
    #[serde(rename = "webhooks:write")]
    WebhooksWrite,
    /// List the organisation's API keys.
    #[serde(rename = "keys:read")]
    KeysRead,
    /// Create and revoke API keys (never with scopes the creating key lacks).
    #[serde(rename = "keys:write")]
    KeysWrite,
    /// Force an interview's outcome in the sandbox.
    #[serde(rename = "sandbox")]
    Sandbox,
    /// Read the audit log: who changed keys and endpoints, and when.
    #[serde(rename = "audit:read")]
    AuditRead,
}

impl Scope {
    /// Every scope, in a fixed order: what a key gets unless it is created with fewer.
    pub const ALL: [Scope; 10] = [
        Scope::JobsRead,
        Scope::JobsWrite,
        Scope::ApplicationsRead,
        Scope::ApplicationsWrite,
        Scope::WebhooksRead,
        Scope::WebhooksWrite,
        Scope::KeysRead,
        Scope::KeysWrite,
        Scope::Sandbox,
        Scope::AuditRead,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::JobsRead => "jobs:read",
            Scope::JobsWrite => "jobs:write",
            Scope::ApplicationsRead => "applications:read",
            Scope::ApplicationsWrite => "applications:write",
            Scope::WebhooksRead => "webhooks:read",
            Scope::WebhooksWrite => "webhooks:write",
            Scope::KeysRead => "keys:read",
            Scope::KeysWrite => "keys:write",
            Scope::Sandbox => "sandbox",
            Scope::AuditRead => "audit:read",
        }
    }

    pub fn parse(text: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// What the scope allows, for people.
    pub const fn grants(self) -> &'static str {
        match self {
            Scope::JobsRead => "Read jobs, and the integration's capabilities.",
            Scope::JobsWrite => "Create, change and close jobs.",
            Scope::ApplicationsRead => "Read applications, candidates, resumes and interview results.",
            Scope::ApplicationsWrite => "Create and cancel applications.",
            Scope::WebhooksRead => "Read webhook endpoints and the delivery log.",
            Scope::WebhooksWrite => {
                "Create, change, delete and test webhook endpoints, rotate their secrets, redeliver."
            }
            Scope::KeysRead => "List the organisation's API keys.",
            Scope::KeysWrite => "Create and revoke API keys, never with scopes the creating key lacks.",
            Scope::Sandbox => "Force an interview's outcome in the sandbox.",
            Scope::AuditRead => "Read the audit log: who changed keys and endpoints, and when.",
        }
    }
}

/// A key's scopes as stored: sorted, without repeats; `None` (a key from before scopes)
/// means every scope.
pub fn normalized(scopes: impl IntoIterator<Item = Scope>) -> Vec<Scope> {
    let mut scopes: Vec<Scope> = scopes.into_iter().collect();
    scopes.sort();
    scopes.dedup();
    scopes
}
