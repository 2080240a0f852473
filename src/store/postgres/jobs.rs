//! SQL for jobs. An upsert by `external_id` holds an advisory lock on it, so replicas take
//! turns on the same key.

use deadpool_postgres::GenericClient;
use jiff::Timestamp;

use super::sql::{Params, execute, lock_key, page, record};
use crate::domain::ids::IdKind;
use crate::domain::{Job, JobFields, JobPatch, Page};
use crate::store::encoding::{micros, to_json};
use crate::store::{JobQuery, StoreError, Upserted, rules};

pub(super) async fn upsert_job(
    c: &impl GenericClient,
    org_id: &str,
    fields: JobFields,
    now: Timestamp,
) -> Result<(Job, Upserted), StoreError> {
    if let Some(external_id) = &fields.external_id {
        lock_key(c, &format!("{org_id}/job/{external_id}")).await?;
        let existing: Option<Job> = record(
            c,
            "SELECT record FROM jobs WHERE org_id = $1 AND external_id = $2 FOR UPDATE",
            &[&org_id, external_id],
        )
        .await?;
        if let Some(mut job) = existing {
            let before = job.clone();
            fields.replace(&mut job, now);
            if rules::same_content(&before, &job) {
                return Ok((before, Upserted::Existing));
            }
            save_job(c, org_id, &job).await?;
            return Ok((job, Upserted::Existing));
        }
    }
    let job = fields.into_job(IdKind::Job.new_id(), now);
    insert_job(c, org_id, &job).await?;
    Ok((job, Upserted::Created))
}

/// Inserts `fields` as a new job unless its `external_id` is already taken, in one statement
/// that commits on its own: the unique `(org_id, external_id)` index settles a race with
/// another replica. `None` when the external id is taken; then [`upsert_job`] decides.
///
/// With `presumed_key`, the statement also inserts nothing unless that key is still valid, so
/// that a `None` may instead mean a revoked key, which the caller then tells apart.
pub(super) async fn insert_if_new(
    c: &impl GenericClient,
    org_id: &str,
    fields: &JobFields,
    now: Timestamp,
    presumed_key: Option<&str>,
) -> Result<Option<Job>, StoreError> {
    let job = fields.clone().into_job(IdKind::Job.new_id(), now);
    let (record, status, updated_at) = (to_json(&job)?, job.status.as_str(), micros(job.updated_at));
    let inserted = match presumed_key {
        None => execute(c, INSERT_IF_NEW, &[&job.id, &org_id, &job.external_id, &status, &updated_at, &record]).await?,
        Some(key_id) => {
            let params: &Params<'_> = &[&job.id, &org_id, &job.external_id, &status, &updated_at, &record, &key_id];
            execute(c, INSERT_IF_NEW_FOR_KEY, params).await?
        }
    };
    Ok((inserted == 1).then_some(job))
}

const INSERT_IF_NEW: &str = "INSERT INTO jobs (id, org_id, external_id, status, updated_at, record)
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (org_id, external_id) DO NOTHING";

const INSERT_IF_NEW_FOR_KEY: &str = "INSERT INTO jobs (id, org_id, external_id, status, updated_at, record)
     SELECT $1::text, $2::text, $3::text, $4::text, $5::bigint, $6::text
     WHERE EXISTS (SELECT 1 FROM api_keys WHERE id = $7 AND revoked_at IS NULL)
     ON CONFLICT (org_id, external_id) DO NOTHING";

/// A job by id. With `presumed_key`, only while that key is still valid: `None` may then mean
/// a revoked key, which the caller tells apart.
pub(super) async fn get_job(
    c: &impl GenericClient,
    org_id: &str,
    job_id: &str,
    presumed_key: Option<&str>,
) -> Result<Option<Job>, StoreError> {
    match presumed_key {
        None => record(c, "SELECT record FROM jobs WHERE org_id = $1 AND id = $2", &[&org_id, &job_id]).await,
        Some(key_id) => {
            let sql = "SELECT record FROM jobs WHERE org_id = $1 AND id = $2
                       AND EXISTS (SELECT 1 FROM api_keys WHERE id = $3 AND revoked_at IS NULL)";
            record(c, sql, &[&org_id, &job_id, &key_id]).await
        }
    }
}

pub(super) async fn find_job_by_external_id(
    c: &impl GenericClient,
    org_id: &str,
    external_id: &str,
) -> Result<Option<Job>, StoreError> {
    record(c, "SELECT record FROM jobs WHERE org_id = $1 AND external_id = $2", &[&org_id, &external_id]).await
}

pub(super) async fn update_job(
    c: &impl GenericClient,
    org_id: &str,
    job_id: &str,
    patch: JobPatch,
    now: Timestamp,
) -> Result<Option<Job>, StoreError> {
    let Some(mut job) =
        record::<Job>(c, "SELECT record FROM jobs WHERE org_id = $1 AND id = $2 FOR UPDATE", &[&org_id, &job_id])
            .await?
    else {
        return Ok(None);
    };
    if patch.apply(&mut job, now) {
        save_job(c, org_id, &job).await?;
    }
    Ok(Some(job))
}

pub(super) async fn list_jobs(c: &impl GenericClient, org_id: &str, query: JobQuery) -> Result<Page<Job>, StoreError> {
    page(
        c,
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
