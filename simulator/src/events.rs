//! The published event types: their JSON Schemas and examples from `spec/webhooks/`, embedded at
//! build time so the simulator checks payloads against exactly what partners read.

use std::sync::LazyLock;

use serde_json::Value;

use crate::SimError;

/// The published schema and example of every event type.
pub const EVENTS: [(&str, &str, &str); 4] = [
    (
        "interview.completed",
        include_str!("../../spec/webhooks/interview.completed.schema.json"),
        include_str!("../../spec/webhooks/examples/interview.completed.json"),
    ),
    (
        "interview.failed",
        include_str!("../../spec/webhooks/interview.failed.schema.json"),
        include_str!("../../spec/webhooks/examples/interview.failed.json"),
    ),
    (
        "application.status_changed",
        include_str!("../../spec/webhooks/application.status_changed.schema.json"),
        include_str!("../../spec/webhooks/examples/application.status_changed.json"),
    ),
    (
        "webhook.test",
        include_str!("../../spec/webhooks/webhook.test.schema.json"),
        include_str!("../../spec/webhooks/examples/webhook.test.json"),
    ),
];

/// The event type names, in the order of [`EVENTS`].
pub fn event_types() -> impl Iterator<Item = &'static str> {
    EVENTS.iter().map(|(t, _, _)| *t)
}

/// Validators compiled once: the receiver checks every delivery, so compiling per request would
/// dominate its cost.
static VALIDATORS: LazyLock<Vec<(&'static str, Result<jsonschema::Validator, String>)>> = LazyLock::new(|| {
    EVENTS
        .iter()
        .map(|(event_type, schema, _)| {
            let compiled = serde_json::from_str::<Value>(schema)
                .map_err(|e| e.to_string())
                .and_then(|schema| jsonschema::validator_for(&schema).map_err(|e| e.to_string()));
            (*event_type, compiled)
        })
        .collect()
});

/// Checks a payload against the schema of its `type`; returns every problem found.
pub fn validate(payload: &[u8]) -> Result<Vec<String>, SimError> {
    let value: Value = serde_json::from_slice(payload).map_err(|e| SimError::NotJson(e.to_string()))?;
    validate_value(&value)
}

/// As [`validate`], for a payload already parsed.
pub fn validate_value(value: &Value) -> Result<Vec<String>, SimError> {
    let event_type = value["type"].as_str().ok_or_else(|| SimError::UnknownType("(missing `type`)".into()))?;
    let (_, validator) =
        VALIDATORS.iter().find(|(t, _)| *t == event_type).ok_or_else(|| SimError::UnknownType(event_type.into()))?;
    let validator = validator.as_ref().map_err(|e| SimError::NotJson(e.clone()))?;
    Ok(validator.iter_errors(value).map(|e| format!("{} at {}", e, e.instance_path())).collect())
}

/// The published example payload of `event_type`, as published (pretty-printed).
pub fn example(event_type: &str) -> Result<&'static str, SimError> {
    EVENTS
        .iter()
        .find(|(t, _, _)| *t == event_type)
        .map(|(_, _, e)| *e)
        .ok_or_else(|| SimError::UnknownType(event_type.into()))
}
