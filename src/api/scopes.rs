//! Which scope each operation needs. The table is written into the OpenAPI document (each
//! operation's `security` requirement names its scope), and the authentication middleware
//! enforces what the document says, looked up by the route that matched: the two cannot differ.

use std::collections::HashMap;

use axum::http::Method;
use serde_json::Value;

use crate::domain::Scope;

/// (operation id, the scope it needs). Every authenticated operation has a row; a test reads
/// the spec and fails on an operation without one.
const OPERATION_SCOPES: &[(&str, Scope)] = &[
    ("list_jobs", Scope::JobsRead),
    ("get_job", Scope::JobsRead),
    ("get_integration", Scope::JobsRead),
    ("create_job", Scope::JobsWrite),
    ("update_job", Scope::JobsWrite),
    ("close_job", Scope::JobsWrite),
    ("list_applications", Scope::ApplicationsRead),
    ("get_application", Scope::ApplicationsRead),
    ("get_results", Scope::ApplicationsRead),
    ("get_candidate", Scope::ApplicationsRead),
    ("get_resume", Scope::ApplicationsRead),
    ("create_application", Scope::ApplicationsWrite),
    ("cancel_application", Scope::ApplicationsWrite),
    ("list_endpoints", Scope::WebhooksRead),
    ("get_endpoint", Scope::WebhooksRead),
    ("list_deliveries", Scope::WebhooksRead),
    ("get_delivery", Scope::WebhooksRead),
    ("create_endpoint", Scope::WebhooksWrite),
    ("update_endpoint", Scope::WebhooksWrite),
    ("delete_endpoint", Scope::WebhooksWrite),
    ("rotate_secret", Scope::WebhooksWrite),
    ("test_endpoint", Scope::WebhooksWrite),
    ("redeliver", Scope::WebhooksWrite),
    ("list_api_keys", Scope::KeysRead),
    ("create_api_key", Scope::KeysWrite),
    ("revoke_api_key", Scope::KeysWrite),
    ("complete_interview", Scope::Sandbox),
    ("list_audit_events", Scope::AuditRead),
];

/// The scope an operation needs, by its id.
pub fn of_operation(operation_id: &str) -> Option<Scope> {
    OPERATION_SCOPES.iter().find(|(id, _)| *id == operation_id).map(|(_, scope)| *scope)
}

/// The operations that need `scope`.
pub fn operations_needing(scope: Scope) -> impl Iterator<Item = &'static str> {
    OPERATION_SCOPES.iter().filter(move |(_, s)| *s == scope).map(|(id, _)| *id)
}

/// The scope each route needs, read from the OpenAPI document: path template -> (method,
/// scope). A route that the document gives no scope is refused to every key.
#[derive(Debug, Clone, Default)]
pub struct RouteScopes(HashMap<String, Vec<(Method, Scope)>>);

impl RouteScopes {
    pub fn from_document(document: &Value) -> RouteScopes {
        let mut map: HashMap<String, Vec<(Method, Scope)>> = HashMap::new();
        for (path, item) in document["paths"].as_object().into_iter().flatten() {
            for (method, op) in item.as_object().into_iter().flatten() {
                let Ok(method) = Method::from_bytes(method.to_ascii_uppercase().as_bytes()) else { continue };
                let scope = op["security"][0]["bearer"][0].as_str().and_then(Scope::parse);
                if let Some(scope) = scope {
                    map.entry(path.clone()).or_default().push((method, scope));
                }
            }
        }
        RouteScopes(map)
    }

    /// The scope for a request to the route `path` (as matched, e.g. `/v1/jobs/{job_id}`).
    pub fn required(&self, method: &Method, path: &str) -> Option<Scope> {
        self.0.get(path)?.iter().find(|(m, _)| m == method).map(|(_, scope)| *scope)
    }
}
