//! SQL for jobs. Each write returns the length of the record it stored (or `None` when it
//! changed nothing), which the job cache counts against its budget.

use jiff::Timestamp;
use rusqlite::{Connection, params};

use super::sql::{one, one_sized, page};
use crate::domain::ids::IdKind;
use crate::domain::{Job, JobFields, JobPatch, Page};
use crate::store::encoding::{micros, to_json};
use crate::store::{JobQuery, StoreError, Upserted, rules};

pub(super) fn upsert_job(
    conn: &Connection,
    org_id: &str,
    fields: JobFields,
    now: Timestamp,
) -> Result<((Job, Upserted), Option<usize>), StoreError> {
    if let Some(external_id) = &fields.external_id {
        let existing: Option<Job> =
            one(conn, "SELECT record FROM jobs WHERE org_id = ?1 AND external_id = ?2", params![org_id, external_id])?;
        if let Some(mut job) = existing {
            let before = job.clone();
            fields.replace(&mut job, now);
            if rules::same_content(&before, &job) {
                return Ok(((before, Upserted::Existing), None));
            }
            let bytes = save_job(conn, org_id, &job)?;
            return Ok(((job, Upserted::Existing), Some(bytes)));
        }
    }
    let job = fields.into_job(IdKind::Job.new_id(), now);
    let bytes = insert_job(conn, org_id, &job)?;
    Ok(((job, Upserted::Created), Some(bytes)))
}

/// The job with the length of its stored record.
pub(super) fn get_job(conn: &Connection, org_id: &str, job_id: &str) -> Result<Option<(Job, usize)>, StoreError> {
    one_sized(conn, "SELECT record FROM jobs WHERE org_id = ?1 AND id = ?2", params![org_id, job_id])
}

pub(super) fn find_job_by_external_id(
    conn: &Connection,
    org_id: &str,
    external_id: &str,
) -> Result<Option<Job>, StoreError> {
    one(conn, "SELECT record FROM jobs WHERE org_id = ?1 AND external_id = ?2", params![org_id, external_id])
}

pub(super) fn update_job(
    conn: &Connection,
    org_id: &str,
    job_id: &str,
    patch: JobPatch,
    now: Timestamp,
) -> Result<(Option<Job>, Option<usize>), StoreError> {
    let Some(mut job) =
        one::<Job>(conn, "SELECT record FROM jobs WHERE org_id = ?1 AND id = ?2", params![org_id, job_id])?
    else {
        return Ok((None, None));
    };
    let bytes = if patch.apply(&mut job, now) { Some(save_job(conn, org_id, &job)?) } else { None };
    Ok((Some(job), bytes))
}

pub(super) fn list_jobs(conn: &Connection, org_id: &str, query: JobQuery) -> Result<Page<Job>, StoreError> {
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
}

fn insert_job(conn: &Connection, org_id: &str, job: &Job) -> Result<usize, StoreError> {
    let record = to_json(job)?;
    conn.prepare_cached(
        "INSERT INTO jobs (id, org_id, external_id, status, updated_at, record) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![job.id, org_id, job.external_id, job.status.as_str(), micros(job.updated_at), record])?;
    Ok(record.len())
}

fn save_job(conn: &Connection, org_id: &str, job: &Job) -> Result<usize, StoreError> {
    let record = to_json(job)?;
    conn.prepare_cached("UPDATE jobs SET status = ?3, updated_at = ?4, record = ?5 WHERE org_id = ?1 AND id = ?2")?
        .execute(params![org_id, job.id, job.status.as_str(), micros(job.updated_at), record])?;
    Ok(record.len())
}
