//! What an interview produces: structured results when it completes, a reason when it cannot.

use std::collections::BTreeMap;

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::job::Importance;

/// How one call attempt ended. New values may be added without a new API version; treat one you
/// do not know as "other".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallOutcome {
    /// The candidate answered and the interview ran to its end.
    Completed,
    /// Nobody answered; retried until attempts run out.
    NoAnswer,
    /// Voicemail answered; retried until attempts run out.
    Voicemail,
    /// The number does not exist or cannot be called.
    InvalidNumber,
    /// The candidate hung up before the interview finished.
    HungUp,
    /// The candidate said they are not interested.
    NotInterested,
}

impl CallOutcome {
    pub const ALL: [CallOutcome; 6] = [
        CallOutcome::Completed,
        CallOutcome::NoAnswer,
        CallOutcome::Voicemail,
        CallOutcome::InvalidNumber,
        CallOutcome::HungUp,
        CallOutcome::NotInterested,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CallOutcome::Completed => "completed",
            CallOutcome::NoAnswer => "no_answer",
            CallOutcome::Voicemail => "voicemail",
            CallOutcome::InvalidNumber => "invalid_number",
            CallOutcome::HungUp => "hung_up",
            CallOutcome::NotInterested => "not_interested",
        }
    }

    /// Whether another attempt is worth making after this outcome.
    pub fn is_retryable(self) -> bool {
        matches!(self, CallOutcome::NoAnswer | CallOutcome::Voicemail)
    }
}

/// Who spoke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Speaker {
    /// The AI interviewer.
    Agent,
    Candidate,
}

/// One turn of the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct TranscriptTurn {
    pub speaker: Speaker,
    /// What was said.
    pub text: String,
    /// Seconds from the start of the call.
    pub start_seconds: f64,
    /// Seconds from the start of the call.
    pub end_seconds: f64,
}

/// The grade of one screening question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct QuestionGrade {
    /// The question as asked.
    pub question: String,
    /// Its weight in the overall score (1 to 10).
    pub weight: u8,
    /// 0 to 100.
    #[schemars(range(max = 100))]
    #[schema(maximum = 100)]
    pub grade: u8,
    /// Why the answer got this grade.
    pub reasoning: String,
    /// Seconds from the start of the call at which the question was asked.
    pub asked_at_seconds: f64,
}

/// How a resume meets one requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MatchStatus {
    Match,
    /// Counts as meeting the requirement.
    PartialMatch,
    NoMatch,
}

/// One requirement checked against the resume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct RequirementMatch {
    pub requirement: String,
    pub importance: Importance,
    pub status: MatchStatus,
    /// The part of the resume that supports the verdict, or why nothing does.
    pub evidence: String,
}

/// The resume review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct ResumeReview {
    /// Whether there was a resume to review.
    pub has_resume: bool,
    /// 1 to 5 stars; `null` without a resume.
    #[schemars(range(min = 1, max = 5))]
    #[schema(minimum = 1, maximum = 5)]
    pub star_rating: Option<u8>,
    /// True when no `required` requirement is `no_match`; `null` without a resume.
    pub meets_all_required: Option<bool>,
    /// Every job requirement, in the job's order (empty without a resume).
    pub requirements: Vec<RequirementMatch>,
    /// A one-paragraph summary.
    pub summary: String,
}

/// The calls behind a result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct CallSummary {
    /// Call attempts made, the last one included.
    pub attempts: u32,
    /// The outcome of each attempt, in order.
    pub outcomes: Vec<CallOutcome>,
    /// When the last attempt started.
    pub started_at: Timestamp,
    /// When the last attempt ended.
    pub ended_at: Timestamp,
    /// Length of the last attempt in seconds.
    pub duration_seconds: u32,
}

/// The results of a completed interview.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct InterviewResults {
    /// Overall grade, 0 to 100: the weighted mean of the question grades.
    #[schemars(range(max = 100))]
    #[schema(maximum = 100)]
    pub score: u8,
    /// Share of the interview the candidate completed, 0 to 1.
    #[schemars(range(min = 0.0, max = 1.0))]
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub completion_rate: f64,
    /// A short summary of the interview.
    pub summary: String,
    /// One grade per screening question, in the job's order.
    pub question_grades: Vec<QuestionGrade>,
    /// Questions the candidate asked.
    pub candidate_questions: Vec<String>,
    /// Facts extracted from the conversation (for example `availability`, `desired_pay`).
    pub extracted_fields: BTreeMap<String, String>,
    /// The conversation, turn by turn.
    pub transcript: Vec<TranscriptTurn>,
    pub resume_review: ResumeReview,
    /// Where the call recording can be fetched.
    pub recording_url: String,
    /// Where the human-readable report lives.
    pub report_url: String,
    pub call: CallSummary,
}

/// Why an interview did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FailureReason {
    /// Every attempt went unanswered or to voicemail.
    MaxAttempts,
    /// The phone number cannot be called.
    InvalidNumber,
    /// The candidate hung up.
    HungUp,
    /// The candidate declined the interview.
    NotInterested,
}

/// An interview that could not be held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct InterviewFailure {
    pub reason: FailureReason,
    /// A human-readable explanation.
    pub detail: String,
    pub call: CallSummary,
}

/// What `post_call_results` hands over: results, or why there are none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum CallResults {
    /// The interview completed.
    Completed(Box<InterviewResults>),
    /// The interview failed.
    Failed(InterviewFailure),
}
