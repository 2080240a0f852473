//! One example payload per event type, built by the real simulation from fixed inputs, for
//! `spec/webhooks/examples/` (what partners code against and what `webhook-sim example` prints).

use jiff::Timestamp;
use serde_json::Value;

use super::simulate::{Inputs, completed, failed_call};
use crate::domain::events::{
    ApplicationRef, ApplicationStatusChangedData, ApplicationStatusChangedEvent, CandidateRef, InterviewCompletedData,
    InterviewCompletedEvent, InterviewFailedData, InterviewFailedEvent, JobRef, WebhookTestData, WebhookTestEvent,
};
use crate::domain::job::{Importance, Requirement, ScreeningQuestion};
use crate::domain::results::{CallOutcome, FailureReason, InterviewFailure};
use crate::domain::{
    Application, ApplicationStatus, Candidate, InterviewType, Job, JobStatus, Metadata, Resume, ResumeContent,
    StatusChange,
};

/// `(event type, example payload)` for every event type.
pub fn event_examples() -> Vec<(&'static str, Value)> {
    let at = Timestamp::from_second(1_800_000_000).unwrap_or(Timestamp::UNIX_EPOCH);
    let job = Job {
        id: "job_0192d5e7c1b27a3f8e6b8c2f4d1a9e70".into(),
        external_id: Some("REQ-1042".into()),
        title: "Delivery Driver".into(),
        description: "Deliver parcels across the Bristol area in a company van.".into(),
        location: Some("Bristol, UK".into()),
        interview_type: InterviewType::Phone,
        status: JobStatus::Open,
        requirements: vec![
            Requirement { text: "Full UK driving licence".into(), importance: Importance::Required },
            Requirement { text: "Forklift certificate".into(), importance: Importance::NiceToHave },
        ],
        screening_questions: vec![
            ScreeningQuestion {
                question: "Are you able to work weekend shifts?".into(),
                weight: 2,
                grading_instructions: None,
            },
            ScreeningQuestion {
                question: "Can you lift parcels of up to 25 kg?".into(),
                weight: 1,
                grading_instructions: None,
            },
        ],
        metadata: Metadata::from([("team".to_owned(), "logistics".to_owned())]),
        created_at: at,
        updated_at: at,
    };
    let candidate = Candidate {
        id: "cand_0192d5e7c1b27a3f8e6b8c2f4d1a9e71".into(),
        external_id: Some("C-77".into()),
        first_name: "Ada".into(),
        last_name: "Lovelace".into(),
        email: Some("ada@example.com".into()),
        phone: Some("+14155550123".into()),
        timezone: Some("Europe/London".into()),
        has_resume: true,
        created_at: at,
        updated_at: at,
    };
    let mut application = Application {
        id: "app_0192d5e7c1b27a3f8e6b8c2f4d1a9e72".into(),
        external_id: Some("APP-9001".into()),
        job_id: job.id.clone(),
        job_external_id: job.external_id.clone(),
        candidate_id: candidate.id.clone(),
        candidate_external_id: candidate.external_id.clone(),
        status: ApplicationStatus::Completed,
        status_history: vec![StatusChange { status: ApplicationStatus::Completed, at, reason: None }],
        metadata: Metadata::from([("source".to_owned(), "careers-site".to_owned())]),
        created_at: at,
        updated_at: at,
    };
    let resume = Resume {
        candidate_id: candidate.id.clone(),
        content: ResumeContent::Text { text: "Six years driving delivery vans; full UK driving licence.".into() },
        received_at: at,
    };
    let inputs = Inputs {
        application: &application,
        job: &job,
        candidate: &candidate,
        resume: Some(&resume),
        previous_outcomes: &[],
        ended_at: at,
        public_url: "https://api.example.com",
        seed: super::DEFAULT_SEED,
    };
    let results = completed(&inputs, None);
    let refs = |app: &Application| (ApplicationRef::of(app), JobRef::of(&job), CandidateRef::of(&candidate));
    let fixed_id = |id: &str, mut v: Value| {
        v["id"] = Value::from(id);
        v
    };

    let (a, j, c) = refs(&application);
    let done =
        InterviewCompletedEvent::new(InterviewCompletedData { application: a, job: j, candidate: c, results }, at);
    let changed = {
        let (a, j, c) = refs(&application);
        ApplicationStatusChangedEvent::new(
            ApplicationStatusChangedData {
                application: a,
                job: j,
                candidate: c,
                previous_status: ApplicationStatus::InProgress,
                status: ApplicationStatus::Completed,
                reason: None,
            },
            at,
        )
    };
    application.status = ApplicationStatus::Failed;
    let (a, j, c) = refs(&application);
    let failed = InterviewFailedEvent::new(
        InterviewFailedData {
            application: a,
            job: j,
            candidate: c,
            failure: InterviewFailure {
                reason: FailureReason::MaxAttempts,
                detail: "No answer after 3 attempts (last: voicemail).".into(),
                call: failed_call(&[CallOutcome::NoAnswer, CallOutcome::NoAnswer], CallOutcome::Voicemail, at, 30),
            },
        },
        at,
    );
    let test = WebhookTestEvent::new(
        WebhookTestData {
            message: "This is a test event from the Public API.".into(),
            endpoint_id: "ep_0192d5e7c1b27a3f8e6b8c2f4d1a9e76".into(),
        },
        at,
    );
    let json = |v: serde_json::Result<Value>| v.unwrap_or(Value::Null);
    vec![
        (
            InterviewCompletedEvent::TYPE,
            fixed_id("evt_0192d5e7c1b27a3f8e6b8c2f4d1a9e80", json(serde_json::to_value(done))),
        ),
        (
            InterviewFailedEvent::TYPE,
            fixed_id("evt_0192d5e7c1b27a3f8e6b8c2f4d1a9e81", json(serde_json::to_value(failed))),
        ),
        (
            ApplicationStatusChangedEvent::TYPE,
            fixed_id("evt_0192d5e7c1b27a3f8e6b8c2f4d1a9e82", json(serde_json::to_value(changed))),
        ),
        (WebhookTestEvent::TYPE, fixed_id("evt_0192d5e7c1b27a3f8e6b8c2f4d1a9e83", json(serde_json::to_value(test)))),
    ]
}
