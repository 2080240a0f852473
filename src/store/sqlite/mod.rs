//! The embedded default store: one SQLite database in WAL mode inside the data directory.
//!
//! `engine` owns connections, the group-committing writer thread and the server lock;
//! this module maps the [`Store`] operations to SQL.

mod cache;
mod engine;
pub mod migrations;
mod webhooks;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use rusqlite::{Connection, OptionalExtension, params};
use serde::de::DeserializeOwned;

use self::cache::{JobCache, KeyCache};
use self::engine::Engine;
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

/// The database file inside the data directory.
pub const DB_FILE: &str = "public-api.sqlite3";
/// The file `serve` locks so that only one server uses a data directory.
pub const LOCK_FILE: &str = "serve.lock";

/// How the store is opened.
#[derive(Debug, Clone, Copy)]
pub enum Access {
    /// For `serve`: takes the data directory's lock, so a second server gets a clear error.
    Server,
    /// For the admin commands (`keys`, `orgs`, `export`), which may run beside a server:
    /// SQLite's own locking keeps concurrent writers safe.
    Admin,
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Database(e.to_string())
    }
}

/// The embedded store.
pub struct SqliteStore {
    engine: Engine,
    jobs: Arc<JobCache>,
    keys: Arc<KeyCache>,
    /// Opened by `serve`, holding the data directory's lock.
    exclusive: bool,
}

impl SqliteStore {
    /// Opens the store in `data_dir`, creating and migrating it as needed.
    pub fn open(data_dir: &Path, access: Access) -> Result<SqliteStore, StoreError> {
        let readers = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 8);
        let exclusive = matches!(access, Access::Server);
        let engine = Engine::open(data_dir, exclusive, readers)?;
        let keys = Arc::new(KeyCache::open(data_dir));
        Ok(SqliteStore { engine, jobs: Arc::default(), keys, exclusive })
    }

    /// What a job write runs on the writer thread once it has committed: the job as written
    /// goes into the job cache (`None` when the write changed nothing).
    fn job_cache_writer(
        &self,
        org_id: &str,
    ) -> impl FnOnce(&Job, Option<usize>) -> Result<(), StoreError> + Send + 'static {
        let (jobs, org_id) = (Arc::clone(&self.jobs), org_id.to_owned());
        move |job, bytes| {
            if let Some(bytes) = bytes {
                jobs.committed(&org_id, job, bytes);
            }
            Ok(())
        }
    }

    /// One record by a query yielding a single `record` column, keyed by two text parameters
    /// (the organisation and an id, typically).
    async fn read_one<T: DeserializeOwned + Send + 'static>(
        &self,
        sql: &'static str,
        first: &str,
        second: &str,
    ) -> Result<Option<T>, StoreError> {
        let (first, second) = (first.to_owned(), second.to_owned());
        self.engine.read(move |conn| one(conn, sql, params![first, second])).await
    }
}

/// One record by a query that yields a single `record` column.
fn one<T: DeserializeOwned>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Option<T>, StoreError> {
    Ok(one_sized(conn, sql, params)?.map(|(record, _)| record))
}

/// Like [`one`], with the length of the stored record text (the job cache's budget counts it).
fn one_sized<T: DeserializeOwned>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Option<(T, usize)>, StoreError> {
    let text: Option<String> = conn.prepare_cached(sql)?.query_row(params, |row| row.get(0)).optional()?;
    text.map(|t| Ok((from_json(&t)?, t.len()))).transpose()
}

/// A page of records from a query yielding `seq, record`, fetched with `limit + 1` rows.
fn page<T: DeserializeOwned>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    limit: u32,
) -> Result<Page<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, |row| Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?)))?;
    let rows = rows.map(|row| {
        let (seq, text) = row?;
        Ok((seq, from_json(&text)?))
    });
    Ok(encoding::page_of(rows.collect::<Result<Vec<_>, StoreError>>()?, limit))
}

const KEY_COLUMNS: &str = "id, org_id, name, prefix, created_at, expires_at, revoked_at, last_used_at, usage_count";

fn key_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(ApiKey, [Option<i64>; 4], i64)> {
    Ok((
        ApiKey {
            id: row.get(0)?,
            org_id: row.get(1)?,
            name: row.get(2)?,
            prefix: row.get(3)?,
            created_at: Timestamp::UNIX_EPOCH,
            expires_at: None,
            revoked_at: None,
            last_used_at: None,
            usage_count: row.get::<_, i64>(8)?.max(0) as u64,
        },
        [row.get(5)?, row.get(6)?, row.get(7)?, None],
        row.get(4)?,
    ))
}

fn finish_key((mut key, times, created): (ApiKey, [Option<i64>; 4], i64)) -> Result<ApiKey, StoreError> {
    key.created_at = from_micros(created)?;
    key.expires_at = opt_from_micros(times[0])?;
    key.revoked_at = opt_from_micros(times[1])?;
    key.last_used_at = opt_from_micros(times[2])?;
    Ok(key)
}

fn query_keys(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<Vec<ApiKey>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, key_from_row)?;
    rows.map(|row| finish_key(row?)).collect()
}

/// Inserts a job; returns the length of its stored record, for the job cache's budget.
fn insert_job(conn: &Connection, org_id: &str, job: &Job) -> Result<usize, StoreError> {
    let record = to_json(job)?;
    conn.prepare_cached(
        "INSERT INTO jobs (id, org_id, external_id, status, updated_at, record) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![job.id, org_id, job.external_id, job.status.as_str(), micros(job.updated_at), record])?;
    Ok(record.len())
}

/// Rewrites a job; returns the length of its stored record, for the job cache's budget.
fn save_job(conn: &Connection, org_id: &str, job: &Job) -> Result<usize, StoreError> {
    let record = to_json(job)?;
    conn.prepare_cached("UPDATE jobs SET status = ?3, updated_at = ?4, record = ?5 WHERE org_id = ?1 AND id = ?2")?
        .execute(params![org_id, job.id, job.status.as_str(), micros(job.updated_at), record])?;
    Ok(record.len())
}

fn save_application(conn: &Connection, org_id: &str, app: &Application) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE applications SET status = ?3, updated_at = ?4, record = ?5 WHERE org_id = ?1 AND id = ?2",
    )?
    .execute(params![org_id, app.id, app.status.as_str(), micros(app.updated_at), to_json(app)?])?;
    Ok(())
}

fn export_results(conn: &Connection) -> Result<Vec<ExportedResult>, StoreError> {
    let mut stmt =
        conn.prepare("SELECT org_id, application_id, record FROM call_results ORDER BY created_at, application_id")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))?;
    rows.map(|row| {
        let (organization_id, application_id, record) = row?;
        Ok(ExportedResult { organization_id, application_id, result: from_json(&record)? })
    })
    .collect()
}

fn export_events(conn: &Connection) -> Result<Vec<ExportedRecord<serde_json::Value>>, StoreError> {
    let mut stmt = conn.prepare("SELECT org_id, payload FROM outbox ORDER BY seq")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?)))?;
    rows.map(|row| {
        let (organization_id, payload) = row?;
        Ok(ExportedRecord { organization_id, record: serde_json::from_slice(&payload)? })
    })
    .collect()
}

/// Every row of `table` (which may carry a `WHERE` clause) with its organisation.
fn all_records<T: DeserializeOwned>(conn: &Connection, table: &str) -> Result<Vec<ExportedRecord<T>>, StoreError> {
    let order = if table == "resumes" { "candidate_id" } else { "seq" };
    let mut stmt = conn.prepare(&format!("SELECT org_id, record FROM {table} ORDER BY {order}"))?;
    let rows = stmt.query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))?;
    rows.map(|row| {
        let (organization_id, text) = row?;
        Ok(ExportedRecord { organization_id, record: from_json(&text)? })
    })
    .collect()
}

#[async_trait]
impl Store for SqliteStore {
    fn is_exclusive(&self) -> bool {
        self.exclusive
    }

    /// Finishes queued writes and stops the writer thread.
    fn close(&self) {
        self.engine.close();
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.engine
            .read(|conn| Ok(conn.prepare_cached("SELECT count(*) FROM organizations")?.query_row([], |_| Ok(()))?))
            .await
    }

    async fn create_organization(&self, id: String, name: String, now: Timestamp) -> Result<Organization, StoreError> {
        self.engine
            .write(move |conn| {
                conn.execute(
                    "INSERT INTO organizations (id, name, created_at) VALUES (?1, ?2, ?3)",
                    params![id, name, micros(now)],
                )?;
                Ok(Organization { id, name, created_at: now })
            })
            .await
    }

    async fn create_first_organization(
        &self,
        id: String,
        name: String,
        now: Timestamp,
    ) -> Result<Option<Organization>, StoreError> {
        self.engine
            .write(move |conn| {
                let inserted = conn.execute(
                    "INSERT INTO organizations (id, name, created_at)
                     SELECT ?1, ?2, ?3 WHERE NOT EXISTS (SELECT 1 FROM organizations)",
                    params![id, name, micros(now)],
                )?;
                Ok((inserted == 1).then_some(Organization { id, name, created_at: now }))
            })
            .await
    }

    async fn list_organizations(&self) -> Result<Vec<Organization>, StoreError> {
        self.engine
            .read(|conn| {
                let mut stmt = conn.prepare("SELECT id, name, created_at FROM organizations ORDER BY seq")?;
                let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get::<_, i64>(2)?)))?;
                rows.map(|row| {
                    let (id, name, created) = row?;
                    Ok(Organization { id, name, created_at: from_micros(created)? })
                })
                .collect()
            })
            .await
    }

    async fn get_organization(&self, id: &str) -> Result<Option<Organization>, StoreError> {
        let id = id.to_owned();
        self.engine
            .read(move |conn| {
                let row = conn
                    .query_row("SELECT id, name, created_at FROM organizations WHERE id = ?1", [id], |row| {
                        Ok((row.get(0)?, row.get(1)?, row.get::<_, i64>(2)?))
                    })
                    .optional()?;
                row.map(|(id, name, created)| Ok(Organization { id, name, created_at: from_micros(created)? }))
                    .transpose()
            })
            .await
    }

    async fn create_api_key(&self, key: NewApiKey) -> Result<ApiKey, StoreError> {
        let keys = Arc::clone(&self.keys);
        self.engine
            .write_then(
                move |conn| {
                    conn.execute(
                        "INSERT INTO api_keys (id, org_id, name, prefix, secret_hash, created_at, expires_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                        params![
                            key.id,
                            key.org_id,
                            key.name,
                            key.prefix,
                            key.secret_hash,
                            micros(key.created_at),
                            key.expires_at.map(micros)
                        ],
                    )?;
                    Ok(key.issued())
                },
                move |_| keys.advance(),
            )
            .await
    }

    async fn list_api_keys(&self, org_id: &str) -> Result<Vec<ApiKey>, StoreError> {
        let org_id = org_id.to_owned();
        self.engine
            .read(move |conn| {
                query_keys(
                    conn,
                    &format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE org_id = ?1 ORDER BY seq"),
                    [org_id],
                )
            })
            .await
    }

    async fn find_api_key(&self, secret_hash: &str) -> Result<Option<ApiKey>, StoreError> {
        let generation = self.keys.current();
        if let Some(key) = generation.and_then(|g| self.keys.get(secret_hash, g)) {
            return Ok(Some(key));
        }
        let hash = secret_hash.to_owned();
        let found = self
            .engine
            .read(move |conn| {
                Ok(query_keys(conn, &format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE secret_hash = ?1"), [hash])?
                    .pop())
            })
            .await?;
        if let (Some(generation), Some(key)) = (generation, &found) {
            self.keys.fill(secret_hash, generation, key);
        }
        Ok(found)
    }

    async fn revoke_api_key(&self, org_id: &str, key_id: &str, now: Timestamp) -> Result<Option<ApiKey>, StoreError> {
        let (org_id, key_id) = (org_id.to_owned(), key_id.to_owned());
        let keys = Arc::clone(&self.keys);
        self.engine
            .write_then(
                move |conn| {
                    conn.execute(
                        "UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?3) WHERE org_id = ?1 AND id = ?2",
                        params![org_id, key_id, micros(now)],
                    )?;
                    Ok(query_keys(
                        conn,
                        &format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE org_id = ?1 AND id = ?2"),
                        params![org_id, key_id],
                    )?
                    .pop())
                },
                move |_| keys.advance(),
            )
            .await
    }

    async fn record_key_usage(&self, usage: Vec<KeyUsage>) -> Result<(), StoreError> {
        if usage.is_empty() {
            return Ok(());
        }
        self.engine
            .write(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "UPDATE api_keys SET usage_count = usage_count + ?2,
                     last_used_at = max(coalesce(last_used_at, 0), ?3) WHERE id = ?1",
                )?;
                for u in usage {
                    stmt.execute(params![u.key_id, u.uses as i64, micros(u.last_used_at)])?;
                }
                Ok(())
            })
            .await
    }

    async fn upsert_job(&self, org_id: &str, fields: JobFields, now: Timestamp) -> Result<(Job, Upserted), StoreError> {
        let org_id = org_id.to_owned();
        let cache = self.job_cache_writer(&org_id);
        let (upserted, _) = self
            .engine
            .write_then(
                move |conn| {
                    if let Some(external_id) = &fields.external_id {
                        let existing: Option<Job> = one(
                            conn,
                            "SELECT record FROM jobs WHERE org_id = ?1 AND external_id = ?2",
                            params![org_id, external_id],
                        )?;
                        if let Some(mut job) = existing {
                            let before = job.clone();
                            fields.replace(&mut job, now);
                            if rules::same_content(&before, &job) {
                                return Ok(((before, Upserted::Existing), None));
                            }
                            let bytes = save_job(conn, &org_id, &job)?;
                            return Ok(((job, Upserted::Existing), Some(bytes)));
                        }
                    }
                    let job = fields.into_job(IdKind::Job.new_id(), now);
                    let bytes = insert_job(conn, &org_id, &job)?;
                    Ok(((job, Upserted::Created), Some(bytes)))
                },
                move |((job, _), bytes)| cache(job, *bytes),
            )
            .await?;
        Ok(upserted)
    }

    async fn get_job(&self, org_id: &str, job_id: &str) -> Result<Option<Job>, StoreError> {
        if let Some(job) = self.jobs.get(org_id, job_id) {
            return Ok(Some(job));
        }
        let epoch = self.jobs.epoch();
        let (org, id) = (org_id.to_owned(), job_id.to_owned());
        let found = self
            .engine
            .read(move |conn| {
                one_sized::<Job>(conn, "SELECT record FROM jobs WHERE org_id = ?1 AND id = ?2", params![org, id])
            })
            .await?;
        Ok(found.map(|(job, bytes)| {
            self.jobs.fill(epoch, org_id, &job, bytes);
            job
        }))
    }

    async fn find_job_by_external_id(&self, org_id: &str, external_id: &str) -> Result<Option<Job>, StoreError> {
        self.read_one("SELECT record FROM jobs WHERE org_id = ?1 AND external_id = ?2", org_id, external_id).await
    }

    async fn update_job(
        &self,
        org_id: &str,
        job_id: &str,
        patch: JobPatch,
        now: Timestamp,
    ) -> Result<Option<Job>, StoreError> {
        let (org_id, job_id) = (org_id.to_owned(), job_id.to_owned());
        let cache = self.job_cache_writer(&org_id);
        let (job, _) = self
            .engine
            .write_then(
                move |conn| {
                    let Some(mut job) = one::<Job>(
                        conn,
                        "SELECT record FROM jobs WHERE org_id = ?1 AND id = ?2",
                        params![org_id, job_id],
                    )?
                    else {
                        return Ok((None, None));
                    };
                    let bytes = if patch.apply(&mut job, now) { Some(save_job(conn, &org_id, &job)?) } else { None };
                    Ok((Some(job), bytes))
                },
                move |(job, bytes)| match job {
                    Some(job) => cache(job, *bytes),
                    None => Ok(()),
                },
            )
            .await?;
        Ok(job)
    }

    async fn list_jobs(&self, org_id: &str, query: JobQuery) -> Result<Page<Job>, StoreError> {
        let org_id = org_id.to_owned();
        self.engine
            .read(move |conn| {
                page(
                    conn,
                    "SELECT seq, record FROM jobs
                     WHERE org_id = ?1 AND seq > ?2
                       AND (?3 IS NULL OR updated_at > ?3)
                       AND (?4 IS NULL OR status = ?4)
                     ORDER BY seq LIMIT ?5",
                    params![
                        org_id,
                        query.after.map_or(0, |c| c.after_seq),
                        query.updated_after.map(micros),
                        query.status.map(|s| s.as_str()),
                        query.limit + 1
                    ],
                    query.limit,
                )
            })
            .await
    }

    async fn create_application(
        &self,
        org_id: &str,
        new: NewApplication,
        now: Timestamp,
    ) -> Result<(Application, Upserted), StoreError> {
        let org_id = org_id.to_owned();
        self.engine.write(move |conn| create_application_in(conn, &org_id, new, now)).await
    }

    async fn get_application(&self, org_id: &str, application_id: &str) -> Result<Option<Application>, StoreError> {
        self.read_one("SELECT record FROM applications WHERE org_id = ?1 AND id = ?2", org_id, application_id).await
    }

    async fn list_applications(&self, org_id: &str, query: ApplicationQuery) -> Result<Page<Application>, StoreError> {
        let org_id = org_id.to_owned();
        self.engine
            .read(move |conn| {
                page(
                    conn,
                    "SELECT seq, record FROM applications
                     WHERE org_id = ?1 AND seq > ?2
                       AND (?3 IS NULL OR updated_at > ?3)
                       AND (?4 IS NULL OR job_id = ?4)
                       AND (?5 IS NULL OR status = ?5)
                     ORDER BY seq LIMIT ?6",
                    params![
                        org_id,
                        query.after.map_or(0, |c| c.after_seq),
                        query.updated_after.map(micros),
                        query.job_id,
                        query.status.map(|s| s.as_str()),
                        query.limit + 1
                    ],
                    query.limit,
                )
            })
            .await
    }

    async fn cancel_application(
        &self,
        org_id: &str,
        application_id: &str,
        reason: String,
        now: Timestamp,
    ) -> Result<Option<Application>, StoreError> {
        let (org_id, id) = (org_id.to_owned(), application_id.to_owned());
        self.engine
            .write(move |conn| {
                let Some(mut app) = load_application(conn, &org_id, &id)? else {
                    return Ok(None);
                };
                let Some(previous) = rules::cancel(&mut app, reason, now)? else {
                    return Ok(Some(app));
                };
                save_application(conn, &org_id, &app)?;
                finish_interview(conn, &app.id)?;
                queue_status_changed(conn, &org_id, &app, previous, now)?;
                Ok(Some(app))
            })
            .await
    }

    async fn record_call_results(
        &self,
        org_id: &str,
        application_id: &str,
        results: CallResults,
        now: Timestamp,
    ) -> Result<Option<Application>, StoreError> {
        let (org_id, id) = (org_id.to_owned(), application_id.to_owned());
        self.engine.write(move |conn| record_call_results_in(conn, &org_id, &id, results, now)).await
    }

    async fn claim_interviews(
        &self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<InterviewTask>, StoreError> {
        let owner = owner.to_owned();
        self.engine
            .write(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "UPDATE interviews SET lease_owner = ?1, lease_until = ?2
                     WHERE application_id IN (
                        SELECT application_id FROM interviews
                        WHERE state = 'scheduled' AND due_at <= ?3 AND (lease_until IS NULL OR lease_until <= ?3)
                        ORDER BY due_at LIMIT ?4)
                     RETURNING org_id, application_id, attempts, outcomes, due_at",
                )?;
                let rows = stmt.query_map(params![owner, micros(lease_until), micros(now), limit], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, u32>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, i64>(4)?,
                    ))
                })?;
                let mut tasks = rows
                    .map(|row| {
                        let (org_id, application_id, attempts, outcomes, due_at) = row?;
                        Ok(InterviewTask {
                            org_id,
                            application_id,
                            attempts,
                            outcomes: from_json(&outcomes)?,
                            due_at: from_micros(due_at)?,
                        })
                    })
                    .collect::<Result<Vec<_>, StoreError>>()?;
                tasks.sort_by_key(|t| t.due_at);
                Ok(tasks)
            })
            .await
    }

    async fn claim_interview(
        &self,
        org_id: &str,
        application_id: &str,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Option<InterviewTask>, StoreError> {
        let (org_id, id, owner) = (org_id.to_owned(), application_id.to_owned(), owner.to_owned());
        self.engine
            .write(move |conn| {
                let row = conn
                    .query_row(
                        "UPDATE interviews SET lease_owner = ?3, lease_until = ?4
                         WHERE org_id = ?1 AND application_id = ?2 AND state = 'scheduled'
                           AND (lease_until IS NULL OR lease_until <= ?5 OR lease_owner = ?3)
                         RETURNING attempts, outcomes, due_at",
                        params![org_id, id, owner, micros(lease_until), micros(now)],
                        |r| Ok((r.get::<_, u32>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?)),
                    )
                    .optional()?;
                row.map(|(attempts, outcomes, due_at)| {
                    Ok(InterviewTask {
                        org_id,
                        application_id: id,
                        attempts,
                        outcomes: from_json(&outcomes)?,
                        due_at: from_micros(due_at)?,
                    })
                })
                .transpose()
            })
            .await
    }

    async fn release_leases(&self) -> Result<(), StoreError> {
        self.engine
            .write(|conn| {
                conn.execute(
                    "UPDATE interviews SET lease_owner = NULL, lease_until = NULL WHERE state = 'scheduled'",
                    [],
                )?;
                conn.execute(
                    "UPDATE webhook_deliveries SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL",
                    [],
                )?;
                Ok(())
            })
            .await
    }

    async fn advance_interview(
        &self,
        org_id: &str,
        application_id: &str,
        owner: &str,
        step: InterviewStep,
        now: Timestamp,
    ) -> Result<Option<Application>, StoreError> {
        let (org_id, id, owner) = (org_id.to_owned(), application_id.to_owned(), owner.to_owned());
        self.engine.write(move |conn| advance_interview_in(conn, &org_id, &id, &owner, step, now)).await
    }

    async fn get_call_results(&self, org_id: &str, application_id: &str) -> Result<Option<CallResults>, StoreError> {
        self.read_one(
            "SELECT record FROM call_results WHERE org_id = ?1 AND application_id = ?2",
            org_id,
            application_id,
        )
        .await
    }

    async fn list_outbox(
        &self,
        org_id: &str,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<(i64, OutboxEvent)>, StoreError> {
        let org_id = org_id.to_owned();
        self.engine
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT seq, id, type, application_id, created_at, payload FROM outbox
                     WHERE org_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
                )?;
                let rows = stmt.query_map(params![org_id, after_seq, limit], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, i64>(4)?,
                        r.get::<_, Vec<u8>>(5)?,
                    ))
                })?;
                rows.map(|row| {
                    let (seq, id, event_type, application_id, created_at, payload) = row?;
                    Ok((
                        seq,
                        OutboxEvent { id, event_type, application_id, created_at: from_micros(created_at)?, payload },
                    ))
                })
                .collect()
            })
            .await
    }

    async fn get_candidate(&self, org_id: &str, candidate_id: &str) -> Result<Option<Candidate>, StoreError> {
        self.read_one("SELECT record FROM candidates WHERE org_id = ?1 AND id = ?2", org_id, candidate_id).await
    }

    async fn get_resume(&self, org_id: &str, candidate_id: &str) -> Result<Option<Resume>, StoreError> {
        self.read_one("SELECT record FROM resumes WHERE org_id = ?1 AND candidate_id = ?2", org_id, candidate_id).await
    }

    async fn idempotency_begin(&self, claim: IdempotencyClaim) -> Result<IdempotencyBegin, StoreError> {
        self.engine.write(move |conn| idempotency_begin_in(conn, claim)).await
    }

    async fn idempotency_finish(&self, org_id: &str, key: &str, response: StoredResponse) -> Result<(), StoreError> {
        let (org_id, key) = (org_id.to_owned(), key.to_owned());
        self.engine
            .write(move |conn| {
                conn.execute(
                    "UPDATE idempotency_keys SET state = 'done', status = ?3, content_type = ?4, body = ?5
                     WHERE org_id = ?1 AND key = ?2",
                    params![org_id, key, response.status, response.content_type, response.body],
                )?;
                Ok(())
            })
            .await
    }

    async fn idempotency_release(&self, org_id: &str, key: &str) -> Result<(), StoreError> {
        let (org_id, key) = (org_id.to_owned(), key.to_owned());
        self.engine
            .write(move |conn| {
                conn.execute(
                    "DELETE FROM idempotency_keys WHERE org_id = ?1 AND key = ?2 AND state = 'running'",
                    params![org_id, key],
                )?;
                Ok(())
            })
            .await
    }

    async fn create_endpoint(
        &self,
        org_id: &str,
        new: NewEndpoint,
        now: Timestamp,
    ) -> Result<WebhookEndpoint, StoreError> {
        let org_id = org_id.to_owned();
        self.engine.write(move |conn| webhooks::create_endpoint(conn, &org_id, new, now)).await
    }

    async fn list_endpoints(&self, org_id: &str) -> Result<Vec<WebhookEndpoint>, StoreError> {
        let org_id = org_id.to_owned();
        self.engine.read(move |conn| webhooks::list_endpoints(conn, &org_id)).await
    }

    async fn get_endpoint(&self, org_id: &str, endpoint_id: &str) -> Result<Option<WebhookEndpoint>, StoreError> {
        let (org_id, id) = (org_id.to_owned(), endpoint_id.to_owned());
        self.engine.read(move |conn| webhooks::get_endpoint(conn, &org_id, &id)).await
    }

    async fn update_endpoint(
        &self,
        org_id: &str,
        endpoint_id: &str,
        patch: EndpointPatch,
        now: Timestamp,
    ) -> Result<Option<WebhookEndpoint>, StoreError> {
        let (org_id, id) = (org_id.to_owned(), endpoint_id.to_owned());
        self.engine.write(move |conn| webhooks::update_endpoint(conn, &org_id, &id, patch, now)).await
    }

    async fn delete_endpoint(&self, org_id: &str, endpoint_id: &str, now: Timestamp) -> Result<bool, StoreError> {
        let (org_id, id) = (org_id.to_owned(), endpoint_id.to_owned());
        self.engine.write(move |conn| webhooks::delete_endpoint(conn, &org_id, &id, now)).await
    }

    async fn rotate_endpoint_secret(
        &self,
        org_id: &str,
        endpoint_id: &str,
        new_secret: String,
        previous_expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<Option<WebhookEndpoint>, StoreError> {
        let (org_id, id) = (org_id.to_owned(), endpoint_id.to_owned());
        self.engine
            .write(move |conn| webhooks::rotate_secret(conn, &org_id, &id, new_secret, previous_expires_at, now))
            .await
    }

    async fn delivery_target(&self, endpoint_id: &str, now: Timestamp) -> Result<Option<DeliveryTarget>, StoreError> {
        let id = endpoint_id.to_owned();
        self.engine.read(move |conn| webhooks::delivery_target(conn, &id, now)).await
    }

    async fn disable_endpoint(&self, endpoint_id: &str, reason: String, now: Timestamp) -> Result<(), StoreError> {
        let id = endpoint_id.to_owned();
        self.engine.write(move |conn| webhooks::disable_endpoint(conn, &id, reason, now)).await
    }

    async fn endpoint_failed(
        &self,
        endpoint_id: &str,
        now: Timestamp,
        disable_after: SignedDuration,
    ) -> Result<bool, StoreError> {
        let id = endpoint_id.to_owned();
        self.engine.write(move |conn| webhooks::endpoint_failed(conn, &id, now, disable_after)).await
    }

    async fn claim_deliveries(
        &self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
        skip_endpoints: &[String],
    ) -> Result<Vec<DeliveryTask>, StoreError> {
        let owner = owner.to_owned();
        let skip = serde_json::to_string(skip_endpoints).map_err(|e| StoreError::Internal(e.to_string()))?;
        self.engine.write(move |conn| webhooks::claim_deliveries(conn, &owner, now, lease_until, limit, &skip)).await
    }

    async fn claim_delivery(
        &self,
        org_id: &str,
        delivery_id: &str,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Option<DeliveryTask>, StoreError> {
        let (org_id, id, owner) = (org_id.to_owned(), delivery_id.to_owned(), owner.to_owned());
        self.engine.write(move |conn| webhooks::claim_delivery(conn, &org_id, &id, &owner, now, lease_until)).await
    }

    async fn finish_attempt(
        &self,
        delivery_id: &str,
        owner: &str,
        attempt: DeliveryAttempt,
        outcome: AttemptOutcome,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let (id, owner) = (delivery_id.to_owned(), owner.to_owned());
        self.engine.write(move |conn| webhooks::finish_attempt(conn, &id, &owner, attempt, outcome, now)).await
    }

    async fn postpone_delivery(&self, delivery_id: &str, owner: &str, at: Timestamp) -> Result<(), StoreError> {
        let (id, owner) = (delivery_id.to_owned(), owner.to_owned());
        self.engine.write(move |conn| webhooks::postpone(conn, &id, &owner, at)).await
    }

    async fn list_deliveries(&self, org_id: &str, query: DeliveryQuery) -> Result<Page<WebhookDelivery>, StoreError> {
        let org_id = org_id.to_owned();
        self.engine.read(move |conn| webhooks::list_deliveries(conn, &org_id, query)).await
    }

    async fn get_delivery(
        &self,
        org_id: &str,
        delivery_id: &str,
    ) -> Result<Option<(WebhookDelivery, Vec<DeliveryAttempt>)>, StoreError> {
        let (org_id, id) = (org_id.to_owned(), delivery_id.to_owned());
        self.engine.read(move |conn| webhooks::get_delivery(conn, &org_id, &id)).await
    }

    async fn queue_test_event(
        &self,
        org_id: &str,
        endpoint_id: &str,
        event: OutboxEvent,
    ) -> Result<Option<String>, StoreError> {
        let (org_id, id) = (org_id.to_owned(), endpoint_id.to_owned());
        self.engine
            .write(move |conn| {
                if webhooks::get_endpoint(conn, &org_id, &id)?.is_none() {
                    return Ok(None);
                }
                conn.prepare_cached(
                    "INSERT INTO outbox (id, org_id, type, application_id, created_at, payload) VALUES (?1, ?2, ?3, NULL, ?4, ?5)",
                )?
                .execute(params![event.id, org_id, event.event_type, micros(event.created_at), event.payload])?;
                Ok(Some(webhooks::insert_delivery(conn, &org_id, &id, &event)?))
            })
            .await
    }

    async fn webhook_stats(&self) -> Result<WebhookStats, StoreError> {
        self.engine.scan(webhooks::stats).await
    }

    async fn export(&self) -> Result<Export, StoreError> {
        let organizations = self.list_organizations().await?;
        self.engine
            .scan(move |conn| {
                let mut stmt = conn.prepare(&format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY seq"))?;
                let api_keys = stmt
                    .query_map([], key_from_row)?
                    .map(|row| {
                        let key = finish_key(row?)?;
                        Ok(ExportedKey { organization_id: key.org_id.clone(), key })
                    })
                    .collect::<Result<Vec<_>, StoreError>>()?;
                Ok(Export {
                    schema_version: migrations::current_version(conn)?,
                    organizations,
                    api_keys,
                    jobs: all_records(conn, "jobs")?,
                    candidates: all_records(conn, "candidates")?,
                    resumes: all_records(conn, "resumes")?,
                    applications: all_records(conn, "applications")?,
                    call_results: export_results(conn)?,
                    events: export_events(conn)?,
                    webhook_endpoints: all_records(conn, "webhook_endpoints WHERE deleted = 0")?,
                    webhook_deliveries: webhooks::export_deliveries(conn)?,
                })
            })
            .await
    }
}

fn create_application_in(
    conn: &Connection,
    org_id: &str,
    new: NewApplication,
    now: Timestamp,
) -> Result<(Application, Upserted), StoreError> {
    let job: Job = one(conn, "SELECT record FROM jobs WHERE org_id = ?1 AND id = ?2", params![org_id, new.job_id])?
        .ok_or_else(|| Rejection::JobNotFound(new.job_id.clone()))?;

    if let Some(external_id) = &new.external_id {
        let existing: Option<Application> = one(
            conn,
            "SELECT record FROM applications WHERE org_id = ?1 AND external_id = ?2",
            params![org_id, external_id],
        )?;
        if let Some(app) = existing {
            return Ok((rules::reuse_application(app, &job, external_id)?, Upserted::Existing));
        }
    }
    rules::check_job_open(&job)?;

    let existing: Option<Candidate> = match &new.candidate.external_id {
        Some(external_id) => one(
            conn,
            "SELECT record FROM candidates WHERE org_id = ?1 AND external_id = ?2",
            params![org_id, external_id],
        )?,
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
        conn.prepare_cached(
            "INSERT INTO candidates (id, org_id, external_id, updated_at, record) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![candidate.id, org_id, candidate.external_id, micros(now), to_json(&candidate)?])?;
    } else {
        conn.prepare_cached("UPDATE candidates SET updated_at = ?3, record = ?4 WHERE org_id = ?1 AND id = ?2")?
            .execute(params![org_id, candidate.id, micros(candidate.updated_at), to_json(&candidate)?])?;
    }
    if let Some(content) = new.resume.clone() {
        let resume = Resume { candidate_id: candidate.id.clone(), content, received_at: now };
        conn.prepare_cached(
            "INSERT INTO resumes (candidate_id, org_id, record) VALUES (?1, ?2, ?3)
             ON CONFLICT (candidate_id) DO UPDATE SET record = excluded.record",
        )?
        .execute(params![candidate.id, org_id, to_json(&resume)?])?;
    }

    let app = rules::new_application(IdKind::Application.new_id(), &new, &job, &candidate, now);
    conn.prepare_cached(
        "INSERT INTO applications (id, org_id, job_id, candidate_id, external_id, status, updated_at, record)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        app.id,
        org_id,
        app.job_id,
        app.candidate_id,
        app.external_id,
        app.status.as_str(),
        micros(now),
        to_json(&app)?
    ])?;
    conn.prepare_cached(
        "INSERT INTO interviews (application_id, org_id, state, due_at) VALUES (?1, ?2, 'scheduled', ?3)",
    )?
    .execute(params![app.id, org_id, micros(new.interview_due_at)])?;
    Ok((app, Upserted::Created))
}

/// An application of an organisation, inside a write transaction.
fn load_application(conn: &Connection, org_id: &str, id: &str) -> Result<Option<Application>, StoreError> {
    one(conn, "SELECT record FROM applications WHERE org_id = ?1 AND id = ?2", params![org_id, id])
}

fn finish_interview(conn: &Connection, application_id: &str) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE interviews SET state = 'done', lease_owner = NULL, lease_until = NULL WHERE application_id = ?1",
    )?
    .execute([application_id])?;
    Ok(())
}

fn advance_interview_in(
    conn: &Connection,
    org_id: &str,
    application_id: &str,
    owner: &str,
    step: InterviewStep,
    now: Timestamp,
) -> Result<Option<Application>, StoreError> {
    let Some(mut app) = load_application(conn, org_id, application_id)? else {
        return Ok(None);
    };
    if app.status.is_final() {
        finish_interview(conn, &app.id)?;
        return Ok(None);
    }
    let (attempts, outcomes, lease_owner): (u32, String, Option<String>) = conn
        .prepare_cached("SELECT attempts, outcomes, lease_owner FROM interviews WHERE application_id = ?1")?
        .query_row([&app.id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?
        .unwrap_or((0, "[]".into(), None));
    if rules::lease_lost(lease_owner.as_deref(), owner) {
        return Ok(None);
    }
    let outcomes: Vec<CallOutcome> = from_json(&outcomes)?;
    let previous = app.status;
    match rules::apply_step(&mut app, attempts, outcomes, step, now) {
        ScheduleChange::Attempt(attempt) => {
            conn.prepare_cached("UPDATE interviews SET attempts = ?2 WHERE application_id = ?1")?
                .execute(params![app.id, attempt])?;
        }
        ScheduleChange::None => {}
        ScheduleChange::Retry { outcomes, due_at } => {
            conn.prepare_cached(
                "UPDATE interviews SET outcomes = ?2, due_at = ?3, lease_owner = NULL, lease_until = NULL
                 WHERE application_id = ?1",
            )?
            .execute(params![app.id, to_json(&outcomes)?, micros(due_at)])?;
        }
    }
    save_application(conn, org_id, &app)?;
    queue_status_changed(conn, org_id, &app, previous, now)?;
    Ok(Some(app))
}

fn insert_outbox(conn: &Connection, org_id: &str, event: &OutboxEvent) -> Result<(), StoreError> {
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
    // Deliveries are made in the same transaction as the event, so none is ever missing.
    webhooks::fan_out(conn, org_id, event)
}

/// The job and candidate of an application, for event payloads.
fn job_and_candidate(conn: &Connection, org_id: &str, app: &Application) -> Result<(Job, Candidate), StoreError> {
    let job: Job = one(conn, "SELECT record FROM jobs WHERE org_id = ?1 AND id = ?2", params![org_id, app.job_id])?
        .ok_or_else(|| StoreError::Internal(format!("application {} refers to a missing job", app.id)))?;
    let candidate: Candidate =
        one(conn, "SELECT record FROM candidates WHERE org_id = ?1 AND id = ?2", params![org_id, app.candidate_id])?
            .ok_or_else(|| StoreError::Internal(format!("application {} refers to a missing candidate", app.id)))?;
    Ok((job, candidate))
}

fn queue_status_changed(
    conn: &Connection,
    org_id: &str,
    app: &Application,
    previous: ApplicationStatus,
    now: Timestamp,
) -> Result<(), StoreError> {
    let (job, candidate) = job_and_candidate(conn, org_id, app)?;
    insert_outbox(conn, org_id, &rules::status_changed_event(app, previous, &job, &candidate, now)?)
}

fn record_call_results_in(
    conn: &Connection,
    org_id: &str,
    application_id: &str,
    results: CallResults,
    now: Timestamp,
) -> Result<Option<Application>, StoreError> {
    let Some(mut app) = load_application(conn, org_id, application_id)? else {
        return Ok(None);
    };
    let (previous, outcome) = rules::finish_with_results(&mut app, &results, now)?;
    save_application(conn, org_id, &app)?;
    finish_interview(conn, &app.id)?;
    conn.prepare_cached(
        "INSERT INTO call_results (application_id, org_id, outcome, created_at, record) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![app.id, org_id, outcome, micros(now), to_json(&results)?])?;

    let (job, candidate) = job_and_candidate(conn, org_id, &app)?;
    for event in rules::result_events(&app, previous, &job, &candidate, results, now)? {
        insert_outbox(conn, org_id, &event)?;
    }
    Ok(Some(app))
}

fn idempotency_begin_in(conn: &Connection, claim: IdempotencyClaim) -> Result<IdempotencyBegin, StoreError> {
    // Forget expired keys a few at a time, so the table stays small without a sweeper task.
    conn.prepare_cached(
        "DELETE FROM idempotency_keys WHERE rowid IN
         (SELECT rowid FROM idempotency_keys WHERE started_at <= ?1 ORDER BY started_at LIMIT 16)",
    )?
    .execute([micros(rules::idempotency_expiry(&claim))])?;

    type Row = (String, String, i64, Option<u16>, Option<String>, Option<Vec<u8>>);
    let row: Option<Row> = conn
        .query_row(
            "SELECT fingerprint, state, started_at, status, content_type, body
             FROM idempotency_keys WHERE org_id = ?1 AND key = ?2",
            params![claim.org_id, claim.key],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
        )
        .optional()?;
    let Some((fingerprint, state, started_at, status, content_type, body)) = row else {
        conn.execute(
            "INSERT INTO idempotency_keys (org_id, key, fingerprint, state, started_at) VALUES (?1, ?2, ?3, 'running', ?4)",
            params![claim.org_id, claim.key, claim.fingerprint, micros(claim.now)],
        )?;
        return Ok(IdempotencyBegin::Proceed);
    };
    let stored = rules::StoredKey {
        fingerprint,
        done: state == "done",
        started_at: from_micros(started_at)?,
        response: StoredResponse { status: status.unwrap_or(200), content_type, body: body.unwrap_or_default() },
    };
    let (decision, take_over) = rules::idempotency_decision(stored, &claim);
    if take_over {
        conn.execute(
            "UPDATE idempotency_keys SET started_at = ?3 WHERE org_id = ?1 AND key = ?2",
            params![claim.org_id, claim.key, micros(claim.now)],
        )?;
    }
    Ok(decision)
}
#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::task::{Context, Waker};

    /// A write that fails rolls back everything it did, outbox rows included, while writes
    /// committed in the same group keep theirs: an event exists exactly when its transaction
    /// committed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_write_leaves_no_event_behind() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path(), Access::Server).unwrap();
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
        let committed = store.engine.write(move |conn| insert_outbox(conn, "org_1", &good));
        let failed = store.engine.write(move |conn| {
            insert_outbox(conn, "org_1", &bad)?;
            Err::<(), _>(StoreError::Internal("the change that caused it failed".into()))
        });
        let (committed, failed) = tokio::join!(committed, failed);
        assert!(committed.is_ok());
        assert!(failed.is_err());
        let ids: Vec<String> =
            store.list_outbox("org_1", 0, 10).await.unwrap().into_iter().map(|(_, e)| e.id).collect();
        assert_eq!(ids, ["evt_good"]);
    }

    /// The job cache is updated by the writer thread, so a write whose caller went away (a
    /// client that hung up mid-request) still stops the older record from being served.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_job_write_whose_caller_went_away_still_reaches_the_job_cache() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path(), Access::Server).unwrap();
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        store.create_organization("org_1".into(), "Org".into(), now).await.unwrap();
        let fields = |title: &str, external_id: &str| JobFields {
            external_id: Some(external_id.into()),
            title: title.into(),
            ..JobFields::default()
        };
        let (job, _) = store.upsert_job("org_1", fields("Old title", "REQ-1"), now).await.unwrap();
        let read = store.get_job("org_1", &job.id).await.unwrap().unwrap();
        assert_eq!(store.jobs.get("org_1", &job.id), Some(read), "the read filled the cache");

        let patch = JobPatch { title: Some("New title".into()), ..JobPatch::default() };
        // Polled once, so the write is queued; then dropped, as axum drops a hung-up request.
        let mut abandoned = Box::pin(store.update_job("org_1", &job.id, patch, now));
        let polled = abandoned.as_mut().poll(&mut Context::from_waker(Waker::noop()));
        assert!(polled.is_pending(), "the update was still waiting for its commit");
        drop(abandoned);
        // Writes commit in order: once a later one is done, the abandoned one has committed too.
        store.upsert_job("org_1", fields("Other", "REQ-2"), now).await.unwrap();

        let served = store.get_job("org_1", &job.id).await.unwrap().unwrap();
        assert_eq!(served.title, "New title");
    }
}
