//! SQL for the audit log: one row per change to a key or an endpoint (and per forced sandbox
//! interview), inserted by the resource file that makes the change, in its transaction.

use rusqlite::{Connection, params};

use super::sql;
use crate::domain::Page;
use crate::domain::audit::AuditEvent;
use crate::store::encoding::{micros, to_json};
use crate::store::{AuditQuery, StoreError};

/// Writes one entry; the caller's transaction makes it part of the change.
pub(super) fn insert(conn: &Connection, org_id: &str, entry: &AuditEvent) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO audit_events (id, org_id, action, object_id, occurred_at, record) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        entry.id,
        org_id,
        entry.action.as_str(),
        entry.object_id,
        micros(entry.occurred_at),
        to_json(entry)?
    ])?;
    Ok(())
}

pub(super) fn list(conn: &Connection, org_id: &str, q: AuditQuery) -> Result<Page<AuditEvent>, StoreError> {
    sql::page(
        conn,
        "SELECT seq, record FROM audit_events WHERE org_id = ?1 AND seq > ?2
         AND (?3 IS NULL OR object_id = ?3) AND (?4 IS NULL OR action = ?4) ORDER BY seq LIMIT ?5",
        params![org_id, q.after.map_or(0, |c| c.after_seq), q.object_id, q.action.map(|a| a.as_str()), q.limit + 1],
        q.limit,
    )
}
