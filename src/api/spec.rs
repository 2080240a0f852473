//! The OpenAPI document: what the handlers declare, plus the parts every operation shares
//! (security, error responses, the request-id header, `Idempotency-Key`), added in one place
//! so that no handler can forget them.

use utoipa::OpenApi;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Required};

use super::problem::{PROBLEM_JSON, Problem};
use crate::domain::FieldError;
use crate::domain::events::{
    ApplicationStatusChangedEvent, InterviewCompletedEvent, InterviewFailedEvent, WebhookTestEvent,
};

pub const BEARER: &str = "bearer";
/// The security scheme of the webhooks we send: the receiver checks our signature.
pub const WEBHOOK_SIGNATURE: &str = "webhook_signature";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Public API",
        version = "2.0.0",
        description = "Push jobs and candidates in; the platform interviews candidates by phone and sends the results back as signed webhooks.\n\n\
Authenticate with `Authorization: Bearer tenzo_pk_…`. Every error is `application/problem+json` (RFC 9457) with a stable `code`; branch on `code`. \
Every response carries `x-request-id`. `POST` requests accept an `Idempotency-Key` header (replayed for 24 h). \
Lists are ordered oldest first and paged with an opaque `cursor`. Each API key is rate limited; a 429 says when to retry in `Retry-After`. \
While the data store cannot serve requests, every operation answers 503 `store_unavailable` with `Retry-After`.",
        license(name = "MIT", identifier = "MIT"),
        contact(name = "Public API reference server")
    ),
    tags(
        (name = "Jobs", description = "The job cache: the roles candidates are interviewed for."),
        (name = "Applications", description = "A candidate applying to a job; creating one schedules the interview."),
        (name = "Candidates", description = "Candidates and resumes, as they arrived with applications."),
        (name = "API keys", description = "Keys that authenticate requests for your organisation."),
        (name = "Integration", description = "The ATS provider behind the Public API (`public_api`) and what it supports."),
        (name = "Webhook endpoints", description = "Where your organisation receives events, and their signing secrets."),
        (name = "Webhook deliveries", description = "Every event sent to every endpoint, with every attempt; redelivery."),
        (name = "Audit log", description = "Who changed which API key or webhook endpoint, or forced a sandbox interview, and when."),
        (name = "Sandbox", description = "Shortcuts for integrators and tests: force an interview's outcome now."),
        (name = "Operations", description = "Health, readiness and this document."),
        (name = "Webhooks", description = "Events we POST to your endpoints, signed per Standard Webhooks."),
    ),
    components(schemas(
        Problem,
        FieldError,
        InterviewCompletedEvent,
        InterviewFailedEvent,
        ApplicationStatusChangedEvent,
        WebhookTestEvent
    ))
)]
struct ApiDoc;

/// The document's skeleton, before paths are merged in.
pub fn base() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// Adds the shared parts to every operation.
pub fn finish(api: &mut utoipa::openapi::OpenApi) {
    let components = api.components.get_or_insert_with(Default::default);
    components.security_schemes.insert(
        BEARER.into(),
        RefOr::T(SecurityScheme::Http(
            Http::builder()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "An API key such as `tenzo_pk_…`, created with `POST /v1/api-keys` or `public-api keys create`.",
                ))
                .build(),
        )),
    );
    components.security_schemes.insert(
        WEBHOOK_SIGNATURE.into(),
        RefOr::T(SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            "webhook-signature",
            "How your endpoint knows a webhook came from us: a Standard Webhooks HMAC-SHA256 signature made with the \
             endpoint's `whsec_` secret over `{webhook-id}.{webhook-timestamp}.{raw body}`.",
        )))),
    );
    for (name, description) in SHARED_RESPONSES {
        let mut response = problem_response(description);
        if matches!(*name, "RateLimited" | "StoreUnavailable") {
            response.headers.insert("Retry-After".into(), retry_after_header());
        }
        components.responses.insert((*name).into(), RefOr::T(response));
    }
    components.parameters.insert(
        "IdempotencyKey".into(),
        RefOr::T(
            ParameterBuilder::new()
                .name("Idempotency-Key")
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .description(Some(
                    "A unique value (such as a UUID, up to 255 visible ASCII characters) that makes a retry of this \
                     request safe: for 24 h the first successful response is replayed, with `Idempotent-Replayed: true`.",
                ))
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .min_length(Some(1))
                        .max_length(Some(255))
                        .pattern(Some("^[!-~]+$")),
                ))
                .build(),
        ),
    );

    for (path, item) in api.paths.paths.iter_mut() {
        let is_v1 = path.starts_with("/v1/");
        let has_path_params = path.contains('{');
        let ops = [
            (&mut item.get, false),
            (&mut item.post, true),
            (&mut item.put, false),
            (&mut item.patch, false),
            (&mut item.delete, false),
        ];
        for (op, is_post) in ops {
            let Some(op) = op.as_mut() else { continue };
            add_request_id_header(op);
            if !is_v1 {
                // Probes, metrics and the spec itself are public; say so rather than leave it open.
                op.security = Some(Vec::new());
                add(op, "500", "InternalError");
                continue;
            }
            let scope = op.operation_id.as_deref().and_then(super::scopes::of_operation);
            op.security = Some(vec![SecurityRequirement::new(BEARER, scope.map(|s| s.as_str()))]);
            add(op, "400", "BadRequest");
            add(op, "401", "Unauthorized");
            add(op, "403", "Forbidden");
            add(op, "429", "RateLimited");
            add(op, "500", "InternalError");
            add(op, "503", "StoreUnavailable");
            if has_path_params {
                add(op, "404", "NotFound");
            }
            if op.request_body.is_some() {
                add(op, "413", "PayloadTooLarge");
                add(op, "415", "UnsupportedMediaType");
                add(op, "422", "ValidationFailed");
            }
            if is_post {
                op.parameters
                    .get_or_insert_with(Vec::new)
                    .push(RefOr::Ref(Ref::new("#/components/parameters/IdempotencyKey")));
                add(op, "409", "Conflict");
                add(op, "422", "ValidationFailed");
            }
        }
    }
}

/// OpenAPI links: which later operations take an id from a response, so readers (and stateful
/// testers such as Schemathesis) can follow a job or an application from its creation.
/// (from operation, status, to operation, path parameter, where the id is in the response body)
const LINKS: &[(&str, &str, &str, &str, &str)] = &[
    ("create_job", "201", "get_job", "job_id", "/id"),
    ("create_job", "201", "update_job", "job_id", "/id"),
    ("create_job", "201", "close_job", "job_id", "/id"),
    ("create_api_key", "201", "revoke_api_key", "key_id", "/key/id"),
    ("create_application", "201", "get_application", "application_id", "/id"),
    ("create_application", "201", "get_results", "application_id", "/id"),
    ("create_application", "201", "complete_interview", "application_id", "/id"),
    ("create_application", "201", "cancel_application", "application_id", "/id"),
    ("create_application", "201", "get_candidate", "candidate_id", "/candidate_id"),
    ("create_application", "201", "get_resume", "candidate_id", "/candidate_id"),
    ("create_endpoint", "201", "get_endpoint", "endpoint_id", "/endpoint/id"),
    ("create_endpoint", "201", "update_endpoint", "endpoint_id", "/endpoint/id"),
    ("create_endpoint", "201", "rotate_secret", "endpoint_id", "/endpoint/id"),
    ("create_endpoint", "201", "test_endpoint", "endpoint_id", "/endpoint/id"),
    ("create_endpoint", "201", "delete_endpoint", "endpoint_id", "/endpoint/id"),
    ("test_endpoint", "200", "get_delivery", "delivery_id", "/delivery/id"),
    ("test_endpoint", "200", "redeliver", "delivery_id", "/delivery/id"),
];

/// Adds `LINKS` to the responses they start from.
pub fn add_links(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::link::LinkBuilder;
    for item in api.paths.paths.values_mut() {
        for op in
            [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete].into_iter().flatten()
        {
            let Some(from) = op.operation_id.clone() else { continue };
            for (_, status, to, parameter, pointer) in LINKS.iter().filter(|(f, ..)| *f == from) {
                if let Some(RefOr::T(response)) = op.responses.responses.get_mut(*status) {
                    let link =
                        LinkBuilder::new().operation_id(*to).parameter(*parameter, format!("$response.body#{pointer}"));
                    response.links.insert(pascal_case(to), RefOr::T(link.build()));
                }
            }
        }
    }
}

/// `get_job` -> `GetJob`: the style of link names, and of the schema names in `contract.rs`.
pub(super) fn pascal_case(operation_id: &str) -> String {
    operation_id
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect()
}

/// The outgoing webhooks, one per event type: (event type, schema name, description).
const WEBHOOKS: &[(&str, &str, &str)] = &[
    (
        InterviewCompletedEvent::TYPE,
        "InterviewCompletedEvent",
        "An interview completed. `data.results` carries the score, per-question grades, transcript, resume review and links.",
    ),
    (
        InterviewFailedEvent::TYPE,
        "InterviewFailedEvent",
        "An interview could not be held. `data.failure.reason` is `max_attempts`, `invalid_number`, `hung_up` or `not_interested`.",
    ),
    (
        ApplicationStatusChangedEvent::TYPE,
        "ApplicationStatusChangedEvent",
        "An application moved from `data.previous_status` to `data.status`.",
    ),
    (WebhookTestEvent::TYPE, "WebhookTestEvent", "A test event, sent when you ask for one."),
];

/// Documents each event as a webhook: the POST we send to your endpoint.
pub fn add_webhooks(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem};
    use utoipa::openapi::request_body::RequestBodyBuilder;
    let mut paths = utoipa::openapi::path::Paths::new();
    for (event_type, schema, description) in WEBHOOKS {
        let header = |name: &str, description: &str| {
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Header)
                .required(Required::True)
                .description(Some(description))
                .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                .build()
        };
        let operation = OperationBuilder::new()
            .operation_id(Some(format!("webhook_{}", event_type.replace('.', "_"))))
            .summary(Some(format!("{event_type} (sent to your endpoint)")))
            .description(Some(format!(
                "{description}\n\nSigned per Standard Webhooks: verify `webhook-signature` over `{{webhook-id}}.{{webhook-timestamp}}.{{raw body}}` \
                 with your endpoint's `whsec_` secret, reject timestamps more than 5 minutes away, and ignore repeated `webhook-id`s."
            )))
            .tag("Webhooks")
            .parameters(Some(vec![
                header("webhook-id", "The event id; the same on every retry. Use it to drop duplicates."),
                header("webhook-timestamp", "Unix seconds of this attempt."),
                header("webhook-signature", "Space-separated `v1,<base64 HMAC-SHA256>` signatures (two during a secret rotation)."),
            ]))
            .request_body(Some(
                RequestBodyBuilder::new()
                    .required(Some(Required::True))
                    .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name(*schema))).build())
                    .build(),
            ))
            .security(SecurityRequirement::new(WEBHOOK_SIGNATURE, Vec::<String>::new()))
            .response(
                "2XX",
                ResponseBuilder::new().description("Acknowledged. Anything else (or no answer within 15 s) is retried."),
            )
            .build();
        let mut item = PathItem::new(HttpMethod::Post, operation);
        item.summary = Some((*event_type).to_owned());
        paths.paths.insert((*event_type).to_owned(), item);
    }
    api.webhooks = Some(paths);
}

/// Shared problem responses: (component name, description).
const SHARED_RESPONSES: &[(&str, &str)] = &[
    (
        "BadRequest",
        "The request is malformed: JSON that does not parse (`malformed_json`), bad query parameters (`invalid_query`), or a bad `Idempotency-Key` (`invalid_idempotency_key`).",
    ),
    (
        "Unauthorized",
        "No valid API key: `api_key_missing`, `api_key_malformed`, `api_key_invalid`, `api_key_revoked` or `api_key_expired`.",
    ),
    (
        "Forbidden",
        "The API key lacks the scope this operation needs (`insufficient_scope`; the operation's security requirement names it), or asks to create a key with scopes it lacks.",
    ),
    (
        "NotFound",
        "No such object in your organisation (for example `job_not_found`). Objects of other organisations are never visible.",
    ),
    (
        "Conflict",
        "The request conflicts with the current state, or a request with the same `Idempotency-Key` is still running (`idempotency_key_in_use`).",
    ),
    ("PayloadTooLarge", "The request body is larger than the server accepts (`body_too_large`)."),
    ("UnsupportedMediaType", "The body is not sent as `application/json` (`unsupported_media_type`)."),
    (
        "ValidationFailed",
        "The body is JSON but not valid: `validation_failed` lists every invalid field in `errors`; `idempotency_key_reused` means the key was used with a different request.",
    ),
    ("RateLimited", "Too many requests for this API key (`rate_limited`); retry after the `Retry-After` seconds."),
    (
        "StoreUnavailable",
        "The data store cannot serve the request at the moment (`store_unavailable`): the database is down or unreachable, or the disk is full. Retry after the `Retry-After` seconds; send a retried `POST` with the same `Idempotency-Key`. The cause is in the server's log under the `request_id`.",
    ),
    ("InternalError", "Something failed on the server (`internal_error`); quote the `request_id`."),
];

fn problem_response(description: &str) -> Response {
    let mut response = ResponseBuilder::new()
        .description(description)
        .content(PROBLEM_JSON, ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build())
        .build();
    response.headers.insert("x-request-id".into(), request_id_header());
    response
}

fn retry_after_header() -> RefOr<utoipa::openapi::header::Header> {
    let mut header =
        utoipa::openapi::header::Header::new(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0)));
    header.description = Some("Seconds to wait before retrying.".into());
    RefOr::T(header)
}

fn request_id_header() -> RefOr<utoipa::openapi::header::Header> {
    let mut header = utoipa::openapi::header::Header::new(ObjectBuilder::new().schema_type(Type::String));
    header.description = Some("The request's id; send your own in `x-request-id` or get a generated one.".into());
    RefOr::T(header)
}

fn add(op: &mut Operation, status: &str, component: &str) {
    op.responses.responses.entry(status.into()).or_insert_with(|| RefOr::Ref(Ref::from_response_name(component)));
}

fn add_request_id_header(op: &mut Operation) {
    for response in op.responses.responses.values_mut() {
        if let RefOr::T(response) = response {
            response.headers.entry("x-request-id".into()).or_insert_with(request_id_header);
        }
    }
}
