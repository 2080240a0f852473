//! SQL for the interview schedule (due times, attempts, leases) and the results an interview
//! ends with. Claims skip rows another replica has locked (`FOR UPDATE SKIP LOCKED`).

use deadpool_postgres::GenericClient;
use jiff::Timestamp;

use super::applications::{APPLICATION_FOR_UPDATE, SAVE_APPLICATION, save_application};
use super::sql::{Params, execute, prepare_all, query, query_opt, record};
use super::{audit, outbox, webhooks};
use crate::domain::audit::{AuditAction, AuditContext};
use crate::domain::results::{CallOutcome, CallResults};
use crate::domain::webhooks::WebhookEndpoint;
use crate::domain::{Application, Candidate, Job};
use crate::store::encoding::{from_json, from_micros, micros, to_json};
use crate::store::rules::{self, ScheduleChange};
use crate::store::{InterviewStep, InterviewTask, StoreError};

/// Schedules the interview of a new application.
pub(super) async fn schedule(
    c: &impl GenericClient,
    org_id: &str,
    application_id: &str,
    due_at: Timestamp,
) -> Result<(), StoreError> {
    execute(c, SCHEDULE, &[&application_id, &org_id, &micros(due_at)]).await.map(|_| ())
}

pub(super) const SCHEDULE: &str =
    "INSERT INTO interviews (application_id, org_id, state, due_at) VALUES ($1, $2, 'scheduled', $3)";

pub(super) async fn claim_interviews(
    c: &impl GenericClient,
    owner: &str,
    now: Timestamp,
    lease_until: Timestamp,
    limit: u32,
) -> Result<Vec<InterviewTask>, StoreError> {
    let rows = query(
        c,
        "UPDATE interviews SET lease_owner = $1, lease_until = $2
         WHERE application_id IN (
            SELECT application_id FROM interviews
            WHERE state = 'scheduled' AND due_at <= $3 AND (lease_until IS NULL OR lease_until <= $3)
            ORDER BY due_at LIMIT $4 FOR UPDATE SKIP LOCKED)
         RETURNING org_id, application_id, attempts, outcomes, due_at",
        &[&owner, &micros(lease_until), &micros(now), &i64::from(limit)],
    )
    .await?;
    let mut tasks = rows
        .iter()
        .map(|r| interview_task(r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect::<Result<Vec<_>, StoreError>>()?;
    tasks.sort_by_key(|t| t.due_at);
    Ok(tasks)
}

pub(super) async fn claim_interview(
    c: &impl GenericClient,
    org_id: &str,
    application_id: &str,
    owner: &str,
    now: Timestamp,
    lease_until: Timestamp,
    who: &AuditContext,
) -> Result<Option<InterviewTask>, StoreError> {
    let row = query_opt(
        c,
        "UPDATE interviews SET lease_owner = $3, lease_until = $4
         WHERE org_id = $1 AND application_id = $2 AND state = 'scheduled'
           AND (lease_until IS NULL OR lease_until <= $5 OR lease_owner = $3)
         RETURNING attempts, outcomes, due_at",
        &[&org_id, &application_id, &owner, &micros(lease_until), &micros(now)],
    )
    .await?;
    let Some(r) = row else { return Ok(None) };
    let entry = who.entry(AuditAction::SandboxCompleted, application_id, rules::SANDBOX_COMPLETED_FIELDS, now);
    audit::insert(c, org_id, &entry).await?;
    interview_task(org_id.to_owned(), application_id.to_owned(), r.get(0), r.get(1), r.get(2)).map(Some)
}

/// Drops interview leases: those `owner` holds, or every one.
pub(super) async fn release_leases(c: &impl GenericClient, owner: Option<&str>) -> Result<u64, StoreError> {
    execute(
        c,
        "UPDATE interviews SET lease_owner = NULL, lease_until = NULL
         WHERE lease_owner IS NOT NULL AND ($1::text IS NULL OR lease_owner = $1)",
        &[&owner],
    )
    .await
}

/// The statements that read [`EventSources`], save the application and write its events.
const EVENT_STATEMENTS: [&str; 6] = [
    APPLICATION_FOR_UPDATE,
    outbox::JOB_OF_APPLICATION,
    outbox::CANDIDATE_OF_APPLICATION,
    webhooks::ENABLED_ENDPOINTS,
    SAVE_APPLICATION,
    outbox::INSERT_ALL,
];

/// What a change to an application's interview reads before it writes its events.
struct EventSources {
    /// The application, locked for the change.
    app: Option<Application>,
    job: Option<Job>,
    candidate: Option<Candidate>,
    /// The organisation's enabled endpoints, for the events' deliveries.
    endpoints: Vec<WebhookEndpoint>,
}

/// Reads the [`EventSources`] of `application_id` as one pipeline, the application's row lock
/// first. Every statement of [`EVENT_STATEMENTS`] must be prepared before (`prepare_all`); then a
/// caller polling this first in its own pipeline sends its statements after these.
async fn event_sources(c: &impl GenericClient, org_id: &str, application_id: &str) -> Result<EventSources, StoreError> {
    let by_application: &Params = &[&org_id, &application_id];
    let (app, job, candidate, endpoints) = tokio::try_join!(
        record::<Application>(c, APPLICATION_FOR_UPDATE, by_application),
        record::<Job>(c, outbox::JOB_OF_APPLICATION, by_application),
        record::<Candidate>(c, outbox::CANDIDATE_OF_APPLICATION, by_application),
        webhooks::enabled_endpoints(c, org_id),
    )?;
    Ok(EventSources { app, job, candidate, endpoints })
}

pub(super) async fn advance_interview(
    c: &impl GenericClient,
    org_id: &str,
    application_id: &str,
    owner: &str,
    step: InterviewStep,
    now: Timestamp,
) -> Result<Option<Application>, StoreError> {
    // Everything the step reads, in one pipeline: what its event needs, beginning with the
    // application's row lock, and then the interview's, locked in that order so that no other
    // engine claims the interview while this step is applied.
    prepare_all(c, &EVENT_STATEMENTS).await?;
    prepare_all(c, &[INTERVIEW_FOR_UPDATE, SET_ATTEMPTS, SET_RETRY]).await?;
    let by_id: &Params = &[&application_id];
    let (EventSources { app, job, candidate, endpoints }, interview) =
        tokio::try_join!(event_sources(c, org_id, application_id), query_opt(c, INTERVIEW_FOR_UPDATE, by_id))?;
    let Some(mut app) = app else {
        return Ok(None);
    };
    if app.status.is_final() {
        finish_interview(c, &app.id).await?;
        return Ok(None);
    }
    let (attempts, outcomes, lease_owner): (u32, Vec<CallOutcome>, Option<String>) = match interview {
        Some(r) => (r.get::<_, i32>(0).max(0) as u32, from_json(r.get::<_, &str>(1))?, r.get(2)),
        None => (0, Vec::new(), None),
    };
    if rules::lease_lost(lease_owner.as_deref(), owner) {
        return Ok(None);
    }
    let previous = app.status;
    let change = rules::apply_step(&mut app, attempts, outcomes, step, now);
    let (job, candidate) = outbox::both_found(&app, job, candidate)?;
    let event = rules::status_changed_event(&app, previous, &job, &candidate, now)?;

    // Every write in one pipeline.
    tokio::try_join!(
        async {
            match change {
                ScheduleChange::Attempt(attempt) => execute(c, SET_ATTEMPTS, &[&app.id, &(attempt as i32)]).await,
                ScheduleChange::None => Ok(0),
                ScheduleChange::Retry { outcomes, due_at } => {
                    execute(c, SET_RETRY, &[&app.id, &to_json(&outcomes)?, &micros(due_at)]).await
                }
            }
        },
        save_application(c, org_id, &app),
        outbox::insert_all(c, org_id, std::slice::from_ref(&event), &endpoints),
    )?;
    Ok(Some(app))
}

const INTERVIEW_FOR_UPDATE: &str =
    "SELECT attempts, outcomes, lease_owner FROM interviews WHERE application_id = $1 FOR UPDATE";
const SET_ATTEMPTS: &str = "UPDATE interviews SET attempts = $2 WHERE application_id = $1";
const SET_RETRY: &str = "UPDATE interviews SET outcomes = $2, due_at = $3, lease_owner = NULL, lease_until = NULL
     WHERE application_id = $1";

pub(super) async fn record_call_results(
    c: &impl GenericClient,
    org_id: &str,
    application_id: &str,
    results: CallResults,
    now: Timestamp,
) -> Result<Option<Application>, StoreError> {
    prepare_all(c, &EVENT_STATEMENTS).await?;
    prepare_all(c, &[FINISH_INTERVIEW, INSERT_CALL_RESULTS]).await?;
    let EventSources { app, job, candidate, endpoints } = event_sources(c, org_id, application_id).await?;
    let Some(mut app) = app else {
        return Ok(None);
    };
    let (previous, outcome) = rules::finish_with_results(&mut app, &results, now)?;
    let (job, candidate) = outbox::both_found(&app, job, candidate)?;
    let results_json = to_json(&results)?;
    let events = rules::result_events(&app, previous, &job, &candidate, results, now)?;

    // Every write in one pipeline, the results' row before the events that carry them.
    tokio::try_join!(
        save_application(c, org_id, &app),
        finish_interview(c, &app.id),
        async { execute(c, INSERT_CALL_RESULTS, &[&app.id, &org_id, &outcome, &micros(now), &results_json]).await },
        outbox::insert_all(c, org_id, &events, &endpoints),
    )?;
    Ok(Some(app))
}

const INSERT_CALL_RESULTS: &str =
    "INSERT INTO call_results (application_id, org_id, outcome, created_at, record) VALUES ($1, $2, $3, $4, $5)";

pub(super) async fn get_call_results(
    c: &impl GenericClient,
    org_id: &str,
    application_id: &str,
) -> Result<Option<CallResults>, StoreError> {
    record(c, "SELECT record FROM call_results WHERE org_id = $1 AND application_id = $2", &[&org_id, &application_id])
        .await
}

/// Ends the interview's schedule: no more attempts, no lease.
pub(super) async fn finish_interview(c: &impl GenericClient, application_id: &str) -> Result<(), StoreError> {
    execute(c, FINISH_INTERVIEW, &[&application_id]).await.map(|_| ())
}

const FINISH_INTERVIEW: &str =
    "UPDATE interviews SET state = 'done', lease_owner = NULL, lease_until = NULL WHERE application_id = $1";

fn interview_task(
    org_id: String,
    application_id: String,
    attempts: i32,
    outcomes: &str,
    due_at: i64,
) -> Result<InterviewTask, StoreError> {
    Ok(InterviewTask {
        org_id,
        application_id,
        attempts: attempts.max(0) as u32,
        outcomes: from_json(outcomes)?,
        due_at: from_micros(due_at)?,
    })
}
