//! The PostgreSQL store, for several `public-api serve` replicas sharing one database.
//!
//! Each operation is one transaction on a pooled connection (tokio-postgres + deadpool), at READ
//! COMMITTED, committed durably (PostgreSQL's default `synchronous_commit = on`). Where the
//! SQLite store relies on its single writer, this one takes row locks (`SELECT … FOR UPDATE`) or
//! transaction-scoped advisory locks on the natural key (an upsert's `external_id`), so
//! concurrent replicas make the same decisions one at a time. Background work is claimed with
//! `FOR UPDATE SKIP LOCKED` and a lease; an expired lease is claimed again by any replica.
//! The decisions themselves come from [`super::rules`], shared with the SQLite store.

pub mod migrations;
mod webhooks;

use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use jiff::{SignedDuration, Timestamp};
use serde::de::DeserializeOwned;
use tokio_postgres::types::ToSql;
use tokio_postgres::{IsolationLevel, NoTls, Row};

use super::encoding::{self, from_json, from_micros, micros, opt_from_micros, to_json};
use super::rules::{self, ScheduleChange};
use super::webhooks::{
    AttemptOutcome, DeliveryQuery, DeliveryTarget, DeliveryTask, EndpointPatch, NewEndpoint, WebhookStats,
};
use super::{
    ApplicationQuery, Export, ExportedKey, ExportedRecord, ExportedResult, IdempotencyBegin, IdempotencyClaim,
    InterviewStep, InterviewTask, JobQuery, KeyUsage, NewApiKey, NewApplication, Rejection, Store, StoreError,
    StoredResponse, Upserted,
};
use crate::domain::events::OutboxEvent;
use crate::domain::ids::IdKind;
use crate::domain::results::{CallOutcome, CallResults};
use crate::domain::webhooks::{DeliveryAttempt, WebhookDelivery, WebhookEndpoint};
use crate::domain::{
    ApiKey, Application, ApplicationStatus, Candidate, Job, JobFields, JobPatch, Organization, Page, Resume,
};

/// Statement parameters.
type Params<'a> = [&'a (dyn ToSql + Sync)];

/// Connections per process: enough for the request handlers and the background loops to
/// overlap; several replicas together must stay under the server's `max_connections`.
const POOL_SIZE: usize = 16;

/// The PostgreSQL store.
pub struct PostgresStore {
    pool: Pool,
}

/// A driver error, with PostgreSQL's own message and code when the server sent one.
pub(crate) fn pg_error(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) => StoreError::Database(format!("{} (SQLSTATE {})", db.message(), db.code().code())),
        // The driver's own text is terse ("error connecting to server"); the cause says why.
        None => match std::error::Error::source(&e) {
            Some(cause) => StoreError::Database(format!("{e}: {cause}")),
            None => StoreError::Database(e.to_string()),
        },
    }
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user@host:port/db?options=…`), checks the schema version
    /// and applies missing migrations.
    pub async fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        let config: tokio_postgres::Config =
            url.parse().map_err(|e| StoreError::BadDatabaseUrl(format!("{}: {e}", redact_url(url))))?;
        let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .wait_timeout(Some(Duration::from_secs(30)))
            .create_timeout(Some(Duration::from_secs(10)))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Internal(format!("connection pool: {e}")))?;
        let store = PostgresStore { pool };
        let mut client = store.client().await.map_err(|e| match e {
            StoreError::Database(reason) => StoreError::Unreachable { url: redact_url(url), reason },
            other => other,
        })?;
        migrations::apply(&mut client).await?;
        Ok(store)
    }

    async fn client(&self) -> Result<Object, StoreError> {
        self.pool.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(e) => pg_error(e),
            other => StoreError::Database(format!("no database connection: {other}")),
        })
    }

    /// One record by a query yielding a single `record` column.
    async fn read_one<T: DeserializeOwned>(&self, sql: &str, params: &Params<'_>) -> Result<Option<T>, StoreError> {
        let client = self.client().await?;
        record(&client, sql, params).await
    }

    async fn page<T: DeserializeOwned>(
        &self,
        sql: &str,
        params: &Params<'_>,
        limit: u32,
    ) -> Result<Page<T>, StoreError> {
        let client = self.client().await?;
        let rows = query(&client, sql, params).await?;
        let rows = rows
            .iter()
            .map(|r| Ok((r.get::<_, i64>(0), from_json(r.get::<_, &str>(1))?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(encoding::page_of(rows, limit))
    }
}

/// The URL without its password, for messages.
pub(crate) fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

pub(crate) async fn query(c: &impl GenericClient, sql: &str, params: &Params<'_>) -> Result<Vec<Row>, StoreError> {
    let stmt = c.prepare_cached(sql).await.map_err(pg_error)?;
    c.query(&stmt, params).await.map_err(pg_error)
}

pub(crate) async fn query_opt(
    c: &impl GenericClient,
    sql: &str,
    params: &Params<'_>,
) -> Result<Option<Row>, StoreError> {
    let stmt = c.prepare_cached(sql).await.map_err(pg_error)?;
    c.query_opt(&stmt, params).await.map_err(pg_error)
}

pub(crate) async fn execute(c: &impl GenericClient, sql: &str, params: &Params<'_>) -> Result<u64, StoreError> {
    let stmt = c.prepare_cached(sql).await.map_err(pg_error)?;
    c.execute(&stmt, params).await.map_err(pg_error)
}

/// One record by a query that yields a single `record` column.
pub(crate) async fn record<T: DeserializeOwned>(
    c: &impl GenericClient,
    sql: &str,
    params: &Params<'_>,
) -> Result<Option<T>, StoreError> {
    query_opt(c, sql, params).await?.map(|r| from_json(r.get::<_, &str>(0))).transpose()
}

/// Holds a transaction-scoped lock on a natural key (an `external_id`, say), so that two
/// replicas upserting the same key take turns.
async fn lock_key(c: &impl GenericClient, key: &str) -> Result<(), StoreError> {
    execute(c, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", &[&key]).await.map(|_| ())
}

const KEY_COLUMNS: &str = "id, org_id, name, prefix, created_at, expires_at, revoked_at, last_used_at, usage_count";

fn key_from_row(row: &Row) -> Result<ApiKey, StoreError> {
    Ok(ApiKey {
        id: row.get(0),
        org_id: row.get(1),
        name: row.get(2),
        prefix: row.get(3),
        created_at: from_micros(row.get(4))?,
        expires_at: opt_from_micros(row.get(5))?,
        revoked_at: opt_from_micros(row.get(6))?,
        last_used_at: opt_from_micros(row.get(7))?,
        usage_count: row.get::<_, i64>(8).max(0) as u64,
    })
}

fn organization_from_row(row: &Row) -> Result<Organization, StoreError> {
    Ok(Organization { id: row.get(0), name: row.get(1), created_at: from_micros(row.get(2))? })
}

fn interview_from_row(
    org_id: String,
    application_id: String,
    attempts: i32,
    outcomes: &str,
    due_at: i64,
) -> Result<InterviewTask, StoreError> {
    Ok(InterviewTask {
        org_id,
        application_id,
        attempts: attempts.max(0) as u32,
        outcomes: from_json(outcomes)?,
        due_at: from_micros(due_at)?,
    })
}

async fn insert_job(c: &impl GenericClient, org_id: &str, job: &Job) -> Result<(), StoreError> {
    execute(
        c,
        "INSERT INTO jobs (id, org_id, external_id, status, updated_at, record) VALUES ($1, $2, $3, $4, $5, $6)",
        &[&job.id, &org_id, &job.external_id, &job.status.as_str(), &micros(job.updated_at), &to_json(job)?],
    )
    .await
    .map(|_| ())
}

async fn save_job(c: &impl GenericClient, org_id: &str, job: &Job) -> Result<(), StoreError> {
    execute(
        c,
        "UPDATE jobs SET status = $3, updated_at = $4, record = $5 WHERE org_id = $1 AND id = $2",
        &[&org_id, &job.id, &job.status.as_str(), &micros(job.updated_at), &to_json(job)?],
    )
    .await
    .map(|_| ())
}

async fn save_application(c: &impl GenericClient, org_id: &str, app: &Application) -> Result<(), StoreError> {
    execute(
        c,
        "UPDATE applications SET status = $3, updated_at = $4, record = $5 WHERE org_id = $1 AND id = $2",
        &[&org_id, &app.id, &app.status.as_str(), &micros(app.updated_at), &to_json(app)?],
    )
    .await
    .map(|_| ())
}

/// An application, locked for the rest of the transaction.
async fn lock_application(c: &impl GenericClient, org_id: &str, id: &str) -> Result<Option<Application>, StoreError> {
    record(c, "SELECT record FROM applications WHERE org_id = $1 AND id = $2 FOR UPDATE", &[&org_id, &id]).await
}

async fn finish_interview(c: &impl GenericClient, application_id: &str) -> Result<(), StoreError> {
    execute(
        c,
        "UPDATE interviews SET state = 'done', lease_owner = NULL, lease_until = NULL WHERE application_id = $1",
        &[&application_id],
    )
    .await
    .map(|_| ())
}

async fn insert_outbox(c: &impl GenericClient, org_id: &str, event: &OutboxEvent) -> Result<(), StoreError> {
    execute(
        c,
        "INSERT INTO outbox (id, org_id, type, application_id, created_at, payload) VALUES ($1, $2, $3, $4, $5, $6)",
        &[&event.id, &org_id, &event.event_type, &event.application_id, &micros(event.created_at), &event.payload],
    )
    .await?;
    // Deliveries are made in the same transaction as the event, so none is ever missing.
    webhooks::fan_out(c, org_id, event).await
}

/// The job and candidate of an application, for event payloads.
async fn job_and_candidate(
    c: &impl GenericClient,
    org_id: &str,
    app: &Application,
) -> Result<(Job, Candidate), StoreError> {
    let job: Job = record(c, "SELECT record FROM jobs WHERE org_id = $1 AND id = $2", &[&org_id, &app.job_id])
        .await?
        .ok_or_else(|| StoreError::Internal(format!("application {} refers to a missing job", app.id)))?;
    let candidate: Candidate =
        record(c, "SELECT record FROM candidates WHERE org_id = $1 AND id = $2", &[&org_id, &app.candidate_id])
            .await?
            .ok_or_else(|| StoreError::Internal(format!("application {} refers to a missing candidate", app.id)))?;
    Ok((job, candidate))
}

async fn queue_status_changed(
    c: &impl GenericClient,
    org_id: &str,
    app: &Application,
    previous: ApplicationStatus,
    now: Timestamp,
) -> Result<(), StoreError> {
    let (job, candidate) = job_and_candidate(c, org_id, app).await?;
    insert_outbox(c, org_id, &rules::status_changed_event(app, previous, &job, &candidate, now)?).await
}

async fn create_application_in(
    c: &impl GenericClient,
    org_id: &str,
    new: NewApplication,
    now: Timestamp,
) -> Result<(Application, Upserted), StoreError> {
    // Natural keys first, always in this order, then the job: a close of the job waits for
    // this application, or this application sees the job closed.
    if let Some(external_id) = &new.external_id {
        lock_key(c, &format!("{org_id}/application/{external_id}")).await?;
    }
    if let Some(external_id) = &new.candidate.external_id {
        lock_key(c, &format!("{org_id}/candidate/{external_id}")).await?;
    }
    let job: Job =
        record(c, "SELECT record FROM jobs WHERE org_id = $1 AND id = $2 FOR SHARE", &[&org_id, &new.job_id])
            .await?
            .ok_or_else(|| Rejection::JobNotFound(new.job_id.clone()))?;

    if let Some(external_id) = &new.external_id {
        let existing: Option<Application> = record(
            c,
            "SELECT record FROM applications WHERE org_id = $1 AND external_id = $2",
            &[&org_id, external_id],
        )
        .await?;
        if let Some(app) = existing {
            return Ok((rules::reuse_application(app, &job, external_id)?, Upserted::Existing));
        }
    }
    rules::check_job_open(&job)?;

    let existing: Option<Candidate> = match &new.candidate.external_id {
        Some(external_id) => {
            record(c, "SELECT record FROM candidates WHERE org_id = $1 AND external_id = $2", &[&org_id, external_id])
                .await?
        }
        None => None,
    };
    let (candidate, created) = rules::merge_candidate(
        existing,
        new.candidate.clone(),
        new.resume.is_some(),
        || IdKind::Candidate.new_id(),
        now,
    );
    if created {
        execute(
            c,
            "INSERT INTO candidates (id, org_id, external_id, updated_at, record) VALUES ($1, $2, $3, $4, $5)",
            &[&candidate.id, &org_id, &candidate.external_id, &micros(now), &to_json(&candidate)?],
        )
        .await?;
    } else {
        execute(
            c,
            "UPDATE candidates SET updated_at = $3, record = $4 WHERE org_id = $1 AND id = $2",
            &[&org_id, &candidate.id, &micros(candidate.updated_at), &to_json(&candidate)?],
        )
        .await?;
    }
    if let Some(content) = new.resume.clone() {
        let resume = Resume { candidate_id: candidate.id.clone(), content, received_at: now };
        execute(
            c,
            "INSERT INTO resumes (candidate_id, org_id, record) VALUES ($1, $2, $3)
             ON CONFLICT (candidate_id) DO UPDATE SET record = excluded.record",
            &[&candidate.id, &org_id, &to_json(&resume)?],
        )
        .await?;
    }

    let app = rules::new_application(IdKind::Application.new_id(), &new, &job, &candidate, now);
    execute(
        c,
        "INSERT INTO applications (id, org_id, job_id, candidate_id, external_id, status, updated_at, record)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            &app.id,
            &org_id,
            &app.job_id,
            &app.candidate_id,
            &app.external_id,
            &app.status.as_str(),
            &micros(now),
            &to_json(&app)?,
        ],
    )
    .await?;
    execute(
        c,
        "INSERT INTO interviews (application_id, org_id, state, due_at) VALUES ($1, $2, 'scheduled', $3)",
        &[&app.id, &org_id, &micros(new.interview_due_at)],
    )
    .await?;
    Ok((app, Upserted::Created))
}

async fn advance_interview_in(
    c: &impl GenericClient,
    org_id: &str,
    application_id: &str,
    owner: &str,
    step: InterviewStep,
    now: Timestamp,
) -> Result<Option<Application>, StoreError> {
    let Some(mut app) = lock_application(c, org_id, application_id).await? else {
        return Ok(None);
    };
    if app.status.is_final() {
        finish_interview(c, &app.id).await?;
        return Ok(None);
    }
    // Locked, so that no other engine claims the interview while this step is applied.
    let row = query_opt(
        c,
        "SELECT attempts, outcomes, lease_owner FROM interviews WHERE application_id = $1 FOR UPDATE",
        &[&app.id],
    )
    .await?;
    let (attempts, outcomes, lease_owner): (u32, Vec<CallOutcome>, Option<String>) = match row {
        Some(r) => (r.get::<_, i32>(0).max(0) as u32, from_json(r.get::<_, &str>(1))?, r.get(2)),
        None => (0, Vec::new(), None),
    };
    if rules::lease_lost(lease_owner.as_deref(), owner) {
        return Ok(None);
    }
    let previous = app.status;
    match rules::apply_step(&mut app, attempts, outcomes, step, now) {
        ScheduleChange::Attempt(attempt) => {
            execute(c, "UPDATE interviews SET attempts = $2 WHERE application_id = $1", &[&app.id, &(attempt as i32)])
                .await?;
        }
        ScheduleChange::None => {}
        ScheduleChange::Retry { outcomes, due_at } => {
            execute(
                c,
                "UPDATE interviews SET outcomes = $2, due_at = $3, lease_owner = NULL, lease_until = NULL
                 WHERE application_id = $1",
                &[&app.id, &to_json(&outcomes)?, &micros(due_at)],
            )
            .await?;
        }
    }
    save_application(c, org_id, &app).await?;
    queue_status_changed(c, org_id, &app, previous, now).await?;
    Ok(Some(app))
}

async fn record_call_results_in(
    c: &impl GenericClient,
    org_id: &str,
    application_id: &str,
    results: CallResults,
    now: Timestamp,
) -> Result<Option<Application>, StoreError> {
    let Some(mut app) = lock_application(c, org_id, application_id).await? else {
        return Ok(None);
    };
    let (previous, outcome) = rules::finish_with_results(&mut app, &results, now)?;
    save_application(c, org_id, &app).await?;
    finish_interview(c, &app.id).await?;
    execute(
        c,
        "INSERT INTO call_results (application_id, org_id, outcome, created_at, record) VALUES ($1, $2, $3, $4, $5)",
        &[&app.id, &org_id, &outcome, &micros(now), &to_json(&results)?],
    )
    .await?;
    let (job, candidate) = job_and_candidate(c, org_id, &app).await?;
    for event in rules::result_events(&app, previous, &job, &candidate, results, now)? {
        insert_outbox(c, org_id, &event).await?;
    }
    Ok(Some(app))
}

async fn idempotency_begin_in(
    c: &impl GenericClient,
    claim: &IdempotencyClaim,
) -> Result<IdempotencyBegin, StoreError> {
    // Forget expired keys a few at a time, so the table stays small without a sweeper task.
    execute(
        c,
        "DELETE FROM idempotency_keys WHERE ctid IN
         (SELECT ctid FROM idempotency_keys WHERE started_at <= $1 ORDER BY started_at LIMIT 16 FOR UPDATE SKIP LOCKED)",
        &[&micros(rules::idempotency_expiry(claim))],
    )
    .await?;
    // A concurrent first use of the same key (on any replica) waits here for the other to
    // commit, then finds its row.
    let inserted = execute(
        c,
        "INSERT INTO idempotency_keys (org_id, key, fingerprint, state, started_at) VALUES ($1, $2, $3, 'running', $4)
         ON CONFLICT (org_id, key) DO NOTHING",
        &[&claim.org_id, &claim.key, &claim.fingerprint, &micros(claim.now)],
    )
    .await?;
    if inserted == 1 {
        return Ok(IdempotencyBegin::Proceed);
    }
    let row = query_opt(
        c,
        "SELECT fingerprint, state, started_at, status, content_type, body
         FROM idempotency_keys WHERE org_id = $1 AND key = $2 FOR UPDATE",
        &[&claim.org_id, &claim.key],
    )
    .await?
    .ok_or_else(|| StoreError::Database("the idempotency key was released while it was claimed; retry".into()))?;
    let stored = rules::StoredKey {
        fingerprint: row.get(0),
        done: row.get::<_, &str>(1) == "done",
        started_at: from_micros(row.get(2))?,
        response: StoredResponse {
            status: row.get::<_, Option<i32>>(3).and_then(|s| u16::try_from(s).ok()).unwrap_or(200),
            content_type: row.get(4),
            body: row.get::<_, Option<Vec<u8>>>(5).unwrap_or_default(),
        },
    };
    let (decision, take_over) = rules::idempotency_decision(stored, claim);
    if take_over {
        execute(
            c,
            "UPDATE idempotency_keys SET started_at = $3 WHERE org_id = $1 AND key = $2",
            &[&claim.org_id, &claim.key, &micros(claim.now)],
        )
        .await?;
    }
    Ok(decision)
}

/// Every row of `table` with its organisation, for `export`.
async fn all_records<T: DeserializeOwned>(
    c: &impl GenericClient,
    table: &str,
    order: &str,
) -> Result<Vec<ExportedRecord<T>>, StoreError> {
    let rows = c.query(&format!("SELECT org_id, record FROM {table} ORDER BY {order}"), &[]).await.map_err(pg_error)?;
    rows.iter()
        .map(|r| Ok(ExportedRecord { organization_id: r.get(0), record: from_json(r.get::<_, &str>(1))? }))
        .collect()
}

/// Runs `$body` in a transaction on a pooled connection and commits it; the transaction is
/// rolled back when the body fails (or the task is cancelled) before the commit.
macro_rules! in_transaction {
    ($store:expr, |$tx:ident| $body:expr) => {{
        let mut client = $store.client().await?;
        let $tx = client.transaction().await.map_err(pg_error)?;
        let value = $body;
        $tx.commit().await.map_err(pg_error)?;
        Ok(value)
    }};
}

#[async_trait]
impl Store for PostgresStore {
    fn is_exclusive(&self) -> bool {
        false
    }

    fn close(&self) {
        self.pool.close();
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let client = self.client().await?;
        query_opt(&client, "SELECT 1 FROM organizations LIMIT 1", &[]).await.map(|_| ())
    }

    async fn create_organization(&self, id: String, name: String, now: Timestamp) -> Result<Organization, StoreError> {
        let client = self.client().await?;
        execute(
            &client,
            "INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3)",
            &[&id, &name, &micros(now)],
        )
        .await?;
        Ok(Organization { id, name, created_at: now })
    }

    async fn create_first_organization(
        &self,
        id: String,
        name: String,
        now: Timestamp,
    ) -> Result<Option<Organization>, StoreError> {
        in_transaction!(self, |tx| {
            // Replicas starting together on an empty database make one organisation, not one each.
            execute(&tx, "SELECT pg_advisory_xact_lock($1)", &[&migrations::SCHEMA_LOCK]).await?;
            let inserted = execute(
                &tx,
                "INSERT INTO organizations (id, name, created_at)
                 SELECT $1, $2, $3 WHERE NOT EXISTS (SELECT 1 FROM organizations)",
                &[&id, &name, &micros(now)],
            )
            .await?;
            (inserted == 1).then_some(Organization { id, name, created_at: now })
        })
    }

    async fn list_organizations(&self) -> Result<Vec<Organization>, StoreError> {
        let client = self.client().await?;
        let rows = query(&client, "SELECT id, name, created_at FROM organizations ORDER BY seq", &[]).await?;
        rows.iter().map(organization_from_row).collect()
    }

    async fn get_organization(&self, id: &str) -> Result<Option<Organization>, StoreError> {
        let client = self.client().await?;
        let row = query_opt(&client, "SELECT id, name, created_at FROM organizations WHERE id = $1", &[&id]).await?;
        row.as_ref().map(organization_from_row).transpose()
    }

    async fn create_api_key(&self, key: NewApiKey) -> Result<ApiKey, StoreError> {
        let client = self.client().await?;
        execute(
            &client,
            "INSERT INTO api_keys (id, org_id, name, prefix, secret_hash, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &key.id,
                &key.org_id,
                &key.name,
                &key.prefix,
                &key.secret_hash,
                &micros(key.created_at),
                &key.expires_at.map(micros),
            ],
        )
        .await?;
        Ok(key.issued())
    }

    async fn list_api_keys(&self, org_id: &str) -> Result<Vec<ApiKey>, StoreError> {
        let client = self.client().await?;
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE org_id = $1 ORDER BY seq");
        query(&client, &sql, &[&org_id]).await?.iter().map(key_from_row).collect()
    }

    async fn find_api_key(&self, secret_hash: &str) -> Result<Option<ApiKey>, StoreError> {
        let client = self.client().await?;
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE secret_hash = $1");
        query_opt(&client, &sql, &[&secret_hash]).await?.as_ref().map(key_from_row).transpose()
    }

    async fn revoke_api_key(&self, org_id: &str, key_id: &str, now: Timestamp) -> Result<Option<ApiKey>, StoreError> {
        let client = self.client().await?;
        let sql = format!(
            "UPDATE api_keys SET revoked_at = coalesce(revoked_at, $3) WHERE org_id = $1 AND id = $2
             RETURNING {KEY_COLUMNS}"
        );
        query_opt(&client, &sql, &[&org_id, &key_id, &micros(now)]).await?.as_ref().map(key_from_row).transpose()
    }

    async fn record_key_usage(&self, usage: Vec<KeyUsage>) -> Result<(), StoreError> {
        if usage.is_empty() {
            return Ok(());
        }
        in_transaction!(self, |tx| {
            for u in &usage {
                execute(
                    &tx,
                    "UPDATE api_keys SET usage_count = usage_count + $2,
                     last_used_at = greatest(coalesce(last_used_at, 0), $3) WHERE id = $1",
                    &[&u.key_id, &(u.uses as i64), &micros(u.last_used_at)],
                )
                .await?;
            }
        })
    }

    async fn upsert_job(&self, org_id: &str, fields: JobFields, now: Timestamp) -> Result<(Job, Upserted), StoreError> {
        in_transaction!(self, |tx| {
            let mut upserted = None;
            if let Some(external_id) = &fields.external_id {
                lock_key(&tx, &format!("{org_id}/job/{external_id}")).await?;
                let existing: Option<Job> = record(
                    &tx,
                    "SELECT record FROM jobs WHERE org_id = $1 AND external_id = $2 FOR UPDATE",
                    &[&org_id, external_id],
                )
                .await?;
                if let Some(mut job) = existing {
                    let before = job.clone();
                    fields.clone().replace(&mut job, now);
                    if rules::same_content(&before, &job) {
                        upserted = Some((before, Upserted::Existing));
                    } else {
                        save_job(&tx, org_id, &job).await?;
                        upserted = Some((job, Upserted::Existing));
                    }
                }
            }
            match upserted {
                Some(done) => done,
                None => {
                    let job = fields.into_job(IdKind::Job.new_id(), now);
                    insert_job(&tx, org_id, &job).await?;
                    (job, Upserted::Created)
                }
            }
        })
    }

    async fn get_job(&self, org_id: &str, job_id: &str) -> Result<Option<Job>, StoreError> {
        self.read_one("SELECT record FROM jobs WHERE org_id = $1 AND id = $2", &[&org_id, &job_id]).await
    }

    async fn find_job_by_external_id(&self, org_id: &str, external_id: &str) -> Result<Option<Job>, StoreError> {
        self.read_one("SELECT record FROM jobs WHERE org_id = $1 AND external_id = $2", &[&org_id, &external_id]).await
    }

    async fn update_job(
        &self,
        org_id: &str,
        job_id: &str,
        patch: JobPatch,
        now: Timestamp,
    ) -> Result<Option<Job>, StoreError> {
        in_transaction!(self, |tx| {
            let job: Option<Job> =
                record(&tx, "SELECT record FROM jobs WHERE org_id = $1 AND id = $2 FOR UPDATE", &[&org_id, &job_id])
                    .await?;
            match job {
                Some(mut job) => {
                    if patch.apply(&mut job, now) {
                        save_job(&tx, org_id, &job).await?;
                    }
                    Some(job)
                }
                None => None,
            }
        })
    }

    async fn list_jobs(&self, org_id: &str, query: JobQuery) -> Result<Page<Job>, StoreError> {
        self.page(
            "SELECT seq, record FROM jobs
             WHERE org_id = $1 AND seq > $2
               AND ($3::bigint IS NULL OR updated_at > $3)
               AND ($4::text IS NULL OR status = $4)
             ORDER BY seq LIMIT $5",
            &[
                &org_id,
                &query.after.map_or(0, |c| c.after_seq),
                &query.updated_after.map(micros),
                &query.status.map(|s| s.as_str()),
                &(i64::from(query.limit) + 1),
            ],
            query.limit,
        )
        .await
    }

    async fn create_application(
        &self,
        org_id: &str,
        new: NewApplication,
        now: Timestamp,
    ) -> Result<(Application, Upserted), StoreError> {
        in_transaction!(self, |tx| create_application_in(&tx, org_id, new, now).await?)
    }

    async fn get_application(&self, org_id: &str, application_id: &str) -> Result<Option<Application>, StoreError> {
        self.read_one("SELECT record FROM applications WHERE org_id = $1 AND id = $2", &[&org_id, &application_id])
            .await
    }

    async fn list_applications(&self, org_id: &str, query: ApplicationQuery) -> Result<Page<Application>, StoreError> {
        self.page(
            "SELECT seq, record FROM applications
             WHERE org_id = $1 AND seq > $2
               AND ($3::bigint IS NULL OR updated_at > $3)
               AND ($4::text IS NULL OR job_id = $4)
               AND ($5::text IS NULL OR status = $5)
             ORDER BY seq LIMIT $6",
            &[
                &org_id,
                &query.after.map_or(0, |c| c.after_seq),
                &query.updated_after.map(micros),
                &query.job_id,
                &query.status.map(|s| s.as_str()),
                &(i64::from(query.limit) + 1),
            ],
            query.limit,
        )
        .await
    }

    async fn cancel_application(
        &self,
        org_id: &str,
        application_id: &str,
        reason: String,
        now: Timestamp,
    ) -> Result<Option<Application>, StoreError> {
        in_transaction!(self, |tx| {
            match lock_application(&tx, org_id, application_id).await? {
                None => None,
                Some(mut app) => {
                    if let Some(previous) = rules::cancel(&mut app, reason, now)? {
                        save_application(&tx, org_id, &app).await?;
                        finish_interview(&tx, &app.id).await?;
                        queue_status_changed(&tx, org_id, &app, previous, now).await?;
                    }
                    Some(app)
                }
            }
        })
    }

    async fn record_call_results(
        &self,
        org_id: &str,
        application_id: &str,
        results: CallResults,
        now: Timestamp,
    ) -> Result<Option<Application>, StoreError> {
        in_transaction!(self, |tx| record_call_results_in(&tx, org_id, application_id, results, now).await?)
    }

    async fn claim_interviews(
        &self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<InterviewTask>, StoreError> {
        let client = self.client().await?;
        let rows = query(
            &client,
            "UPDATE interviews SET lease_owner = $1, lease_until = $2
             WHERE application_id IN (
                SELECT application_id FROM interviews
                WHERE state = 'scheduled' AND due_at <= $3 AND (lease_until IS NULL OR lease_until <= $3)
                ORDER BY due_at LIMIT $4 FOR UPDATE SKIP LOCKED)
             RETURNING org_id, application_id, attempts, outcomes, due_at",
            &[&owner, &micros(lease_until), &micros(now), &i64::from(limit)],
        )
        .await?;
        let mut tasks = rows
            .iter()
            .map(|r| interview_from_row(r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        tasks.sort_by_key(|t| t.due_at);
        Ok(tasks)
    }

    async fn claim_interview(
        &self,
        org_id: &str,
        application_id: &str,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Option<InterviewTask>, StoreError> {
        let client = self.client().await?;
        let row = query_opt(
            &client,
            "UPDATE interviews SET lease_owner = $3, lease_until = $4
             WHERE org_id = $1 AND application_id = $2 AND state = 'scheduled'
               AND (lease_until IS NULL OR lease_until <= $5 OR lease_owner = $3)
             RETURNING attempts, outcomes, due_at",
            &[&org_id, &application_id, &owner, &micros(lease_until), &micros(now)],
        )
        .await?;
        row.map(|r| interview_from_row(org_id.to_owned(), application_id.to_owned(), r.get(0), r.get(1), r.get(2)))
            .transpose()
    }

    async fn release_leases(&self) -> Result<(), StoreError> {
        in_transaction!(self, |tx| {
            execute(&tx, "UPDATE interviews SET lease_owner = NULL, lease_until = NULL WHERE state = 'scheduled'", &[])
                .await?;
            execute(
                &tx,
                "UPDATE webhook_deliveries SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL",
                &[],
            )
            .await?;
        })
    }

    async fn advance_interview(
        &self,
        org_id: &str,
        application_id: &str,
        owner: &str,
        step: InterviewStep,
        now: Timestamp,
    ) -> Result<Option<Application>, StoreError> {
        in_transaction!(self, |tx| advance_interview_in(&tx, org_id, application_id, owner, step, now).await?)
    }

    async fn get_call_results(&self, org_id: &str, application_id: &str) -> Result<Option<CallResults>, StoreError> {
        self.read_one(
            "SELECT record FROM call_results WHERE org_id = $1 AND application_id = $2",
            &[&org_id, &application_id],
        )
        .await
    }

    async fn list_outbox(
        &self,
        org_id: &str,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<(i64, OutboxEvent)>, StoreError> {
        let client = self.client().await?;
        let rows = query(
            &client,
            "SELECT seq, id, type, application_id, created_at, payload FROM outbox
             WHERE org_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            &[&org_id, &after_seq, &i64::from(limit)],
        )
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.get(0),
                    OutboxEvent {
                        id: r.get(1),
                        event_type: r.get(2),
                        application_id: r.get(3),
                        created_at: from_micros(r.get(4))?,
                        payload: r.get(5),
                    },
                ))
            })
            .collect()
    }

    async fn get_candidate(&self, org_id: &str, candidate_id: &str) -> Result<Option<Candidate>, StoreError> {
        self.read_one("SELECT record FROM candidates WHERE org_id = $1 AND id = $2", &[&org_id, &candidate_id]).await
    }

    async fn get_resume(&self, org_id: &str, candidate_id: &str) -> Result<Option<Resume>, StoreError> {
        self.read_one("SELECT record FROM resumes WHERE org_id = $1 AND candidate_id = $2", &[&org_id, &candidate_id])
            .await
    }

    async fn idempotency_begin(&self, claim: IdempotencyClaim) -> Result<IdempotencyBegin, StoreError> {
        in_transaction!(self, |tx| idempotency_begin_in(&tx, &claim).await?)
    }

    async fn idempotency_finish(&self, org_id: &str, key: &str, response: StoredResponse) -> Result<(), StoreError> {
        let client = self.client().await?;
        execute(
            &client,
            "UPDATE idempotency_keys SET state = 'done', status = $3, content_type = $4, body = $5
             WHERE org_id = $1 AND key = $2",
            &[&org_id, &key, &i32::from(response.status), &response.content_type, &response.body],
        )
        .await
        .map(|_| ())
    }

    async fn idempotency_release(&self, org_id: &str, key: &str) -> Result<(), StoreError> {
        let client = self.client().await?;
        execute(
            &client,
            "DELETE FROM idempotency_keys WHERE org_id = $1 AND key = $2 AND state = 'running'",
            &[&org_id, &key],
        )
        .await
        .map(|_| ())
    }

    async fn create_endpoint(
        &self,
        org_id: &str,
        new: NewEndpoint,
        now: Timestamp,
    ) -> Result<WebhookEndpoint, StoreError> {
        let client = self.client().await?;
        webhooks::create_endpoint(&client, org_id, new, now).await
    }

    async fn list_endpoints(&self, org_id: &str) -> Result<Vec<WebhookEndpoint>, StoreError> {
        let client = self.client().await?;
        webhooks::list_endpoints(&client, org_id).await
    }

    async fn get_endpoint(&self, org_id: &str, endpoint_id: &str) -> Result<Option<WebhookEndpoint>, StoreError> {
        let client = self.client().await?;
        webhooks::get_endpoint(&client, org_id, endpoint_id, false).await
    }

    async fn update_endpoint(
        &self,
        org_id: &str,
        endpoint_id: &str,
        patch: EndpointPatch,
        now: Timestamp,
    ) -> Result<Option<WebhookEndpoint>, StoreError> {
        in_transaction!(self, |tx| webhooks::update_endpoint(&tx, org_id, endpoint_id, patch, now).await?)
    }

    async fn delete_endpoint(&self, org_id: &str, endpoint_id: &str, now: Timestamp) -> Result<bool, StoreError> {
        in_transaction!(self, |tx| webhooks::delete_endpoint(&tx, org_id, endpoint_id, now).await?)
    }

    async fn rotate_endpoint_secret(
        &self,
        org_id: &str,
        endpoint_id: &str,
        new_secret: String,
        previous_expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<Option<WebhookEndpoint>, StoreError> {
        in_transaction!(self, |tx| {
            webhooks::rotate_secret(&tx, org_id, endpoint_id, new_secret, previous_expires_at, now).await?
        })
    }

    async fn delivery_target(&self, endpoint_id: &str, now: Timestamp) -> Result<Option<DeliveryTarget>, StoreError> {
        let client = self.client().await?;
        webhooks::delivery_target(&client, endpoint_id, now).await
    }

    async fn disable_endpoint(&self, endpoint_id: &str, reason: String, now: Timestamp) -> Result<(), StoreError> {
        in_transaction!(self, |tx| webhooks::disable_endpoint(&tx, endpoint_id, reason, now).await?)
    }

    async fn endpoint_failed(
        &self,
        endpoint_id: &str,
        now: Timestamp,
        disable_after: SignedDuration,
    ) -> Result<bool, StoreError> {
        in_transaction!(self, |tx| webhooks::endpoint_failed(&tx, endpoint_id, now, disable_after).await?)
    }

    async fn claim_deliveries(
        &self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
        skip_endpoints: &[String],
    ) -> Result<Vec<DeliveryTask>, StoreError> {
        let client = self.client().await?;
        webhooks::claim_deliveries(&client, owner, now, lease_until, limit, skip_endpoints).await
    }

    async fn claim_delivery(
        &self,
        org_id: &str,
        delivery_id: &str,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Option<DeliveryTask>, StoreError> {
        let client = self.client().await?;
        webhooks::claim_delivery(&client, org_id, delivery_id, owner, now, lease_until).await
    }

    async fn finish_attempt(
        &self,
        delivery_id: &str,
        owner: &str,
        attempt: DeliveryAttempt,
        outcome: AttemptOutcome,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        in_transaction!(self, |tx| webhooks::finish_attempt(&tx, delivery_id, owner, attempt, outcome, now).await?)
    }

    async fn postpone_delivery(&self, delivery_id: &str, owner: &str, at: Timestamp) -> Result<(), StoreError> {
        let client = self.client().await?;
        webhooks::postpone(&client, delivery_id, owner, at).await
    }

    async fn list_deliveries(&self, org_id: &str, query: DeliveryQuery) -> Result<Page<WebhookDelivery>, StoreError> {
        let client = self.client().await?;
        webhooks::list_deliveries(&client, org_id, query).await
    }

    async fn get_delivery(
        &self,
        org_id: &str,
        delivery_id: &str,
    ) -> Result<Option<(WebhookDelivery, Vec<DeliveryAttempt>)>, StoreError> {
        let client = self.client().await?;
        webhooks::get_delivery(&client, org_id, delivery_id).await
    }

    async fn queue_test_event(
        &self,
        org_id: &str,
        endpoint_id: &str,
        event: OutboxEvent,
    ) -> Result<Option<String>, StoreError> {
        in_transaction!(self, |tx| {
            if webhooks::get_endpoint(&tx, org_id, endpoint_id, true).await?.is_none() {
                None
            } else {
                execute(
                    &tx,
                    "INSERT INTO outbox (id, org_id, type, application_id, created_at, payload)
                     VALUES ($1, $2, $3, NULL, $4, $5)",
                    &[&event.id, &org_id, &event.event_type, &micros(event.created_at), &event.payload],
                )
                .await?;
                Some(webhooks::insert_delivery(&tx, org_id, endpoint_id, &event).await?)
            }
        })
    }

    async fn webhook_stats(&self) -> Result<WebhookStats, StoreError> {
        let client = self.client().await?;
        webhooks::stats(&client).await
    }

    async fn export(&self) -> Result<Export, StoreError> {
        let mut client = self.client().await?;
        // One snapshot for every table, so the export is consistent while replicas write.
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(pg_error)?;
        let organizations = tx
            .query("SELECT id, name, created_at FROM organizations ORDER BY seq", &[])
            .await
            .map_err(pg_error)?
            .iter()
            .map(organization_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let api_keys = tx
            .query(&format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY seq"), &[])
            .await
            .map_err(pg_error)?
            .iter()
            .map(|r| {
                let key = key_from_row(r)?;
                Ok(ExportedKey { organization_id: key.org_id.clone(), key })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let call_results = tx
            .query("SELECT org_id, application_id, record FROM call_results ORDER BY created_at, application_id", &[])
            .await
            .map_err(pg_error)?
            .iter()
            .map(|r| {
                Ok(ExportedResult {
                    organization_id: r.get(0),
                    application_id: r.get(1),
                    result: from_json(r.get::<_, &str>(2))?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let events = tx
            .query("SELECT org_id, payload FROM outbox ORDER BY seq", &[])
            .await
            .map_err(pg_error)?
            .iter()
            .map(|r| {
                Ok(ExportedRecord { organization_id: r.get(0), record: serde_json::from_slice(r.get::<_, &[u8]>(1))? })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let export = Export {
            schema_version: migrations::current_version(&*tx).await?,
            organizations,
            api_keys,
            jobs: all_records(&tx, "jobs", "seq").await?,
            candidates: all_records(&tx, "candidates", "seq").await?,
            resumes: all_records(&tx, "resumes", "candidate_id").await?,
            applications: all_records(&tx, "applications", "seq").await?,
            call_results,
            events,
            webhook_endpoints: all_records(&tx, "webhook_endpoints WHERE NOT deleted", "seq").await?,
            webhook_deliveries: webhooks::export_deliveries(&tx).await?,
        };
        tx.commit().await.map_err(pg_error)?;
        Ok(export)
    }
}

/// `url` with `search_path` set to `schema`, so the store's tables live in that schema: one
/// database can hold several independent stores (one per test, say).
pub fn url_with_schema(url: &str, schema: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options=-csearch_path%3D{schema}")
}

/// Creates an empty schema for [`url_with_schema`]. Names are plain identifiers (letters,
/// digits, `_`).
pub async fn create_schema(url: &str, schema: &str) -> Result<(), StoreError> {
    admin(url, &format!("CREATE SCHEMA {}", identifier(schema)?)).await
}

/// Drops a schema made by [`create_schema`] and everything in it.
pub async fn drop_schema(url: &str, schema: &str) -> Result<(), StoreError> {
    admin(url, &format!("DROP SCHEMA IF EXISTS {} CASCADE", identifier(schema)?)).await
}

/// [`drop_schema`] from synchronous code, such as a `Drop` that may run inside an async runtime
/// (which cannot be blocked on): on a thread of its own with a small runtime.
pub fn drop_schema_blocking(url: String, schema: String) -> Result<(), StoreError> {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Internal(format!("a runtime to drop a schema: {e}")))?;
        runtime.block_on(drop_schema(&url, &schema))
    })
    .join()
    .unwrap_or_else(|_| Err(StoreError::Internal("the thread dropping a schema panicked".into())))
}

fn identifier(name: &str) -> Result<&str, StoreError> {
    let plain = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain { Ok(name) } else { Err(StoreError::Internal(format!("not a plain schema name: {name}"))) }
}

async fn admin(url: &str, sql: &str) -> Result<(), StoreError> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .map_err(|e| StoreError::Unreachable { url: redact_url(url), reason: pg_error(e).to_string() })?;
    let connection = tokio::spawn(connection);
    let result = client.batch_execute(sql).await.map_err(pg_error);
    drop(client);
    let _ = connection.await;
    result
}
