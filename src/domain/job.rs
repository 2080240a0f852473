//! Jobs: the roles candidates are interviewed for. They live in the job cache, which is the
//! only place the `public_api` provider ever reads a job from.

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::metadata::{self, Metadata};
use super::validate::Violations;

pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_DESCRIPTION_CHARS: usize = 20_000;
pub const MAX_LOCATION_CHARS: usize = 200;
pub const MAX_REQUIREMENTS: usize = 50;
pub const MAX_REQUIREMENT_CHARS: usize = 500;
pub const MAX_QUESTIONS: usize = 30;
pub const MAX_QUESTION_CHARS: usize = 1_000;

/// How the candidate is interviewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum InterviewType {
    /// An AI phone call; the candidate needs a `phone` number.
    #[default]
    Phone,
    /// A web video interview; the candidate needs an `email` address for the invitation.
    Video,
}

/// Whether the job accepts new applications.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Candidates are interviewed.
    #[default]
    Open,
    /// No new applications are accepted; interviews already under way finish.
    Closed,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Open => "open",
            JobStatus::Closed => "closed",
        }
    }
}

/// How much a requirement matters when the resume is reviewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Importance {
    /// A candidate who does not meet it is flagged as missing a required requirement.
    Required,
    Preferred,
    NiceToHave,
}

/// Something the job asks of candidates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    /// What is required, in plain words (at most 500 characters).
    #[schema(example = "3+ years of commercial driving experience")]
    pub text: String,
    /// How much it matters.
    pub importance: Importance,
}

/// A question the AI interviewer asks and grades.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScreeningQuestion {
    /// The question as the interviewer asks it (at most 1,000 characters).
    #[schema(example = "Are you able to work weekend shifts?")]
    pub question: String,
    /// Weight of this question in the overall score, 1 to 10. Defaults to 1.
    #[serde(default = "default_weight", deserialize_with = "super::validate::whole_number::required")]
    #[schema(minimum = 1, maximum = 10, default = 1, example = 2)]
    pub weight: u8,
    /// How to grade the answer (at most 1,000 characters).
    #[serde(default)]
    #[schema(example = "Full marks for a clear yes; half for 'some weekends'.")]
    pub grading_instructions: Option<String>,
}

fn default_weight() -> u8 {
    1
}

/// A job in the job cache.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Job {
    /// Our identifier for the job, prefixed `job_`.
    #[schema(example = "job_0192d5e7c1b27a3f8e6b8c2f4d1a9e70")]
    pub id: String,
    /// Your identifier for the job, unique within your organisation. Creating a job with an
    /// `external_id` that already exists updates that job instead.
    #[schema(example = "REQ-1042")]
    pub external_id: Option<String>,
    /// The job title candidates hear.
    #[schema(example = "Delivery Driver")]
    pub title: String,
    /// The job description the interview is built from.
    #[schema(example = "Deliver parcels across the Bristol area in a company van.")]
    pub description: String,
    /// Where the job is.
    #[schema(example = "Bristol, UK")]
    pub location: Option<String>,
    pub interview_type: InterviewType,
    pub status: JobStatus,
    /// What the job asks of candidates; each is checked against the resume.
    pub requirements: Vec<Requirement>,
    /// The questions the interviewer asks, in order.
    pub screening_questions: Vec<ScreeningQuestion>,
    /// Your key/value pairs, echoed back in webhooks.
    #[schema(example = json!({"team": "logistics"}))]
    pub metadata: Metadata,
    /// When the job was created (RFC 3339).
    pub created_at: Timestamp,
    /// When the job last changed (RFC 3339).
    pub updated_at: Timestamp,
}

/// The validated fields of a job, as given by a create or an upsert.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobFields {
    pub external_id: Option<String>,
    pub title: String,
    pub description: String,
    pub location: Option<String>,
    pub interview_type: InterviewType,
    pub status: JobStatus,
    pub requirements: Vec<Requirement>,
    pub screening_questions: Vec<ScreeningQuestion>,
    pub metadata: Metadata,
}

impl JobFields {
    /// A new job record with these fields.
    pub fn into_job(self, id: String, now: Timestamp) -> Job {
        Job {
            id,
            external_id: self.external_id,
            title: self.title,
            description: self.description,
            location: self.location,
            interview_type: self.interview_type,
            status: self.status,
            requirements: self.requirements,
            screening_questions: self.screening_questions,
            metadata: self.metadata,
            created_at: now,
            updated_at: now,
        }
    }

    /// Replaces every field of `job` with these (an upsert by `external_id`).
    pub fn replace(self, job: &mut Job, now: Timestamp) {
        let created_at = job.created_at;
        let id = std::mem::take(&mut job.id);
        *job = self.into_job(id, now);
        job.created_at = created_at;
    }
}

/// A partial update; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobPatch {
    pub title: Option<String>,
    pub description: Option<String>,
    /// `Some(None)` clears the location.
    pub location: Option<Option<String>>,
    pub interview_type: Option<InterviewType>,
    pub status: Option<JobStatus>,
    pub requirements: Option<Vec<Requirement>>,
    pub screening_questions: Option<Vec<ScreeningQuestion>>,
    pub metadata: Option<Metadata>,
}

impl JobPatch {
    /// Applies the patch; returns whether anything changed.
    pub fn apply(self, job: &mut Job, now: Timestamp) -> bool {
        let before = job.clone();
        if let Some(v) = self.title {
            job.title = v;
        }
        if let Some(v) = self.description {
            job.description = v;
        }
        if let Some(v) = self.location {
            job.location = v;
        }
        if let Some(v) = self.interview_type {
            job.interview_type = v;
        }
        if let Some(v) = self.status {
            job.status = v;
        }
        if let Some(v) = self.requirements {
            job.requirements = v;
        }
        if let Some(v) = self.screening_questions {
            job.screening_questions = v;
        }
        if let Some(v) = self.metadata {
            job.metadata = v;
        }
        let changed = *job != before;
        if changed {
            job.updated_at = now;
        }
        changed
    }
}

/// Validates and normalises requirements (trimmed text, at most 50).
pub fn validate_requirements(v: &mut Violations, field: &str, items: &[Requirement]) -> Vec<Requirement> {
    if items.len() > MAX_REQUIREMENTS {
        v.push(field, "too_many", format!("must have at most {MAX_REQUIREMENTS} items"));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, r)| Requirement {
            text: v.text(&format!("{field}[{i}].text"), &r.text, MAX_REQUIREMENT_CHARS, false),
            importance: r.importance,
        })
        .collect()
}

/// Validates and normalises screening questions (trimmed text, weight 1 to 10, at most 30).
pub fn validate_questions(v: &mut Violations, field: &str, items: &[ScreeningQuestion]) -> Vec<ScreeningQuestion> {
    if items.len() > MAX_QUESTIONS {
        v.push(field, "too_many", format!("must have at most {MAX_QUESTIONS} items"));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, q)| {
            if !(1..=10).contains(&q.weight) {
                v.push(format!("{field}[{i}].weight"), "invalid_value", "must be between 1 and 10");
            }
            ScreeningQuestion {
                question: v.text(&format!("{field}[{i}].question"), &q.question, MAX_QUESTION_CHARS, true),
                weight: q.weight,
                grading_instructions: v.optional_text(
                    &format!("{field}[{i}].grading_instructions"),
                    q.grading_instructions.as_deref(),
                    MAX_QUESTION_CHARS,
                    true,
                ),
            }
        })
        .collect()
}

/// Validates free-form metadata (see [`metadata::validate`]).
pub fn validate_metadata(v: &mut Violations, field: &str, m: &Metadata) {
    metadata::validate(v, field, m);
}
