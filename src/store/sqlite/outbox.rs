//! SQL for the outbox: every event, written in the transaction of the change that caused it,
//! with its deliveries.

use jiff::Timestamp;
use rusqlite::{Connection, params};

use super::sql::one;
use super::webhooks;
use crate::domain::events::OutboxEvent;
use crate::domain::{Application, ApplicationStatus, Candidate, Job};
use crate::store::encoding::{from_micros, micros};
use crate::store::{StoreError, rules};

/// Writes an event and a delivery to every endpoint that takes it.
pub(super) fn insert(conn: &Connection, org_id: &str, event: &OutboxEvent) -> Result<(), StoreError> {
    insert_event(conn, org_id, event)?;
    // Deliveries are made in the same transaction as the event, so none is ever missing.
    webhooks::fan_out(conn, org_id, event)
}

/// Writes an event alone; its deliveries are the caller's.
pub(super) fn insert_event(conn: &Connection, org_id: &str, event: &OutboxEvent) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO outbox (id, org_id, type, application_id, created_at, payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        event.id,
        org_id,
        event.event_type,
        event.application_id,
        micros(event.created_at),
        event.payload
    ])?;
    Ok(())
}

pub(super) fn list_outbox(
    conn: &Connection,
    org_id: &str,
    after_seq: i64,
    limit: u32,
) -> Result<Vec<(i64, OutboxEvent)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, id, type, application_id, created_at, payload FROM outbox
         WHERE org_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![org_id, after_seq, limit], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
    })?;
    rows.map(|row| {
        let (seq, id, event_type, application_id, created_at, payload) = row?;
        Ok((seq, OutboxEvent { id, event_type, application_id, created_at: from_micros(created_at)?, payload }))
    })
    .collect()
}

/// Queues `application.status_changed` for a change from `previous`.
pub(super) fn queue_status_changed(
    conn: &Connection,
    org_id: &str,
    app: &Application,
    previous: ApplicationStatus,
    now: Timestamp,
) -> Result<(), StoreError> {
    let (job, candidate) = job_and_candidate(conn, org_id, app)?;
    insert(conn, org_id, &rules::status_changed_event(app, previous, &job, &candidate, now)?)
}

/// The job and candidate of an application, for event payloads.
pub(super) fn job_and_candidate(
    conn: &Connection,
    org_id: &str,
    app: &Application,
) -> Result<(Job, Candidate), StoreError> {
    let job: Job = one(conn, "SELECT record FROM jobs WHERE org_id = ?1 AND id = ?2", params![org_id, app.job_id])?
        .ok_or_else(|| StoreError::Internal(format!("application {} refers to a missing job", app.id)))?;
    let candidate: Candidate =
        one(conn, "SELECT record FROM candidates WHERE org_id = ?1 AND id = ?2", params![org_id, app.candidate_id])?
            .ok_or_else(|| StoreError::Internal(format!("application {} refers to a missing candidate", app.id)))?;
    Ok((job, candidate))
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;

    use super::*;
    use crate::store::Store;
    use crate::store::sealing::Keyring;
    use crate::store::sqlite::{Access, SqliteStore};

    /// A write that fails rolls back everything it did, outbox rows included, while writes
    /// committed in the same group keep theirs: an event exists exactly when its transaction
    /// committed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_write_leaves_no_event_behind() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path(), Access::Server, Keyring::default()).unwrap();
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        store.create_organization("org_1".into(), "Org".into(), now).await.unwrap();
        let event = |id: &str| OutboxEvent {
            id: id.into(),
            event_type: "webhook.test".into(),
            application_id: None,
            created_at: now,
            payload: b"{}".to_vec(),
        };
        let (good, bad) = (event("evt_good"), event("evt_bad"));
        let committed = store.engine.write(move |conn| insert(conn, "org_1", &good));
        let failed = store.engine.write(move |conn| {
            insert(conn, "org_1", &bad)?;
            Err::<(), _>(StoreError::Internal("the change that caused it failed".into()))
        });
        let (committed, failed) = tokio::join!(committed, failed);
        assert!(committed.is_ok());
        assert!(failed.is_err());
        let ids: Vec<String> =
            store.list_outbox("org_1", 0, 10).await.unwrap().into_iter().map(|(_, e)| e.id).collect();
        assert_eq!(ids, ["evt_good"]);
    }
}
