//! SQL for the outbox: every event, written in the transaction of the change that caused it,
//! with its deliveries.

use deadpool_postgres::GenericClient;
use jiff::Timestamp;

use super::sql::{Params, execute, query, record};
use super::webhooks;
use crate::domain::events::OutboxEvent;
use crate::domain::ids::IdKind;
use crate::domain::webhooks::WebhookEndpoint;
use crate::domain::{Application, ApplicationStatus, Candidate, Job};
use crate::store::encoding::{from_micros, micros};
use crate::store::{StoreError, rules};

/// Writes an event and a delivery to every endpoint that takes it.
pub(super) async fn insert(c: &impl GenericClient, org_id: &str, event: &OutboxEvent) -> Result<(), StoreError> {
    let endpoints = webhooks::enabled_endpoints(c, org_id).await?;
    insert_all(c, org_id, std::slice::from_ref(event), &endpoints).await
}

/// Writes `events`, in order, each with a delivery to every one of `endpoints` that takes it,
/// as one statement. `endpoints` are the organisation's enabled ones, read in this transaction
/// ([`webhooks::enabled_endpoints`]): deliveries are made in the same transaction as their
/// event, so none is ever missing.
pub(super) async fn insert_all(
    c: &impl GenericClient,
    org_id: &str,
    events: &[OutboxEvent],
    endpoints: &[WebhookEndpoint],
) -> Result<(), StoreError> {
    let mut deliveries = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for event in events {
        for endpoint in endpoints.iter().filter(|e| rules::takes(e, &event.event_type)) {
            deliveries.0.push(IdKind::Delivery.new_id());
            deliveries.1.push(endpoint.id.as_str());
            deliveries.2.push(event.id.as_str());
            deliveries.3.push(event.event_type.as_str());
            deliveries.4.push(micros(event.created_at));
        }
    }
    let params: &Params<'_> = &[
        &org_id,
        &events.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        &events.iter().map(|e| e.event_type.as_str()).collect::<Vec<_>>(),
        &events.iter().map(|e| e.application_id.as_deref()).collect::<Vec<_>>(),
        &events.iter().map(|e| micros(e.created_at)).collect::<Vec<_>>(),
        &events.iter().map(|e| e.payload.as_slice()).collect::<Vec<_>>(),
        &deliveries.0,
        &deliveries.1,
        &deliveries.2,
        &deliveries.3,
        &deliveries.4,
    ];
    execute(c, INSERT_ALL, params).await.map(|_| ())
}

/// The events, then their deliveries, each in the order given (`WITH ORDINALITY`), so that both
/// tables' sequences follow it. The deliveries' foreign key to `outbox` is checked at the end
/// of the statement, when the events are in.
pub(super) const INSERT_ALL: &str = "WITH events AS (
        INSERT INTO outbox (id, org_id, type, application_id, created_at, payload)
        SELECT e.id, $1, e.type, e.application_id, e.created_at, e.payload
        FROM unnest($2::text[], $3::text[], $4::text[], $5::bigint[], $6::bytea[])
             WITH ORDINALITY AS e(id, type, application_id, created_at, payload, n)
        ORDER BY e.n
    )
    INSERT INTO webhook_deliveries
        (id, org_id, endpoint_id, event_id, event_type, status, next_attempt_at, created_at, updated_at)
    SELECT d.id, $1, d.endpoint_id, d.event_id, d.event_type, 'pending', d.at, d.at, d.at
    FROM unnest($7::text[], $8::text[], $9::text[], $10::text[], $11::bigint[])
         WITH ORDINALITY AS d(id, endpoint_id, event_id, event_type, at, n)
    ORDER BY d.n";

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
    let job = record(c, "SELECT record FROM jobs WHERE org_id = $1 AND id = $2", &[&org_id, &app.job_id]).await?;
    let candidate =
        record(c, "SELECT record FROM candidates WHERE org_id = $1 AND id = $2", &[&org_id, &app.candidate_id]).await?;
    both_found(app, job, candidate)
}

/// The job of the application `$2`, read by the application's id, so that it can go in the same
/// pipeline as the application's own read.
pub(super) const JOB_OF_APPLICATION: &str = "SELECT record FROM jobs
     WHERE org_id = $1 AND id = (SELECT job_id FROM applications WHERE org_id = $1 AND id = $2)";

/// The candidate of the application `$2`, likewise.
pub(super) const CANDIDATE_OF_APPLICATION: &str = "SELECT record FROM candidates
     WHERE org_id = $1 AND id = (SELECT candidate_id FROM applications WHERE org_id = $1 AND id = $2)";

/// The job and candidate an application refers to, which its foreign keys say exist.
pub(super) fn both_found(
    app: &Application,
    job: Option<Job>,
    candidate: Option<Candidate>,
) -> Result<(Job, Candidate), StoreError> {
    let job = job.ok_or_else(|| StoreError::Internal(format!("application {} refers to a missing job", app.id)))?;
    let candidate = candidate
        .ok_or_else(|| StoreError::Internal(format!("application {} refers to a missing candidate", app.id)))?;
    Ok((job, candidate))
}
