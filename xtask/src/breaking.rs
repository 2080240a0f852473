//! The breaking-change gate: compares two versions of `spec/openapi.json` and lists the changes
//! that can break a client, unless `info.version` got a new major version.
//!
//! Breaking: a removed operation, a removed webhook event; a removed property of any schema;
//! a property newly required in a request schema; a new required parameter; an enum that lost
//! a value; a type that lost a member (for example `["string", "null"]` to `"string"`).

use std::collections::BTreeSet;

use serde_json::Value;

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// The breaking changes from `old` to `new` (empty when there are none).
pub fn breaking_changes(old: &Value, new: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for (path, item) in as_map(&old["paths"]) {
        for method in METHODS {
            let Some(old_op) = item.get(method) else { continue };
            match new["paths"].get(path.as_str()).and_then(|i| i.get(method)) {
                None => out.push(format!("operation {} {path} was removed", method.to_uppercase())),
                Some(new_op) => parameters(&format!("{} {path}", method.to_uppercase()), old_op, new_op, &mut out),
            }
        }
    }
    for event in as_map(&old["webhooks"]).keys() {
        if new["webhooks"].get(event.as_str()).is_none() {
            out.push(format!("webhook event {event} was removed"));
        }
    }
    let requests = reachable(new, &["paths"], true);
    for (name, old_schema) in as_map(&old["components"]["schemas"]) {
        let Some(new_schema) = new["components"]["schemas"].get(name.as_str()) else {
            out.push(format!("schema {name} was removed"));
            continue;
        };
        compare_schema(&format!("schema {name}"), &old_schema, new_schema, requests.contains(&name), &mut out);
    }
    out
}

/// Whether `new_version` is a new major version of `old_version` (semver; `0.x` counts minor).
pub fn is_major_bump(old_version: &str, new_version: &str) -> bool {
    let parse = |v: &str| -> Vec<u64> { v.split('.').map(|p| p.trim().parse().unwrap_or(0)).collect() };
    let (old, new) = (parse(old_version), parse(new_version));
    let major = |v: &[u64]| v.first().copied().unwrap_or(0);
    let minor = |v: &[u64]| v.get(1).copied().unwrap_or(0);
    if major(&old) == 0 && major(&new) == 0 {
        return minor(&new) > minor(&old);
    }
    major(&new) > major(&old)
}

fn as_map(v: &Value) -> serde_json::Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

fn parameters(op: &str, old: &Value, new: &Value, out: &mut Vec<String>) {
    let key = |p: &Value| format!("{}:{}", p["in"].as_str().unwrap_or("?"), p["name"].as_str().unwrap_or("?"));
    let old_required: BTreeSet<String> =
        old["parameters"].as_array().into_iter().flatten().filter(|p| p["required"] == true).map(key).collect();
    for p in new["parameters"].as_array().into_iter().flatten() {
        if p["required"] == true && !old_required.contains(&key(p)) {
            out.push(format!("{op}: parameter {} is newly required", key(p)));
        }
    }
    let old_body = old["requestBody"]["required"] == true;
    if new["requestBody"]["required"] == true && !old_body && old.get("requestBody").is_none() {
        out.push(format!("{op}: a request body is newly required"));
    }
}

/// Names of component schemas reachable from request bodies and parameters under `roots`.
fn reachable(doc: &Value, roots: &[&str], requests_only: bool) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut stack: Vec<Value> = Vec::new();
    for root in roots {
        for item in as_map(&doc[*root]).values() {
            for method in METHODS {
                let op = &item[method];
                if requests_only {
                    stack.push(op["requestBody"].clone());
                    stack.push(op["parameters"].clone());
                } else {
                    stack.push(op.clone());
                }
            }
        }
    }
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(map) => {
                if let Some(r) = map.get("$ref").and_then(Value::as_str)
                    && let Some(name) = r.strip_prefix("#/components/schemas/")
                    && names.insert(name.to_owned())
                {
                    stack.push(doc["components"]["schemas"][name].clone());
                }
                stack.extend(map.into_iter().map(|(_, v)| v));
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    names
}

fn types(v: &Value) -> BTreeSet<String> {
    match &v["type"] {
        Value::String(t) => BTreeSet::from([t.clone()]),
        Value::Array(ts) => ts.iter().filter_map(|t| t.as_str().map(str::to_owned)).collect(),
        _ => BTreeSet::new(),
    }
}

fn compare_schema(at: &str, old: &Value, new: &Value, is_request: bool, out: &mut Vec<String>) {
    let (old_types, new_types) = (types(old), types(new));
    if !new_types.is_empty() {
        for t in old_types.difference(&new_types) {
            out.push(format!("{at}: type {t} is no longer allowed"));
        }
    }
    if let (Some(old_enum), Some(new_enum)) = (old["enum"].as_array(), new["enum"].as_array()) {
        for value in old_enum {
            if !new_enum.contains(value) {
                out.push(format!("{at}: enum value {value} was removed"));
            }
        }
    }
    let old_required: BTreeSet<&str> =
        old["required"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    for (name, old_prop) in as_map(&old["properties"]) {
        match new["properties"].get(name.as_str()) {
            None => out.push(format!("{at}: property {name} was removed")),
            Some(new_prop) => compare_schema(&format!("{at}.{name}"), &old_prop, new_prop, is_request, out),
        }
    }
    if is_request {
        for name in new["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            if !old_required.contains(name) {
                out.push(format!("{at}: property {name} is newly required in a request"));
            }
        }
    }
    if let (Some(o), Some(n)) = (old.get("items"), new.get("items")) {
        compare_schema(&format!("{at}[]"), o, n, is_request, out);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn spec(paths: Value, schemas: Value, webhooks: Value) -> Value {
        json!({"openapi": "3.1.0", "info": {"version": "1.0.0"}, "paths": paths, "webhooks": webhooks, "components": {"schemas": schemas}})
    }

    fn base() -> Value {
        spec(
            json!({
                "/v1/jobs": {
                    "get": {"parameters": [{"in": "query", "name": "limit", "required": false}],
                            "responses": {"200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Job"}}}}}},
                    "post": {"requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CreateJob"}}}}}
                }
            }),
            json!({
                "Job": {"type": "object", "properties": {"id": {"type": "string"}, "status": {"type": "string", "enum": ["open", "closed"]},
                         "location": {"type": ["string", "null"]}}, "required": ["id"]},
                "CreateJob": {"type": "object", "properties": {"title": {"type": "string"}, "location": {"type": "string"}}, "required": ["title"]}
            }),
            json!({"interview.completed": {"post": {}}}),
        )
    }

    #[test]
    fn an_unchanged_or_extended_spec_is_not_breaking() {
        assert!(breaking_changes(&base(), &base()).is_empty());
        let mut added = base();
        added["paths"]["/v1/new"] = json!({"get": {}});
        added["components"]["schemas"]["Job"]["properties"]["extra"] = json!({"type": "string"});
        added["components"]["schemas"]["Job"]["required"] = json!(["id", "status"]);
        added["components"]["schemas"]["Job"]["properties"]["status"]["enum"] = json!(["open", "closed", "paused"]);
        assert_eq!(breaking_changes(&base(), &added), Vec::<String>::new());
    }

    #[test]
    fn each_kind_of_break_is_found() {
        type Change = Box<dyn Fn(&mut Value)>;
        let cases: Vec<(&str, Change)> = vec![
            (
                "operation GET /v1/jobs was removed",
                Box::new(|s| s["paths"]["/v1/jobs"].as_object_mut().unwrap().remove("get").map(|_| ()).unwrap()),
            ),
            (
                "property location was removed",
                Box::new(|s| {
                    s["components"]["schemas"]["Job"]["properties"]
                        .as_object_mut()
                        .unwrap()
                        .remove("location")
                        .map(|_| ())
                        .unwrap()
                }),
            ),
            (
                "property location is newly required in a request",
                Box::new(|s| s["components"]["schemas"]["CreateJob"]["required"] = json!(["title", "location"])),
            ),
            (
                "parameter query:limit is newly required",
                Box::new(|s| s["paths"]["/v1/jobs"]["get"]["parameters"][0]["required"] = json!(true)),
            ),
            (
                "enum value \"closed\" was removed",
                Box::new(|s| s["components"]["schemas"]["Job"]["properties"]["status"]["enum"] = json!(["open"])),
            ),
            (
                "type null is no longer allowed",
                Box::new(|s| s["components"]["schemas"]["Job"]["properties"]["location"]["type"] = json!("string")),
            ),
            ("webhook event interview.completed was removed", Box::new(|s| s["webhooks"] = json!({}))),
        ];
        for (expected, change) in cases {
            let mut new = base();
            change(&mut new);
            let found = breaking_changes(&base(), &new);
            assert!(found.iter().any(|f| f.contains(expected)), "{expected}: found {found:?}");
        }
    }

    #[test]
    fn versions() {
        assert!(is_major_bump("1.4.0", "2.0.0"));
        assert!(!is_major_bump("1.4.0", "1.5.0"));
        assert!(is_major_bump("0.3.0", "0.4.0"));
        assert!(!is_major_bump("2.0.0", "2.0.0"));
    }
}
