//! The integration tests: one binary, a module per area. Each test starts its own server on
//! 127.0.0.1:0 with a fresh store: a data directory, or with PUBLIC_API_TEST_DATABASE_URL set, a
//! PostgreSQL schema of its own.

mod applications;
mod ats;
mod audit;
mod auth;
mod backup;
mod conformance;
mod crash;
mod encryption;
mod end_to_end;
mod errors;
mod events;
mod faults;
mod fuzz;
mod idempotency;
mod interviews;
mod jobs;
mod lifecycle;
mod observability;
mod outage;
mod replicas;
mod scopes;
mod signing;
mod spec;
mod store;
mod support;
mod webhooks;
