//! The `public_api` provider: a minimal ATS client for organisations that integrate through
//! the Public API and webhooks. Reads come from our own store (the job cache and the data that
//! arrived with API calls); results go out through the outbox; everything else is refused with
//! [`AtsError::Unsupported`] before any state is touched.

use std::sync::Arc;

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};

use super::capabilities::{AtsMethod, capability};
use super::client::{
    ApplicationStage, AtsClient, AtsError, BulkRejectResult, CandidateApplication, Created, CustomField,
    CustomFieldUpdate, DispositionReason, EnhancedJob, EnhancedJobBatch, NoteActionType, Provider,
};
use crate::clock::Clock;
use crate::domain::ids::IdKind;
use crate::domain::results::CallResults;
use crate::domain::{Application, Candidate, Job, JobStatus, Metadata, Resume};
use crate::store::{NewApplication, Store, Upserted};

/// The `public_api` provider for one organisation.
#[derive(Clone)]
pub struct PublicApiClient {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    org_id: String,
    interview_delay: SignedDuration,
}

impl PublicApiClient {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, org_id: impl Into<String>) -> Self {
        PublicApiClient { store, clock, org_id: org_id.into(), interview_delay: SignedDuration::ZERO }
    }

    /// How long after its creation an application's first interview attempt is due.
    pub fn with_interview_delay(mut self, delay: SignedDuration) -> Self {
        self.interview_delay = delay;
        self
    }

    pub fn org_id(&self) -> &str {
        &self.org_id
    }

    fn unsupported<T>(&self, method: AtsMethod) -> Result<T, AtsError> {
        Err(AtsError::Unsupported { provider: Provider::PublicApi, method, reason: capability(method).note })
    }
}

fn not_found(kind: &'static str, id: &str) -> AtsError {
    AtsError::NotFound { kind, id: id.to_owned() }
}

#[async_trait]
impl AtsClient for PublicApiClient {
    fn provider(&self) -> Provider {
        Provider::PublicApi
    }

    async fn stream_jobs(&self, _: Option<Timestamp>, _: &[JobStatus]) -> Result<Vec<Job>, AtsError> {
        self.unsupported(AtsMethod::StreamJobs)
    }

    async fn stream_applications(&self, _: Option<Timestamp>, _: &[String]) -> Result<Vec<Application>, AtsError> {
        self.unsupported(AtsMethod::StreamApplications)
    }

    async fn stream_candidates(&self, _: Option<Timestamp>) -> Result<Vec<Candidate>, AtsError> {
        self.unsupported(AtsMethod::StreamCandidates)
    }

    async fn move_application_to_stage(&self, _: &str, _: &ApplicationStage) -> Result<(), AtsError> {
        self.unsupported(AtsMethod::MoveApplicationToStage)
    }

    async fn get_disposition_reasons(&self) -> Result<Vec<DispositionReason>, AtsError> {
        self.unsupported(AtsMethod::GetDispositionReasons)
    }

    async fn reject_application(&self, _: &str, _: &str) -> Result<(), AtsError> {
        self.unsupported(AtsMethod::RejectApplication)
    }

    async fn bulk_reject_applications(&self, _: &[String], _: &str) -> Result<BulkRejectResult, AtsError> {
        self.unsupported(AtsMethod::BulkRejectApplications)
    }

    /// Stores the candidate (created or reused by `external_id`), its resume and the
    /// application, in one transaction.
    async fn create_application_for_candidate(
        &self,
        application: CandidateApplication,
    ) -> Result<(Application, Created), AtsError> {
        let now = self.clock.now();
        let new = NewApplication {
            interview_due_at: now.checked_add(self.interview_delay).unwrap_or(now),
            job_id: application.job_id,
            external_id: application.external_id,
            candidate: application.candidate,
            resume: application.resume,
            metadata: application.metadata,
        };
        let (app, upserted) = self.store.create_application(&self.org_id, new, now).await?;
        let created = match upserted {
            Upserted::Created => Created::New,
            Upserted::Existing => Created::Existing,
        };
        Ok((app, created))
    }

    async fn get_all_application_stages(&self) -> Result<Vec<ApplicationStage>, AtsError> {
        self.unsupported(AtsMethod::GetAllApplicationStages)
    }

    /// Reads the job cache; never calls out.
    async fn get_job_by_job_id(&self, job_id: &str) -> Result<Job, AtsError> {
        if !IdKind::Job.matches(job_id) {
            return Err(not_found("job", job_id));
        }
        self.store.get_job(&self.org_id, job_id).await?.ok_or_else(|| not_found("job", job_id))
    }

    /// The cached job, without enrichment. `remote_job_id` is ignored: the job cache is keyed
    /// by our id.
    async fn get_enhanced_job(&self, job_id: &str, _remote_job_id: Option<&str>) -> Result<EnhancedJob, AtsError> {
        let job = self.get_job_by_job_id(job_id).await?;
        Ok(EnhancedJob { job, enrichment: Metadata::new() })
    }

    async fn fetch_enhanced_jobs_batch(&self, _: u32, _: Option<&str>) -> Result<EnhancedJobBatch, AtsError> {
        self.unsupported(AtsMethod::FetchEnhancedJobsBatch)
    }

    /// The candidate as it arrived with the API call.
    async fn get_candidate_by_id(&self, candidate_id: &str) -> Result<Candidate, AtsError> {
        if !IdKind::Candidate.matches(candidate_id) {
            return Err(not_found("candidate", candidate_id));
        }
        self.store.get_candidate(&self.org_id, candidate_id).await?.ok_or_else(|| not_found("candidate", candidate_id))
    }

    async fn find_candidates_by_details(
        &self,
        _: Option<&str>,
        _: Option<&str>,
        _: Option<&str>,
        _: Option<&str>,
    ) -> Result<Vec<Candidate>, AtsError> {
        self.unsupported(AtsMethod::FindCandidatesByDetails)
    }

    /// The resume that arrived with the API call; `None` when none did.
    async fn get_resume_for_candidate_id(&self, candidate_id: &str) -> Result<Option<Resume>, AtsError> {
        let candidate = self.get_candidate_by_id(candidate_id).await?;
        if !candidate.has_resume {
            return Ok(None);
        }
        Ok(self.store.get_resume(&self.org_id, candidate_id).await?)
    }

    async fn add_note_to_application(&self, _: &str, _: &str, _: NoteActionType) -> Result<(), AtsError> {
        self.unsupported(AtsMethod::AddNoteToApplication)
    }

    async fn add_note_to_candidate(&self, _: &str, _: &str, _: NoteActionType) -> Result<(), AtsError> {
        self.unsupported(AtsMethod::AddNoteToCandidate)
    }

    async fn add_attachment_to_application(&self, _: &str, _: &str, _: &str) -> Result<(), AtsError> {
        self.unsupported(AtsMethod::AddAttachmentToApplication)
    }

    async fn add_attachment_to_candidate(&self, _: &str, _: &str, _: &str) -> Result<(), AtsError> {
        self.unsupported(AtsMethod::AddAttachmentToCandidate)
    }

    async fn get_job_custom_fields(&self, _: &str) -> Result<Vec<CustomField>, AtsError> {
        self.unsupported(AtsMethod::GetJobCustomFields)
    }

    async fn update_job_custom_fields(&self, _: &str, _: &[CustomFieldUpdate]) -> Result<(), AtsError> {
        self.unsupported(AtsMethod::UpdateJobCustomFields)
    }

    async fn get_application_custom_fields(&self, _: &str) -> Result<Vec<CustomField>, AtsError> {
        self.unsupported(AtsMethod::GetApplicationCustomFields)
    }

    async fn update_application_custom_fields(&self, _: &str, _: &[CustomFieldUpdate]) -> Result<(), AtsError> {
        self.unsupported(AtsMethod::UpdateApplicationCustomFields)
    }

    async fn get_candidate_custom_fields(&self, _: &str) -> Result<Vec<CustomField>, AtsError> {
        self.unsupported(AtsMethod::GetCandidateCustomFields)
    }

    async fn update_candidate_custom_fields(&self, _: &str, _: &[CustomFieldUpdate]) -> Result<(), AtsError> {
        self.unsupported(AtsMethod::UpdateCandidateCustomFields)
    }

    /// Overridden: instead of writing to an ATS, records the results and queues the result
    /// webhook (`interview.completed` or `interview.failed`, plus `application.status_changed`)
    /// in the same transaction.
    async fn post_call_results(&self, application_id: &str, results: CallResults) -> Result<Application, AtsError> {
        if !IdKind::Application.matches(application_id) {
            return Err(not_found("application", application_id));
        }
        self.store
            .record_call_results(&self.org_id, application_id, results, self.clock.now())
            .await?
            .ok_or_else(|| not_found("application", application_id))
    }
}
