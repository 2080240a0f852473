//! SQL for applications, with the candidates and resumes they bring in.

use jiff::Timestamp;
use rusqlite::{Connection, params};

use super::sql::{one, page};
use super::{interviews, outbox};
use crate::domain::ids::IdKind;
use crate::domain::{Application, Candidate, Job, Page, Resume};
use crate::store::encoding::{micros, to_json};
use crate::store::{ApplicationQuery, NewApplication, Rejection, StoreError, Upserted, rules};

pub(super) fn create_application(
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
    interviews::schedule(conn, org_id, &app.id, new.interview_due_at)?;
    Ok((app, Upserted::Created))
}

pub(super) fn get_application(conn: &Connection, org_id: &str, id: &str) -> Result<Option<Application>, StoreError> {
    one(conn, "SELECT record FROM applications WHERE org_id = ?1 AND id = ?2", params![org_id, id])
}

pub(super) fn list_applications(
    conn: &Connection,
    org_id: &str,
    query: ApplicationQuery,
) -> Result<Page<Application>, StoreError> {
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
}

pub(super) fn cancel_application(
    conn: &Connection,
    org_id: &str,
    id: &str,
    reason: String,
    now: Timestamp,
) -> Result<Option<Application>, StoreError> {
    let Some(mut app) = application_for_update(conn, org_id, id)? else {
        return Ok(None);
    };
    let Some(previous) = rules::cancel(&mut app, reason, now)? else {
        return Ok(Some(app));
    };
    save_application(conn, org_id, &app)?;
    interviews::finish_interview(conn, &app.id)?;
    outbox::queue_status_changed(conn, org_id, &app, previous, now)?;
    Ok(Some(app))
}

pub(super) fn get_candidate(conn: &Connection, org_id: &str, id: &str) -> Result<Option<Candidate>, StoreError> {
    one(conn, "SELECT record FROM candidates WHERE org_id = ?1 AND id = ?2", params![org_id, id])
}

pub(super) fn get_resume(conn: &Connection, org_id: &str, candidate_id: &str) -> Result<Option<Resume>, StoreError> {
    one(conn, "SELECT record FROM resumes WHERE org_id = ?1 AND candidate_id = ?2", params![org_id, candidate_id])
}

/// An application about to be changed. A write transaction already holds the database's one
/// write lock, so nothing else changes it meanwhile.
pub(super) fn application_for_update(
    conn: &Connection,
    org_id: &str,
    id: &str,
) -> Result<Option<Application>, StoreError> {
    get_application(conn, org_id, id)
}

pub(super) fn save_application(conn: &Connection, org_id: &str, app: &Application) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE applications SET status = ?3, updated_at = ?4, record = ?5 WHERE org_id = ?1 AND id = ?2",
    )?
    .execute(params![org_id, app.id, app.status.as_str(), micros(app.updated_at), to_json(app)?])?;
    Ok(())
}
