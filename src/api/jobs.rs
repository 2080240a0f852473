//! `/v1/jobs`: the job cache. Jobs are created (or upserted by `external_id`), read, listed,
//! patched and closed; they are never deleted, because applications refer to them.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::extract::{ApiJson, JobId, Principal};
use super::pagination::{ApiQuery, ChangedAfter, PageParams, query_result};
use super::problem::ApiError;
use crate::ats::AtsClient;
use crate::domain::job::{
    MAX_DESCRIPTION_CHARS, MAX_LOCATION_CHARS, MAX_TITLE_CHARS, validate_metadata, validate_questions,
    validate_requirements,
};
use crate::domain::{
    Cursor, InterviewType, Job, JobFields, JobPatch, JobStatus, Metadata, Requirement, ScreeningQuestion, Violations,
};
use crate::store::{JobQuery, Store, Upserted};

pub const TAG: &str = "Jobs";

/// A job to create. If `external_id` names a job you created before, that job is replaced
/// with these fields instead (an upsert), and the answer is 200 rather than 201.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "external_id": "REQ-1042",
    "title": "Delivery Driver",
    "description": "Deliver parcels across the Bristol area in a company van.",
    "location": "Bristol, UK",
    "interview_type": "phone",
    "requirements": [{"text": "Full UK driving licence", "importance": "required"}],
    "screening_questions": [{"question": "Are you able to work weekend shifts?", "weight": 2}],
    "metadata": {"team": "logistics"}
}))]
pub struct CreateJobRequest {
    /// Your identifier for the job (1 to 255 characters, no whitespace), unique within your
    /// organisation.
    #[serde(default)]
    pub external_id: Option<String>,
    /// The job title (1 to 200 characters).
    pub title: String,
    /// The job description the interview is built from (up to 20,000 characters).
    #[serde(default)]
    pub description: String,
    /// Where the job is (up to 200 characters).
    #[serde(default)]
    pub location: Option<String>,
    /// Defaults to `phone`.
    #[serde(default)]
    pub interview_type: InterviewType,
    /// Defaults to `open`.
    #[serde(default)]
    pub status: JobStatus,
    /// Up to 50 requirements.
    #[serde(default)]
    pub requirements: Vec<Requirement>,
    /// Up to 30 questions, asked in this order.
    #[serde(default)]
    pub screening_questions: Vec<ScreeningQuestion>,
    /// Up to 50 keys (1 to 40 characters of `A-Z a-z 0-9 _ . -`) with string values of up to
    /// 500 characters.
    #[serde(default)]
    pub metadata: Metadata,
}

impl CreateJobRequest {
    pub fn validate(self) -> Result<JobFields, Violations> {
        let mut v = Violations::new();
        let fields = JobFields {
            external_id: v.external_id("external_id", self.external_id.as_deref()),
            title: v.text("title", &self.title, MAX_TITLE_CHARS, false),
            description: v
                .optional_text("description", Some(&self.description), MAX_DESCRIPTION_CHARS, true)
                .unwrap_or_default(),
            location: v.optional_text("location", self.location.as_deref(), MAX_LOCATION_CHARS, false),
            interview_type: self.interview_type,
            status: self.status,
            requirements: validate_requirements(&mut v, "requirements", &self.requirements),
            screening_questions: validate_questions(&mut v, "screening_questions", &self.screening_questions),
            metadata: self.metadata,
        };
        validate_metadata(&mut v, "metadata", &fields.metadata);
        v.finish(fields)
    }
}

/// Changes to a job. Fields you leave out stay as they are; lists and `metadata` are replaced
/// whole.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"title": "Senior Delivery Driver", "status": "open"}))]
pub struct UpdateJobRequest {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// `null` clears the location.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub location: Option<Option<String>>,
    #[serde(default)]
    pub interview_type: Option<InterviewType>,
    /// `closed` stops new applications; `open` accepts them again.
    #[serde(default)]
    pub status: Option<JobStatus>,
    #[serde(default)]
    pub requirements: Option<Vec<Requirement>>,
    #[serde(default)]
    pub screening_questions: Option<Vec<ScreeningQuestion>>,
    #[serde(default)]
    pub metadata: Option<Metadata>,
}

/// Tells a field that is present (even as `null`) from one that is absent.
fn present<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

impl UpdateJobRequest {
    pub fn validate(self) -> Result<JobPatch, Violations> {
        let mut v = Violations::new();
        let patch = JobPatch {
            title: self.title.map(|t| v.text("title", &t, MAX_TITLE_CHARS, false)),
            description: self
                .description
                .map(|d| v.optional_text("description", Some(&d), MAX_DESCRIPTION_CHARS, true).unwrap_or_default()),
            location: self.location.map(|l| v.optional_text("location", l.as_deref(), MAX_LOCATION_CHARS, false)),
            interview_type: self.interview_type,
            status: self.status,
            requirements: self.requirements.map(|r| validate_requirements(&mut v, "requirements", &r)),
            screening_questions: self
                .screening_questions
                .map(|q| validate_questions(&mut v, "screening_questions", &q)),
            metadata: self.metadata,
        };
        if let Some(m) = &patch.metadata {
            validate_metadata(&mut v, "metadata", m);
        }
        v.finish(patch)
    }
}

/// Filters for listing jobs.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobFilter {
    /// Only jobs with this status.
    #[param(value_type = Option<JobStatus>)]
    pub status: Option<String>,
}

/// A page of jobs, oldest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JobList {
    pub data: Vec<Job>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    #[schema(example = "djE6NDI")]
    pub next_cursor: Option<String>,
    /// Whether there is a next page.
    pub has_more: bool,
}

/// Create a job, or update the one with the same `external_id`.
#[utoipa::path(
    post,
    path = "/v1/jobs",
    tag = TAG,
    request_body = CreateJobRequest,
    responses(
        (status = 201, description = "The job was created.", body = Job),
        (status = 200, description = "A job with this `external_id` existed; it now has these fields.", body = Job),
    )
)]
pub async fn create_job(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<CreateJobRequest>,
) -> Result<(StatusCode, Json<Job>), ApiError> {
    let (job, upserted) = submit(state.store.as_ref(), &principal.org_id, body, state.clock.now()).await?;
    let status = match upserted {
        Upserted::Created => StatusCode::CREATED,
        Upserted::Existing => StatusCode::OK,
    };
    Ok((status, Json(job)))
}

/// Validates and upserts a job: `POST /v1/jobs` short of HTTP, shared with `serve --seed`.
pub async fn submit(
    store: &dyn Store,
    org_id: &str,
    body: CreateJobRequest,
    now: jiff::Timestamp,
) -> Result<(Job, Upserted), ApiError> {
    let fields = body.validate().map_err(ApiError::validation)?;
    Ok(store.upsert_job(org_id, fields, now).await?)
}

/// List jobs, oldest first.
#[utoipa::path(
    get,
    path = "/v1/jobs",
    tag = TAG,
    params(PageParams, ChangedAfter, JobFilter),
    responses((status = 200, description = "A page of jobs.", body = JobList))
)]
pub async fn list_jobs(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(page): ApiQuery<PageParams>,
    ApiQuery(changed): ApiQuery<ChangedAfter>,
    ApiQuery(filter): ApiQuery<JobFilter>,
) -> Result<Json<JobList>, ApiError> {
    let mut v = Violations::new();
    let paging = page.parse(&mut v);
    let updated_after = changed.parse(&mut v);
    let status = super::pagination::given(&mut v, "status", &filter.status).and_then(|s| match s {
        "open" => Some(JobStatus::Open),
        "closed" => Some(JobStatus::Closed),
        _ => {
            v.push("status", "invalid_value", "must be `open` or `closed`");
            None
        }
    });
    let paging = query_result(v, paging)?;
    let page = state
        .store
        .list_jobs(&principal.org_id, JobQuery { limit: paging.limit, after: paging.after, updated_after, status })
        .await?;
    Ok(Json(JobList { data: page.items, next_cursor: page.next.map(Cursor::encode), has_more: page.next.is_some() }))
}

/// Get a job.
#[utoipa::path(
    get,
    path = "/v1/jobs/{job_id}",
    tag = TAG,
    params(JobId),
    responses((status = 200, description = "The job.", body = Job))
)]
pub async fn get_job(
    State(state): State<AppState>,
    principal: Principal,
    job_id: JobId,
) -> Result<Json<Job>, ApiError> {
    // Reads go through the ATS provider, which serves the job cache.
    let job = state.ats(&principal).get_job_by_job_id(&job_id).await?;
    Ok(Json(job))
}

/// Change some fields of a job.
#[utoipa::path(
    patch,
    path = "/v1/jobs/{job_id}",
    tag = TAG,
    params(JobId),
    request_body = UpdateJobRequest,
    responses((status = 200, description = "The updated job.", body = Job))
)]
pub async fn update_job(
    State(state): State<AppState>,
    principal: Principal,
    job_id: JobId,
    ApiJson(body): ApiJson<UpdateJobRequest>,
) -> Result<Json<Job>, ApiError> {
    let patch = body.validate().map_err(ApiError::validation)?;
    patch_job(&state, &principal, &job_id, patch).await.map(Json)
}

/// Close a job: it stops accepting applications. Jobs are kept, not deleted, because
/// applications and results refer to them; `PATCH` with `"status": "open"` reopens one.
/// Closing a closed job returns it unchanged.
#[utoipa::path(
    post,
    path = "/v1/jobs/{job_id}/close",
    tag = TAG,
    params(JobId),
    responses((status = 200, description = "The job, now closed.", body = Job))
)]
pub async fn close_job(
    State(state): State<AppState>,
    principal: Principal,
    job_id: JobId,
) -> Result<Json<Job>, ApiError> {
    let patch = JobPatch { status: Some(JobStatus::Closed), ..JobPatch::default() };
    patch_job(&state, &principal, &job_id, patch).await.map(Json)
}

async fn patch_job(state: &AppState, principal: &Principal, job_id: &JobId, patch: JobPatch) -> Result<Job, ApiError> {
    state
        .store
        .update_job(&principal.org_id, job_id, patch, state.clock.now())
        .await?
        .ok_or_else(|| JobId::not_found(job_id))
}
