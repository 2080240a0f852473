//! Outgoing webhooks: signing (Standard Webhooks), the URL guard, and delivery.

pub mod dispatcher;
pub mod guard;
pub mod metrics;
pub mod signing;
