//! SQL for applications, with the candidates and resumes they bring in. Natural keys are
//! locked (advisory locks) and rows are locked (`FOR UPDATE`, `FOR SHARE`) where the SQLite
//! store relies on its single writer.

use deadpool_postgres::GenericClient;
use jiff::Timestamp;

use super::sql::{execute, lock_key, page, record};
use super::{interviews, outbox};
use crate::domain::ids::IdKind;
use crate::domain::{Application, Candidate, Job, Page, Resume};
use crate::store::encoding::{micros, to_json};
use crate::store::{ApplicationQuery, NewApplication, Rejection, StoreError, Upserted, rules};

pub(super) async fn create_application(
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
    interviews::schedule(c, org_id, &app.id, new.interview_due_at).await?;
    Ok((app, Upserted::Created))
}

pub(super) async fn get_application(
    c: &impl GenericClient,
    org_id: &str,
    id: &str,
) -> Result<Option<Application>, StoreError> {
    record(c, "SELECT record FROM applications WHERE org_id = $1 AND id = $2", &[&org_id, &id]).await
}

pub(super) async fn list_applications(
    c: &impl GenericClient,
    org_id: &str,
    query: ApplicationQuery,
) -> Result<Page<Application>, StoreError> {
    page(
        c,
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

pub(super) async fn cancel_application(
    c: &impl GenericClient,
    org_id: &str,
    id: &str,
    reason: String,
    now: Timestamp,
) -> Result<Option<Application>, StoreError> {
    let Some(mut app) = application_for_update(c, org_id, id).await? else {
        return Ok(None);
    };
    let Some(previous) = rules::cancel(&mut app, reason, now)? else {
        return Ok(Some(app));
    };
    save_application(c, org_id, &app).await?;
    interviews::finish_interview(c, &app.id).await?;
    outbox::queue_status_changed(c, org_id, &app, previous, now).await?;
    Ok(Some(app))
}

pub(super) async fn get_candidate(
    c: &impl GenericClient,
    org_id: &str,
    id: &str,
) -> Result<Option<Candidate>, StoreError> {
    record(c, "SELECT record FROM candidates WHERE org_id = $1 AND id = $2", &[&org_id, &id]).await
}

pub(super) async fn get_resume(
    c: &impl GenericClient,
    org_id: &str,
    candidate_id: &str,
) -> Result<Option<Resume>, StoreError> {
    record(c, "SELECT record FROM resumes WHERE org_id = $1 AND candidate_id = $2", &[&org_id, &candidate_id]).await
}

/// An application about to be changed, locked for the rest of the transaction.
pub(super) async fn application_for_update(
    c: &impl GenericClient,
    org_id: &str,
    id: &str,
) -> Result<Option<Application>, StoreError> {
    record(c, "SELECT record FROM applications WHERE org_id = $1 AND id = $2 FOR UPDATE", &[&org_id, &id]).await
}

pub(super) async fn save_application(
    c: &impl GenericClient,
    org_id: &str,
    app: &Application,
) -> Result<(), StoreError> {
    execute(
        c,
        "UPDATE applications SET status = $3, updated_at = $4, record = $5 WHERE org_id = $1 AND id = $2",
        &[&org_id, &app.id, &app.status.as_str(), &micros(app.updated_at), &to_json(app)?],
    )
    .await
    .map(|_| ())
}
