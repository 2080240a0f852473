//! SQL for organisations and API keys.

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};

use super::audit;
use crate::domain::audit::{AuditAction, AuditContext};
use crate::domain::{ApiKey, Organization};
use crate::store::encoding::{from_micros, micros, opt_from_micros, scopes_column, scopes_from_column};
use crate::store::{KeyUsage, NewApiKey, StoreError, rules};

pub(super) fn create_organization(
    conn: &Connection,
    id: String,
    name: String,
    now: Timestamp,
) -> Result<Organization, StoreError> {
    conn.execute(
        "INSERT INTO organizations (id, name, created_at) VALUES (?1, ?2, ?3)",
        params![id, name, micros(now)],
    )?;
    Ok(Organization { id, name, created_at: now })
}

/// Makes the organisation only if there is none yet; the writer thread makes this atomic.
pub(super) fn create_first_organization(
    conn: &Connection,
    id: String,
    name: String,
    now: Timestamp,
) -> Result<Option<Organization>, StoreError> {
    let inserted = conn.execute(
        "INSERT INTO organizations (id, name, created_at)
         SELECT ?1, ?2, ?3 WHERE NOT EXISTS (SELECT 1 FROM organizations)",
        params![id, name, micros(now)],
    )?;
    Ok((inserted == 1).then_some(Organization { id, name, created_at: now }))
}

pub(super) fn list_organizations(conn: &Connection) -> Result<Vec<Organization>, StoreError> {
    let mut stmt = conn.prepare("SELECT id, name, created_at FROM organizations ORDER BY seq")?;
    let rows = stmt.query_map([], organization_from_row)?;
    rows.map(|row| finish_organization(row?)).collect()
}

pub(super) fn get_organization(conn: &Connection, id: &str) -> Result<Option<Organization>, StoreError> {
    let row = conn
        .query_row("SELECT id, name, created_at FROM organizations WHERE id = ?1", [id], organization_from_row)
        .optional()?;
    row.map(finish_organization).transpose()
}

fn organization_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(String, String, i64)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
}

fn finish_organization((id, name, created): (String, String, i64)) -> Result<Organization, StoreError> {
    Ok(Organization { id, name, created_at: from_micros(created)? })
}

pub(super) fn create_api_key(conn: &Connection, key: NewApiKey, who: &AuditContext) -> Result<ApiKey, StoreError> {
    conn.execute(
        "INSERT INTO api_keys (id, org_id, name, prefix, secret_hash, created_at, expires_at, scopes)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            key.id,
            key.org_id,
            key.name,
            key.prefix,
            key.secret_hash,
            micros(key.created_at),
            key.expires_at.map(micros),
            scopes_column(&key.scopes)
        ],
    )?;
    let entry = who.entry(AuditAction::ApiKeyCreated, &key.id, &rules::key_created_fields(&key), key.created_at);
    audit::insert(conn, &key.org_id, &entry)?;
    Ok(key.issued())
}

pub(super) fn list_api_keys(conn: &Connection, org_id: &str) -> Result<Vec<ApiKey>, StoreError> {
    query_keys(conn, &format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE org_id = ?1 ORDER BY seq"), [org_id])
}

pub(super) fn find_api_key(conn: &Connection, secret_hash: &str) -> Result<Option<ApiKey>, StoreError> {
    Ok(query_keys(conn, &format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE secret_hash = ?1"), [secret_hash])?.pop())
}

pub(super) fn revoke_api_key(
    conn: &Connection,
    org_id: &str,
    key_id: &str,
    now: Timestamp,
    who: &AuditContext,
) -> Result<Option<ApiKey>, StoreError> {
    let revoked = conn.execute(
        "UPDATE api_keys SET revoked_at = ?3 WHERE org_id = ?1 AND id = ?2 AND revoked_at IS NULL",
        params![org_id, key_id, micros(now)],
    )?;
    if revoked == 1 {
        audit::insert(conn, org_id, &who.entry(AuditAction::ApiKeyRevoked, key_id, &["revoked_at"], now))?;
    }
    let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE org_id = ?1 AND id = ?2");
    Ok(query_keys(conn, &sql, params![org_id, key_id])?.pop())
}

pub(super) fn record_key_usage(conn: &Connection, usage: Vec<KeyUsage>) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "UPDATE api_keys SET usage_count = usage_count + ?2,
         last_used_at = max(coalesce(last_used_at, 0), ?3) WHERE id = ?1",
    )?;
    for u in usage {
        stmt.execute(params![u.key_id, u.uses as i64, micros(u.last_used_at)])?;
    }
    Ok(())
}

/// Every key of every organisation, for `export`.
pub(super) fn all_api_keys(conn: &Connection) -> Result<Vec<ApiKey>, StoreError> {
    query_keys(conn, &format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY seq"), [])
}

const KEY_COLUMNS: &str =
    "id, org_id, name, prefix, created_at, expires_at, revoked_at, last_used_at, usage_count, scopes";

fn query_keys(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<Vec<ApiKey>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, key_from_row)?;
    rows.map(|row| finish_key(row?)).collect()
}

/// The key's columns; its times and scopes are decoded by [`finish_key`], outside rusqlite's
/// row mapper, because their errors are the store's.
fn key_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<KeyRow> {
    Ok(KeyRow {
        key: ApiKey {
            id: row.get(0)?,
            org_id: row.get(1)?,
            name: row.get(2)?,
            prefix: row.get(3)?,
            scopes: Vec::new(),
            created_at: Timestamp::UNIX_EPOCH,
            expires_at: None,
            revoked_at: None,
            last_used_at: None,
            usage_count: row.get::<_, i64>(8)?.max(0) as u64,
        },
        created: row.get(4)?,
        times: [row.get(5)?, row.get(6)?, row.get(7)?],
        scopes: row.get(9)?,
    })
}

struct KeyRow {
    key: ApiKey,
    created: i64,
    /// Expiry, revocation and last use.
    times: [Option<i64>; 3],
    scopes: Option<String>,
}

fn finish_key(row: KeyRow) -> Result<ApiKey, StoreError> {
    let KeyRow { mut key, created, times, scopes } = row;
    key.created_at = from_micros(created)?;
    key.expires_at = opt_from_micros(times[0])?;
    key.revoked_at = opt_from_micros(times[1])?;
    key.last_used_at = opt_from_micros(times[2])?;
    key.scopes = scopes_from_column(scopes.as_deref())?;
    Ok(key)
}
