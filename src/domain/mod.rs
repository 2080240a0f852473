//! Plain records of the domain and the rules their fields obey.
//!
//! These types are also the wire types of the Public API (they derive `Serialize` and
//! `utoipa::ToSchema`), so their doc comments are what readers of the Swagger page see.
//! Nothing here does I/O.

pub mod application;
pub mod audit;
pub mod candidate;
pub mod events;
pub mod ids;
pub mod job;
pub mod metadata;
pub mod org;
pub mod page;
pub mod results;
pub mod rules;
pub mod scopes;
pub mod validate;
pub mod webhooks;

pub use application::{Application, ApplicationStatus, StatusChange};
pub use candidate::{Candidate, CandidateFields, Resume, ResumeContent, ResumeFile};
pub use job::{Importance, InterviewType, Job, JobFields, JobPatch, JobStatus, Requirement, ScreeningQuestion};
pub use metadata::Metadata;
pub use org::{ApiKey, Organization};
pub use page::{Cursor, Page};
pub use scopes::Scope;
pub use validate::{FieldError, Violations};
