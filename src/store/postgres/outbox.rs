//! SQL for the outbox: every event, written in the transaction of the change that caused it,
//! with its deliveries.

use deadpool_postgres::GenericClient;
use jiff::Timestamp;

use super::sql::{execute, query, record};
use super::webhooks;
use crate::domain::events::OutboxEvent;
use crate::domain::{Application, ApplicationStatus, Candidate, Job};
use crate::store::encoding::{from_micros, micros};
use crate::store::{StoreError, rules};

/// Writes an event and a delivery to every endpoint that takes it.
pub(super) async fn insert(c: &impl GenericClient, org_id: &str, event: &OutboxEvent) -> Result<(), StoreError> {
    insert_event(c, org_id, event).await?;
    // Deliveries are made in the same transaction as the event, so none is ever missing.
    webhooks::fan_out(c, org_id, event).await
}

/// Writes an event alone; its deliveries are the caller's.
pub(super) async fn insert_event(c: &impl GenericClient, org_id: &str, event: &OutboxEvent) -> Result<(), StoreError> {
    execute(
        c,
        "INSERT INTO outbox (id, org_id, type, application_id, created_at, payload) VALUES ($1, $2, $3, $4, $5, $6)",
        &[&event.id, &org_id, &event.event_type, &event.application_id, &micros(event.created_at), &event.payload],
    )
    .await
    .map(|_| ())
}

pub(super) async fn list_outbox(
    c: &impl GenericClient,
    org_id: &str,
    after_seq: i64,
    limit: u32,
) -> Result<Vec<(i64, OutboxEvent)>, StoreError> {
    let rows = query(
        c,
        "SELECT seq, id, type, application_id, created_at, payload FROM outbox
         WHERE org_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        &[&org_id, &after_seq, &i64::from(limit)],
    )
    .await?;
    rows.iter()
        .map(|r| {
            let event = OutboxEvent {
                id: r.get(1),
                event_type: r.get(2),
                application_id: r.get(3),
                created_at: from_micros(r.get(4))?,
                payload: r.get(5),
            };
            Ok((r.get(0), event))
        })
        .collect()
}

/// Queues `application.status_changed` for a change from `previous`.
pub(super) async fn queue_status_changed(
    c: &impl GenericClient,
    org_id: &str,
    app: &Application,
    previous: ApplicationStatus,
    now: Timestamp,
) -> Result<(), StoreError> {
    let (job, candidate) = job_and_candidate(c, org_id, app).await?;
    insert(c, org_id, &rules::status_changed_event(app, previous, &job, &candidate, now)?).await
}

/// The job and candidate of an application, for event payloads.
pub(super) async fn job_and_candidate(
    c: &impl GenericClient,
    org_id: &str,
    app: &Application,
) -> Result<(Job, Candidate), StoreError> {
    let job: Job = record(c, "SELECT record FROM jobs WHERE org_id = $1 AND id = $2", &[&org_id, &app.job_id])
        .await?
        .ok_or_else(|| StoreError::Internal(format!("application {} refers to a missing job", app.id)))?;
    let candidate: Candidate =
        record(c, "SELECT record FROM candidates WHERE org_id = $1 AND id = $2", &[&org_id, &app.candidate_id])
            .await?
            .ok_or_else(|| StoreError::Internal(format!("application {} refers to a missing candidate", app.id)))?;
    Ok((job, candidate))
}
