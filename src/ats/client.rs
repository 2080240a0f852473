//! The ATS client contract: the full method set every provider answers, grouped as in the
//! platform's ATS coverage pages. A provider that does not support a method returns
//! [`AtsError::Unsupported`] and changes nothing.
//!
//! The capability table in `capabilities.rs` has one row per method of [`AtsClient`]; a test
//! reads this file and fails when a method has no row.

use async_trait::async_trait;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AtsMethod;
use crate::domain::results::CallResults;
use crate::domain::{Application, Candidate, CandidateFields, Job, JobStatus, Metadata, Resume, ResumeContent};
use crate::store::StoreError;

/// Which provider answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// Organisations without an ATS, integrating through the Public API and webhooks.
    PublicApi,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::PublicApi => "public_api",
        }
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AtsError {
    #[error("the {provider} provider does not support {method}: {reason}")]
    Unsupported { provider: Provider, method: AtsMethod, reason: &'static str },
    #[error("no {kind} {id}")]
    NotFound { kind: &'static str, id: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A pipeline stage in an ATS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplicationStage {
    pub id: String,
    pub name: String,
}

/// A reason an ATS offers for rejecting an application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DispositionReason {
    pub id: String,
    pub name: String,
}

/// The result of a bulk rejection: which applications were rejected and which failed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkRejectResult {
    pub rejected: Vec<String>,
    pub failed: Vec<String>,
}

/// A job with whatever extra detail the ATS can add.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnhancedJob {
    pub job: Job,
    /// Detail beyond the cached job; empty when the provider adds none.
    pub enrichment: Metadata,
}

/// A page of enhanced jobs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnhancedJobBatch {
    pub jobs: Vec<EnhancedJob>,
    pub next_cursor: Option<String>,
}

/// How a note relates to the pipeline (as in the platform's note actions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteActionType {
    InterviewCompleted,
    InterviewFailed,
    StageChange,
    General,
}

/// A value of a custom field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum CustomFieldValue {
    Text(String),
    Number(f64),
    Boolean(bool),
    Date(jiff::civil::Date),
}

/// A custom field and its value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomField {
    pub id: String,
    pub name: String,
    pub value: Option<CustomFieldValue>,
}

/// An update of one custom field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomFieldUpdate {
    pub field_id: String,
    pub value: Option<CustomFieldValue>,
}

/// A new application: the candidate (created or reused by `external_id`), its resume, and the
/// job it applies to.
#[derive(Debug, Clone)]
pub struct CandidateApplication {
    pub job_id: String,
    pub external_id: Option<String>,
    pub candidate: CandidateFields,
    pub resume: Option<ResumeContent>,
    pub metadata: Metadata,
}

/// What creating an application did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    New,
    Existing,
}

/// The ATS operations the platform uses, for one organisation.
#[async_trait]
pub trait AtsClient: Send + Sync {
    fn provider(&self) -> Provider;

    // Streaming.
    async fn stream_jobs(&self, updated_after: Option<Timestamp>, statuses: &[JobStatus])
    -> Result<Vec<Job>, AtsError>;
    async fn stream_applications(
        &self,
        updated_after: Option<Timestamp>,
        for_job_ids: &[String],
    ) -> Result<Vec<Application>, AtsError>;
    async fn stream_candidates(&self, updated_after: Option<Timestamp>) -> Result<Vec<Candidate>, AtsError>;

    // Application management.
    async fn move_application_to_stage(&self, application_id: &str, stage: &ApplicationStage) -> Result<(), AtsError>;
    async fn get_disposition_reasons(&self) -> Result<Vec<DispositionReason>, AtsError>;
    async fn reject_application(&self, application_id: &str, reason_id: &str) -> Result<(), AtsError>;
    async fn bulk_reject_applications(
        &self,
        application_ids: &[String],
        reason_id: &str,
    ) -> Result<BulkRejectResult, AtsError>;
    async fn create_application_for_candidate(
        &self,
        application: CandidateApplication,
    ) -> Result<(Application, Created), AtsError>;
    async fn get_all_application_stages(&self) -> Result<Vec<ApplicationStage>, AtsError>;

    // Job management.
    async fn get_job_by_job_id(&self, job_id: &str) -> Result<Job, AtsError>;
    async fn get_enhanced_job(&self, job_id: &str, remote_job_id: Option<&str>) -> Result<EnhancedJob, AtsError>;
    async fn fetch_enhanced_jobs_batch(&self, limit: u32, cursor: Option<&str>) -> Result<EnhancedJobBatch, AtsError>;

    // Candidate management.
    async fn get_candidate_by_id(&self, candidate_id: &str) -> Result<Candidate, AtsError>;
    async fn find_candidates_by_details(
        &self,
        first_name: Option<&str>,
        last_name: Option<&str>,
        email: Option<&str>,
        phone: Option<&str>,
    ) -> Result<Vec<Candidate>, AtsError>;
    async fn get_resume_for_candidate_id(&self, candidate_id: &str) -> Result<Option<Resume>, AtsError>;

    // Notes and attachments.
    async fn add_note_to_application(
        &self,
        application_id: &str,
        note: &str,
        action: NoteActionType,
    ) -> Result<(), AtsError>;
    async fn add_note_to_candidate(
        &self,
        candidate_id: &str,
        note: &str,
        action: NoteActionType,
    ) -> Result<(), AtsError>;
    async fn add_attachment_to_application(
        &self,
        filename: &str,
        application_id: &str,
        pdf_base64: &str,
    ) -> Result<(), AtsError>;
    async fn add_attachment_to_candidate(
        &self,
        filename: &str,
        candidate_id: &str,
        pdf_base64: &str,
    ) -> Result<(), AtsError>;

    // Custom fields.
    async fn get_job_custom_fields(&self, job_id: &str) -> Result<Vec<CustomField>, AtsError>;
    async fn update_job_custom_fields(&self, job_id: &str, updates: &[CustomFieldUpdate]) -> Result<(), AtsError>;
    async fn get_application_custom_fields(&self, application_id: &str) -> Result<Vec<CustomField>, AtsError>;
    async fn update_application_custom_fields(
        &self,
        application_id: &str,
        updates: &[CustomFieldUpdate],
    ) -> Result<(), AtsError>;
    async fn get_candidate_custom_fields(&self, candidate_id: &str) -> Result<Vec<CustomField>, AtsError>;
    async fn update_candidate_custom_fields(
        &self,
        candidate_id: &str,
        updates: &[CustomFieldUpdate],
    ) -> Result<(), AtsError>;

    // Results.
    async fn post_call_results(&self, application_id: &str, results: CallResults) -> Result<Application, AtsError>;
}
