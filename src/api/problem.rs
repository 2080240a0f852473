//! The one error envelope: RFC 9457 `application/problem+json` with a stable `code`.
//!
//! Handlers return [`ApiError`]; anything else that answers with an error status (axum's own
//! rejections, timeouts, panics, unknown routes) is rewritten into the same shape by
//! [`problem_only`], so clients parse exactly one error format.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::ats::AtsError;
use crate::domain::Scope;
use crate::domain::ids::IdKind;
use crate::domain::{FieldError, Violations};
use crate::store::{Rejection, StoreError};

pub const PROBLEM_JSON: &str = "application/problem+json";

tokio::task_local! {
    /// The id of the request being served, for error bodies.
    pub static REQUEST_ID: String;
}

/// An error response (RFC 9457). Branch on `code`, never on `title` or `detail`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "urn:problem-type:validation_failed",
    "title": "Validation failed",
    "status": 422,
    "detail": "The request body has 1 invalid field.",
    "code": "validation_failed",
    "request_id": "req_0192d5e7c1b27a3f8e6b8c2f4d1a9e74",
    "errors": [{"field": "candidate.phone", "code": "invalid_format", "message": "must be an E.164 phone number such as +14155550123"}]
}))]
pub struct Problem {
    /// A URI naming the problem type: `urn:problem-type:` followed by `code`.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// A short summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong with this request, for humans.
    pub detail: String,
    /// A stable machine-readable error code, e.g. `job_not_found`, `validation_failed`,
    /// `api_key_revoked`, `rate_limited`, `idempotency_key_reused`.
    pub code: String,
    /// The request's id (also in the `x-request-id` header); quote it when asking for help.
    pub request_id: Option<String>,
    /// For validation failures: one entry per invalid field.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(nullable = false)]
    pub errors: Vec<FieldError>,
}

/// An error on its way to becoming a [`Problem`] response.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub title: &'static str,
    pub detail: String,
    pub errors: Vec<FieldError>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// What really went wrong, for the server's log only (driver messages, hosts, errnos).
    /// Boxed: an `ApiError` travels in every handler's `Result`, so it stays small.
    pub cause: Option<Box<String>>,
}

/// Seconds a client should wait before retrying a request the store could not serve.
pub const STORE_RETRY_AFTER_SECS: u32 = 2;

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, title: &'static str, detail: impl Into<String>) -> Self {
        ApiError { status, code, title, detail: detail.into(), errors: Vec::new(), headers: Vec::new(), cause: None }
    }

    /// 503 `store_unavailable` with `Retry-After`: the database or the disk cannot serve the
    /// request now. `cause` goes to the log with the request id, never to the client.
    pub fn store_unavailable(cause: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "Service unavailable",
            format!(
                "The data store cannot serve requests at the moment. Retry after {STORE_RETRY_AFTER_SECS} s (see Retry-After); send a retried POST with the same Idempotency-Key."
            ),
        )
        .with_header(header::RETRY_AFTER, HeaderValue::from(STORE_RETRY_AFTER_SECS))
        .with_cause(cause.into())
    }

    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// Attaches what really went wrong, for the log only.
    fn with_cause(mut self, cause: String) -> Self {
        self.cause = Some(Box::new(cause));
        self
    }

    pub fn not_found(code: &'static str, what: &str, id: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, "Not found", format!("No {what} {id} in this organisation."))
    }

    /// The 404 for an id of `kind` that names nothing in the caller's organisation: one code
    /// per kind, whether the id is malformed or merely unknown.
    pub fn id_not_found(kind: IdKind, id: &str) -> Self {
        let (code, what) = match kind {
            IdKind::Job => ("job_not_found", "job"),
            IdKind::Application => ("application_not_found", "application"),
            IdKind::Candidate => ("candidate_not_found", "candidate"),
            IdKind::Endpoint => ("webhook_endpoint_not_found", "webhook endpoint"),
            IdKind::Delivery => ("webhook_delivery_not_found", "webhook delivery"),
            IdKind::ApiKey => ("api_key_not_found", "API key"),
            IdKind::Organization => ("organization_not_found", "organisation"),
            IdKind::Event => ("event_not_found", "event"),
            IdKind::Audit => ("audit_event_not_found", "audit event"),
        };
        Self::not_found(code, what, id)
    }

    /// 401 with the `WWW-Authenticate` challenge.
    pub fn unauthorized(code: &'static str, detail: &str) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, code, "Unauthorized", detail)
            .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"public-api\""))
    }

    /// 401 for a revoked key.
    pub fn key_revoked() -> Self {
        ApiError::unauthorized("api_key_revoked", "The API key was revoked; create a new one.")
    }

    /// 403 for a key that lacks `missing`.
    pub fn insufficient_scope(missing: &[Scope]) -> Self {
        let names: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
        let (noun, pronoun) = if names.len() == 1 { ("scope", "it") } else { ("scopes", "them") };
        Self::new(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "Forbidden",
            format!("This API key lacks the {noun} {}; use a key that has {pronoun}.", names.join(", ")),
        )
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, "Bad request", detail)
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, "Conflict", detail)
    }

    pub fn validation(violations: Violations) -> Self {
        let n = violations.0.len();
        let mut e = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "Validation failed",
            format!("The request has {n} invalid field{}.", if n == 1 { "" } else { "s" }),
        );
        e.errors = violations.0;
        e
    }

    /// 500 `internal_error`. `cause` goes to the log with the request id; the client reads a
    /// sentence asking it to quote the request id.
    pub fn internal(cause: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Internal server error",
            "Something went wrong on our side. Quote the request_id when you report it.",
        )
        .with_cause(cause.into())
    }

    /// A generic problem for a bare status code produced outside our handlers.
    pub fn from_status(status: StatusCode) -> Self {
        let (code, title, detail) = match status {
            StatusCode::NOT_FOUND => ("route_not_found", "Not found", "No such route."),
            StatusCode::METHOD_NOT_ALLOWED => (
                "method_not_allowed",
                "Method not allowed",
                "This route does not support this HTTP method; see the Allow header.",
            ),
            StatusCode::REQUEST_TIMEOUT => ("request_timeout", "Request timeout", "The request took too long."),
            StatusCode::PAYLOAD_TOO_LARGE => ("body_too_large", "Payload too large", "The request body is too large."),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                ("unsupported_media_type", "Unsupported media type", "Send the body as application/json.")
            }
            StatusCode::SERVICE_UNAVAILABLE => ("service_unavailable", "Service unavailable", "Try again shortly."),
            s if s.is_server_error() => {
                ("internal_error", "Internal server error", "Something went wrong on our side.")
            }
            _ => ("bad_request", "Bad request", "The request was not understood."),
        };
        Self::new(status, code, title, detail)
    }

    pub fn to_problem(&self) -> Problem {
        Problem {
            type_uri: format!("urn:problem-type:{}", self.code),
            title: self.title.to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: self.code.to_owned(),
            request_id: REQUEST_ID.try_with(Clone::clone).ok(),
            errors: self.errors.clone(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            let request_id = REQUEST_ID.try_with(Clone::clone).unwrap_or_default();
            let cause = self.cause.as_deref().unwrap_or(&self.detail);
            tracing::error!(status = self.status.as_u16(), code = self.code, %request_id, %cause, "request failed");
        }
        let body = serde_json::to_vec(&self.to_problem()).unwrap_or_else(|_| b"{}".to_vec());
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        for (name, value) in self.headers {
            headers.append(name, value);
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Rejected(r) => r.into(),
            StoreError::Closed | StoreError::Unavailable(_) => ApiError::store_unavailable(e.to_string()),
            // The authentication middleware answers this request 401 whatever becomes of this.
            StoreError::KeyRefused => ApiError::key_revoked(),
            other => ApiError::internal(format!("the store failed: {other}")),
        }
    }
}

impl From<AtsError> for ApiError {
    fn from(e: AtsError) -> Self {
        match e {
            AtsError::NotFound { kind, id } => match kind {
                "job" => ApiError::id_not_found(IdKind::Job, &id),
                "candidate" => ApiError::id_not_found(IdKind::Candidate, &id),
                "application" => ApiError::id_not_found(IdKind::Application, &id),
                _ => ApiError::not_found("not_found", kind, &id),
            },
            AtsError::Unsupported { .. } => {
                ApiError::new(StatusCode::NOT_IMPLEMENTED, "not_supported_by_provider", "Not supported", e.to_string())
            }
            AtsError::Store(e) => e.into(),
        }
    }
}

impl From<Rejection> for ApiError {
    fn from(r: Rejection) -> Self {
        let detail = r.to_string();
        match r {
            Rejection::JobNotFound(_) => ApiError::new(StatusCode::NOT_FOUND, "job_not_found", "Not found", detail),
            Rejection::JobClosed(_) => ApiError::conflict("job_closed", detail),
            Rejection::ApplicationExternalIdTaken { .. } => ApiError::conflict("external_id_conflict", detail),
            Rejection::NotCancellable { .. } => ApiError::conflict("application_not_cancellable", detail),
            Rejection::ApplicationFinal { .. } => ApiError::conflict("application_final", detail),
        }
    }
}

/// Rewrites every error response that is not already problem+json into one, keeping its
/// status and headers (such as `Allow` or `Retry-After`).
pub async fn problem_only(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_problem =
        response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if status.as_u16() < 400 || is_problem {
        return response;
    }
    let (parts, _body) = response.into_parts();
    let mut rewritten = ApiError::from_status(status).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rewritten.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rewritten
}
