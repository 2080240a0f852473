//! SQL for the interview schedule (due times, attempts, leases) and the results an interview
//! ends with.

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};

use super::applications::{application_for_update, save_application};
use super::sql::one;
use super::{audit, outbox};
use crate::domain::Application;
use crate::domain::audit::{AuditAction, AuditContext};
use crate::domain::results::{CallOutcome, CallResults};
use crate::store::encoding::{from_json, from_micros, micros, to_json};
use crate::store::rules::{self, ScheduleChange};
use crate::store::{InterviewStep, InterviewTask, StoreError};

/// Schedules the interview of a new application.
pub(super) fn schedule(
    conn: &Connection,
    org_id: &str,
    application_id: &str,
    due_at: Timestamp,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO interviews (application_id, org_id, state, due_at) VALUES (?1, ?2, 'scheduled', ?3)",
    )?
    .execute(params![application_id, org_id, micros(due_at)])?;
    Ok(())
}

pub(super) fn claim_interviews(
    conn: &Connection,
    owner: &str,
    now: Timestamp,
    lease_until: Timestamp,
    limit: u32,
) -> Result<Vec<InterviewTask>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "UPDATE interviews SET lease_owner = ?1, lease_until = ?2
         WHERE application_id IN (
            SELECT application_id FROM interviews
            WHERE state = 'scheduled' AND due_at <= ?3 AND (lease_until IS NULL OR lease_until <= ?3)
            ORDER BY due_at LIMIT ?4)
         RETURNING org_id, application_id, attempts, outcomes, due_at",
    )?;
    let rows = stmt.query_map(params![owner, micros(lease_until), micros(now), limit], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, String>(3)?, r.get(4)?))
    })?;
    let mut tasks = rows
        .map(|row| {
            let (org_id, application_id, attempts, outcomes, due_at) = row?;
            interview_task(org_id, application_id, attempts, &outcomes, due_at)
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    tasks.sort_by_key(|t| t.due_at);
    Ok(tasks)
}

pub(super) fn claim_interview(
    conn: &Connection,
    org_id: &str,
    application_id: &str,
    owner: &str,
    now: Timestamp,
    lease_until: Timestamp,
    who: &AuditContext,
) -> Result<Option<InterviewTask>, StoreError> {
    let row = conn
        .query_row(
            "UPDATE interviews SET lease_owner = ?3, lease_until = ?4
             WHERE org_id = ?1 AND application_id = ?2 AND state = 'scheduled'
               AND (lease_until IS NULL OR lease_until <= ?5 OR lease_owner = ?3)
             RETURNING attempts, outcomes, due_at",
            params![org_id, application_id, owner, micros(lease_until), micros(now)],
            |r| Ok((r.get(0)?, r.get::<_, String>(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((attempts, outcomes, due_at)) = row else { return Ok(None) };
    let entry = who.entry(AuditAction::SandboxCompleted, application_id, rules::SANDBOX_COMPLETED_FIELDS, now);
    audit::insert(conn, org_id, &entry)?;
    interview_task(org_id.to_owned(), application_id.to_owned(), attempts, &outcomes, due_at).map(Some)
}

/// Drops interview leases: those `owner` holds, or every one.
pub(super) fn release_leases(conn: &Connection, owner: Option<&str>) -> Result<u64, StoreError> {
    let n = conn
        .prepare_cached(
            "UPDATE interviews SET lease_owner = NULL, lease_until = NULL
             WHERE lease_owner IS NOT NULL AND (?1 IS NULL OR lease_owner = ?1)",
        )?
        .execute([owner])?;
    Ok(n as u64)
}

pub(super) fn advance_interview(
    conn: &Connection,
    org_id: &str,
    application_id: &str,
    owner: &str,
    step: InterviewStep,
    now: Timestamp,
) -> Result<Option<Application>, StoreError> {
    let Some(mut app) = application_for_update(conn, org_id, application_id)? else {
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
    outbox::queue_status_changed(conn, org_id, &app, previous, now)?;
    Ok(Some(app))
}

pub(super) fn record_call_results(
    conn: &Connection,
    org_id: &str,
    application_id: &str,
    results: CallResults,
    now: Timestamp,
) -> Result<Option<Application>, StoreError> {
    let Some(mut app) = application_for_update(conn, org_id, application_id)? else {
        return Ok(None);
    };
    let (previous, outcome) = rules::finish_with_results(&mut app, &results, now)?;
    save_application(conn, org_id, &app)?;
    finish_interview(conn, &app.id)?;
    conn.prepare_cached(
        "INSERT INTO call_results (application_id, org_id, outcome, created_at, record) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![app.id, org_id, outcome, micros(now), to_json(&results)?])?;

    let (job, candidate) = outbox::job_and_candidate(conn, org_id, &app)?;
    for event in rules::result_events(&app, previous, &job, &candidate, results, now)? {
        outbox::insert(conn, org_id, &event)?;
    }
    Ok(Some(app))
}

pub(super) fn get_call_results(
    conn: &Connection,
    org_id: &str,
    application_id: &str,
) -> Result<Option<CallResults>, StoreError> {
    one(
        conn,
        "SELECT record FROM call_results WHERE org_id = ?1 AND application_id = ?2",
        params![org_id, application_id],
    )
}

/// Ends the interview's schedule: no more attempts, no lease.
pub(super) fn finish_interview(conn: &Connection, application_id: &str) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE interviews SET state = 'done', lease_owner = NULL, lease_until = NULL WHERE application_id = ?1",
    )?
    .execute([application_id])?;
    Ok(())
}

fn interview_task(
    org_id: String,
    application_id: String,
    attempts: u32,
    outcomes: &str,
    due_at: i64,
) -> Result<InterviewTask, StoreError> {
    Ok(InterviewTask { org_id, application_id, attempts, outcomes: from_json(outcomes)?, due_at: from_micros(due_at)? })
}
