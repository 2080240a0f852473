//! The rules the server enforces, written into the OpenAPI document.
//!
//! utoipa derives the document's shapes from the handlers' types. What the types cannot say is
//! added here, in one place, from the same [`rules`] the validators use: lengths and patterns of
//! strings, the shape of ids and cursors, "exactly one of" as named `oneOf` arms, and tagged
//! unions as named arms that client generators can turn into types. The tests in
//! `tests/api/spec.rs` and Schemathesis (`cargo xtask schemathesis`, every check) hold the
//! document and the server to each other.

use serde_json::{Map, Value, json};

use crate::domain::candidate::{MAX_FILENAME_CHARS, MAX_NAME_CHARS, MAX_RESUME_BASE64_CHARS, MAX_RESUME_TEXT_CHARS};
use crate::domain::ids::IdKind;
use crate::domain::job::{
    MAX_DESCRIPTION_CHARS, MAX_LOCATION_CHARS, MAX_QUESTION_CHARS, MAX_QUESTIONS, MAX_REQUIREMENT_CHARS,
    MAX_REQUIREMENTS, MAX_TITLE_CHARS,
};
use crate::domain::metadata::{MAX_KEY_CHARS, MAX_KEYS, MAX_VALUE_CHARS};
use crate::domain::rules::{self, FieldRule};

/// Applies every rule to `doc`, the document utoipa generated.
pub fn apply(doc: &mut Value) {
    name_maps(doc);
    for (schema, property, keywords) in property_rules() {
        let Some(target) = doc.pointer_mut(&format!("/components/schemas/{schema}/properties/{property}")) else {
            panic!("the contract names {schema}.{property}, which the document does not have");
        };
        merge(target, keywords);
    }
    time_zone(doc);
    exactly_one_of(doc);
    name_union_arms(doc, "CallResults", "outcome");
    name_union_arms(doc, "ResumeContent", "kind");
    drop_unused(doc, &["ResumeFile"]);
    optional_bodies(doc);
    super::examples::add(doc);
}

/// utoipa writes an optional body (`request_body = Option<T>`) as "`T` or JSON `null`"; the body
/// is optional because it may be left out (`required` is false), and a `null` body is refused
/// like any body that is not an object, so the schema is `T` alone.
fn optional_bodies(doc: &mut Value) {
    let Some(paths) = doc["paths"].as_object_mut() else { return };
    for op in paths.values_mut().filter_map(Value::as_object_mut).flat_map(|item| item.values_mut()) {
        let Some(body) = op.get_mut("requestBody") else { continue };
        if body.get("required").is_some_and(|r| r == true) {
            continue;
        }
        let Some(schema) = body.pointer_mut("/content/application~1json/schema") else { continue };
        let arms = schema["oneOf"].as_array().cloned().unwrap_or_default();
        if let [reference, null] = arms.as_slice()
            && null == &json!({"type": "null"})
        {
            *schema = reference.clone();
        }
    }
}

/// Sets `servers`: the public URL the server was told it has, else one relative to the document,
/// so that "Try it out" on a served page goes to the server that served it.
pub fn set_server(doc: &mut Value, public_url: Option<&str>) {
    let server = match public_url {
        Some(url) => json!({"url": url.trim_end_matches('/'), "description": "This server"}),
        None => json!({
            "url": "/",
            "description": "The server this document is served by (`public-api serve`; pass `--public-url` behind a proxy)"
        }),
    };
    doc["servers"] = json!([server]);
}

/// Keywords to merge into one schema's property: (schema, property, keywords).
type PropertyRule = (&'static str, &'static str, Vec<(&'static str, Value)>);

/// Which fields follow which rule: the string rules, then limits on lists.
fn property_rules() -> Vec<PropertyRule> {
    let max_items = |n: usize| vec![("maxItems", json!(n))];
    let text = |max, multiline| FieldRule::text(max, multiline).keywords();
    let optional = |max, multiline| FieldRule::optional_text(max, multiline).keywords();
    let external_id = || FieldRule::external_id().keywords();
    vec![
        ("CreateJobRequest", "external_id", external_id()),
        ("CreateJobRequest", "title", text(MAX_TITLE_CHARS, false)),
        ("CreateJobRequest", "description", optional(MAX_DESCRIPTION_CHARS, true)),
        ("CreateJobRequest", "location", optional(MAX_LOCATION_CHARS, false)),
        ("UpdateJobRequest", "title", text(MAX_TITLE_CHARS, false)),
        ("UpdateJobRequest", "description", optional(MAX_DESCRIPTION_CHARS, true)),
        ("UpdateJobRequest", "location", optional(MAX_LOCATION_CHARS, false)),
        ("Requirement", "text", text(MAX_REQUIREMENT_CHARS, false)),
        ("ScreeningQuestion", "question", text(MAX_QUESTION_CHARS, true)),
        ("ScreeningQuestion", "grading_instructions", optional(MAX_QUESTION_CHARS, true)),
        ("CandidateInput", "external_id", external_id()),
        ("CandidateInput", "first_name", text(MAX_NAME_CHARS, false)),
        ("CandidateInput", "last_name", text(MAX_NAME_CHARS, false)),
        ("CandidateInput", "email", FieldRule::email().keywords()),
        ("CandidateInput", "phone", FieldRule::phone().keywords()),
        ("CreateApplicationRequest", "external_id", external_id()),
        ("CreateApplicationRequest", "job_external_id", external_id()),
        ("CreateApplicationRequest", "job_id", FieldRule::id(IdKind::Job).keywords()),
        ("ResumeInput", "text", text(MAX_RESUME_TEXT_CHARS, true)),
        ("ResumeFileInput", "filename", FieldRule::file_name(MAX_FILENAME_CHARS).keywords()),
        ("ResumeFileInput", "content_type", vec![("enum", json!(crate::domain::candidate::RESUME_CONTENT_TYPES))]),
        (
            "ResumeFileInput",
            "content_base64",
            vec![
                ("minLength", json!(4)),
                ("maxLength", json!(MAX_RESUME_BASE64_CHARS)),
                ("pattern", json!(rules::BASE64_PATTERN)),
            ],
        ),
        ("CreateApiKeyRequest", "name", text(100, false)),
        ("CreateEndpointRequest", "url", webhook_url()),
        ("CreateEndpointRequest", "description", optional(500, false)),
        ("UpdateEndpointRequest", "url", webhook_url()),
        ("UpdateEndpointRequest", "description", optional(500, false)),
        ("CreateJobRequest", "requirements", max_items(MAX_REQUIREMENTS)),
        ("CreateJobRequest", "screening_questions", max_items(MAX_QUESTIONS)),
        ("UpdateJobRequest", "requirements", max_items(MAX_REQUIREMENTS)),
        ("UpdateJobRequest", "screening_questions", max_items(MAX_QUESTIONS)),
    ]
}

fn webhook_url() -> Vec<(&'static str, Value)> {
    vec![
        ("minLength", json!(8)),
        ("maxLength", json!(crate::api::webhook_endpoints::MAX_URL_CHARS)),
        ("format", json!("uri")),
        ("pattern", json!(rules::WEBHOOK_URL_PATTERN)),
        ("not", json!({"type": "string", "pattern": rules::NON_PUBLIC_WEBHOOK_HOST_PATTERN})),
    ]
}

/// The time zone names as a named enum, `TimeZone`, that the candidate's `timezone` refers to.
fn time_zone(doc: &mut Value) {
    let mut schema = json!({
        "type": "string",
        "description": "An IANA time zone name, spelled as in the server's bundled time zone database; empty for none."
    });
    merge(&mut schema, FieldRule::time_zone().keywords());
    doc["components"]["schemas"]["TimeZone"] = schema;
    let property = &mut doc["components"]["schemas"]["CandidateInput"]["properties"]["timezone"];
    let description = property.get("description").cloned();
    let example = property.get("example").cloned();
    *property = json!({"oneOf": [{"$ref": "#/components/schemas/TimeZone"}, {"type": "null"}]});
    if let Some(d) = description {
        property["description"] = d;
    }
    if let Some(e) = example {
        property["example"] = e;
    }
}

/// Merges keywords into a property schema. A nullable property (`"type": ["string", "null"]`)
/// keeps accepting `null`: string keywords do not apply to it. (No nullable property takes an
/// `enum` from here, which would have to list `null` too: the time zones are a named schema.)
fn merge(target: &mut Value, keywords: Vec<(&'static str, Value)>) {
    let Some(object) = target.as_object_mut() else { return };
    for (key, value) in keywords {
        object.insert(key.into(), value);
    }
}

/// The metadata and custom-header maps as named schemas with their limits, instead of the one
/// `BTreeMap` schema utoipa derives for both.
fn name_maps(doc: &mut Value) {
    let schemas = &mut doc["components"]["schemas"];
    if let Some(map) = schemas.as_object_mut() {
        map.remove("BTreeMap");
        map.insert(
            "Metadata".into(),
            json!({
                "type": "object",
                "description": format!(
                    "Your key/value pairs, echoed back in webhooks: up to {MAX_KEYS} keys of 1 to {MAX_KEY_CHARS} characters \
                     from `A-Z a-z 0-9 _ . -`, each with a string value of up to {MAX_VALUE_CHARS} characters."
                ),
                "maxProperties": MAX_KEYS,
                "propertyNames": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_CHARS, "pattern": format!("^[A-Za-z0-9_.-]{{1,{MAX_KEY_CHARS}}}$")},
                "additionalProperties": {"type": "string", "maxLength": MAX_VALUE_CHARS},
                "example": {"team": "logistics"}
            }),
        );
        map.insert(
            "CustomHeaders".into(),
            json!({
                "type": "object",
                "description": format!(
                    "Extra headers sent with every delivery: up to {} of them. Names are HTTP tokens other than \
                     `content-type`, `content-length`, `host`, `user-agent`, `connection`, `transfer-encoding` and \
                     `webhook-*` (in any letter case); values are visible ASCII, spaces and tabs, up to {} characters.",
                    crate::api::webhook_endpoints::MAX_HEADERS,
                    crate::api::webhook_endpoints::MAX_HEADER_VALUE_CHARS
                ),
                "maxProperties": crate::api::webhook_endpoints::MAX_HEADERS,
                "propertyNames": {
                    "type": "string",
                    "pattern": rules::HEADER_NAME_PATTERN,
                    "not": {"type": "string", "pattern": rules::RESERVED_HEADER_PATTERN}
                },
                "additionalProperties": {
                    "type": "string",
                    "maxLength": crate::api::webhook_endpoints::MAX_HEADER_VALUE_CHARS,
                    "pattern": rules::HEADER_VALUE_PATTERN
                },
                "example": {"x-team": "logistics"}
            }),
        );
    }
    retarget_maps(doc, None);
}

/// Points every map-typed property at `Metadata` or `CustomHeaders`, by the property's name.
fn retarget_maps(value: &mut Value, property: Option<&str>) {
    match value {
        Value::Object(map) => {
            let is_map = map.get("$ref").and_then(Value::as_str) == Some("#/components/schemas/BTreeMap")
                || (map.get("type").is_some_and(|t| t == "object" || t == &json!(["object", "null"]))
                    && map.contains_key("additionalProperties")
                    && map.get("propertyNames").is_some_and(|p| p == &json!({"type": "string"})));
            if is_map && let Some(name) = property.and_then(map_schema_for) {
                let nullable = map.get("type").is_some_and(|t| t == &json!(["object", "null"]));
                let description = map.remove("description");
                map.clear();
                let reference = json!({"$ref": format!("#/components/schemas/{name}")});
                if nullable {
                    map.insert("oneOf".into(), json!([reference, {"type": "null"}]));
                } else {
                    map.insert("$ref".into(), reference["$ref"].clone());
                }
                if let Some(d) = description {
                    map.insert("description".into(), d);
                }
                return;
            }
            if let Some(Value::Object(props)) = map.get_mut("properties") {
                for (name, prop) in props.iter_mut() {
                    retarget_maps(prop, Some(name.as_str()));
                }
            }
            for (key, child) in map.iter_mut() {
                if key != "properties" {
                    retarget_maps(child, if key == "oneOf" || key == "allOf" { property } else { None });
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                retarget_maps(item, property);
            }
        }
        _ => {}
    }
}

fn map_schema_for(property: &str) -> Option<&'static str> {
    match property {
        "metadata" => Some("Metadata"),
        "headers" => Some("CustomHeaders"),
        _ => None,
    }
}

/// "Exactly one of" as named arms: each arm requires its own field and allows the other only as
/// `null`, and every arm is closed (`additionalProperties: false`), so a body with both or
/// neither matches no arm, as the server answers it.
fn exactly_one_of(doc: &mut Value) {
    // (union, what an arm is, first field, its arm, second field, its arm)
    let pairs = [
        (
            "CreateApplicationRequest",
            "An application whose job is named by our id or your external id: this arm is the one",
            "job_id",
            "ApplicationForJobId",
            "job_external_id",
            "ApplicationForJobExternalId",
        ),
        (
            "ResumeInput",
            "A resume given as exactly one of text and file: this arm is the one",
            "text",
            "ResumeText",
            "file",
            "ResumeFileUpload",
        ),
    ];
    for (union, what, first, first_arm, second, second_arm) in pairs {
        let Some(original) = doc["components"]["schemas"].get(union).cloned() else { continue };
        let required: Vec<Value> = original["required"].as_array().cloned().unwrap_or_default();
        let arm = |own: &str, other: &str, description: &str| {
            let mut arm = original.clone();
            let props = arm["properties"].as_object_mut().expect("an object schema");
            let own_schema = strip_null(props.get(own).cloned().unwrap_or_default());
            props.insert(own.into(), own_schema);
            props.insert(
                other.into(),
                json!({"type": "null", "description": format!("Leave out (or `null`) when `{own}` is given.")}),
            );
            let mut req = required.clone();
            req.insert(0, json!(own));
            arm["required"] = Value::Array(req);
            arm["description"] = json!(description);
            arm.as_object_mut().map(|o| o.remove("example"));
            arm
        };
        let a = arm(first, second, &format!("{what} naming `{first}`."));
        let b = arm(second, first, &format!("{what} naming `{second}`."));
        let schemas = doc["components"]["schemas"].as_object_mut().expect("schemas");
        schemas.insert(first_arm.into(), a);
        schemas.insert(second_arm.into(), b);
        let mut wrapper = json!({
            "description": original["description"].clone(),
            "oneOf": [
                {"$ref": format!("#/components/schemas/{first_arm}")},
                {"$ref": format!("#/components/schemas/{second_arm}")}
            ]
        });
        if let Some(example) = original.get("example") {
            wrapper["example"] = example.clone();
        }
        schemas.insert(union.into(), wrapper);
    }
    complete_interview_arms(doc);
}

/// `score` goes only with the outcome `completed`: two arms, split by outcome.
fn complete_interview_arms(doc: &mut Value) {
    let schemas = doc["components"]["schemas"].as_object_mut().expect("schemas");
    let Some(original) = schemas.get("CompleteInterviewRequest").cloned() else { return };
    let others: Vec<&str> =
        crate::domain::results::CallOutcome::ALL.iter().map(|o| o.as_str()).filter(|o| *o != "completed").collect();
    let score = strip_null(original["properties"]["score"].clone());
    schemas.insert(
        "CompleteWithResults".into(),
        json!({
            "type": "object",
            "description": "Complete the interview now, with results. `outcome` may be left out.",
            "properties": {
                "outcome": {"oneOf": [{"type": "string", "enum": ["completed"]}, {"type": "null"}], "description": "`completed`, the default."},
                "score": {"oneOf": [score, {"type": "null"}], "description": "The score to give (0 to 100); every question gets this grade. Absent for a score drawn by the simulation."}
            },
            "additionalProperties": false
        }),
    );
    schemas.insert(
        "EndCallWithoutResults".into(),
        json!({
            "type": "object",
            "description": "End this call attempt another way. `no_answer` and `voicemail` count as an attempt and fail the interview when attempts run out; the others fail it now.",
            "required": ["outcome"],
            "properties": {
                "outcome": {"type": "string", "enum": others},
                "score": {"type": "null", "description": "Only an interview that completes has a score."}
            },
            "additionalProperties": false
        }),
    );
    let mut wrapper = json!({
        "description": original["description"].clone(),
        "oneOf": [
            {"$ref": "#/components/schemas/CompleteWithResults"},
            {"$ref": "#/components/schemas/EndCallWithoutResults"}
        ]
    });
    if let Some(example) = original.get("example") {
        wrapper["example"] = example.clone();
    }
    schemas.insert("CompleteInterviewRequest".into(), wrapper);
}

/// A nullable property's schema without `null`.
fn strip_null(mut schema: Value) -> Value {
    if let Some(types) = schema.get("type").and_then(Value::as_array) {
        let kept: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
        schema["type"] = if kept.len() == 1 { kept[0].clone() } else { Value::Array(kept) };
    }
    if let Some(arms) = schema.get("oneOf").and_then(Value::as_array) {
        let kept: Vec<Value> = arms.iter().filter(|a| a.get("type") != Some(&json!("null"))).cloned().collect();
        if kept.len() == 1 {
            let mut only = kept[0].clone();
            if let (Some(d), Some(o)) = (schema.get("description"), only.as_object_mut()) {
                o.insert("description".into(), d.clone());
            }
            return only;
        }
    }
    schema
}

/// A union tagged by `tag` whose arms are inline objects or `allOf` of a named schema and the
/// tag, rewritten as named arms (`CompletedCallResults`, `FileResumeContent`) with the tag among
/// their properties and a `discriminator`: what generators need to give each arm a type.
fn name_union_arms(doc: &mut Value, union: &str, tag: &str) {
    let schemas = doc["components"]["schemas"].clone();
    let Some(arms) = schemas[union]["oneOf"].as_array().cloned() else { return };
    let mut refs = Vec::new();
    let mut mapping = Map::new();
    for arm in arms {
        let (mut object, tag_schema) = match arm.get("allOf").and_then(Value::as_array) {
            Some(parts) => {
                let mut merged = parts
                    .iter()
                    .find_map(|p| p["$ref"].as_str())
                    .and_then(|r| r.strip_prefix("#/components/schemas/"))
                    .map(|name| schemas[name].clone())
                    .unwrap_or_else(|| json!({"type": "object"}));
                let tagged = parts.iter().find(|p| p["properties"].get(tag).is_some()).cloned().unwrap_or_default();
                if let Some(d) = arm.get("description") {
                    merged["description"] = d.clone();
                }
                (merged, tagged["properties"][tag].clone())
            }
            None => (arm.clone(), arm["properties"][tag].clone()),
        };
        let Some(value) = tag_schema["enum"][0].as_str().map(str::to_owned) else { continue };
        object["properties"][tag] = json!({"type": "string", "enum": [value]});
        let mut required: Vec<Value> = object["required"].as_array().cloned().unwrap_or_default();
        if !required.contains(&json!(tag)) {
            required.insert(0, json!(tag));
        }
        object["required"] = Value::Array(required);
        let name = format!("{}{union}", super::spec::pascal_case(&value));
        let reference = format!("#/components/schemas/{name}");
        mapping.insert(value, json!(reference));
        refs.push(json!({"$ref": reference}));
        doc["components"]["schemas"][&name] = object;
    }
    let description = schemas[union]["description"].clone();
    doc["components"]["schemas"][union] = json!({
        "description": description,
        "oneOf": refs,
        "discriminator": {"propertyName": tag, "mapping": mapping}
    });
}

/// Removes schemas that the steps above left without a reference (their fields now live in
/// named arms), so that readers and generators do not meet orphans.
fn drop_unused(doc: &mut Value, names: &[&str]) {
    for name in names {
        let reference = format!("\"#/components/schemas/{name}\"");
        if !doc.to_string().contains(&reference)
            && let Some(schemas) = doc["components"]["schemas"].as_object_mut()
        {
            schemas.remove(*name);
        }
    }
}
