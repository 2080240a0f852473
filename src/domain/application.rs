//! Applications: one candidate interviewed for one job, and the life of that interview.

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::metadata::Metadata;

/// Where the application's interview stands. `completed`, `failed` and `cancelled` are final.
/// New values may be added without a new API version; treat one you do not know as "other".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationStatus {
    /// Waiting for the interview to start.
    Pending,
    /// The interviewer is dialling the candidate.
    Calling,
    /// The interview is under way.
    InProgress,
    /// The interview finished; results are available.
    Completed,
    /// The last attempt was not answered; another attempt is scheduled.
    NoAnswer,
    /// The last attempt reached voicemail; another attempt is scheduled.
    Voicemail,
    /// The interview will not happen (for example, attempts ran out or the number is invalid).
    Failed,
    /// You cancelled the application.
    Cancelled,
}

impl ApplicationStatus {
    pub const ALL: [ApplicationStatus; 8] = [
        ApplicationStatus::Pending,
        ApplicationStatus::Calling,
        ApplicationStatus::InProgress,
        ApplicationStatus::Completed,
        ApplicationStatus::NoAnswer,
        ApplicationStatus::Voicemail,
        ApplicationStatus::Failed,
        ApplicationStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ApplicationStatus::Pending => "pending",
            ApplicationStatus::Calling => "calling",
            ApplicationStatus::InProgress => "in_progress",
            ApplicationStatus::Completed => "completed",
            ApplicationStatus::NoAnswer => "no_answer",
            ApplicationStatus::Voicemail => "voicemail",
            ApplicationStatus::Failed => "failed",
            ApplicationStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// No further change happens after a final status.
    pub fn is_final(self) -> bool {
        matches!(self, ApplicationStatus::Completed | ApplicationStatus::Failed | ApplicationStatus::Cancelled)
    }
}

/// One step in the application's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StatusChange {
    pub status: ApplicationStatus,
    /// When the application entered this status.
    pub at: Timestamp,
    /// Why, when there is more to say than the status.
    #[schema(example = "cancelled by API request")]
    pub reason: Option<String>,
}

/// A candidate's application to a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Application {
    /// Our identifier, prefixed `app_`.
    #[schema(example = "app_0192d5e7c1b27a3f8e6b8c2f4d1a9e72")]
    pub id: String,
    /// Your identifier for the application, unique within your organisation.
    #[schema(example = "APP-9001")]
    pub external_id: Option<String>,
    #[schema(example = "job_0192d5e7c1b27a3f8e6b8c2f4d1a9e70")]
    pub job_id: String,
    /// The job's `external_id`, if it has one.
    #[schema(example = "REQ-1042")]
    pub job_external_id: Option<String>,
    #[schema(example = "cand_0192d5e7c1b27a3f8e6b8c2f4d1a9e71")]
    pub candidate_id: String,
    /// The candidate's `external_id`, if it has one.
    #[schema(example = "C-77")]
    pub candidate_external_id: Option<String>,
    pub status: ApplicationStatus,
    /// Every status the application has been in, oldest first.
    pub status_history: Vec<StatusChange>,
    /// Your key/value pairs, echoed back in webhooks.
    #[schema(example = json!({"source": "careers-site"}))]
    pub metadata: Metadata,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Application {
    /// Moves to `status`, recording the change.
    pub fn transition(&mut self, status: ApplicationStatus, reason: Option<String>, now: Timestamp) {
        self.status = status;
        self.status_history.push(StatusChange { status, at: now, reason });
        self.updated_at = now;
    }
}
