//! What a write decides, apart from how it is stored.
//!
//! Both stores (SQLite and PostgreSQL) read the same rows, call these functions, and write what
//! they return, so the two make the same decisions: which upsert is a no-op, which transition is
//! refused, which events a change queues, what an idempotency key replays, how a delivery
//! attempt moves its delivery on. Nothing here does I/O.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::encoding::micros;
use super::webhooks::{AttemptOutcome, EndpointPatch, NewEndpoint};
use super::{
    IdempotencyBegin, IdempotencyClaim, InterviewStep, NewApiKey, NewApplication, Rejection, StoreError, StoredResponse,
};
use crate::domain::audit::AuditAction;
use crate::domain::events::{
    self, ApplicationRef, CandidateRef, InterviewCompletedData, InterviewCompletedEvent, InterviewFailedData,
    InterviewFailedEvent, JobRef, OutboxEvent,
};
use crate::domain::results::{CallOutcome, CallResults};
use crate::domain::webhooks::{DeliveryStatus, WebhookEndpoint};
use crate::domain::{Application, ApplicationStatus, Candidate, CandidateFields, Job, JobStatus};

/// Whether an upsert changed nothing the client sent (so `updated_at` must not move).
pub(crate) fn same_content(before: &Job, after: &Job) -> bool {
    let mut after = after.clone();
    after.updated_at = before.updated_at;
    *before == after
}

/// A repeated `POST /v1/applications` with an `external_id` already in use: the same
/// application again if it is for the same job, refused otherwise.
pub(crate) fn reuse_application(
    existing: Application,
    job: &Job,
    external_id: &str,
) -> Result<Application, StoreError> {
    if existing.job_id != job.id {
        return Err(Rejection::ApplicationExternalIdTaken {
            external_id: external_id.to_owned(),
            application_id: existing.id,
        }
        .into());
    }
    Ok(existing)
}

/// A closed job takes no new applications.
pub(crate) fn check_job_open(job: &Job) -> Result<(), StoreError> {
    if job.status == JobStatus::Closed {
        return Err(Rejection::JobClosed(job.id.clone()).into());
    }
    Ok(())
}

/// The candidate of a new application: the stored one updated with the request's details (the
/// latest application wins), or a new one with `new_id`. The flag says whether it is new.
pub(crate) fn merge_candidate(
    existing: Option<Candidate>,
    fields: CandidateFields,
    has_resume: bool,
    new_id: impl FnOnce() -> String,
    now: Timestamp,
) -> (Candidate, bool) {
    match existing {
        Some(mut candidate) => {
            fields.update(&mut candidate, now);
            if has_resume && !candidate.has_resume {
                candidate.has_resume = true;
                candidate.updated_at = now;
            }
            (candidate, false)
        }
        None => (fields.into_candidate(new_id(), has_resume, now), true),
    }
}

/// A new application, `pending`, for a job and candidate already stored.
pub(crate) fn new_application(
    id: String,
    new: &NewApplication,
    job: &Job,
    candidate: &Candidate,
    now: Timestamp,
) -> Application {
    let mut app = Application {
        id,
        external_id: new.external_id.clone(),
        job_id: job.id.clone(),
        job_external_id: job.external_id.clone(),
        candidate_id: candidate.id.clone(),
        candidate_external_id: candidate.external_id.clone(),
        status: ApplicationStatus::Pending,
        status_history: Vec::new(),
        metadata: new.metadata.clone(),
        created_at: now,
        updated_at: now,
    };
    app.transition(ApplicationStatus::Pending, None, now);
    app
}

/// Cancels `app`. `Ok(None)` when it already was (nothing to write); the previous status when it
/// moved.
pub(crate) fn cancel(
    app: &mut Application,
    reason: String,
    now: Timestamp,
) -> Result<Option<ApplicationStatus>, StoreError> {
    match app.status {
        ApplicationStatus::Cancelled => Ok(None),
        status if status.is_final() => Err(Rejection::NotCancellable { status }.into()),
        previous => {
            app.transition(ApplicationStatus::Cancelled, Some(reason), now);
            Ok(Some(previous))
        }
    }
}

/// The `application.status_changed` event of a transition that just happened to `app`.
pub(crate) fn status_changed_event(
    app: &Application,
    previous: ApplicationStatus,
    job: &Job,
    candidate: &Candidate,
    now: Timestamp,
) -> Result<OutboxEvent, StoreError> {
    Ok(OutboxEvent::status_changed(&events::status_changed(app, previous, job, candidate, now))?)
}

/// Moves `app` to `completed` or `failed` by its results. Returns the previous status and the
/// outcome column's value.
pub(crate) fn finish_with_results(
    app: &mut Application,
    results: &CallResults,
    now: Timestamp,
) -> Result<(ApplicationStatus, &'static str), StoreError> {
    if app.status.is_final() {
        return Err(Rejection::ApplicationFinal { status: app.status }.into());
    }
    let previous = app.status;
    let (status, reason, outcome) = match results {
        CallResults::Completed(_) => (ApplicationStatus::Completed, None, "completed"),
        CallResults::Failed(f) => (ApplicationStatus::Failed, Some(f.detail.clone()), "failed"),
    };
    app.transition(status, reason, now);
    Ok((previous, outcome))
}

/// The two events of a finished interview: the status change, then `interview.completed` or
/// `interview.failed`.
pub(crate) fn result_events(
    app: &Application,
    previous: ApplicationStatus,
    job: &Job,
    candidate: &Candidate,
    results: CallResults,
    now: Timestamp,
) -> Result<[OutboxEvent; 2], StoreError> {
    let changed = status_changed_event(app, previous, job, candidate, now)?;
    let (application, job, candidate) = (ApplicationRef::of(app), JobRef::of(job), CandidateRef::of(candidate));
    let outcome = match results {
        CallResults::Completed(results) => OutboxEvent::completed(&InterviewCompletedEvent::new(
            InterviewCompletedData { application, job, candidate, results: *results },
            now,
        ))?,
        CallResults::Failed(failure) => OutboxEvent::failed(&InterviewFailedEvent::new(
            InterviewFailedData { application, job, candidate, failure },
            now,
        ))?,
    };
    Ok([changed, outcome])
}

/// How a step changes an interview's schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ScheduleChange {
    /// A new attempt: the count goes up.
    Attempt(u32),
    /// Nothing but the application's status.
    None,
    /// The attempt went unanswered: the outcomes so far and when the next attempt is due; the
    /// lease is released.
    Retry { outcomes: Vec<CallOutcome>, due_at: Timestamp },
}

/// Applies a step of a running (non-final) interview to its application.
pub(crate) fn apply_step(
    app: &mut Application,
    attempts: u32,
    mut outcomes: Vec<CallOutcome>,
    step: InterviewStep,
    now: Timestamp,
) -> ScheduleChange {
    match step {
        InterviewStep::Dial => {
            let attempt = attempts + 1;
            app.transition(ApplicationStatus::Calling, Some(format!("call attempt {attempt}")), now);
            ScheduleChange::Attempt(attempt)
        }
        InterviewStep::Answered => {
            app.transition(ApplicationStatus::InProgress, None, now);
            ScheduleChange::None
        }
        InterviewStep::Unanswered { outcome, retry_at } => {
            let status = match outcome {
                CallOutcome::Voicemail => ApplicationStatus::Voicemail,
                _ => ApplicationStatus::NoAnswer,
            };
            app.transition(
                status,
                Some(format!("attempt {attempts}: {}; next attempt at {retry_at}", outcome.as_str())),
                now,
            );
            outcomes.push(outcome);
            ScheduleChange::Retry { outcomes, due_at: retry_at }
        }
    }
}

/// An `Idempotency-Key` as stored.
#[derive(Debug, Clone)]
pub(crate) struct StoredKey {
    pub fingerprint: String,
    pub done: bool,
    pub started_at: Timestamp,
    pub response: StoredResponse,
}

/// What a request with a key already stored gets, and whether this request takes over an
/// abandoned attempt (its start time must then be reset).
pub(crate) fn idempotency_decision(stored: StoredKey, claim: &IdempotencyClaim) -> (IdempotencyBegin, bool) {
    if stored.fingerprint != claim.fingerprint {
        return (IdempotencyBegin::Mismatch, false);
    }
    if stored.done {
        return (IdempotencyBegin::Replay(stored.response), false);
    }
    let abandoned = stored.started_at.checked_add(claim.abandon_after).is_ok_and(|at| at <= claim.now);
    if abandoned { (IdempotencyBegin::Proceed, true) } else { (IdempotencyBegin::InProgress, false) }
}

/// Keys started before this time are forgotten.
pub(crate) fn idempotency_expiry(claim: &IdempotencyClaim) -> Timestamp {
    claim.now.checked_sub(claim.retention).unwrap_or(Timestamp::MIN)
}

/// A signing secret and, once rotated out, when it stops signing (microseconds).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredSecret {
    pub secret: String,
    pub expires_at: Option<i64>,
}

/// A new endpoint and its secret list.
pub(crate) fn new_endpoint(new: NewEndpoint, now: Timestamp) -> (WebhookEndpoint, Vec<StoredSecret>) {
    let endpoint = WebhookEndpoint {
        id: new.id,
        url: new.url,
        description: new.description,
        event_types: new.event_types,
        enabled: new.enabled,
        disabled_reason: (!new.enabled).then(|| "disabled when created".to_owned()),
        headers: new.headers,
        rate_limit_per_second: new.rate_limit_per_second,
        secret_created_at: now,
        previous_secret_expires_at: None,
        created_at: now,
        updated_at: now,
    };
    (endpoint, vec![StoredSecret { secret: new.secret, expires_at: None }])
}

/// What a patch did to an endpoint: the audit action and the fields whose values changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EndpointChange {
    pub action: AuditAction,
    pub changed: Vec<&'static str>,
}

impl EndpointChange {
    /// Whether the endpoint was turned back on, which forgives its failures.
    pub fn reenabled(&self) -> bool {
        self.action == AuditAction::EndpointEnabled
    }
}

/// Applies a patch, and says what it changed.
pub(crate) fn patch_endpoint(e: &mut WebhookEndpoint, patch: EndpointPatch, now: Timestamp) -> EndpointChange {
    fn set<T: PartialEq>(field: &mut T, value: Option<T>, name: &'static str, changed: &mut Vec<&'static str>) {
        if let Some(value) = value {
            if *field != value {
                changed.push(name);
            }
            *field = value;
        }
    }
    let mut changed = Vec::new();
    set(&mut e.url, patch.url, "url", &mut changed);
    set(&mut e.description, patch.description, "description", &mut changed);
    set(&mut e.event_types, patch.event_types, "event_types", &mut changed);
    set(&mut e.headers, patch.headers, "headers", &mut changed);
    set(&mut e.rate_limit_per_second, patch.rate_limit_per_second, "rate_limit_per_second", &mut changed);
    let mut action = AuditAction::EndpointUpdated;
    if let Some(enabled) = patch.enabled {
        if enabled && !e.enabled {
            action = AuditAction::EndpointEnabled;
            e.disabled_reason = None;
        } else if !enabled && e.enabled {
            action = AuditAction::EndpointDisabled;
            e.disabled_reason = Some(format!("disabled by API request at {now}"));
        }
        set(&mut e.enabled, Some(enabled), "enabled", &mut changed);
    }
    e.updated_at = now;
    EndpointChange { action, changed }
}

/// The fields a new endpoint was given, for its audit entry (`secret` always: one was made).
pub(crate) fn endpoint_created_fields(e: &WebhookEndpoint) -> Vec<&'static str> {
    let mut fields = vec!["url"];
    fields.extend(e.description.is_some().then_some("description"));
    fields.extend((!e.event_types.is_empty()).then_some("event_types"));
    fields.extend((!e.enabled).then_some("enabled"));
    fields.extend((!e.headers.is_empty()).then_some("headers"));
    fields.extend(e.rate_limit_per_second.is_some().then_some("rate_limit_per_second"));
    fields.push("secret");
    fields
}

/// The fields a new key was given, for its audit entry.
pub(crate) fn key_created_fields(key: &NewApiKey) -> Vec<&'static str> {
    let mut fields = vec!["name", "scopes"];
    fields.extend(key.expires_at.is_some().then_some("expires_at"));
    fields
}

/// The fields a secret rotation changes, for its audit entry.
pub(crate) const SECRET_ROTATED_FIELDS: &[&str] = &["secret", "previous_secret_expires_at"];
/// The fields a forced sandbox attempt changes, for its audit entry.
pub(crate) const SANDBOX_COMPLETED_FIELDS: &[&str] = &["status"];
/// The fields disabling an endpoint changes, for its audit entry.
pub(crate) const DISABLED_FIELDS: &[&str] = &["enabled", "disabled_reason"];

/// Makes `new_secret` current. The secret being replaced keeps signing until the overlap ends;
/// older ones stop now. Returns the new secret list.
pub(crate) fn rotate_secret(
    e: &mut WebhookEndpoint,
    old: Vec<StoredSecret>,
    new_secret: String,
    previous_expires_at: Timestamp,
    now: Timestamp,
) -> Vec<StoredSecret> {
    let mut secrets = vec![StoredSecret { secret: new_secret, expires_at: None }];
    if let Some(current) = old.into_iter().next() {
        secrets.push(StoredSecret { secret: current.secret, expires_at: Some(micros(previous_expires_at)) });
    }
    e.secret_created_at = now;
    e.previous_secret_expires_at = Some(previous_expires_at);
    e.updated_at = now;
    secrets
}

/// The secrets that sign at `now`, current first.
pub(crate) fn signing_secrets(secrets: Vec<StoredSecret>, now: Timestamp) -> Vec<String> {
    let now = micros(now);
    secrets.into_iter().filter(|s| s.expires_at.is_none_or(|at| at > now)).map(|s| s.secret).collect()
}

/// Whether an endpoint takes events of this type.
pub(crate) fn takes(endpoint: &WebhookEndpoint, event_type: &str) -> bool {
    endpoint.event_types.is_empty() || endpoint.event_types.iter().any(|t| t == event_type)
}

/// Disables an enabled endpoint; `false` if it already was.
pub(crate) fn disable(e: &mut WebhookEndpoint, reason: String, now: Timestamp) -> bool {
    if !e.enabled {
        return false;
    }
    e.enabled = false;
    e.disabled_reason = Some(reason);
    e.updated_at = now;
    true
}

/// Why an endpoint failing since `since` is disabled now, or `None` while it may keep failing.
pub(crate) fn failing_too_long(since: Timestamp, now: Timestamp, disable_after: SignedDuration) -> Option<String> {
    (now.duration_since(since) >= disable_after).then(|| format!("every delivery failed from {since} to {now}"))
}

/// Whether an attempt's outcome ends its endpoint's failing streak.
pub(crate) fn attempt_succeeded(outcome: &AttemptOutcome) -> bool {
    matches!(outcome, AttemptOutcome::Succeeded | AttemptOutcome::Manual { succeeded: true })
}

/// Whether a lease held by `lease_owner` has passed from `owner` to another: `owner`'s lease
/// expired and another engine or dispatcher took the work over. `owner` must then stop.
pub(crate) fn lease_lost(lease_owner: Option<&str>, owner: &str) -> bool {
    lease_owner.is_some_and(|o| o != owner)
}

/// What an attempt writes to its delivery, besides counting it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AttemptWrite {
    /// The new status and next attempt; `None` leaves both as they are.
    pub status: Option<(DeliveryStatus, Option<Timestamp>)>,
    /// Whether the lease is let go: only its holder lets go of it.
    pub release_lease: bool,
}

/// The write for an attempt by `owner` on a delivery now in `current` status and leased by
/// `lease_owner`. A failed manual attempt leaves the delivery as it was. A delivery that
/// succeeded stays succeeded: an attempt that ends late (its lease expired and another replica
/// sent the same message meanwhile) cannot undo a delivery. And a late attempt does not free
/// the lease another replica now holds.
pub(crate) fn after_attempt(
    outcome: &AttemptOutcome,
    current: DeliveryStatus,
    lease_owner: Option<&str>,
    owner: &str,
) -> AttemptWrite {
    let status = match outcome {
        _ if current == DeliveryStatus::Succeeded => None,
        AttemptOutcome::Succeeded | AttemptOutcome::Manual { succeeded: true } => {
            Some((DeliveryStatus::Succeeded, None))
        }
        AttemptOutcome::RetryAt(at) => Some((DeliveryStatus::Pending, Some(*at))),
        AttemptOutcome::Failed => Some((DeliveryStatus::Failed, None)),
        AttemptOutcome::Manual { succeeded: false } => None,
    };
    AttemptWrite { status, release_lease: !lease_lost(lease_owner, owner) }
}

/// The lease owners a release covers, one statement each: every one of `owners`, or, when none
/// are named, `None` alone, which matches every holder.
pub(crate) fn lease_holders(owners: &Option<Vec<String>>) -> Vec<Option<&str>> {
    match owners {
        Some(owners) => owners.iter().map(|o| Some(o.as_str())).collect(),
        None => vec![None],
    }
}
