//! `/v1/applications`: one call names a job and carries the candidate (and resume); it creates
//! or reuses the candidate and the application, and the interview follows.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::extract::{ApiJson, ApplicationId, Principal};
use super::pagination::{ApiQuery, ChangedAfter, PageParams, query_result};
use super::problem::ApiError;
use crate::ats::{AtsClient, CandidateApplication, Created, PublicApiClient};
use crate::domain::candidate::{MAX_NAME_CHARS, validate_resume_file, validate_resume_text};
use crate::domain::ids::IdKind;
use crate::domain::results::CallResults;
use crate::domain::{
    Application, ApplicationStatus, CandidateFields, Cursor, InterviewType, Job, Metadata, ResumeContent, Violations,
    metadata,
};
use crate::store::{ApplicationQuery, Store, Upserted};

pub const TAG: &str = "Applications";

/// The candidate to interview. `phone` is required for phone interviews and `email` for
/// video interviews.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CandidateInput {
    /// Your identifier for the candidate. An existing candidate with this `external_id` is
    /// reused, and its details are updated from this request.
    #[serde(default)]
    #[schema(example = "C-77")]
    pub external_id: Option<String>,
    /// 1 to 100 characters.
    #[schema(example = "Ada")]
    pub first_name: String,
    /// 1 to 100 characters.
    #[schema(example = "Lovelace")]
    pub last_name: String,
    #[serde(default)]
    #[schema(example = "ada@example.com")]
    pub email: Option<String>,
    /// E.164: `+`, country code, number, no spaces.
    #[serde(default)]
    #[schema(example = "+14155550123")]
    pub phone: Option<String>,
    /// IANA time zone name.
    #[serde(default)]
    #[schema(example = "America/Los_Angeles")]
    pub timezone: Option<String>,
}

/// A resume file, base64-encoded (at most 5 MiB once decoded).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResumeFileInput {
    #[schema(example = "ada-lovelace.pdf")]
    pub filename: String,
    /// `application/pdf`, `application/msword`,
    /// `application/vnd.openxmlformats-officedocument.wordprocessingml.document`,
    /// `application/rtf` or `text/plain`.
    #[schema(example = "application/pdf")]
    pub content_type: String,
    /// Standard base64 with padding.
    #[schema(example = "JVBERi0xLjQK")]
    pub content_base64: String,
}

/// The candidate's resume: give exactly one of `text` and `file`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResumeInput {
    /// The resume as plain text (up to 100,000 characters).
    #[serde(default)]
    #[schema(example = "Ten years of van deliveries; clean licence.")]
    pub text: Option<String>,
    #[serde(default)]
    pub file: Option<ResumeFileInput>,
}

/// An application: the job (by `job_id` or `job_external_id`, exactly one), the candidate,
/// and optionally a resume.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "job_external_id": "REQ-1042",
    "external_id": "APP-9001",
    "candidate": {
        "external_id": "C-77",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@example.com",
        "phone": "+14155550123",
        "timezone": "America/Los_Angeles"
    },
    "resume": {"text": "Ten years of van deliveries; clean licence."},
    "metadata": {"source": "careers-site"}
}))]
pub struct CreateApplicationRequest {
    /// Our id of the job.
    #[serde(default)]
    #[schema(example = "job_0192d5e7c1b27a3f8e6b8c2f4d1a9e70")]
    pub job_id: Option<String>,
    /// Your `external_id` of the job.
    #[serde(default)]
    #[schema(example = "REQ-1042")]
    pub job_external_id: Option<String>,
    /// Your identifier for the application. Sending the same `external_id` again returns the
    /// existing application (200) instead of creating another.
    #[serde(default)]
    pub external_id: Option<String>,
    pub candidate: CandidateInput,
    #[serde(default)]
    pub resume: Option<ResumeInput>,
    /// Your key/value pairs, echoed back in webhooks (same limits as job metadata).
    #[serde(default)]
    pub metadata: Metadata,
}

/// Which job an application names, before it is looked up.
enum JobRef {
    Id(String),
    External(String),
}

/// An application request whose fields are valid; its job is not looked up yet.
struct ValidApplication {
    job: JobRef,
    external_id: Option<String>,
    candidate: CandidateFields,
    resume: Option<ResumeContent>,
    metadata: Metadata,
}

impl CreateApplicationRequest {
    /// Checks everything that does not depend on the job.
    fn validate(self) -> Result<ValidApplication, Violations> {
        let mut v = Violations::new();
        let job = match (self.job_id, self.job_external_id) {
            (Some(id), None) => {
                if !IdKind::Job.matches(&id) {
                    v.push("job_id", "invalid_format", "must be a job id such as job_0192d5e7c1b27a3f8e6b8c2f4d1a9e70");
                }
                JobRef::Id(id)
            }
            (None, Some(ext)) => JobRef::External(v.external_id("job_external_id", Some(&ext)).unwrap_or(ext)),
            (Some(_), Some(_)) => {
                v.push("job_id", "conflict", "give either job_id or job_external_id, not both");
                JobRef::Id(String::new())
            }
            (None, None) => {
                v.push("job_id", "required", "give job_id or job_external_id");
                JobRef::Id(String::new())
            }
        };
        let c = self.candidate;
        let candidate = CandidateFields {
            external_id: v.external_id("candidate.external_id", c.external_id.as_deref()),
            first_name: v.text("candidate.first_name", &c.first_name, MAX_NAME_CHARS, false),
            last_name: v.text("candidate.last_name", &c.last_name, MAX_NAME_CHARS, false),
            email: v.email("candidate.email", c.email.as_deref()),
            phone: v.phone("candidate.phone", c.phone.as_deref()),
            timezone: v.timezone("candidate.timezone", c.timezone.as_deref()),
        };
        let resume = self.resume.and_then(|r| resume_content(&mut v, r));
        metadata::validate(&mut v, "metadata", &self.metadata);
        let valid = ValidApplication {
            job,
            external_id: v.external_id("external_id", self.external_id.as_deref()),
            candidate,
            resume,
            metadata: self.metadata,
        };
        v.finish(valid)
    }
}

fn resume_content(v: &mut Violations, r: ResumeInput) -> Option<ResumeContent> {
    match (r.text, r.file) {
        (Some(text), None) => Some(validate_resume_text(v, "resume.text", &text)),
        (None, Some(f)) => {
            Some(validate_resume_file(v, "resume.file", &f.filename, &f.content_type, &f.content_base64))
        }
        (Some(_), Some(_)) => {
            v.push("resume", "conflict", "give either text or file, not both");
            None
        }
        (None, None) => {
            v.push("resume", "required", "give text or file (or leave resume out)");
            None
        }
    }
}

/// Checks what the job's interview type demands of the candidate. The request itself can be
/// valid either way (the rule depends on the job as it is now, which `PATCH` can change), so a
/// missing contact is a 409 `contact_required` naming the field, like a closed job's 409.
fn check_reachable(job: &Job, candidate: &CandidateFields) -> Result<(), ApiError> {
    let mut v = Violations::new();
    match job.interview_type {
        InterviewType::Phone if candidate.phone.is_none() => {
            v.push("candidate.phone", "required", "is required because the job's interview_type is phone");
        }
        InterviewType::Video if candidate.email.is_none() => {
            v.push("candidate.email", "required", "is required because the job's interview_type is video");
        }
        _ => {}
    }
    v.finish(()).map_err(|v| {
        let mut e = ApiError::validation(v);
        e.status = StatusCode::CONFLICT;
        e.code = "contact_required";
        e.title = "Contact required";
        e.detail = match job.interview_type {
            InterviewType::Phone => "The job's interview_type is phone, so the candidate needs a phone number.".into(),
            InterviewType::Video => {
                "The job's interview_type is video, so the candidate needs an email address.".into()
            }
        };
        e
    })
}

/// Filters for listing applications.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ApplicationFilter {
    /// Only applications for this job (our `id`).
    #[param(pattern = "^job_[0-9a-f]{32}$")]
    pub job_id: Option<String>,
    /// Only applications with this status.
    #[param(value_type = Option<ApplicationStatus>)]
    pub status: Option<String>,
}

/// A page of applications, oldest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApplicationList {
    pub data: Vec<Application>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    #[schema(example = "djE6NDI")]
    pub next_cursor: Option<String>,
    /// Whether there is a next page.
    pub has_more: bool,
}

/// Create an application (and its candidate); the interview is scheduled.
#[utoipa::path(
    post,
    path = "/v1/applications",
    tag = TAG,
    request_body = CreateApplicationRequest,
    responses(
        (status = 201, description = "The application was created.", body = Application),
        (status = 200, description = "An application with this `external_id` already existed for this job; it is returned unchanged.", body = Application),
        (status = 404, description = "No job with this `job_id` or `job_external_id` in your organisation (`job_not_found`).", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The job is closed (`job_closed`); the job's `interview_type` needs a contact the candidate lacks (`contact_required`: `candidate.phone` for `phone`, `candidate.email` for `video`, named in `errors`); or the `external_id` belongs to an application for another job (`external_id_conflict`).", body = super::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_application(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<CreateApplicationRequest>,
) -> Result<(StatusCode, Json<Application>), ApiError> {
    let (application, upserted) = submit(&state.ats(&principal), state.store.as_ref(), body).await?;
    let status = match upserted {
        Upserted::Created => {
            state.engine.wake();
            StatusCode::CREATED
        }
        Upserted::Existing => StatusCode::OK,
    };
    Ok((status, Json(application)))
}

/// Validates an application request, resolves its job through the ATS provider and creates
/// the application there: the whole of `POST /v1/applications` short of HTTP, shared with
/// `serve --seed`.
pub async fn submit(
    ats: &PublicApiClient,
    store: &dyn Store,
    body: CreateApplicationRequest,
) -> Result<(Application, Upserted), ApiError> {
    let new = body.validate().map_err(ApiError::validation)?;
    let job = match new.job {
        JobRef::Id(id) => ats.get_job_by_job_id(&id).await?,
        JobRef::External(ext) => {
            // The job cache is also searchable by the caller's id; the provider reads by ours.
            let found = store.find_job_by_external_id(ats.org_id(), &ext).await?.ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    "job_not_found",
                    "Not found",
                    format!("No job with external_id {ext} in this organisation."),
                )
            })?;
            ats.get_job_by_job_id(&found.id).await?
        }
    };
    check_reachable(&job, &new.candidate)?;
    let (application, created) = ats
        .create_application_for_candidate(CandidateApplication {
            job_id: job.id,
            external_id: new.external_id,
            candidate: new.candidate,
            resume: new.resume,
            metadata: new.metadata,
        })
        .await?;
    let upserted = match created {
        Created::New => Upserted::Created,
        Created::Existing => Upserted::Existing,
    };
    Ok((application, upserted))
}

/// List applications, oldest first.
#[utoipa::path(
    get,
    path = "/v1/applications",
    tag = TAG,
    params(PageParams, ChangedAfter, ApplicationFilter),
    responses((status = 200, description = "A page of applications.", body = ApplicationList))
)]
pub async fn list_applications(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(page): ApiQuery<PageParams>,
    ApiQuery(changed): ApiQuery<ChangedAfter>,
    ApiQuery(filter): ApiQuery<ApplicationFilter>,
) -> Result<Json<ApplicationList>, ApiError> {
    let mut v = Violations::new();
    let paging = page.parse(&mut v);
    let updated_after = changed.parse(&mut v);
    let job_id = super::pagination::given_id(&mut v, "job_id", &filter.job_id, IdKind::Job);
    let status = super::pagination::given(&mut v, "status", &filter.status).and_then(|s| {
        let parsed = ApplicationStatus::parse(s);
        if parsed.is_none() {
            let all: Vec<_> = ApplicationStatus::ALL.iter().map(|s| s.as_str()).collect();
            v.push("status", "invalid_value", format!("must be one of {}", all.join(", ")));
        }
        parsed
    });
    let paging = query_result(v, paging)?;
    let page = state
        .store
        .list_applications(
            &principal.org_id,
            ApplicationQuery { limit: paging.limit, after: paging.after, updated_after, job_id, status },
        )
        .await?;
    Ok(Json(ApplicationList {
        data: page.items,
        next_cursor: page.next.map(Cursor::encode),
        has_more: page.next.is_some(),
    }))
}

/// Get an application, with its status history.
#[utoipa::path(
    get,
    path = "/v1/applications/{application_id}",
    tag = TAG,
    params(ApplicationId),
    responses((status = 200, description = "The application.", body = Application))
)]
pub async fn get_application(
    State(state): State<AppState>,
    principal: Principal,
    application_id: ApplicationId,
) -> Result<Json<Application>, ApiError> {
    state
        .store
        .get_application(&principal.org_id, &application_id)
        .await?
        .map(Json)
        .ok_or_else(|| ApplicationId::not_found(&application_id))
}

/// Cancel an application: its interview will not happen (or stops). Cancelling a cancelled
/// application returns it unchanged.
#[utoipa::path(
    post,
    path = "/v1/applications/{application_id}/cancel",
    tag = TAG,
    params(ApplicationId),
    responses(
        (status = 200, description = "The application, now cancelled.", body = Application),
        (status = 409, description = "The application is already `completed` or `failed` (`application_not_cancellable`).", body = super::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn cancel_application(
    State(state): State<AppState>,
    principal: Principal,
    application_id: ApplicationId,
) -> Result<Json<Application>, ApiError> {
    let cancelled = state
        .store
        .cancel_application(&principal.org_id, &application_id, "cancelled by API request".into(), state.clock.now())
        .await?
        .ok_or_else(|| ApplicationId::not_found(&application_id))?;
    // The cancellation queued an application.status_changed event.
    state.dispatcher.wake();
    Ok(Json(cancelled))
}

/// An application's interview results.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApplicationResults {
    #[schema(example = "app_0192d5e7c1b27a3f8e6b8c2f4d1a9e72")]
    pub application_id: String,
    /// `completed` or `failed`.
    pub status: ApplicationStatus,
    /// The same results the `interview.completed` or `interview.failed` webhook carried.
    pub result: CallResults,
}

/// Get an application's interview results: the polling fallback for the result webhooks.
#[utoipa::path(
    get,
    path = "/v1/applications/{application_id}/results",
    tag = TAG,
    params(ApplicationId),
    responses(
        (status = 200, description = "The interview's results (or why it failed).", body = ApplicationResults),
        (status = 404, description = "No such application (`application_not_found`), or its interview has not finished yet (`results_not_ready`).", body = super::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_results(
    State(state): State<AppState>,
    principal: Principal,
    application_id: ApplicationId,
) -> Result<Json<ApplicationResults>, ApiError> {
    // Results first: they are committed with the application's final status, so the application
    // read after them shows that status even when another server wrote them a moment ago.
    let result = state.store.get_call_results(&principal.org_id, &application_id).await?;
    let app = state
        .store
        .get_application(&principal.org_id, &application_id)
        .await?
        .ok_or_else(|| ApplicationId::not_found(&application_id))?;
    let result = result.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "results_not_ready",
            "Not found",
            format!(
                "Application {application_id} is {}; results exist once its interview completes or fails.",
                app.status.as_str()
            ),
        )
    })?;
    Ok(Json(ApplicationResults { application_id: application_id.into_string(), status: app.status, result }))
}
