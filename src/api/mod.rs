//! The HTTP edge: routes, extractors, authentication, idempotency, errors and the spec.
//!
//! One file per resource, named after its path (`jobs`, `applications`, `candidates`,
//! `api_keys`, `webhook_endpoints`, `webhook_deliveries`, `audit_events`, `sandbox`,
//! `integration`, `ops`), with
//! its request and response types next to its handlers. Handlers take typed path ids and
//! bodies from `extract`, and answer every error as an `ApiError`. They
//! read jobs, candidates and resumes through the `ats` provider, as the platform does, and
//! reach the interview engine, the webhook dispatcher and the [`Store`] through [`AppState`].
//! The rest builds the document: `spec` (info, tags, shared responses), `contract` (the rules
//! the derive cannot state) and `examples`.

pub mod api_keys;
pub mod applications;
pub mod audit_events;
pub mod auth;
pub mod candidates;
pub mod console;
pub mod contract;
pub mod examples;
pub mod extract;
pub mod idempotency;
pub mod integration;
pub mod jobs;
pub mod observe;
pub mod ops;
pub mod pagination;
pub mod problem;
pub mod sandbox;
pub mod scopes;
pub mod spec;
pub mod webhook_deliveries;
pub mod webhook_endpoints;

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware;
use jiff::SignedDuration;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::{Config, SwaggerUi};

use self::auth::{RateLimit, RateLimiter, UsageTracker};
use self::problem::ApiError;
use crate::ats::PublicApiClient;
use crate::clock::Clock;
use crate::interview::InterviewEngine;
use crate::store::Store;
use crate::webhooks::dispatcher::Dispatcher;

/// Limits and policies of the HTTP edge.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Per-key rate limit; `None` turns it off.
    pub rate_limit: Option<RateLimit>,
    /// How long an `Idempotency-Key` response is replayed.
    pub idempotency_retention: SignedDuration,
    /// After this long an unfinished idempotent request counts as abandoned.
    pub idempotency_abandon_after: SignedDuration,
    /// The longest a request may take before it is answered with 408.
    pub request_timeout: Duration,
    /// How long a client may take to send a request's headers, and how long an idle keep-alive
    /// connection stays open: slow or silent connections are closed instead of held forever.
    pub header_read_timeout: Duration,
    /// The URL clients reach this server at (behind a proxy, say), for `servers` in the served
    /// document; without it the document names a server relative to itself.
    pub public_url: Option<String>,
    /// At shutdown, how long requests in progress and webhook attempts in flight may take to
    /// finish.
    pub shutdown_grace: Duration,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            max_body_bytes: 8 * 1024 * 1024,
            rate_limit: Some(RateLimit { per_second: 50.0, burst: 100 }),
            idempotency_retention: SignedDuration::from_hours(24),
            idempotency_abandon_after: SignedDuration::from_secs(60),
            request_timeout: Duration::from_secs(30),
            header_read_timeout: Duration::from_secs(10),
            public_url: None,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// What every handler can reach.
pub struct App {
    pub store: Arc<dyn Store>,
    /// Runs the simulated interviews; woken when an application is created.
    pub engine: Arc<InterviewEngine>,
    /// Sends webhooks; woken when events are queued.
    pub dispatcher: Arc<Dispatcher>,
    pub clock: Arc<dyn Clock>,
    pub config: ApiConfig,
    pub limiter: RateLimiter,
    pub usage: UsageTracker,
    /// The OpenAPI document, serialised once.
    pub spec_json: Bytes,
    /// The scope each route needs, as the document states it.
    pub scopes: scopes::RouteScopes,
    /// Request counts and latencies for `/metrics`.
    pub http_metrics: Arc<observe::HttpMetrics>,
}

/// Shared handle to [`App`].
#[derive(Clone)]
pub struct AppState(pub Arc<App>);

impl Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.0
    }
}

impl AppState {
    /// The `public_api` ATS provider, acting for the caller's organisation.
    pub fn ats(&self, principal: &extract::Principal) -> PublicApiClient {
        PublicApiClient::new(Arc::clone(&self.store), Arc::clone(&self.clock), principal.org_id.clone())
            .with_interview_delay(self.engine.config().delay)
    }

    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        engine: Arc<InterviewEngine>,
        dispatcher: Arc<Dispatcher>,
        config: ApiConfig,
    ) -> AppState {
        let document = openapi_document(config.public_url.as_deref());
        let spec_json = serde_json::to_string_pretty(&document).unwrap_or_else(|_| "{}".into());
        let scopes = scopes::RouteScopes::from_document(&document);
        AppState(Arc::new(App {
            store,
            engine,
            dispatcher,
            clock,
            limiter: RateLimiter::new(config.rate_limit),
            usage: UsageTracker::default(),
            config,
            spec_json: Bytes::from(spec_json),
            scopes,
            http_metrics: Arc::default(),
        }))
    }
}

/// The authenticated `/v1` routes, one `routes!` per path.
fn v1_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(jobs::create_job, jobs::list_jobs))
        .routes(routes!(jobs::get_job, jobs::update_job))
        .routes(routes!(jobs::close_job))
        .routes(routes!(applications::create_application, applications::list_applications))
        .routes(routes!(applications::get_application))
        .routes(routes!(applications::cancel_application))
        .routes(routes!(applications::get_results))
        .routes(routes!(sandbox::complete_interview))
        .routes(routes!(candidates::get_candidate))
        .routes(routes!(candidates::get_resume))
        .routes(routes!(api_keys::list_api_keys, api_keys::create_api_key))
        .routes(routes!(api_keys::revoke_api_key))
        .routes(routes!(integration::get_integration))
        .routes(routes!(webhook_endpoints::create_endpoint, webhook_endpoints::list_endpoints))
        .routes(routes!(
            webhook_endpoints::get_endpoint,
            webhook_endpoints::update_endpoint,
            webhook_endpoints::delete_endpoint
        ))
        .routes(routes!(webhook_endpoints::rotate_secret))
        .routes(routes!(webhook_endpoints::test_endpoint))
        .routes(routes!(webhook_deliveries::list_deliveries))
        .routes(routes!(webhook_deliveries::get_delivery))
        .routes(routes!(webhook_deliveries::redeliver))
        .routes(routes!(audit_events::list_audit_events))
}

/// Unauthenticated operational routes.
fn ops_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::openapi_json))
        .routes(routes!(ops::metrics))
}

/// The complete OpenAPI document of this server, as served at `/openapi.json`: what utoipa
/// derives, with every rule of [`contract`] written in and `servers` pointing at `public_url`
/// (else at the server serving it). `spec/openapi.json` is this with no `public_url`.
pub fn openapi_document(public_url: Option<&str>) -> serde_json::Value {
    let mut document = serde_json::to_value(openapi()).unwrap_or_default();
    contract::apply(&mut document);
    contract::set_server(&mut document, public_url);
    document
}

/// The OpenAPI document as utoipa derives it from the handlers, before [`contract`] adds the
/// rules the types cannot state.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut api = spec::base();
    api.merge(v1_routes().into_openapi());
    api.merge(ops_routes().into_openapi());
    spec::finish(&mut api);
    spec::add_webhooks(&mut api);
    spec::add_links(&mut api);
    api
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    let (v1, _) = v1_routes().split_for_parts();
    let v1 = v1.route_layer(middleware::from_fn_with_state(state.clone(), auth::authenticate));
    let (ops, _) = ops_routes().split_for_parts();
    let docs = SwaggerUi::new("/docs").config(Config::from("/openapi.json"));
    let timeout = state.config.request_timeout;
    let http_metrics = Arc::clone(&state.http_metrics);
    Router::new()
        .merge(v1)
        .merge(ops)
        .merge(docs)
        .merge(console::routes())
        .fallback(|| async { ApiError::from_status(StatusCode::NOT_FOUND) })
        .method_not_allowed_fallback(|| async { ApiError::from_status(StatusCode::METHOD_NOT_ALLOWED) })
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .with_state(state)
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout))
        .layer(CatchPanicLayer::new())
        .layer(middleware::from_fn(problem::problem_only))
        .layer(middleware::from_fn_with_state(http_metrics, observe::observe))
}
