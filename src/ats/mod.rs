//! The ATS client contract and the `public_api` provider.
//!
//! The platform reaches every applicant tracking system through [`AtsClient`]. Organisations
//! without one use the Public API, which the platform treats as one more provider,
//! [`PublicApiClient`]: its jobs live in the job cache, its candidates and resumes arrive with
//! the API call, and its `post_call_results` queues a webhook instead of writing to an ATS.
//! What is supported is data: [`capabilities`].

pub mod capabilities;
pub mod client;
pub mod public_api;

pub use capabilities::{AtsMethod, Capability, Group, PUBLIC_API, ProviderConfig, Support, capability};
pub use client::{AtsClient, AtsError, CandidateApplication, Created, Provider};
pub use public_api::PublicApiClient;
