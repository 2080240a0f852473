//! An example for every documented response, so that readers (and Swagger UI, and tools that
//! try examples) see a realistic body for each status.
//!
//! Problem responses get the problem their status stands for. Other bodies are built from their
//! schema: a field's own `example` first, then the schema's, then a value its keywords allow
//! (the first enum value, the minimum, one item of an array, the first arm of a `oneOf`).
//! `tests/api/spec.rs` validates every example against its schema, so a field whose built value
//! breaks a rule must get an `example` of its own.

use serde_json::{Map, Value, json};

use super::problem::ApiError;

/// Nesting deeper than this is cut short (the schemas are not recursive, this is a guard).
const MAX_DEPTH: usize = 12;

/// Adds an `example` to every response body of every operation and shared response that has
/// none.
pub fn add(doc: &mut Value) {
    add_interview_examples(doc);
    let snapshot = doc.clone();
    if let Some(responses) = doc["components"]["responses"].as_object_mut() {
        for (name, response) in responses.iter_mut() {
            let status = shared_status(name);
            add_to_response(&snapshot, response, status);
        }
    }
    let Some(paths) = doc["paths"].as_object_mut() else { return };
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else { continue };
        for op in item.values_mut() {
            let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else { continue };
            for (status, response) in responses.iter_mut() {
                add_to_response(&snapshot, response, status.parse().unwrap_or(200));
            }
        }
    }
}

/// The events, and the results they carry, get the simulated interview's examples: the same
/// payloads as `spec/webhooks/examples/`.
fn add_interview_examples(doc: &mut Value) {
    let schemas = &mut doc["components"]["schemas"];
    if let Some(text) = schemas.pointer_mut("/TextResumeContent/properties/text") {
        text["example"] = json!("Ten years of van deliveries across Bristol; clean UK driving licence.");
    }
    for (event_type, example) in crate::interview::examples::event_examples() {
        let schema = match event_type {
            "interview.completed" => {
                let mut results = example["data"]["results"].clone();
                results["outcome"] = json!("completed");
                schemas["CompletedCallResults"]["example"] = results;
                "InterviewCompletedEvent"
            }
            "interview.failed" => {
                let mut failure = example["data"]["failure"].clone();
                failure["outcome"] = json!("failed");
                schemas["FailedCallResults"]["example"] = failure;
                "InterviewFailedEvent"
            }
            "application.status_changed" => "ApplicationStatusChangedEvent",
            _ => "WebhookTestEvent",
        };
        if schemas.get(schema).is_some() {
            schemas[schema]["example"] = example;
        }
    }
}

fn add_to_response(doc: &Value, response: &mut Value, status: u16) {
    let Some(content) = response.get_mut("content").and_then(Value::as_object_mut) else { return };
    for (media_type, media) in content.iter_mut() {
        if media.get("example").is_some() {
            continue;
        }
        let example = if media_type.contains("problem+json") {
            problem(status)
        } else if media_type.starts_with("text/plain") {
            json!(
                "# HELP webhook_attempts_total Webhook delivery attempts by outcome.\n# TYPE webhook_attempts_total counter\nwebhook_attempts_total{outcome=\"success\"} 1\n"
            )
        } else {
            build(doc, &media["schema"], 0)
        };
        media["example"] = example;
    }
}

/// The status each shared response stands for.
fn shared_status(name: &str) -> u16 {
    match name {
        "BadRequest" => 400,
        "Unauthorized" => 401,
        "Forbidden" => 403,
        "NotFound" => 404,
        "Conflict" => 409,
        "PayloadTooLarge" => 413,
        "UnsupportedMediaType" => 415,
        "ValidationFailed" => 422,
        "RateLimited" => 429,
        "StoreUnavailable" => 503,
        _ => 500,
    }
}

/// The problem a status usually carries.
fn problem(status: u16) -> Value {
    // Problems whose words never vary take them from the constructor that answers with them.
    let (unavailable, internal) = (ApiError::store_unavailable(""), ApiError::internal(""));
    let (code, title, detail) = match status {
        400 => ("invalid_query", "Invalid query", "Some query parameters are invalid."),
        401 => ("api_key_invalid", "Unauthorized", "The API key is not valid."),
        403 => ("insufficient_scope", "Forbidden", "This API key lacks the scope jobs:write."),
        404 => ("job_not_found", "Not found", "No job job_0192d5e7c1b27a3f8e6b8c2f4d1a9e70 in this organisation."),
        409 => ("job_closed", "Conflict", "The job is closed and takes no new applications."),
        413 => ("body_too_large", "Payload too large", "The request body is larger than this server accepts."),
        415 => (
            "unsupported_media_type",
            "Unsupported media type",
            "Send the body as JSON with the header Content-Type: application/json.",
        ),
        422 => ("validation_failed", "Validation failed", "The request has 1 invalid field."),
        429 => ("rate_limited", "Too many requests", "This API key sent too many requests; retry after 1 s."),
        503 => (unavailable.code, unavailable.title, unavailable.detail.as_str()),
        _ => (internal.code, internal.title, internal.detail.as_str()),
    };
    let mut problem = json!({
        "type": format!("urn:problem-type:{code}"),
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "request_id": "req_0192d5e7c1b27a3f8e6b8c2f4d1a9e74"
    });
    if status == 400 {
        problem["errors"] = json!([{"field": "cursor", "code": "invalid_format", "message": "must be a next_cursor this API returned, such as cur_2a"}]);
    }
    if status == 422 {
        problem["errors"] = json!([{"field": "candidate.phone", "code": "invalid_format", "message": "must be an E.164 phone number such as +14155550123"}]);
    }
    problem
}

/// A value of `schema`, from its examples where it has them.
fn build(doc: &Value, schema: &Value, depth: usize) -> Value {
    if let Some(example) = schema.get("example") {
        return example.clone();
    }
    if depth > MAX_DEPTH {
        return Value::Null;
    }
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let target = reference.strip_prefix('#').and_then(|p| doc.pointer(p)).cloned().unwrap_or_default();
        return build(doc, &target, depth + 1);
    }
    if let Some(arms) = schema.get("oneOf").or_else(|| schema.get("anyOf")).and_then(Value::as_array) {
        let arm = arms.iter().find(|a| a.get("type") != Some(&json!("null"))).or(arms.first());
        return arm.map(|a| build(doc, a, depth + 1)).unwrap_or(Value::Null);
    }
    if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
        let mut merged = Map::new();
        for part in parts {
            if let Value::Object(fields) = build(doc, part, depth + 1) {
                merged.extend(fields);
            }
        }
        return Value::Object(merged);
    }
    if let Some(first) = schema.get("enum").and_then(Value::as_array).and_then(|v| v.first()) {
        return first.clone();
    }
    // A nullable value with no example of its own is shown as absent, not as a made-up value.
    if schema["type"].as_array().is_some_and(|types| types.contains(&json!("null"))) {
        return Value::Null;
    }
    let kind = match &schema["type"] {
        Value::String(t) => t.as_str(),
        Value::Array(types) => types.iter().filter_map(Value::as_str).find(|t| *t != "null").unwrap_or("null"),
        _ if schema.get("properties").is_some() => "object",
        _ => "null",
    };
    match kind {
        "object" => {
            let mut object = Map::new();
            if let Some(properties) = schema["properties"].as_object() {
                for (name, property) in properties {
                    object.insert(name.clone(), build(doc, property, depth + 1));
                }
            }
            Value::Object(object)
        }
        "array" => {
            let item = build(doc, &schema["items"], depth + 1);
            if item.is_null() { json!([]) } else { json!([item]) }
        }
        "string" => match schema["format"].as_str() {
            Some("date-time") => json!("2026-12-01T09:00:00Z"),
            Some("uri") => json!("https://hooks.example.com/tenzo"),
            _ => json!("text"),
        },
        "integer" => json!(schema["minimum"].as_i64().unwrap_or(1).max(0)),
        "number" => json!(schema["minimum"].as_f64().unwrap_or(0.5)),
        "boolean" => json!(true),
        _ => Value::Null,
    }
}
