//! SQL for organisations and API keys.

use deadpool_postgres::GenericClient;
use jiff::Timestamp;
use tokio_postgres::Row;

use super::sql::{execute, query, query_opt};
use super::{audit, migrations};
use crate::domain::audit::{AuditAction, AuditContext};
use crate::domain::{ApiKey, Organization};
use crate::store::encoding::{from_micros, micros, opt_from_micros, scopes_column, scopes_from_column};
use crate::store::{KeyUsage, NewApiKey, StoreError, rules};

pub(super) async fn create_organization(
    c: &impl GenericClient,
    id: String,
    name: String,
    now: Timestamp,
) -> Result<Organization, StoreError> {
    execute(c, "INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3)", &[&id, &name, &micros(now)])
        .await?;
    Ok(Organization { id, name, created_at: now })
}

/// Makes the organisation only if there is none yet. Replicas starting together on an empty
/// database make one organisation, not one each: they take turns on the schema lock.
pub(super) async fn create_first_organization(
    c: &impl GenericClient,
    id: String,
    name: String,
    now: Timestamp,
) -> Result<Option<Organization>, StoreError> {
    execute(c, "SELECT pg_advisory_xact_lock($1)", &[&migrations::SCHEMA_LOCK]).await?;
    let inserted = execute(
        c,
        "INSERT INTO organizations (id, name, created_at)
         SELECT $1, $2, $3 WHERE NOT EXISTS (SELECT 1 FROM organizations)",
        &[&id, &name, &micros(now)],
    )
    .await?;
    Ok((inserted == 1).then_some(Organization { id, name, created_at: now }))
}

pub(super) async fn list_organizations(c: &impl GenericClient) -> Result<Vec<Organization>, StoreError> {
    let rows = query(c, "SELECT id, name, created_at FROM organizations ORDER BY seq", &[]).await?;
    rows.iter().map(organization_from_row).collect()
}

pub(super) async fn get_organization(c: &impl GenericClient, id: &str) -> Result<Option<Organization>, StoreError> {
    let row = query_opt(c, "SELECT id, name, created_at FROM organizations WHERE id = $1", &[&id]).await?;
    row.as_ref().map(organization_from_row).transpose()
}

fn organization_from_row(row: &Row) -> Result<Organization, StoreError> {
    Ok(Organization { id: row.get(0), name: row.get(1), created_at: from_micros(row.get(2))? })
}

pub(super) async fn create_api_key(
    c: &impl GenericClient,
    key: NewApiKey,
    who: &AuditContext,
) -> Result<ApiKey, StoreError> {
    execute(
        c,
        "INSERT INTO api_keys (id, org_id, name, prefix, secret_hash, created_at, expires_at, scopes)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            &key.id,
            &key.org_id,
            &key.name,
            &key.prefix,
            &key.secret_hash,
            &micros(key.created_at),
            &key.expires_at.map(micros),
            &scopes_column(&key.scopes),
        ],
    )
    .await?;
    let entry = who.entry(AuditAction::ApiKeyCreated, &key.id, &rules::key_created_fields(&key), key.created_at);
    audit::insert(c, &key.org_id, &entry).await?;
    Ok(key.issued())
}

pub(super) async fn list_api_keys(c: &impl GenericClient, org_id: &str) -> Result<Vec<ApiKey>, StoreError> {
    let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE org_id = $1 ORDER BY seq");
    query(c, &sql, &[&org_id]).await?.iter().map(key_from_row).collect()
}

pub(super) async fn find_api_key(c: &impl GenericClient, secret_hash: &str) -> Result<Option<ApiKey>, StoreError> {
    let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE secret_hash = $1");
    query_opt(c, &sql, &[&secret_hash]).await?.as_ref().map(key_from_row).transpose()
}

/// Whether the key `key_id` exists and is not revoked: the confirmation of a key a request
/// presumed valid.
pub(super) async fn key_is_valid(c: &impl GenericClient, key_id: &str) -> Result<bool, StoreError> {
    Ok(query_opt(c, "SELECT 1 FROM api_keys WHERE id = $1 AND revoked_at IS NULL", &[&key_id]).await?.is_some())
}

pub(super) async fn revoke_api_key(
    c: &impl GenericClient,
    org_id: &str,
    key_id: &str,
    now: Timestamp,
    who: &AuditContext,
) -> Result<Option<ApiKey>, StoreError> {
    let revoked = execute(
        c,
        "UPDATE api_keys SET revoked_at = $3 WHERE org_id = $1 AND id = $2 AND revoked_at IS NULL",
        &[&org_id, &key_id, &micros(now)],
    )
    .await?;
    if revoked == 1 {
        audit::insert(c, org_id, &who.entry(AuditAction::ApiKeyRevoked, key_id, &["revoked_at"], now)).await?;
    }
    let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE org_id = $1 AND id = $2");
    query_opt(c, &sql, &[&org_id, &key_id]).await?.as_ref().map(key_from_row).transpose()
}

pub(super) async fn record_key_usage(c: &impl GenericClient, usage: Vec<KeyUsage>) -> Result<(), StoreError> {
    for u in &usage {
        execute(
            c,
            "UPDATE api_keys SET usage_count = usage_count + $2,
             last_used_at = greatest(coalesce(last_used_at, 0), $3) WHERE id = $1",
            &[&u.key_id, &(u.uses as i64), &micros(u.last_used_at)],
        )
        .await?;
    }
    Ok(())
}

/// Every key of every organisation, for `export`.
pub(super) async fn all_api_keys(c: &impl GenericClient) -> Result<Vec<ApiKey>, StoreError> {
    query(c, &format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY seq"), &[]).await?.iter().map(key_from_row).collect()
}

const KEY_COLUMNS: &str =
    "id, org_id, name, prefix, created_at, expires_at, revoked_at, last_used_at, usage_count, scopes";

fn key_from_row(row: &Row) -> Result<ApiKey, StoreError> {
    Ok(ApiKey {
        id: row.get(0),
        org_id: row.get(1),
        name: row.get(2),
        prefix: row.get(3),
        scopes: scopes_from_column(row.get(9))?,
        created_at: from_micros(row.get(4))?,
        expires_at: opt_from_micros(row.get(5))?,
        revoked_at: opt_from_micros(row.get(6))?,
        last_used_at: opt_from_micros(row.get(7))?,
        usage_count: row.get::<_, i64>(8).max(0) as u64,
    })
}
