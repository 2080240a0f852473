//! SQL for applications, with the candidates and resumes they bring in. Natural keys are
//! locked (advisory locks) and rows are locked (`FOR UPDATE`, `FOR SHARE`) where the SQLite
//! store relies on its single writer.

use deadpool_postgres::GenericClient;
use jiff::Timestamp;

use super::sql::{LOCK_KEY, Params, execute, lock_key, page, prepare_all, record};
use super::{interviews, outbox};
use crate::domain::ids::IdKind;
use crate::domain::{Application, Candidate, Job, Page, Resume};
use crate::store::encoding::{micros, to_json};
use crate::store::{ApplicationQuery, NewApplication, Rejection, StoreError, Upserted, rules};

const JOB_FOR_SHARE: &str = "SELECT record FROM jobs WHERE org_id = $1 AND id = $2 FOR SHARE";
const APPLICATION_BY_EXTERNAL_ID: &str = "SELECT record FROM applications WHERE org_id = $1 AND external_id = $2";
const CANDIDATE_BY_EXTERNAL_ID: &str = "SELECT record FROM candidates WHERE org_id = $1 AND external_id = $2";
const INSERT_CANDIDATE: &str =
    "INSERT INTO candidates (id, org_id, external_id, updated_at, record) VALUES ($1, $2, $3, $4, $5)";
const UPDATE_CANDIDATE: &str = "UPDATE candidates SET updated_at = $3, record = $4 WHERE org_id = $1 AND id = $2";
const UPSERT_RESUME: &str = "INSERT INTO resumes (candidate_id, org_id, record) VALUES ($1, $2, $3)
     ON CONFLICT (candidate_id) DO UPDATE SET record = excluded.record";
const INSERT_APPLICATION: &str =
    "INSERT INTO applications (id, org_id, job_id, candidate_id, external_id, status, updated_at, record)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

pub(super) async fn create_application(
    c: &impl GenericClient,
    org_id: &str,
    new: NewApplication,
    now: Timestamp,
) -> Result<(Application, Upserted), StoreError> {
    // Statements polled together go out in one pipeline and run in order on the server, so each
    // step below is one round trip (once every statement is prepared: see `prepare_all`). When
    // one fails the transaction aborts, the statements after it fail with it, and the first
    // error is the one returned.

    // Natural keys first, always in this order, then the job: a close of the job waits for
    // this application, or this application sees the job closed.
    prepare_all(
        c,
        &[
            LOCK_KEY,
            JOB_FOR_SHARE,
            APPLICATION_BY_EXTERNAL_ID,
            CANDIDATE_BY_EXTERNAL_ID,
            INSERT_CANDIDATE,
            UPDATE_CANDIDATE,
            UPSERT_RESUME,
            INSERT_APPLICATION,
            interviews::SCHEDULE,
        ],
    )
    .await?;
    let application_key = new.external_id.as_ref().map(|id| format!("{org_id}/application/{id}"));
    let candidate_key = new.candidate.external_id.as_ref().map(|id| format!("{org_id}/candidate/{id}"));
    // The locks, then what the decision needs: the job, an application with this external id,
    // and a candidate with this external id (read even when the application exists: harmless).
    // One pipeline: the server runs each statement after the one before has finished, so the
    // reads start once the locks are held and see what their previous holder committed.
    let ((), (), job, existing_application, existing_candidate) = tokio::try_join!(
        async {
            match &application_key {
                Some(key) => lock_key(c, key).await,
                None => Ok(()),
            }
        },
        async {
            match &candidate_key {
                Some(key) => lock_key(c, key).await,
                None => Ok(()),
            }
        },
        async { record::<Job>(c, JOB_FOR_SHARE, &[&org_id, &new.job_id]).await },
        async {
            match &new.external_id {
                Some(external_id) => {
                    record::<Application>(c, APPLICATION_BY_EXTERNAL_ID, &[&org_id, external_id]).await
                }
                None => Ok(None),
            }
        },
        async {
            match &new.candidate.external_id {
                Some(external_id) => record::<Candidate>(c, CANDIDATE_BY_EXTERNAL_ID, &[&org_id, external_id]).await,
                None => Ok(None),
            }
        },
    )?;
    let job = job.ok_or_else(|| Rejection::JobNotFound(new.job_id.clone()))?;
    if let (Some(app), Some(external_id)) = (existing_application, &new.external_id) {
        return Ok((rules::reuse_application(app, &job, external_id)?, Upserted::Existing));
    }
    rules::check_job_open(&job)?;

    let (candidate, created) = rules::merge_candidate(
        existing_candidate,
        new.candidate.clone(),
        new.resume.is_some(),
        || IdKind::Candidate.new_id(),
        now,
    );
    let resume =
        new.resume.clone().map(|content| Resume { candidate_id: candidate.id.clone(), content, received_at: now });
    let app = rules::new_application(IdKind::Application.new_id(), &new, &job, &candidate, now);
    let (candidate_json, app_json) = (to_json(&candidate)?, to_json(&app)?);
    let resume_json = resume.as_ref().map(to_json).transpose()?;
    let (candidate_updated_at, now_micros) = (micros(candidate.updated_at), micros(now));

    // Every write in one pipeline, in the order the foreign keys need.
    tokio::try_join!(
        async {
            if created {
                let params: &Params = &[&candidate.id, &org_id, &candidate.external_id, &now_micros, &candidate_json];
                execute(c, INSERT_CANDIDATE, params).await
            } else {
                execute(c, UPDATE_CANDIDATE, &[&org_id, &candidate.id, &candidate_updated_at, &candidate_json]).await
            }
        },
        async {
            match &resume_json {
                Some(resume_json) => execute(c, UPSERT_RESUME, &[&candidate.id, &org_id, resume_json]).await,
                None => Ok(0),
            }
        },
        async {
            execute(
                c,
                INSERT_APPLICATION,
                &[
                    &app.id,
                    &org_id,
                    &app.job_id,
                    &app.candidate_id,
                    &app.external_id,
                    &app.status.as_str(),
                    &now_micros,
                    &app_json,
                ],
            )
            .await
        },
        interviews::schedule(c, org_id, &app.id, new.interview_due_at),
    )?;
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
    record(c, APPLICATION_FOR_UPDATE, &[&org_id, &id]).await
}

pub(super) const APPLICATION_FOR_UPDATE: &str =
    "SELECT record FROM applications WHERE org_id = $1 AND id = $2 FOR UPDATE";

pub(super) async fn save_application(
    c: &impl GenericClient,
    org_id: &str,
    app: &Application,
) -> Result<(), StoreError> {
    let record = to_json(app)?;
    execute(c, SAVE_APPLICATION, &[&org_id, &app.id, &app.status.as_str(), &micros(app.updated_at), &record])
        .await
        .map(|_| ())
}

pub(super) const SAVE_APPLICATION: &str =
    "UPDATE applications SET status = $3, updated_at = $4, record = $5 WHERE org_id = $1 AND id = $2";
