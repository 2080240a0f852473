//! SQL for webhook endpoints, deliveries and attempts on PostgreSQL.

use deadpool_postgres::GenericClient;
use jiff::{SignedDuration, Timestamp};
use tokio_postgres::Row;

use super::sql::{execute, pg_error, prepare_all, query, query_opt, record};
use super::{audit, encryption, outbox};
use crate::domain::Page;
use crate::domain::audit::{AuditAction, AuditContext};
use crate::domain::events::OutboxEvent;
use crate::domain::ids::IdKind;
use crate::domain::webhooks::{DeliveryAttempt, DeliveryStatus, WebhookDelivery, WebhookEndpoint};
use crate::store::encoding::{self, DeliveryRow, from_json, from_micros, micros, to_json};
use crate::store::rules;
use crate::store::sealing::{self, Keyring};
use crate::store::webhooks::{
    AttemptOutcome, DeliveryQuery, DeliveryTarget, DeliveryTask, EndpointPatch, NewEndpoint, SecretRotation,
    WebhookStats,
};
use crate::store::{ExportedDelivery, StoreError};

pub(super) async fn create_endpoint(
    c: &impl GenericClient,
    keyring: &Keyring,
    org_id: &str,
    new: NewEndpoint,
    now: Timestamp,
    who: &AuditContext,
) -> Result<WebhookEndpoint, StoreError> {
    let (endpoint, secrets) = rules::new_endpoint(new, now);
    let key_id = encryption::current_key_id(c, keyring).await?;
    let secrets = sealing::encode_secrets(keyring, &key_id, &endpoint.id, secrets)?;
    execute(
        c,
        "INSERT INTO webhook_endpoints (id, org_id, enabled, secrets, record) VALUES ($1, $2, $3, $4, $5)",
        &[&endpoint.id, &org_id, &endpoint.enabled, &secrets, &to_json(&endpoint)?],
    )
    .await?;
    let fields = rules::endpoint_created_fields(&endpoint);
    audit::insert(c, org_id, &who.entry(AuditAction::EndpointCreated, &endpoint.id, &fields, now)).await?;
    Ok(endpoint)
}

async fn save_endpoint(c: &impl GenericClient, endpoint: &WebhookEndpoint) -> Result<(), StoreError> {
    execute(
        c,
        "UPDATE webhook_endpoints SET enabled = $2, record = $3 WHERE id = $1",
        &[&endpoint.id, &endpoint.enabled, &to_json(endpoint)?],
    )
    .await
    .map(|_| ())
}

/// A live endpoint of the organisation; `lock` holds its row for the rest of the transaction.
pub(super) async fn get_endpoint(
    c: &impl GenericClient,
    org_id: &str,
    id: &str,
    lock: bool,
) -> Result<Option<WebhookEndpoint>, StoreError> {
    let sql = if lock {
        "SELECT record FROM webhook_endpoints WHERE org_id = $1 AND id = $2 AND NOT deleted FOR UPDATE"
    } else {
        "SELECT record FROM webhook_endpoints WHERE org_id = $1 AND id = $2 AND NOT deleted"
    };
    record(c, sql, &[&org_id, &id]).await
}

pub(super) async fn list_endpoints(c: &impl GenericClient, org_id: &str) -> Result<Vec<WebhookEndpoint>, StoreError> {
    let rows =
        query(c, "SELECT record FROM webhook_endpoints WHERE org_id = $1 AND NOT deleted ORDER BY seq", &[&org_id])
            .await?;
    rows.iter().map(|r| from_json(r.get::<_, &str>(0))).collect()
}

pub(super) async fn update_endpoint(
    c: &impl GenericClient,
    org_id: &str,
    id: &str,
    patch: EndpointPatch,
    now: Timestamp,
    who: &AuditContext,
) -> Result<Option<WebhookEndpoint>, StoreError> {
    let Some(mut e) = get_endpoint(c, org_id, id, true).await? else { return Ok(None) };
    let change = rules::patch_endpoint(&mut e, patch, now);
    if change.reenabled() {
        // Re-enabling forgives past failures.
        execute(c, "UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1", &[&e.id]).await?;
    }
    save_endpoint(c, &e).await?;
    audit::insert(c, org_id, &who.entry(change.action, id, &change.changed, now)).await?;
    Ok(Some(e))
}

/// Deletes an endpoint (it stays in the delivery log) and fails its pending deliveries.
pub(super) async fn delete_endpoint(
    c: &impl GenericClient,
    org_id: &str,
    id: &str,
    now: Timestamp,
    who: &AuditContext,
) -> Result<bool, StoreError> {
    let changed = execute(
        c,
        "UPDATE webhook_endpoints SET deleted = true, enabled = false WHERE org_id = $1 AND id = $2 AND NOT deleted",
        &[&org_id, &id],
    )
    .await?;
    if changed == 1 {
        execute(
            c,
            "UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL, updated_at = $2
             WHERE endpoint_id = $1 AND status = 'pending'",
            &[&id, &micros(now)],
        )
        .await?;
        audit::insert(c, org_id, &who.entry(AuditAction::EndpointDeleted, id, &[], now)).await?;
    }
    Ok(changed == 1)
}

pub(super) async fn rotate_secret(
    c: &impl GenericClient,
    keyring: &Keyring,
    org_id: &str,
    id: &str,
    rotation: SecretRotation,
    now: Timestamp,
    who: &AuditContext,
) -> Result<Option<WebhookEndpoint>, StoreError> {
    let Some(mut e) = get_endpoint(c, org_id, id, true).await? else { return Ok(None) };
    let stored = query_opt(c, "SELECT secrets FROM webhook_endpoints WHERE id = $1", &[&id])
        .await?
        .ok_or_else(|| StoreError::Internal(format!("endpoint {id} has no secrets")))?;
    let stored = sealing::decode_secrets(keyring, id, stored.get::<_, &str>(0))?;
    let secrets = rules::rotate_secret(&mut e, stored, rotation.new_secret, rotation.previous_expires_at, now);
    let key_id = encryption::current_key_id(c, keyring).await?;
    let secrets = sealing::encode_secrets(keyring, &key_id, id, secrets)?;
    execute(c, "UPDATE webhook_endpoints SET secrets = $2 WHERE id = $1", &[&id, &secrets]).await?;
    save_endpoint(c, &e).await?;
    let entry = who.entry(AuditAction::EndpointSecretRotated, id, rules::SECRET_ROTATED_FIELDS, now);
    audit::insert(c, org_id, &entry).await?;
    Ok(Some(e))
}

pub(super) async fn delivery_target(
    c: &impl GenericClient,
    keyring: &Keyring,
    endpoint_id: &str,
    now: Timestamp,
) -> Result<Option<DeliveryTarget>, StoreError> {
    let row =
        query_opt(c, "SELECT org_id, secrets, record, deleted FROM webhook_endpoints WHERE id = $1", &[&endpoint_id])
            .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(DeliveryTarget {
        org_id: row.get(0),
        secrets: rules::signing_secrets(sealing::decode_secrets(keyring, endpoint_id, row.get::<_, &str>(1))?, now),
        endpoint: from_json(row.get::<_, &str>(2))?,
        deleted: row.get(3),
    }))
}

pub(super) async fn disable_endpoint(
    c: &impl GenericClient,
    endpoint_id: &str,
    reason: String,
    now: Timestamp,
) -> Result<(), StoreError> {
    let row =
        query_opt(c, "SELECT org_id, record FROM webhook_endpoints WHERE id = $1 FOR UPDATE", &[&endpoint_id]).await?;
    let Some(row) = row else { return Ok(()) };
    let (org_id, mut e): (&str, WebhookEndpoint) = (row.get(0), from_json(row.get::<_, &str>(1))?);
    if rules::disable(&mut e, reason, now) {
        save_endpoint(c, &e).await?;
        let entry =
            AuditContext::system().entry(AuditAction::EndpointDisabled, endpoint_id, rules::DISABLED_FIELDS, now);
        audit::insert(c, org_id, &entry).await?;
    }
    Ok(())
}

/// Starts (or continues) the endpoint's failure clock; disables it once the clock passes
/// `disable_after`. Returns whether it was disabled now.
pub(super) async fn endpoint_failed(
    c: &impl GenericClient,
    endpoint_id: &str,
    now: Timestamp,
    disable_after: SignedDuration,
) -> Result<bool, StoreError> {
    let since = query_opt(
        c,
        "UPDATE webhook_endpoints SET failing_since = coalesce(failing_since, $2) WHERE id = $1
         RETURNING failing_since",
        &[&endpoint_id, &micros(now)],
    )
    .await?
    .and_then(|r| r.get::<_, Option<i64>>(0));
    let Some(since) = since else { return Ok(false) };
    match rules::failing_too_long(from_micros(since)?, now, disable_after) {
        Some(reason) => {
            disable_endpoint(c, endpoint_id, reason, now).await?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// The organisation's enabled endpoints, oldest first: where its events fan out to
/// ([`super::outbox::insert_all`] makes a delivery for every one that takes an event's type).
pub(super) async fn enabled_endpoints(
    c: &impl GenericClient,
    org_id: &str,
) -> Result<Vec<WebhookEndpoint>, StoreError> {
    query(c, ENABLED_ENDPOINTS, &[&org_id]).await?.iter().map(|row| from_json(row.get::<_, &str>(0))).collect()
}

pub(super) const ENABLED_ENDPOINTS: &str =
    "SELECT record FROM webhook_endpoints WHERE org_id = $1 AND enabled AND NOT deleted ORDER BY seq";

/// Writes a test event with one delivery, to this endpoint only; `None` when the organisation
/// has no such endpoint.
pub(super) async fn queue_test_event(
    c: &impl GenericClient,
    org_id: &str,
    endpoint_id: &str,
    event: OutboxEvent,
) -> Result<Option<String>, StoreError> {
    if get_endpoint(c, org_id, endpoint_id, true).await?.is_none() {
        return Ok(None);
    }
    outbox::insert_event(c, org_id, &event).await?;
    Ok(Some(insert_delivery(c, org_id, endpoint_id, &event).await?))
}

async fn insert_delivery(
    c: &impl GenericClient,
    org_id: &str,
    endpoint_id: &str,
    event: &OutboxEvent,
) -> Result<String, StoreError> {
    let id = IdKind::Delivery.new_id();
    execute(
        c,
        "INSERT INTO webhook_deliveries (id, org_id, endpoint_id, event_id, event_type, status, next_attempt_at, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6, $6)",
        &[&id, &org_id, &endpoint_id, &event.id, &event.event_type, &micros(event.created_at)],
    )
    .await?;
    Ok(id)
}

/// The columns of a claimed delivery with its event's payload, as an attempt needs it.
const TASK_COLUMNS: &str = "d.id, d.org_id, d.endpoint_id, d.event_id, d.event_type, d.attempts, d.status, o.payload";

fn task_from_row(r: &Row) -> DeliveryTask {
    DeliveryTask {
        delivery_id: r.get(0),
        org_id: r.get(1),
        endpoint_id: r.get(2),
        event_id: r.get(3),
        event_type: r.get(4),
        attempts: r.get::<_, i32>(5).max(0) as u32,
        status: DeliveryStatus::parse(r.get::<_, &str>(6)).unwrap_or(DeliveryStatus::Pending),
        payload: r.get(7),
    }
}

/// Claims due deliveries. Rows another replica is claiming right now are skipped, not waited
/// for, so replicas never block each other here.
pub(super) async fn claim_deliveries(
    c: &impl GenericClient,
    owner: &str,
    now: Timestamp,
    lease_until: Timestamp,
    limit: u32,
    skip_endpoints: &[String],
) -> Result<Vec<DeliveryTask>, StoreError> {
    let sql = format!(
        "UPDATE webhook_deliveries d SET lease_owner = $1, lease_until = $2, next_attempt_at = $2
         FROM outbox o
         WHERE o.id = d.event_id AND d.id IN (
            SELECT id FROM webhook_deliveries
            WHERE status = 'pending' AND next_attempt_at <= $3 AND (lease_until IS NULL OR lease_until <= $3)
              AND NOT (endpoint_id = ANY($5))
            ORDER BY next_attempt_at LIMIT $4 FOR UPDATE SKIP LOCKED)
         RETURNING {TASK_COLUMNS}"
    );
    let rows =
        query(c, &sql, &[&owner, &micros(lease_until), &micros(now), &i64::from(limit), &skip_endpoints]).await?;
    Ok(rows.iter().map(task_from_row).collect())
}

pub(super) async fn claim_delivery(
    c: &impl GenericClient,
    org_id: &str,
    delivery_id: &str,
    owner: &str,
    now: Timestamp,
    lease_until: Timestamp,
) -> Result<Option<DeliveryTask>, StoreError> {
    let sql = format!(
        "UPDATE webhook_deliveries d SET lease_owner = $3, lease_until = $4
         FROM outbox o
         WHERE o.id = d.event_id AND d.org_id = $1 AND d.id = $2
           AND (d.lease_until IS NULL OR d.lease_until <= $5 OR d.lease_owner = $3)
         RETURNING {TASK_COLUMNS}"
    );
    let row = query_opt(c, &sql, &[&org_id, &delivery_id, &owner, &micros(lease_until), &micros(now)]).await?;
    Ok(row.as_ref().map(task_from_row))
}

const DELIVERY_FOR_UPDATE: &str = "SELECT status, lease_owner FROM webhook_deliveries WHERE id = $1 FOR UPDATE";
const INSERT_ATTEMPT: &str = "INSERT INTO webhook_attempts (delivery_id, record) VALUES ($1, $2)";
/// Ends the endpoint's failing streak; touches (and locks) the endpoint only if it had one.
const END_FAILING_STREAK: &str = "UPDATE webhook_endpoints SET failing_since = NULL
     WHERE id = (SELECT endpoint_id FROM webhook_deliveries WHERE id = $1) AND failing_since IS NOT NULL";

pub(super) async fn finish_attempt(
    c: &impl GenericClient,
    delivery_id: &str,
    owner: &str,
    attempt: DeliveryAttempt,
    outcome: AttemptOutcome,
    now: Timestamp,
) -> Result<(), StoreError> {
    // The lock, the attempt's row and the end of a failing streak need nothing from each other:
    // one pipeline (see `prepare_all`). The delivery's new state needs the locked row.
    prepare_all(c, &[DELIVERY_FOR_UPDATE, INSERT_ATTEMPT, END_FAILING_STREAK]).await?;
    let attempt_json = to_json(&attempt)?;
    let (current, _, _) = tokio::try_join!(
        async { query_opt(c, DELIVERY_FOR_UPDATE, &[&delivery_id]).await },
        async { execute(c, INSERT_ATTEMPT, &[&delivery_id, &attempt_json]).await },
        async {
            if rules::attempt_succeeded(&outcome) {
                execute(c, END_FAILING_STREAK, &[&delivery_id]).await
            } else {
                Ok(0)
            }
        },
    )?;
    let Some(current) = current else {
        return Err(StoreError::Internal(format!("no delivery {delivery_id} to record an attempt on")));
    };
    let status: String = current.get(0);
    let lease_owner: Option<String> = current.get(1);
    let status = DeliveryStatus::parse(&status).ok_or_else(|| StoreError::Internal(format!("status {status}")))?;
    let write = rules::after_attempt(&outcome, status, lease_owner.as_deref(), owner);
    let (status, next) = match write.status {
        Some((status, next)) => (Some(status.as_str()), next.map(micros)),
        None => (None, None),
    };
    execute(
        c,
        "UPDATE webhook_deliveries SET attempts = attempts + 1, status = COALESCE($2::text, status),
         next_attempt_at = CASE WHEN $2::text IS NULL THEN next_attempt_at ELSE $3::bigint END,
         lease_owner = CASE WHEN $4::boolean THEN NULL ELSE lease_owner END,
         lease_until = CASE WHEN $4::boolean THEN NULL ELSE lease_until END, updated_at = $5 WHERE id = $1",
        &[&delivery_id, &status, &next, &write.release_lease, &micros(now)],
    )
    .await?;
    Ok(())
}

/// Drops delivery leases: those `owner` holds, or every one. A claim moves a delivery's next
/// attempt to the end of its lease, so a released pending delivery is made due again `now`.
pub(super) async fn release_leases(
    c: &impl GenericClient,
    owner: Option<&str>,
    now: Timestamp,
) -> Result<u64, StoreError> {
    execute(
        c,
        "UPDATE webhook_deliveries SET lease_owner = NULL, lease_until = NULL,
           next_attempt_at = CASE WHEN status = 'pending' THEN $2 ELSE next_attempt_at END
         WHERE lease_owner IS NOT NULL AND ($1::text IS NULL OR lease_owner = $1)",
        &[&owner, &micros(now)],
    )
    .await
}

pub(super) async fn postpone(
    c: &impl GenericClient,
    delivery_id: &str,
    owner: &str,
    at: Timestamp,
) -> Result<(), StoreError> {
    execute(
        c,
        "UPDATE webhook_deliveries SET next_attempt_at = $2, lease_owner = NULL, lease_until = NULL
         WHERE id = $1 AND lease_owner = $3",
        &[&delivery_id, &micros(at), &owner],
    )
    .await
    .map(|_| ())
}

const DELIVERY_COLUMNS: &str =
    "seq, id, endpoint_id, event_id, event_type, status, attempts, next_attempt_at, created_at, updated_at";

fn delivery_from_row(r: &Row) -> DeliveryRow {
    DeliveryRow {
        seq: r.get(0),
        id: r.get(1),
        endpoint_id: r.get(2),
        event_id: r.get(3),
        event_type: r.get(4),
        status: r.get(5),
        attempts: r.get::<_, i32>(6).max(0) as u32,
        next_attempt_at: r.get(7),
        created_at: r.get(8),
        updated_at: r.get(9),
    }
}

pub(super) async fn list_deliveries(
    c: &impl GenericClient,
    org_id: &str,
    q: DeliveryQuery,
) -> Result<Page<WebhookDelivery>, StoreError> {
    let sql = format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries
         WHERE org_id = $1 AND seq > $2 AND ($3::text IS NULL OR endpoint_id = $3)
           AND ($4::text IS NULL OR event_type = $4) AND ($5::text IS NULL OR status = $5)
           AND ($7::bigint IS NULL OR updated_at > $7)
         ORDER BY seq LIMIT $6"
    );
    let rows = query(
        c,
        &sql,
        &[
            &org_id,
            &q.after.map_or(0, |c| c.after_seq),
            &q.endpoint_id,
            &q.event_type,
            &q.status.map(|s| s.as_str()),
            &(i64::from(q.limit) + 1),
            &q.updated_after.map(micros),
        ],
    )
    .await?;
    let rows = rows.iter().map(|r| encoding::delivery_record(delivery_from_row(r))).collect::<Result<Vec<_>, _>>()?;
    Ok(encoding::page_of(rows, q.limit))
}

async fn attempts_of(c: &impl GenericClient, delivery_id: &str) -> Result<Vec<DeliveryAttempt>, StoreError> {
    let rows =
        query(c, "SELECT record FROM webhook_attempts WHERE delivery_id = $1 ORDER BY seq", &[&delivery_id]).await?;
    rows.iter().map(|r| from_json(r.get::<_, &str>(0))).collect()
}

pub(super) async fn get_delivery(
    c: &impl GenericClient,
    org_id: &str,
    id: &str,
) -> Result<Option<(WebhookDelivery, Vec<DeliveryAttempt>)>, StoreError> {
    let sql = format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE org_id = $1 AND id = $2");
    let Some(row) = query_opt(c, &sql, &[&org_id, &id]).await? else { return Ok(None) };
    let (_, delivery) = encoding::delivery_record(delivery_from_row(&row))?;
    Ok(Some((delivery, attempts_of(c, id).await?)))
}

pub(super) async fn event_payload(
    c: &impl GenericClient,
    org_id: &str,
    event_id: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    let row = query_opt(c, "SELECT payload FROM outbox WHERE org_id = $1 AND id = $2", &[&org_id, &event_id]).await?;
    Ok(row.map(|r| r.get(0)))
}

pub(super) async fn stats(c: &impl GenericClient) -> Result<WebhookStats, StoreError> {
    let row = query_opt(
        c,
        "SELECT (SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'),
                (SELECT count(*) FROM webhook_endpoints WHERE NOT enabled AND NOT deleted)",
        &[],
    )
    .await?
    .ok_or_else(|| StoreError::Internal("no row from a count".into()))?;
    Ok(WebhookStats {
        pending_deliveries: row.get::<_, i64>(0).max(0) as u64,
        disabled_endpoints: row.get::<_, i64>(1).max(0) as u64,
    })
}

/// Every delivery with its attempts, for `export`.
pub(super) async fn export_deliveries(c: &impl GenericClient) -> Result<Vec<ExportedDelivery>, StoreError> {
    let rows = c
        .query(&format!("SELECT {DELIVERY_COLUMNS}, org_id FROM webhook_deliveries ORDER BY seq"), &[])
        .await
        .map_err(pg_error)?;
    let mut deliveries = Vec::with_capacity(rows.len());
    for row in &rows {
        let (_, delivery) = encoding::delivery_record(delivery_from_row(row))?;
        let attempts = attempts_of(c, &delivery.id).await?;
        deliveries.push(ExportedDelivery { organization_id: row.get(10), delivery, attempts });
    }
    Ok(deliveries)
}
