//! The checked-in spec and the server agree.

use serde_json::Value;

use crate::support::TestApp;

#[test]
fn spec_is_up_to_date() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let problems = public_api::spec_files::check(root);
    assert!(problems.is_empty(), "{}\nrun `cargo xtask spec` and commit the result", problems.join("\n"));
}

pub const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

pub fn concrete(path: &str) -> String {
    path.replace("{job_id}", "job_00000000000000000000000000000000")
        .replace("{application_id}", "app_00000000000000000000000000000000")
        .replace("{candidate_id}", "cand_00000000000000000000000000000000")
        .replace("{key_id}", "key_00000000000000000000000000000000")
        .replace("{endpoint_id}", "ep_00000000000000000000000000000000")
        .replace("{delivery_id}", "del_00000000000000000000000000000000")
}

/// `method path` with a JSON `body`, as the test app's organisation.
fn json_request(app: &TestApp, method: &str, path: &str, body: &'static str) -> reqwest::RequestBuilder {
    app.client
        .request(method.to_uppercase().parse().unwrap(), app.url(path))
        .bearer_auth(&app.key)
        .header("content-type", "application/json")
        .body(body)
}

/// Every documented operation is answered by a handler, every other method on a documented
/// path is 405, and every operation documents its errors and security.
#[tokio::test]
async fn every_documented_operation_is_served_and_nothing_else() {
    let app = TestApp::start().await;
    let spec: Value = serde_json::from_str(&std::fs::read_to_string("spec/openapi.json").unwrap()).unwrap();
    assert_eq!(spec["openapi"], "3.1.0");
    let mut operations = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in METHODS {
            let r = app.send(json_request(&app, method, &concrete(path), "{}")).await;
            match item.get(method) {
                Some(op) => {
                    operations += 1;
                    assert_ne!(r.json["code"], "route_not_found", "{method} {path}");
                    assert_ne!(r.status, 405, "{method} {path}");
                    assert!(op["operationId"].is_string());
                    assert!(op["description"].is_string() || op["summary"].is_string(), "{method} {path}");
                    let responses = op["responses"].as_object().unwrap();
                    assert!(responses.contains_key("500"), "{method} {path}");
                    if path.starts_with("/v1/") {
                        assert!(responses.contains_key("401"), "{method} {path}");
                        assert!(op["security"].is_array(), "{method} {path}");
                    }
                    if r.status < 500 {
                        assert!(
                            responses.contains_key(&r.status.to_string()),
                            "{method} {path} answered {} which is not documented",
                            r.status
                        );
                    }
                }
                None => assert_eq!(r.status, 405, "{method} {path} is not documented but answered"),
            }
        }
    }
    assert_eq!(operations, 32);
}

#[tokio::test]
async fn the_served_spec_is_the_checked_in_spec_and_docs_are_offline() {
    let app = TestApp::start().await;
    let served = app.send(app.client.get(app.url("/openapi.json"))).await;
    let checked_in: Value = serde_json::from_str(&std::fs::read_to_string("spec/openapi.json").unwrap()).unwrap();
    assert_eq!(served.expect(200), &checked_in);
    let page = app.send(app.client.get(app.url("/docs/"))).await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("swagger-ui"));
    assert!(!page.text.contains("http://") && !page.text.contains("https://"), "no remote assets");
    let init = app.send(app.client.get(app.url("/docs/swagger-initializer.js"))).await;
    assert!(init.text.contains("/openapi.json"));
    let bundle = app.send(app.client.get(app.url("/docs/swagger-ui-bundle.js"))).await;
    assert!(bundle.status == 200 && bundle.text.len() > 100_000);
}

#[test]
fn every_link_names_an_operation_and_one_of_its_path_parameters() {
    let spec: serde_json::Value = public_api::api::openapi_document(None);
    let mut operations = std::collections::BTreeMap::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for op in item.as_object().unwrap().values() {
            if let Some(id) = op["operationId"].as_str() {
                operations.insert(id.to_owned(), path.clone());
            }
        }
    }
    let mut links = 0;
    for item in spec["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            for response in op["responses"].as_object().into_iter().flat_map(|r| r.values()) {
                for link in response["links"].as_object().into_iter().flat_map(|l| l.values()) {
                    let target = link["operationId"].as_str().unwrap();
                    let path = operations.get(target).unwrap_or_else(|| panic!("no operation {target}"));
                    for parameter in link["parameters"].as_object().unwrap().keys() {
                        assert!(path.contains(&format!("{{{parameter}}}")), "{target} has no {parameter}");
                    }
                    links += 1;
                }
            }
        }
    }
    assert_eq!(links, 17);
}

#[tokio::test]
async fn the_served_spec_names_the_server_it_is_served_by() {
    let relative = TestApp::start().await;
    let served = relative.send(relative.client.get(relative.url("/openapi.json"))).await;
    assert_eq!(served.expect(200)["servers"][0]["url"], "/", "without --public-url, relative to the document");
    let proxied = TestApp::start_with(|c| c.api.public_url = Some("https://sandbox.example.com/api/".into())).await;
    let served = proxied.send(proxied.client.get(proxied.url("/openapi.json"))).await;
    assert_eq!(
        served.expect(200)["servers"],
        serde_json::json!([{"url": "https://sandbox.example.com/api", "description": "This server"}])
    );
}

/// A validator for one component schema, with the whole document as the root its `$ref`s
/// resolve against.
fn component_validator(spec: &Value, name: &str) -> jsonschema::Validator {
    let mut root = spec.clone();
    root["$ref"] = format!("#/components/schemas/{name}").into();
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&root)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Every request body has an example, and each example is valid against its schema.
#[test]
fn every_request_body_has_a_valid_example() {
    let spec = public_api::api::openapi_document(None);
    let mut checked = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(schema) = op["requestBody"]["content"]["application/json"]["schema"].as_object() else { continue };
            let name = schema["$ref"].as_str().unwrap().trim_start_matches("#/components/schemas/");
            let example = &spec["components"]["schemas"][name]["example"];
            assert!(!example.is_null(), "{method} {path}: {name} has no example");
            let errors: Vec<String> =
                component_validator(&spec, name).iter_errors(example).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{method} {path}: the example of {name} is invalid: {errors:?}");
            checked += 1;
        }
    }
    assert_eq!(checked, 8);
}

/// The arms of every `oneOf` exclude each other: each instance below matches exactly one arm,
/// or none when the server refuses it too. (redocly's heuristic cannot see this for the
/// exactly-one-of unions; see .redocly.lint-ignore.yaml.)
#[test]
fn one_of_arms_exclude_each_other() {
    use serde_json::json;
    let spec = public_api::api::openapi_document(None);
    let candidate = json!({"first_name": "Ada", "last_name": "Lovelace"});
    let cases = [
        (
            "CreateApplicationRequest",
            json!({"job_id": "job_0192d5e7c1b27a3f8e6b8c2f4d1a9e70", "candidate": candidate}),
            1,
        ),
        ("CreateApplicationRequest", json!({"job_external_id": "REQ-1", "job_id": null, "candidate": candidate}), 1),
        (
            "CreateApplicationRequest",
            json!({"job_id": "job_0192d5e7c1b27a3f8e6b8c2f4d1a9e70", "job_external_id": "REQ-1", "candidate": candidate}),
            0,
        ),
        ("CreateApplicationRequest", json!({"candidate": candidate}), 0),
        ("ResumeInput", json!({"text": "Ten years."}), 1),
        (
            "ResumeInput",
            json!({"text": null, "file": {"filename": "a.pdf", "content_type": "application/pdf", "content_base64": "JVBERi0xLjQK"}}),
            1,
        ),
        (
            "ResumeInput",
            json!({"text": "x", "file": {"filename": "a.pdf", "content_type": "application/pdf", "content_base64": "JVBERi0xLjQK"}}),
            0,
        ),
        ("ResumeInput", json!({}), 0),
        ("CompleteInterviewRequest", json!({}), 1),
        ("CompleteInterviewRequest", json!({"score": 87}), 1),
        ("CompleteInterviewRequest", json!({"outcome": "no_answer", "score": null}), 1),
        ("CompleteInterviewRequest", json!({"outcome": "no_answer", "score": 87}), 0),
    ];
    for (union, instance, expected) in cases {
        let arms = spec["components"]["schemas"][union]["oneOf"].as_array().unwrap();
        let matched = arms
            .iter()
            .filter(|arm| {
                let name = arm["$ref"].as_str().unwrap().trim_start_matches("#/components/schemas/");
                component_validator(&spec, name).is_valid(&instance)
            })
            .count();
        assert_eq!(matched, expected, "{union}: {instance}");
    }
}

/// Every documented response body has an example, and each example is valid against its
/// schema (problem responses against `Problem`).
#[test]
fn every_response_has_a_valid_example() {
    let spec = public_api::api::openapi_document(None);
    let mut checked = 0;
    let mut problems = Vec::new();
    let mut check = |at: String, media: &Value| {
        let example = &media["example"];
        if example.is_null() {
            problems.push(format!("{at}: no example"));
            return;
        }
        let mut root = spec.clone();
        root["$defs"] = serde_json::json!({"target": media["schema"].clone()});
        root["$ref"] = "#/$defs/target".into();
        let validator = jsonschema::options().with_draft(jsonschema::Draft::Draft202012).build(&root).unwrap();
        problems.extend(validator.iter_errors(example).map(|e| format!("{at}: {e} at {}", e.instance_path())));
        checked += 1;
    };
    for (name, response) in spec["components"]["responses"].as_object().unwrap() {
        for (media_type, media) in response["content"].as_object().into_iter().flatten() {
            check(format!("response {name} {media_type}"), media);
        }
    }
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for (status, response) in op["responses"].as_object().into_iter().flatten() {
                for (media_type, media) in response["content"].as_object().into_iter().flatten() {
                    check(format!("{method} {path} {status} {media_type}"), media);
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(checked > 40, "only {checked} examples");
}

/// Every path id is checked before anything else is read: an id of the wrong shape answers its
/// kind's 404 on every operation that takes it, even with a body that would fail validation.
#[tokio::test]
async fn malformed_path_ids_answer_their_kind_of_404_first() {
    let app = TestApp::start().await;
    let spec: Value = serde_json::from_str(&std::fs::read_to_string("spec/openapi.json").unwrap()).unwrap();
    let codes = [
        ("{job_id}", "job_not_found"),
        ("{application_id}", "application_not_found"),
        ("{candidate_id}", "candidate_not_found"),
        ("{key_id}", "api_key_not_found"),
        ("{endpoint_id}", "webhook_endpoint_not_found"),
        ("{delivery_id}", "webhook_delivery_not_found"),
    ];
    let mut checked = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        let Some((placeholder, code)) = codes.iter().find(|(p, _)| path.contains(p)) else { continue };
        for method in METHODS.into_iter().filter(|m| item.get(*m).is_some()) {
            let path_with_bad_id = path.replace(placeholder, "job_00000000000000000000000000000000x");
            let r = app.send(json_request(&app, method, &path_with_bad_id, "[\"not\", \"an\", \"object\"]")).await;
            assert_eq!((r.status, r.json["code"].as_str()), (404, Some(*code)), "{method} {path}");
            checked += 1;
        }
    }
    assert!(checked >= 17, "only {checked} operations take a path id");
}
