//! `public-api export`: every table, read in one snapshot.

use rusqlite::Connection;
use serde::de::DeserializeOwned;

use super::{keys, migrations, webhooks};
use crate::store::encoding::from_json;
use crate::store::{Export, ExportedKey, ExportedRecord, ExportedResult, StoreError};

pub(super) fn export(conn: &Connection) -> Result<Export, StoreError> {
    let api_keys = keys::all_api_keys(conn)?
        .into_iter()
        .map(|key| ExportedKey { organization_id: key.org_id.clone(), key })
        .collect();
    Ok(Export {
        schema_version: migrations::current_version(conn)?,
        organizations: keys::list_organizations(conn)?,
        api_keys,
        jobs: all_records(conn, "jobs", "seq")?,
        candidates: all_records(conn, "candidates", "seq")?,
        resumes: all_records(conn, "resumes", "candidate_id")?,
        applications: all_records(conn, "applications", "seq")?,
        call_results: call_results(conn)?,
        events: events(conn)?,
        webhook_endpoints: all_records(conn, "webhook_endpoints WHERE deleted = 0", "seq")?,
        webhook_deliveries: webhooks::export_deliveries(conn)?,
        audit_events: all_records(conn, "audit_events", "seq")?,
    })
}

/// Every row of `table` (which may carry a `WHERE` clause) with its organisation.
fn all_records<T: DeserializeOwned>(
    conn: &Connection,
    table: &str,
    order: &str,
) -> Result<Vec<ExportedRecord<T>>, StoreError> {
    let mut stmt = conn.prepare(&format!("SELECT org_id, record FROM {table} ORDER BY {order}"))?;
    let rows = stmt.query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))?;
    rows.map(|row| {
        let (organization_id, text) = row?;
        Ok(ExportedRecord { organization_id, record: from_json(&text)? })
    })
    .collect()
}

fn call_results(conn: &Connection) -> Result<Vec<ExportedResult>, StoreError> {
    let mut stmt =
        conn.prepare("SELECT org_id, application_id, record FROM call_results ORDER BY created_at, application_id")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))?;
    rows.map(|row| {
        let (organization_id, application_id, record) = row?;
        Ok(ExportedResult { organization_id, application_id, result: from_json(&record)? })
    })
    .collect()
}

fn events(conn: &Connection) -> Result<Vec<ExportedRecord<serde_json::Value>>, StoreError> {
    let mut stmt = conn.prepare("SELECT org_id, payload FROM outbox ORDER BY seq")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?)))?;
    rows.map(|row| {
        let (organization_id, payload) = row?;
        Ok(ExportedRecord { organization_id, record: serde_json::from_slice(&payload)? })
    })
    .collect()
}
