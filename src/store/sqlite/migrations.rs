//! Versioned schema migrations. The schema version lives in SQLite's `user_version`; each
//! entry of [`MIGRATIONS`] moves it up by one, inside one transaction.
//!
//! Records are kept whole as JSON in a `record` column; the other columns exist to be indexed,
//! filtered on and constrained.

use rusqlite::Connection;

use crate::store::StoreError;

/// Migration `i` moves the schema from version `i` to `i + 1`. Append only; never edit a
/// migration that has shipped.
pub const MIGRATIONS: &[&str] = &[
    // 1: organisations, keys, the job cache, candidates, resumes, applications, idempotency,
    //    call results, the event outbox, interview scheduling and webhook delivery.
    r#"
    CREATE TABLE organizations (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        created_at INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE api_keys (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        org_id TEXT NOT NULL REFERENCES organizations(id),
        name TEXT NOT NULL,
        prefix TEXT NOT NULL,
        secret_hash TEXT NOT NULL UNIQUE,
        created_at INTEGER NOT NULL,
        expires_at INTEGER,
        revoked_at INTEGER,
        last_used_at INTEGER,
        usage_count INTEGER NOT NULL DEFAULT 0
    ) STRICT;
    CREATE INDEX api_keys_by_org ON api_keys(org_id, seq);

    CREATE TABLE jobs (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        org_id TEXT NOT NULL REFERENCES organizations(id),
        external_id TEXT,
        status TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        record TEXT NOT NULL,
        UNIQUE (org_id, external_id)
    ) STRICT;
    CREATE INDEX jobs_by_org ON jobs(org_id, seq);

    CREATE TABLE candidates (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        org_id TEXT NOT NULL REFERENCES organizations(id),
        external_id TEXT,
        updated_at INTEGER NOT NULL,
        record TEXT NOT NULL,
        UNIQUE (org_id, external_id)
    ) STRICT;

    CREATE TABLE resumes (
        candidate_id TEXT PRIMARY KEY REFERENCES candidates(id),
        org_id TEXT NOT NULL,
        record TEXT NOT NULL
    ) STRICT;

    CREATE TABLE applications (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        org_id TEXT NOT NULL REFERENCES organizations(id),
        job_id TEXT NOT NULL REFERENCES jobs(id),
        candidate_id TEXT NOT NULL REFERENCES candidates(id),
        external_id TEXT,
        status TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        record TEXT NOT NULL,
        UNIQUE (org_id, external_id)
    ) STRICT;
    CREATE INDEX applications_by_org ON applications(org_id, seq);
    CREATE INDEX applications_by_job ON applications(org_id, job_id, seq);

    CREATE TABLE idempotency_keys (
        org_id TEXT NOT NULL,
        key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('running', 'done')),
        started_at INTEGER NOT NULL,
        status INTEGER,
        content_type TEXT,
        body BLOB,
        PRIMARY KEY (org_id, key)
    ) STRICT;
    CREATE INDEX idempotency_keys_by_age ON idempotency_keys(started_at);

    CREATE TABLE call_results (
        application_id TEXT PRIMARY KEY REFERENCES applications(id),
        org_id TEXT NOT NULL,
        outcome TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        record TEXT NOT NULL
    ) STRICT;

    -- Events waiting to be delivered, written in the same transaction as the change that
    -- caused them. `payload` holds the exact bytes every delivery attempt sends.
    CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        org_id TEXT NOT NULL REFERENCES organizations(id),
        type TEXT NOT NULL,
        application_id TEXT,
        created_at INTEGER NOT NULL,
        payload BLOB NOT NULL
    ) STRICT;
    CREATE INDEX outbox_by_org ON outbox(org_id, seq);

    -- The interview of each application: when its next attempt is due and who is running it.
    -- Work is claimed with a lease, so a crashed process's work is picked up again.
    CREATE TABLE interviews (
        application_id TEXT PRIMARY KEY REFERENCES applications(id),
        org_id TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('scheduled', 'done')),
        attempts INTEGER NOT NULL DEFAULT 0,
        outcomes TEXT NOT NULL DEFAULT '[]',
        due_at INTEGER NOT NULL,
        lease_owner TEXT,
        lease_until INTEGER
    ) STRICT;
    CREATE INDEX interviews_due ON interviews(state, due_at);

    -- Webhook endpoints. `secrets` is a JSON list, current secret first; `failing_since` is
    -- when deliveries to the endpoint started failing without a success since.
    CREATE TABLE webhook_endpoints (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        org_id TEXT NOT NULL REFERENCES organizations(id),
        enabled INTEGER NOT NULL,
        deleted INTEGER NOT NULL DEFAULT 0,
        failing_since INTEGER,
        secrets TEXT NOT NULL,
        record TEXT NOT NULL
    ) STRICT;
    CREATE INDEX webhook_endpoints_by_org ON webhook_endpoints(org_id, seq);

    -- One row per (event, endpoint), made in the same transaction as the event.
    CREATE TABLE webhook_deliveries (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        org_id TEXT NOT NULL,
        endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints(id),
        event_id TEXT NOT NULL REFERENCES outbox(id),
        event_type TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER,
        lease_owner TEXT,
        lease_until INTEGER,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX webhook_deliveries_due ON webhook_deliveries(status, next_attempt_at);
    CREATE INDEX webhook_deliveries_by_org ON webhook_deliveries(org_id, seq);

    CREATE TABLE webhook_attempts (
        seq INTEGER PRIMARY KEY,
        delivery_id TEXT NOT NULL REFERENCES webhook_deliveries(id),
        record TEXT NOT NULL
    ) STRICT;
    CREATE INDEX webhook_attempts_by_delivery ON webhook_attempts(delivery_id, seq);
    "#,
    // 2: the key that seals webhook signing secrets, named by a check value only it opens (one
    //    row at most); the `secrets` column of an endpoint then holds sealed values.
    r#"
    CREATE TABLE encryption (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        key_id TEXT NOT NULL,
        check_value TEXT NOT NULL
    ) STRICT;
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
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        org_id TEXT NOT NULL REFERENCES organizations(id),
        action TEXT NOT NULL,
        object_id TEXT NOT NULL,
        occurred_at INTEGER NOT NULL,
        record TEXT NOT NULL
    ) STRICT;
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

/// The schema version of an open database (0 for a new, empty one).
pub fn current_version(conn: &Connection) -> Result<i64, rusqlite::Error> {
    conn.query_row("PRAGMA user_version", [], |row| row.get(0))
}

/// Refuses a database from a newer build before anything is written to it.
pub fn check_not_newer(conn: &Connection) -> Result<i64, StoreError> {
    let found = current_version(conn)?;
    if found > latest_version() {
        return Err(StoreError::NewerSchema { found, supported: latest_version() });
    }
    Ok(found)
}

/// Applies every migration the database has not seen yet.
pub fn apply(conn: &mut Connection) -> Result<(), StoreError> {
    let found = check_not_newer(conn)?;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)?;
        // Another process may have migrated while this one waited for the lock.
        if current_version(&tx)? > index as i64 {
            continue;
        }
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}
