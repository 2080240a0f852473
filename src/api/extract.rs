//! Request extractors whose failures are problem+json, with the failing field named: JSON
//! bodies, the authenticated caller, and the typed ids in paths.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use utoipa::IntoParams;
use utoipa::openapi::Required;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};

use super::problem::{ApiError, REQUEST_ID};
use crate::domain::audit::{Actor, AuditContext};
use crate::domain::ids::IdKind;
use crate::domain::rules::FieldRule;
use crate::domain::{Scope, Violations};

/// A JSON request body. Wrong content type is 415, too large 413, not JSON 400, JSON of the
/// wrong shape 422 with the path of the offending field.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(req.headers().get(header::CONTENT_TYPE)) {
            return Err(unsupported_media_type());
        }
        body_bytes(req, state).await.and_then(|bytes| parse_json(&bytes)).map(ApiJson)
    }
}

/// An optional JSON request body: an empty body is `None`; anything else is read as [`ApiJson`].
#[derive(Debug, Clone)]
pub struct OptionalJson<T>(pub Option<T>);

impl<T, S> FromRequest<S> for OptionalJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let json = is_json(req.headers().get(header::CONTENT_TYPE));
        let bytes = body_bytes(req, state).await?;
        if bytes.is_empty() {
            return Ok(OptionalJson(None));
        }
        if !json {
            return Err(unsupported_media_type());
        }
        parse_json(&bytes).map(|value| OptionalJson(Some(value)))
    }
}

fn unsupported_media_type() -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "Unsupported media type",
        "Send the body as JSON with the header Content-Type: application/json.",
    )
}

/// The whole body, within the size limit.
async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "Payload too large",
                "The request body is larger than this server accepts.",
            )
        } else {
            ApiError::bad_request("unreadable_body", format!("The request body could not be read: {rejection}"))
        }
    })
}

/// Parses a JSON body, naming the field at fault. Every request body is a JSON object; serde
/// would otherwise also read a struct from an array.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{') {
        // Well-formed JSON of another kind is a 422; anything else is reported as malformed below.
        if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
            return Err(malformed(&e));
        }
        let mut v = Violations::new();
        v.push("body", "invalid_value", "the request body must be a JSON object");
        return Err(ApiError::validation(v));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if !inner.is_data() {
            return malformed(&inner);
        }
        let message = strip_position(&inner.to_string());
        let mut v = Violations::new();
        let (field, code) = if let Some(name) = between(&message, "missing field `", "`") {
            (join(&path, name), "required")
        } else if let Some(name) = between(&message, "unknown field `", "`") {
            // The path already ends at the unknown field.
            let field = if path.ends_with(name) { path.clone() } else { join(&path, name) };
            (field, "unknown_field")
        } else if path == "." {
            ("body".to_owned(), "invalid_value")
        } else {
            (path, "invalid_value")
        };
        v.push(field, code, message);
        ApiError::validation(v)
    })?;
    de.end().map_err(|e| malformed(&e))?;
    Ok(value)
}

fn malformed(e: &serde_json::Error) -> ApiError {
    ApiError::bad_request("malformed_json", format!("The request body is not valid JSON: {e}."))
}

fn is_json(content_type: Option<&header::HeaderValue>) -> bool {
    let Some(value) = content_type.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let rest = &text[text.find(start)? + start.len()..];
    Some(&rest[..rest.find(end)?])
}

fn join(path: &str, name: &str) -> String {
    if path == "." || path.is_empty() { name.to_owned() } else { format!("{path}.{name}") }
}

/// serde_json appends " at line L column C"; the field path says more.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// The authenticated caller, put in place by the auth middleware.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub org_id: String,
    pub key_id: String,
    /// What the key may do.
    pub scopes: Vec<Scope>,
}

impl Principal {
    /// Who is acting, for the audit log: this key, under the current request's id.
    pub fn audit(&self) -> AuditContext {
        AuditContext {
            actor: Actor::ApiKey { api_key_id: self.key_id.clone() },
            request_id: REQUEST_ID.try_with(Clone::clone).ok(),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| ApiError::internal("The route is missing its authentication layer."))
    }
}

/// The path ids, one type per kind of object: each checks the id's shape before any lookup
/// (an id of the wrong shape can never exist, so it answers the object's 404 at once) and
/// documents its path parameter, pattern included.
macro_rules! path_ids {
    ($($(#[$doc:meta])* $name:ident: $kind:expr, $parameter:literal, $description:literal;)+) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            const KIND: IdKind = $kind;

            pub fn into_string(self) -> String {
                self.0
            }

            /// The 404 for an id of this kind that names nothing in the caller's organisation.
            pub fn not_found(id: &str) -> ApiError {
                ApiError::id_not_found(Self::KIND, id)
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<S: Send + Sync> FromRequestParts<S> for $name {
            type Rejection = Response;

            async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
                let Path(id) = Path::<String>::from_request_parts(parts, state).await.map_err(IntoResponse::into_response)?;
                if !Self::KIND.matches(&id) {
                    return Err(Self::not_found(&id).into_response());
                }
                Ok($name(id))
            }
        }

        impl IntoParams for $name {
            fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
                vec![id_parameter($parameter, $description, Self::KIND)]
            }
        }
    )+};
}

path_ids! {
    /// A job's `id` in the path.
    JobId: IdKind::Job, "job_id", "The job's `id`.";
    /// An application's `id` in the path.
    ApplicationId: IdKind::Application, "application_id", "The application's `id`.";
    /// A candidate's `id` in the path.
    CandidateId: IdKind::Candidate, "candidate_id", "The candidate's `id`.";
    /// A webhook endpoint's `id` in the path.
    EndpointId: IdKind::Endpoint, "endpoint_id", "The endpoint's `id`.";
    /// A webhook delivery's `id` in the path.
    DeliveryId: IdKind::Delivery, "delivery_id", "The delivery's `id`.";
    /// An API key's `id` in the path.
    KeyId: IdKind::ApiKey, "key_id", "The key's `id`.";
}

/// A required path parameter holding an id of `kind`, with its pattern and an example.
fn id_parameter(name: &str, description: &str, kind: IdKind) -> Parameter {
    // The document gives one `example` per schema throughout, as Swagger UI shows it.
    #[allow(deprecated)]
    let schema = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(FieldRule::id(kind).pattern)
        .example(Some(format!("{}_0192d5e7c1b27a3f8e6b8c2f4d1a9e70", kind.prefix()).into()));
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(description))
        .schema(Some(schema))
        .build()
}
