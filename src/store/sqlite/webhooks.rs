//! SQL for webhook endpoints, deliveries and attempts.

use jiff::{SignedDuration, Timestamp};
use rusqlite::{Connection, OptionalExtension, params};

use super::sql::one;
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

pub(super) fn create_endpoint(
    conn: &Connection,
    keyring: &Keyring,
    org_id: &str,
    new: NewEndpoint,
    now: Timestamp,
    who: &AuditContext,
) -> Result<WebhookEndpoint, StoreError> {
    let (endpoint, secrets) = rules::new_endpoint(new, now);
    let key_id = encryption::current_key_id(conn, keyring)?;
    let secrets = sealing::encode_secrets(keyring, &key_id, &endpoint.id, secrets)?;
    conn.execute(
        "INSERT INTO webhook_endpoints (id, org_id, enabled, secrets, record) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![endpoint.id, org_id, endpoint.enabled, secrets, to_json(&endpoint)?],
    )?;
    let fields = rules::endpoint_created_fields(&endpoint);
    audit::insert(conn, org_id, &who.entry(AuditAction::EndpointCreated, &endpoint.id, &fields, now))?;
    Ok(endpoint)
}

fn save_endpoint(conn: &Connection, endpoint: &WebhookEndpoint) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE webhook_endpoints SET enabled = ?2, record = ?3 WHERE id = ?1")?.execute(params![
        endpoint.id,
        endpoint.enabled,
        to_json(endpoint)?
    ])?;
    Ok(())
}

pub(super) fn get_endpoint(conn: &Connection, org_id: &str, id: &str) -> Result<Option<WebhookEndpoint>, StoreError> {
    one(conn, "SELECT record FROM webhook_endpoints WHERE org_id = ?1 AND id = ?2 AND deleted = 0", params![org_id, id])
}

pub(super) fn list_endpoints(conn: &Connection, org_id: &str) -> Result<Vec<WebhookEndpoint>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT record FROM webhook_endpoints WHERE org_id = ?1 AND deleted = 0 ORDER BY seq")?;
    let rows = stmt.query_map([org_id], |r| r.get::<_, String>(0))?;
    rows.map(|r| from_json(&r?)).collect()
}

pub(super) fn update_endpoint(
    conn: &Connection,
    org_id: &str,
    id: &str,
    patch: EndpointPatch,
    now: Timestamp,
    who: &AuditContext,
) -> Result<Option<WebhookEndpoint>, StoreError> {
    let Some(mut e) = get_endpoint(conn, org_id, id)? else { return Ok(None) };
    let change = rules::patch_endpoint(&mut e, patch, now);
    if change.reenabled() {
        // Re-enabling forgives past failures.
        conn.execute("UPDATE webhook_endpoints SET failing_since = NULL WHERE id = ?1", [&e.id])?;
    }
    save_endpoint(conn, &e)?;
    audit::insert(conn, org_id, &who.entry(change.action, id, &change.changed, now))?;
    Ok(Some(e))
}

/// Deletes an endpoint (it stays in the delivery log) and fails its pending deliveries.
pub(super) fn delete_endpoint(
    conn: &Connection,
    org_id: &str,
    id: &str,
    now: Timestamp,
    who: &AuditContext,
) -> Result<bool, StoreError> {
    let changed = conn.execute(
        "UPDATE webhook_endpoints SET deleted = 1, enabled = 0 WHERE org_id = ?1 AND id = ?2 AND deleted = 0",
        params![org_id, id],
    )?;
    if changed == 1 {
        conn.execute(
            "UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL, updated_at = ?2
             WHERE endpoint_id = ?1 AND status = 'pending'",
            params![id, micros(now)],
        )?;
        audit::insert(conn, org_id, &who.entry(AuditAction::EndpointDeleted, id, &[], now))?;
    }
    Ok(changed == 1)
}

pub(super) fn rotate_secret(
    conn: &Connection,
    keyring: &Keyring,
    org_id: &str,
    id: &str,
    rotation: SecretRotation,
    now: Timestamp,
    who: &AuditContext,
) -> Result<Option<WebhookEndpoint>, StoreError> {
    let Some(mut e) = get_endpoint(conn, org_id, id)? else { return Ok(None) };
    let stored: String =
        conn.prepare_cached("SELECT secrets FROM webhook_endpoints WHERE id = ?1")?.query_row([id], |r| r.get(0))?;
    let stored = sealing::decode_secrets(keyring, id, &stored)?;
    let secrets = rules::rotate_secret(&mut e, stored, rotation.new_secret, rotation.previous_expires_at, now);
    let secrets = sealing::encode_secrets(keyring, &encryption::current_key_id(conn, keyring)?, id, secrets)?;
    conn.execute("UPDATE webhook_endpoints SET secrets = ?2 WHERE id = ?1", params![id, secrets])?;
    save_endpoint(conn, &e)?;
    audit::insert(conn, org_id, &who.entry(AuditAction::EndpointSecretRotated, id, rules::SECRET_ROTATED_FIELDS, now))?;
    Ok(Some(e))
}

pub(super) fn delivery_target(
    conn: &Connection,
    keyring: &Keyring,
    endpoint_id: &str,
    now: Timestamp,
) -> Result<Option<DeliveryTarget>, StoreError> {
    let row: Option<(String, String, String, bool)> = conn
        .query_row("SELECT org_id, secrets, record, deleted FROM webhook_endpoints WHERE id = ?1", [endpoint_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    let Some((org_id, secrets, record, deleted)) = row else { return Ok(None) };
    let secrets = rules::signing_secrets(sealing::decode_secrets(keyring, endpoint_id, &secrets)?, now);
    Ok(Some(DeliveryTarget { org_id, endpoint: from_json(&record)?, secrets, deleted }))
}

pub(super) fn disable_endpoint(
    conn: &Connection,
    endpoint_id: &str,
    reason: String,
    now: Timestamp,
) -> Result<(), StoreError> {
    let row: Option<(String, String)> = conn
        .prepare_cached("SELECT org_id, record FROM webhook_endpoints WHERE id = ?1")?
        .query_row([endpoint_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((org_id, record)) = row else { return Ok(()) };
    let mut e: WebhookEndpoint = from_json(&record)?;
    if rules::disable(&mut e, reason, now) {
        save_endpoint(conn, &e)?;
        let entry =
            AuditContext::system().entry(AuditAction::EndpointDisabled, endpoint_id, rules::DISABLED_FIELDS, now);
        audit::insert(conn, &org_id, &entry)?;
    }
    Ok(())
}

/// Starts (or continues) the endpoint's failure clock; disables it once the clock passes
/// `disable_after`. Returns whether it was disabled now.
pub(super) fn endpoint_failed(
    conn: &Connection,
    endpoint_id: &str,
    now: Timestamp,
    disable_after: SignedDuration,
) -> Result<bool, StoreError> {
    conn.execute(
        "UPDATE webhook_endpoints SET failing_since = coalesce(failing_since, ?2) WHERE id = ?1",
        params![endpoint_id, micros(now)],
    )?;
    let since: Option<i64> = conn
        .query_row("SELECT failing_since FROM webhook_endpoints WHERE id = ?1", [endpoint_id], |r| r.get(0))
        .optional()?
        .flatten();
    let Some(since) = since else { return Ok(false) };
    match rules::failing_too_long(from_micros(since)?, now, disable_after) {
        Some(reason) => {
            disable_endpoint(conn, endpoint_id, reason, now)?;
            Ok(true)
        }
        None => Ok(false),
    }
}

fn endpoint_succeeded(conn: &Connection, delivery_id: &str) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE webhook_endpoints SET failing_since = NULL
         WHERE id = (SELECT endpoint_id FROM webhook_deliveries WHERE id = ?1) AND failing_since IS NOT NULL",
    )?
    .execute([delivery_id])?;
    Ok(())
}

/// Makes a delivery of `event` for every enabled endpoint of the organisation that takes its
/// type, in the caller's transaction.
pub(super) fn fan_out(conn: &Connection, org_id: &str, event: &OutboxEvent) -> Result<(), StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT record FROM webhook_endpoints WHERE org_id = ?1 AND enabled = 1 AND deleted = 0")?;
    let endpoints: Vec<String> = stmt.query_map([org_id], |r| r.get(0))?.collect::<Result<_, _>>()?;
    for record in endpoints {
        let endpoint: WebhookEndpoint = from_json(&record)?;
        if rules::takes(&endpoint, &event.event_type) {
            insert_delivery(conn, org_id, &endpoint.id, event)?;
        }
    }
    Ok(())
}

/// Writes a test event with one delivery, to this endpoint only; `None` when the organisation
/// has no such endpoint.
pub(super) fn queue_test_event(
    conn: &Connection,
    org_id: &str,
    endpoint_id: &str,
    event: OutboxEvent,
) -> Result<Option<String>, StoreError> {
    if get_endpoint(conn, org_id, endpoint_id)?.is_none() {
        return Ok(None);
    }
    outbox::insert_event(conn, org_id, &event)?;
    Ok(Some(insert_delivery(conn, org_id, endpoint_id, &event)?))
}

fn insert_delivery(
    conn: &Connection,
    org_id: &str,
    endpoint_id: &str,
    event: &OutboxEvent,
) -> Result<String, StoreError> {
    let id = IdKind::Delivery.new_id();
    let at = micros(event.created_at);
    conn.prepare_cached(
        "INSERT INTO webhook_deliveries (id, org_id, endpoint_id, event_id, event_type, status, next_attempt_at, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?6, ?6)",
    )?
    .execute(params![id, org_id, endpoint_id, event.id, event.event_type, at])?;
    Ok(id)
}

/// The delivery `?1` with its event's payload, as an attempt needs it.
const TASK_BY_ID: &str =
    "SELECT d.id, d.org_id, d.endpoint_id, d.event_id, d.event_type, d.attempts, d.status, o.payload
     FROM webhook_deliveries d JOIN outbox o ON o.id = d.event_id WHERE d.id = ?1";

fn task_by_id(conn: &Connection, delivery_id: &str) -> Result<DeliveryTask, StoreError> {
    Ok(with_status(conn.prepare_cached(TASK_BY_ID)?.query_row([delivery_id], task_from_row)?))
}

fn task_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(DeliveryTask, String)> {
    Ok((
        DeliveryTask {
            delivery_id: r.get(0)?,
            org_id: r.get(1)?,
            endpoint_id: r.get(2)?,
            event_id: r.get(3)?,
            event_type: r.get(4)?,
            attempts: r.get(5)?,
            status: DeliveryStatus::Pending,
            payload: r.get(7)?,
        },
        r.get(6)?,
    ))
}

fn with_status((mut task, status): (DeliveryTask, String)) -> DeliveryTask {
    task.status = DeliveryStatus::parse(&status).unwrap_or(DeliveryStatus::Pending);
    task
}

pub(super) fn claim_deliveries(
    conn: &Connection,
    owner: &str,
    now: Timestamp,
    lease_until: Timestamp,
    limit: u32,
    skip_endpoints_json: &str,
) -> Result<Vec<DeliveryTask>, StoreError> {
    let ids: Vec<String> = conn
        .prepare_cached(
            "UPDATE webhook_deliveries SET lease_owner = ?1, lease_until = ?2, next_attempt_at = ?2
             WHERE id IN (
                SELECT id FROM webhook_deliveries
                WHERE status = 'pending' AND next_attempt_at <= ?3 AND (lease_until IS NULL OR lease_until <= ?3)
                  AND endpoint_id NOT IN (SELECT value FROM json_each(?5))
                ORDER BY next_attempt_at LIMIT ?4)
             RETURNING id",
        )?
        .query_map(params![owner, micros(lease_until), micros(now), limit, skip_endpoints_json], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    ids.iter().map(|id| task_by_id(conn, id)).collect()
}

pub(super) fn claim_delivery(
    conn: &Connection,
    org_id: &str,
    delivery_id: &str,
    owner: &str,
    now: Timestamp,
    lease_until: Timestamp,
) -> Result<Option<DeliveryTask>, StoreError> {
    let claimed = conn.execute(
        "UPDATE webhook_deliveries SET lease_owner = ?3, lease_until = ?4
         WHERE org_id = ?1 AND id = ?2 AND (lease_until IS NULL OR lease_until <= ?5 OR lease_owner = ?3)",
        params![org_id, delivery_id, owner, micros(lease_until), micros(now)],
    )?;
    if claimed == 0 {
        return Ok(None);
    }
    Ok(Some(task_by_id(conn, delivery_id)?))
}

pub(super) fn finish_attempt(
    conn: &Connection,
    delivery_id: &str,
    owner: &str,
    attempt: DeliveryAttempt,
    outcome: AttemptOutcome,
    now: Timestamp,
) -> Result<(), StoreError> {
    let current = conn
        .prepare_cached("SELECT status, lease_owner FROM webhook_deliveries WHERE id = ?1")?
        .query_row([delivery_id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?)))
        .optional()?;
    let Some((status, lease_owner)) = current else {
        return Err(StoreError::Internal(format!("no delivery {delivery_id} to record an attempt on")));
    };
    let status = DeliveryStatus::parse(&status).ok_or_else(|| StoreError::Internal(format!("status {status}")))?;
    conn.prepare_cached("INSERT INTO webhook_attempts (delivery_id, record) VALUES (?1, ?2)")?
        .execute(params![delivery_id, to_json(&attempt)?])?;
    if rules::attempt_succeeded(&outcome) {
        endpoint_succeeded(conn, delivery_id)?;
    }
    let write = rules::after_attempt(&outcome, status, lease_owner.as_deref(), owner);
    let (status, next) = match write.status {
        Some((status, next)) => (Some(status.as_str()), next.map(micros)),
        None => (None, None),
    };
    conn.prepare_cached(
        "UPDATE webhook_deliveries SET attempts = attempts + 1, status = COALESCE(?2, status),
         next_attempt_at = CASE WHEN ?2 IS NULL THEN next_attempt_at ELSE ?3 END,
         lease_owner = CASE WHEN ?4 THEN NULL ELSE lease_owner END,
         lease_until = CASE WHEN ?4 THEN NULL ELSE lease_until END, updated_at = ?5 WHERE id = ?1",
    )?
    .execute(params![delivery_id, status, next, write.release_lease, micros(now)])?;
    Ok(())
}

/// Drops delivery leases: those `owner` holds, or every one. A claim moves a delivery's next
/// attempt to the end of its lease, so a released pending delivery is made due again `now`.
pub(super) fn release_leases(conn: &Connection, owner: Option<&str>, now: Timestamp) -> Result<u64, StoreError> {
    let n = conn
        .prepare_cached(
            "UPDATE webhook_deliveries SET lease_owner = NULL, lease_until = NULL,
               next_attempt_at = CASE WHEN status = 'pending' THEN ?2 ELSE next_attempt_at END
             WHERE lease_owner IS NOT NULL AND (?1 IS NULL OR lease_owner = ?1)",
        )?
        .execute(rusqlite::params![owner, micros(now)])?;
    Ok(n as u64)
}

pub(super) fn postpone(conn: &Connection, delivery_id: &str, owner: &str, at: Timestamp) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE webhook_deliveries SET next_attempt_at = ?2, lease_owner = NULL, lease_until = NULL
         WHERE id = ?1 AND lease_owner = ?3",
    )?
    .execute(params![delivery_id, micros(at), owner])?;
    Ok(())
}

const DELIVERY_SELECT: &str = "SELECT seq, id, endpoint_id, event_id, event_type, status, attempts, next_attempt_at, created_at, updated_at FROM webhook_deliveries";

fn delivery_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeliveryRow> {
    Ok(DeliveryRow {
        seq: r.get(0)?,
        id: r.get(1)?,
        endpoint_id: r.get(2)?,
        event_id: r.get(3)?,
        event_type: r.get(4)?,
        status: r.get(5)?,
        attempts: r.get(6)?,
        next_attempt_at: r.get(7)?,
        created_at: r.get(8)?,
        updated_at: r.get(9)?,
    })
}

pub(super) fn list_deliveries(
    conn: &Connection,
    org_id: &str,
    q: DeliveryQuery,
) -> Result<Page<WebhookDelivery>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "{DELIVERY_SELECT} WHERE org_id = ?1 AND seq > ?2 AND (?3 IS NULL OR endpoint_id = ?3)
         AND (?4 IS NULL OR event_type = ?4) AND (?5 IS NULL OR status = ?5) AND (?7 IS NULL OR updated_at > ?7)
         ORDER BY seq LIMIT ?6"
    ))?;
    let rows = stmt.query_map(
        params![
            org_id,
            q.after.map_or(0, |c| c.after_seq),
            q.endpoint_id,
            q.event_type,
            q.status.map(|s| s.as_str()),
            q.limit + 1,
            q.updated_after.map(micros)
        ],
        delivery_from_row,
    )?;
    let rows = rows.map(|row| encoding::delivery_record(row?)).collect::<Result<Vec<_>, StoreError>>()?;
    Ok(encoding::page_of(rows, q.limit))
}

pub(super) fn get_delivery(
    conn: &Connection,
    org_id: &str,
    id: &str,
) -> Result<Option<(WebhookDelivery, Vec<DeliveryAttempt>)>, StoreError> {
    let row = conn
        .query_row(&format!("{DELIVERY_SELECT} WHERE org_id = ?1 AND id = ?2"), params![org_id, id], delivery_from_row)
        .optional()?;
    let Some(row) = row else { return Ok(None) };
    let (_, delivery) = encoding::delivery_record(row)?;
    let mut stmt = conn.prepare_cached("SELECT record FROM webhook_attempts WHERE delivery_id = ?1 ORDER BY seq")?;
    let attempts =
        stmt.query_map([id], |r| r.get::<_, String>(0))?.map(|r| from_json(&r?)).collect::<Result<_, _>>()?;
    Ok(Some((delivery, attempts)))
}

pub(super) fn event_payload(conn: &Connection, org_id: &str, event_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT payload FROM outbox WHERE org_id = ?1 AND id = ?2")?;
    Ok(stmt.query_row([org_id, event_id], |r| r.get(0)).optional()?)
}

pub(super) fn stats(conn: &Connection) -> Result<WebhookStats, StoreError> {
    let pending: i64 =
        conn.query_row("SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'", [], |r| r.get(0))?;
    let disabled: i64 =
        conn.query_row("SELECT count(*) FROM webhook_endpoints WHERE enabled = 0 AND deleted = 0", [], |r| r.get(0))?;
    Ok(WebhookStats { pending_deliveries: pending.max(0) as u64, disabled_endpoints: disabled.max(0) as u64 })
}

/// Every delivery with its attempts, for `export`.
pub(super) fn export_deliveries(conn: &Connection) -> Result<Vec<ExportedDelivery>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT seq, id, endpoint_id, event_id, event_type, status, attempts, next_attempt_at, created_at, updated_at, org_id
         FROM webhook_deliveries ORDER BY seq",
    )?;
    let rows = stmt.query_map([], |r| Ok((delivery_from_row(r)?, r.get::<_, String>(10)?)))?;
    let mut attempts_stmt =
        conn.prepare_cached("SELECT record FROM webhook_attempts WHERE delivery_id = ?1 ORDER BY seq")?;
    rows.map(|row| {
        let (row, organization_id) = row?;
        let (_, delivery) = encoding::delivery_record(row)?;
        let attempts = attempts_stmt
            .query_map([&delivery.id], |r| r.get::<_, String>(0))?
            .map(|r| from_json(&r?))
            .collect::<Result<_, StoreError>>()?;
        Ok(ExportedDelivery { organization_id, delivery, attempts })
    })
    .collect()
}
