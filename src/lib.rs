//! The reference server for the AI-interview platform's Public API.
//!
//! Organisations push jobs and candidates in over HTTP (`api`); everything is kept in a durable
//! store (`store`) made of plain domain records (`domain`). `server` wires the pieces into a
//! running process and `cli` is the command line around it. See `ARCHITECTURE.md` for the map.

pub mod api;
pub mod ats;
pub mod cli;
pub mod clock;
pub mod domain;
pub mod interview;
pub mod keys;
pub mod listen;
pub mod metrics;
pub mod outage;
pub mod rng;
pub mod seed;
pub mod server;
pub mod spec_files;
pub mod store;
pub mod webhooks;

/// Selects the TLS crypto provider for outgoing HTTPS (ring). Must run before the first HTTP
/// client is built; calling it again is harmless.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
