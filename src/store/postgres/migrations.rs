//! Versioned schema migrations for PostgreSQL. The version lives in `schema_version`; each entry
//! of [`MIGRATIONS`] moves it up by one inside one transaction, under an advisory lock, so
//! replicas starting together migrate once.
//!
//! The tables mirror the SQLite store's: records whole as JSON text in `record`, the other
//! columns there to be indexed, filtered on and constrained; times as microseconds.

use tokio_postgres::Client;

use super::sql::pg_error;
use crate::store::StoreError;

/// The advisory lock held while migrating and while bootstrapping an empty store.
pub const SCHEMA_LOCK: i64 = 0x7075_626c_6963_6170; // "publicap"

/// Migration `i` moves the schema from version `i` to `i + 1`. Append only; never edit a
/// migration that has shipped.
pub const MIGRATIONS: &[&str] = &[
    // 1: the same tables as version 1 of the SQLite store.
    r#"
    CREATE TABLE organizations (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        created_at BIGINT NOT NULL
    );

    CREATE TABLE api_keys (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        org_id TEXT NOT NULL REFERENCES organizations(id),
        name TEXT NOT NULL,
        prefix TEXT NOT NULL,
        secret_hash TEXT NOT NULL UNIQUE,
        created_at BIGINT NOT NULL,
        expires_at BIGINT,
        revoked_at BIGINT,
        last_used_at BIGINT,
        usage_count BIGINT NOT NULL DEFAULT 0
    );
    CREATE INDEX api_keys_by_org ON api_keys(org_id, seq);

    CREATE TABLE jobs (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        org_id TEXT NOT NULL REFERENCES organizations(id),
        external_id TEXT,
        status TEXT NOT NULL,
        updated_at BIGINT NOT NULL,
        record TEXT NOT NULL,
        UNIQUE (org_id, external_id)
    );
    CREATE INDEX jobs_by_org ON jobs(org_id, seq);

    CREATE TABLE candidates (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        org_id TEXT NOT NULL REFERENCES organizations(id),
        external_id TEXT,
        updated_at BIGINT NOT NULL,
        record TEXT NOT NULL,
        UNIQUE (org_id, external_id)
    );

    CREATE TABLE resumes (
        candidate_id TEXT PRIMARY KEY REFERENCES candidates(id),
        org_id TEXT NOT NULL,
        record TEXT NOT NULL
    );

    CREATE TABLE applications (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        org_id TEXT NOT NULL REFERENCES organizations(id),
        job_id TEXT NOT NULL REFERENCES jobs(id),
        candidate_id TEXT NOT NULL REFERENCES candidates(id),
        external_id TEXT,
        status TEXT NOT NULL,
        updated_at BIGINT NOT NULL,
        record TEXT NOT NULL,
        UNIQUE (org_id, external_id)
    );
    CREATE INDEX applications_by_org ON applications(org_id, seq);
    CREATE INDEX applications_by_job ON applications(org_id, job_id, seq);

    CREATE TABLE idempotency_keys (
        org_id TEXT NOT NULL,
        key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('running', 'done')),
        started_at BIGINT NOT NULL,
        status INTEGER,
        content_type TEXT,
        body BYTEA,
        PRIMARY KEY (org_id, key)
    );
    CREATE INDEX idempotency_keys_by_age ON idempotency_keys(started_at);

    CREATE TABLE call_results (
        application_id TEXT PRIMARY KEY REFERENCES applications(id),
        org_id TEXT NOT NULL,
        outcome TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        record TEXT NOT NULL
    );

    -- Events waiting to be delivered, written in the same transaction as the change that
    -- caused them. `payload` holds the exact bytes every delivery attempt sends.
    CREATE TABLE outbox (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        org_id TEXT NOT NULL REFERENCES organizations(id),
        type TEXT NOT NULL,
        application_id TEXT,
        created_at BIGINT NOT NULL,
        payload BYTEA NOT NULL
    );
    CREATE INDEX outbox_by_org ON outbox(org_id, seq);

    -- The interview of each application: when its next attempt is due and who is running it.
    -- Replicas claim due rows with a lease (FOR UPDATE SKIP LOCKED); an expired lease is
    -- claimed again by any replica.
    CREATE TABLE interviews (
        application_id TEXT PRIMARY KEY REFERENCES applications(id),
        org_id TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('scheduled', 'done')),
        attempts INTEGER NOT NULL DEFAULT 0,
        outcomes TEXT NOT NULL DEFAULT '[]',
        due_at BIGINT NOT NULL,
        lease_owner TEXT,
        lease_until BIGINT
    );
    CREATE INDEX interviews_due ON interviews(due_at) WHERE state = 'scheduled';

    CREATE TABLE webhook_endpoints (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        org_id TEXT NOT NULL REFERENCES organizations(id),
        enabled BOOLEAN NOT NULL,
        deleted BOOLEAN NOT NULL DEFAULT false,
        failing_since BIGINT,
        secrets TEXT NOT NULL,
        record TEXT NOT NULL
    );
    CREATE INDEX webhook_endpoints_by_org ON webhook_endpoints(org_id, seq);

    CREATE TABLE webhook_deliveries (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        org_id TEXT NOT NULL,
        endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints(id),
        event_id TEXT NOT NULL REFERENCES outbox(id),
        event_type TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at BIGINT,
        lease_owner TEXT,
        lease_until BIGINT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
    );
    CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at) WHERE status = 'pending';
    CREATE INDEX webhook_deliveries_by_org ON webhook_deliveries(org_id, seq);
    CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries(endpoint_id) WHERE status = 'pending';

    CREATE TABLE webhook_attempts (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        delivery_id TEXT NOT NULL REFERENCES webhook_deliveries(id),
        record TEXT NOT NULL
    );
    CREATE INDEX webhook_attempts_by_delivery ON webhook_attempts(delivery_id, seq);
    "#,
    // 2: the key that seals webhook signing secrets, named by a check value only it opens (one
    //    row at most); the `secrets` column of an endpoint then holds sealed values.
    r#"
    CREATE TABLE encryption (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        key_id TEXT NOT NULL,
        check_value TEXT NOT NULL
    );
    "#,
    // 3: what each API key may do, as space-separated scope names; NULL (every key made before
    //    scopes) means every scope.
    r#"
    ALTER TABLE api_keys ADD COLUMN scopes TEXT;
    "#,
    // 4: the audit log (who changed which key or endpoint, in the change's own transaction);
    //    and keys that held every scope before `audit:read` existed keep holding every scope.
    r#"
    CREATE TABLE audit_events (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        org_id TEXT NOT NULL REFERENCES organizations(id),
        action TEXT NOT NULL,
        object_id TEXT NOT NULL,
        occurred_at BIGINT NOT NULL,
        record TEXT NOT NULL
    );
    CREATE INDEX audit_events_by_org ON audit_events(org_id, seq);
    CREATE INDEX audit_events_by_object ON audit_events(org_id, object_id, seq);
    UPDATE api_keys SET scopes = scopes || ' audit:read'
    WHERE scopes = 'jobs:read jobs:write applications:read applications:write webhooks:read webhooks:write keys:read keys:write sandbox';
    "#,
];

/// The schema version this build writes.
pub fn latest_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// The schema version of the database (0 for a new, empty one).
pub async fn current_version(client: &impl tokio_postgres::GenericClient) -> Result<i64, StoreError> {
    let exists: bool =
        client.query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[]).await.map_err(pg_error)?.get(0);
    if !exists {
        return Ok(0);
    }
    let row = client.query_opt("SELECT version FROM schema_version", &[]).await.map_err(pg_error)?;
    Ok(row.map_or(0, |r| r.get(0)))
}

/// Applies every migration the database has not seen yet; refuses a database from a newer
/// build before writing anything.
pub async fn apply(client: &mut Client) -> Result<(), StoreError> {
    client.execute("SELECT pg_advisory_lock($1)", &[&SCHEMA_LOCK]).await.map_err(pg_error)?;
    let result = apply_locked(client).await;
    let unlocked = client.execute("SELECT pg_advisory_unlock($1)", &[&SCHEMA_LOCK]).await.map_err(pg_error);
    result.and(unlocked.map(|_| ()))
}

async fn apply_locked(client: &mut Client) -> Result<(), StoreError> {
    let found = current_version(client).await?;
    if found > latest_version() {
        return Err(StoreError::NewerSchema { found, supported: latest_version() });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = client.transaction().await.map_err(pg_error)?;
        if index == 0 {
            tx.batch_execute(
                "CREATE TABLE schema_version (version BIGINT NOT NULL); INSERT INTO schema_version VALUES (0);",
            )
            .await
            .map_err(pg_error)?;
        }
        tx.batch_execute(sql).await.map_err(pg_error)?;
        tx.execute("UPDATE schema_version SET version = $1", &[&(index as i64 + 1)]).await.map_err(pg_error)?;
        tx.commit().await.map_err(pg_error)?;
    }
    Ok(())
}
