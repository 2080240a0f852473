//! Webhook events: the envelope `{id, type, timestamp, api_version, data}` and one data shape
//! per event type. Each event type is its own struct, so each gets its own JSON Schema.

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ids::IdKind;
use super::results::{InterviewFailure, InterviewResults};
use super::{Application, ApplicationStatus, Candidate, Job, Metadata};

/// The version of the event payloads; it changes only with a breaking change.
pub const API_VERSION: &str = "2026-12-01";

/// The application an event is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct ApplicationRef {
    /// Our id of the application (`app_…`).
    pub id: String,
    /// Your id of the application, if you gave one.
    pub external_id: Option<String>,
    /// The application's status when the event happened.
    pub status: ApplicationStatus,
    /// The metadata you set on the application.
    pub metadata: Metadata,
}

/// The job an event is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct JobRef {
    /// Our id of the job (`job_…`).
    pub id: String,
    /// Your id of the job, if you gave one.
    pub external_id: Option<String>,
    pub title: String,
    /// The metadata you set on the job.
    pub metadata: Metadata,
}

/// The candidate an event is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct CandidateRef {
    /// Our id of the candidate (`cand_…`).
    pub id: String,
    /// Your id of the candidate, if you gave one.
    pub external_id: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
}

impl ApplicationRef {
    pub fn of(a: &Application) -> Self {
        ApplicationRef {
            id: a.id.clone(),
            external_id: a.external_id.clone(),
            status: a.status,
            metadata: a.metadata.clone(),
        }
    }
}

impl JobRef {
    pub fn of(j: &Job) -> Self {
        JobRef {
            id: j.id.clone(),
            external_id: j.external_id.clone(),
            title: j.title.clone(),
            metadata: j.metadata.clone(),
        }
    }
}

impl CandidateRef {
    pub fn of(c: &Candidate) -> Self {
        CandidateRef {
            id: c.id.clone(),
            external_id: c.external_id.clone(),
            first_name: c.first_name.clone(),
            last_name: c.last_name.clone(),
            email: c.email.clone(),
            phone: c.phone.clone(),
        }
    }
}

/// `data` of `interview.completed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct InterviewCompletedData {
    pub application: ApplicationRef,
    pub job: JobRef,
    pub candidate: CandidateRef,
    pub results: InterviewResults,
}

/// `data` of `interview.failed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct InterviewFailedData {
    pub application: ApplicationRef,
    pub job: JobRef,
    pub candidate: CandidateRef,
    pub failure: InterviewFailure,
}

/// `data` of `application.status_changed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct ApplicationStatusChangedData {
    pub application: ApplicationRef,
    pub job: JobRef,
    pub candidate: CandidateRef,
    pub previous_status: ApplicationStatus,
    pub status: ApplicationStatus,
    /// Why the status changed, when there is more to say.
    pub reason: Option<String>,
}

/// `data` of `webhook.test`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct WebhookTestData {
    /// A fixed greeting; the event exists to test your endpoint.
    pub message: String,
    /// The endpoint the test was sent to.
    pub endpoint_id: String,
}

macro_rules! event {
    ($(#[$doc:meta])* $name:ident, $tag:ident, $wire:tt, $data:ty) => {
        #[doc = concat!("The event type `", $wire, "`.")]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
        pub enum $tag {
            #[serde(rename = $wire)]
            Value,
        }

        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
        pub struct $name {
            /// The event's id (`evt_…`); the same on every delivery attempt, so use it to
            /// ignore duplicates.
            pub id: String,
            #[serde(rename = "type")]
            pub event_type: $tag,
            /// When the event happened (RFC 3339).
            pub timestamp: Timestamp,
            /// The payload version, currently `2026-12-01`.
            pub api_version: String,
            pub data: $data,
            /// `true` on an event you asked for with `POST /v1/webhook-endpoints/{endpoint_id}/test`
            /// (an example, about no real application); absent on real events.
            #[serde(default, skip_serializing_if = "std::ops::Not::not")]
            pub test: bool,
        }

        impl $name {
            pub const TYPE: &'static str = $wire;

            pub fn new(data: $data, timestamp: Timestamp) -> Self {
                $name {
                    id: IdKind::Event.new_id(),
                    event_type: $tag::Value,
                    timestamp,
                    api_version: API_VERSION.to_owned(),
                    data,
                    test: false,
                }
            }
        }
    };
}

event!(
    /// An interview completed; `data.results` holds the full structured results.
    InterviewCompletedEvent, InterviewCompletedType, "interview.completed", InterviewCompletedData
);
event!(
    /// An interview could not be held: attempts ran out, the number is invalid, or the candidate
    /// declined or hung up. `data.failure.reason` says which.
    InterviewFailedEvent, InterviewFailedType, "interview.failed", InterviewFailedData
);
event!(
    /// An application moved to another status.
    ApplicationStatusChangedEvent, ApplicationStatusChangedType, "application.status_changed", ApplicationStatusChangedData
);
event!(
    /// A test event, sent on request to check an endpoint.
    WebhookTestEvent, WebhookTestType, "webhook.test", WebhookTestData
);

/// A type of event we send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum EventType {
    /// An interview completed; results are attached.
    #[serde(rename = "interview.completed")]
    InterviewCompleted,
    /// An interview could not be held.
    #[serde(rename = "interview.failed")]
    InterviewFailed,
    /// An application moved to another status.
    #[serde(rename = "application.status_changed")]
    ApplicationStatusChanged,
    /// A test event, sent on request.
    #[serde(rename = "webhook.test")]
    WebhookTest,
}

impl EventType {
    pub const fn as_str(self) -> &'static str {
        match self {
            EventType::InterviewCompleted => InterviewCompletedEvent::TYPE,
            EventType::InterviewFailed => InterviewFailedEvent::TYPE,
            EventType::ApplicationStatusChanged => ApplicationStatusChangedEvent::TYPE,
            EventType::WebhookTest => WebhookTestEvent::TYPE,
        }
    }
}

/// Every event type, as its wire name (the values of [`EventType`]).
pub const EVENT_TYPES: [&str; 4] = [
    InterviewCompletedEvent::TYPE,
    InterviewFailedEvent::TYPE,
    ApplicationStatusChangedEvent::TYPE,
    WebhookTestEvent::TYPE,
];

/// An event ready for the outbox: its id, type and the exact bytes that will be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    pub id: String,
    pub event_type: String,
    pub application_id: Option<String>,
    pub created_at: Timestamp,
    pub payload: Vec<u8>,
}

impl OutboxEvent {
    /// Serialises an event once; retries send these same bytes.
    pub fn from_event<E: Serialize>(
        id: &str,
        event_type: &str,
        application_id: Option<&str>,
        created_at: Timestamp,
        event: &E,
    ) -> Result<OutboxEvent, serde_json::Error> {
        Ok(OutboxEvent {
            id: id.to_owned(),
            event_type: event_type.to_owned(),
            application_id: application_id.map(str::to_owned),
            created_at,
            payload: serde_json::to_vec(event)?,
        })
    }

    pub fn completed(e: &InterviewCompletedEvent) -> Result<OutboxEvent, serde_json::Error> {
        Self::from_event(&e.id, InterviewCompletedEvent::TYPE, Some(&e.data.application.id), e.timestamp, e)
    }

    pub fn failed(e: &InterviewFailedEvent) -> Result<OutboxEvent, serde_json::Error> {
        Self::from_event(&e.id, InterviewFailedEvent::TYPE, Some(&e.data.application.id), e.timestamp, e)
    }

    pub fn status_changed(e: &ApplicationStatusChangedEvent) -> Result<OutboxEvent, serde_json::Error> {
        Self::from_event(&e.id, ApplicationStatusChangedEvent::TYPE, Some(&e.data.application.id), e.timestamp, e)
    }
}

/// The `application.status_changed` event for a transition that just happened to `app`.
pub fn status_changed(
    app: &Application,
    previous_status: ApplicationStatus,
    job: &Job,
    candidate: &Candidate,
    now: Timestamp,
) -> ApplicationStatusChangedEvent {
    ApplicationStatusChangedEvent::new(
        ApplicationStatusChangedData {
            application: ApplicationRef::of(app),
            job: JobRef::of(job),
            candidate: CandidateRef::of(candidate),
            previous_status,
            status: app.status,
            reason: app.status_history.last().and_then(|c| c.reason.clone()),
        },
        now,
    )
}
