//! The simulated interview engine.
//!
//! No phone calls are made. Each application's interview is a row in the store (when the next
//! attempt is due, attempts so far); the engine claims due rows with a lease, plays each
//! attempt through the `public_api` ATS provider as the real platform does (read the job, the
//! candidate and the resume; finish with `post_call_results`), and moves the application
//! through `calling`, `in_progress` and on to `completed`, `no_answer`/`voicemail` (retried) or
//! `failed`. Outcomes come from a configurable distribution drawn with an RNG seeded by the
//! application id, so a run is reproducible. Because the schedule lives in the store, a
//! restarted server resumes where it stopped.

pub mod examples;
pub mod simulate;

use std::sync::Arc;
use std::time::Duration;

use jiff::SignedDuration;
use tokio::sync::{Notify, watch};

use self::simulate::Inputs;
use crate::ats::{AtsClient, AtsError, PublicApiClient};
use crate::clock::Clock;
use crate::domain::Application;
use crate::domain::audit::AuditContext;
use crate::domain::ids::IdKind;
use crate::domain::results::{CallOutcome, CallResults, FailureReason, InterviewFailure};
use crate::outage::Outage;
use crate::rng::Rng;
use crate::store::{InterviewStep, InterviewTask, Rejection, Store, StoreError};

/// Relative weights of the outcomes of one call attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct OutcomeWeights(pub Vec<(CallOutcome, u32)>);

impl Default for OutcomeWeights {
    fn default() -> Self {
        OutcomeWeights(vec![
            (CallOutcome::Completed, 70),
            (CallOutcome::NoAnswer, 12),
            (CallOutcome::Voicemail, 8),
            (CallOutcome::InvalidNumber, 3),
            (CallOutcome::HungUp, 4),
            (CallOutcome::NotInterested, 3),
        ])
    }
}

impl OutcomeWeights {
    /// Parses `completed=70,no_answer=12,…`; outcomes left out get weight 0.
    pub fn parse(text: &str) -> Result<OutcomeWeights, String> {
        let mut weights = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, weight) = part.split_once('=').ok_or_else(|| format!("`{part}` is not OUTCOME=WEIGHT"))?;
            let outcome = CallOutcome::ALL.into_iter().find(|o| o.as_str() == name.trim()).ok_or_else(|| {
                let names: Vec<_> = CallOutcome::ALL.iter().map(|o| o.as_str()).collect();
                format!("unknown outcome `{name}`; use one of {}", names.join(", "))
            })?;
            let weight: u32 = weight.trim().parse().map_err(|_| format!("`{weight}` is not a whole number"))?;
            weights.push((outcome, weight));
        }
        if weights.iter().map(|(_, w)| *w).sum::<u32>() == 0 {
            return Err("at least one outcome needs a weight above 0".into());
        }
        Ok(OutcomeWeights(weights))
    }

    fn draw(&self, rng: &mut Rng) -> CallOutcome {
        let total: u64 = self.0.iter().map(|(_, w)| u64::from(*w)).sum();
        let mut ticket = rng.below(total.max(1));
        for (outcome, weight) in &self.0 {
            if ticket < u64::from(*weight) {
                return *outcome;
            }
            ticket -= u64::from(*weight);
        }
        CallOutcome::Completed
    }
}

/// The seed used unless another is configured.
pub const DEFAULT_SEED: u64 = 20_261_201;

/// How interviews are simulated.
#[derive(Debug, Clone)]
pub struct InterviewConfig {
    /// From an application's creation to its first attempt.
    pub delay: SignedDuration,
    /// Between an unanswered attempt and the next.
    pub retry_delay: SignedDuration,
    /// Attempts before an unanswered interview fails.
    pub max_attempts: u32,
    pub outcomes: OutcomeWeights,
    /// Seed of every random choice; the same seed and application id give the same interview.
    pub seed: u64,
    /// How long a claimed interview is reserved for this engine.
    pub lease: SignedDuration,
    /// How often to look for due interviews when nothing wakes the engine.
    pub poll_interval: Duration,
    /// The server's public base URL, for report links.
    pub public_url: String,
    /// Whether the server runs the engine's background loop. Tests that drive the engine
    /// step by step with a manual clock turn it off and call [`InterviewEngine::run_due`].
    pub background: bool,
}

impl Default for InterviewConfig {
    fn default() -> Self {
        InterviewConfig {
            delay: SignedDuration::from_secs(5),
            retry_delay: SignedDuration::from_mins(30),
            max_attempts: 3,
            outcomes: OutcomeWeights::default(),
            seed: DEFAULT_SEED,
            lease: SignedDuration::from_secs(60),
            poll_interval: Duration::from_millis(500),
            public_url: "http://127.0.0.1:8080".into(),
            background: true,
        }
    }
}

/// How many due interviews one claim takes.
const BATCH: u32 = 64;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ats(#[from] AtsError),
    #[error("no application {0}")]
    NotFound(String),
    #[error("the application is already {0} and its interview is over")]
    Final(&'static str),
    #[error("the interview is being run right now; retry in a moment")]
    Busy,
}

/// What a sandbox request may force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forced {
    pub outcome: CallOutcome,
    pub score: Option<u8>,
}

pub struct InterviewEngine {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    config: InterviewConfig,
    /// Who holds the leases this engine takes.
    owner: String,
    wake: Notify,
    /// Told whenever an attempt queued events, so webhooks go out at once.
    events: Arc<Notify>,
}

impl InterviewEngine {
    /// `events` is notified after every attempt, because attempts queue events.
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        config: InterviewConfig,
        events: Arc<Notify>,
    ) -> Arc<InterviewEngine> {
        Arc::new(InterviewEngine {
            store,
            clock,
            config,
            owner: format!("engine-{}", uuid::Uuid::now_v7().simple()),
            wake: Notify::new(),
            events,
        })
    }

    pub fn config(&self) -> &InterviewConfig {
        &self.config
    }

    /// Asks the background loop to look for due work now (after an application is created).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The name this engine holds its interview leases under.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Runs every attempt that is due now; returns how many ran.
    pub async fn run_due(self: &Arc<Self>) -> Result<usize, EngineError> {
        let mut ran = 0;
        loop {
            match self.run_batch().await? {
                0 => return Ok(ran),
                n => ran += n,
            }
        }
    }

    /// Claims up to [`BATCH`] due interviews and runs their attempts; returns how many ran.
    async fn run_batch(self: &Arc<Self>) -> Result<usize, EngineError> {
        let now = self.clock.now();
        let lease_until = now.checked_add(self.config.lease).unwrap_or(now);
        let tasks = self.store.claim_interviews(&self.owner, now, lease_until, BATCH).await?;
        // The claimed interviews run side by side: each attempt is a few durable writes, and
        // writes made together share one commit. One after another, they ran about 100/s.
        let mut running = tokio::task::JoinSet::new();
        for task in tasks {
            let this = Arc::clone(self);
            running.spawn(async move {
                if let Err(e) = this.attempt(&task, None).await {
                    tracing::warn!(application = %task.application_id, error = %e, "interview attempt failed; it is retried after its lease");
                }
                this.events.notify_one();
            });
        }
        let mut ran = 0;
        while running.join_next().await.is_some() {
            ran += 1;
        }
        Ok(ran)
    }

    /// Runs one attempt of `application_id` now with a forced outcome (the sandbox endpoint);
    /// `who` is recorded in the audit log as the attempt is claimed.
    pub async fn force(
        &self,
        org_id: &str,
        application_id: &str,
        forced: Forced,
        who: AuditContext,
    ) -> Result<Application, EngineError> {
        let not_found = || EngineError::NotFound(application_id.to_owned());
        if !IdKind::Application.matches(application_id) {
            return Err(not_found());
        }
        let app = self.store.get_application(org_id, application_id).await?.ok_or_else(not_found)?;
        if app.status.is_final() {
            return Err(EngineError::Final(app.status.as_str()));
        }
        let now = self.clock.now();
        let lease_until = now.checked_add(self.config.lease).unwrap_or(now);
        let task = self
            .store
            .claim_interview(org_id, application_id, &self.owner, now, lease_until, who)
            .await?
            .ok_or(EngineError::Busy)?;
        let attempted = self.attempt(&task, Some(forced)).await;
        self.events.notify_one();
        attempted?;
        self.store.get_application(org_id, application_id).await?.ok_or_else(not_found)
    }

    /// Serves until `stop` turns true.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut outage = Outage::new("interview engine", self.config.poll_interval, &self.owner);
        loop {
            // One batch at a time, so that a shutdown waits for one batch, not the whole backlog.
            let wait = match self.run_batch().await {
                Ok(ran) => {
                    outage.succeeded();
                    if ran == BATCH as usize && !*stop.borrow() {
                        continue; // There may be more due right now.
                    }
                    self.config.poll_interval
                }
                Err(e) => outage.failed(&e),
            };
            if *stop.borrow() {
                return;
            }
            tokio::select! {
                // While the store is down, a wake-up (a new application) does not cut the backoff short.
                _ = self.wake.notified(), if !outage.is_down() => {},
                _ = tokio::time::sleep(wait) => {},
                _ = stop.changed() => return,
            }
        }
    }

    /// One call attempt: dial, decide the outcome, and either finish the interview through
    /// `post_call_results` or schedule the next attempt.
    async fn attempt(&self, task: &InterviewTask, forced: Option<Forced>) -> Result<(), EngineError> {
        let ats = PublicApiClient::new(Arc::clone(&self.store), Arc::clone(&self.clock), task.org_id.clone());
        let step = |step: InterviewStep| async move {
            self.store.advance_interview(&task.org_id, &task.application_id, &self.owner, step, self.clock.now()).await
        };
        let Some(app) = step(InterviewStep::Dial).await? else {
            return Ok(()); // Cancelled meanwhile, or taken over after this engine's lease expired.
        };
        let attempt = task.attempts + 1;
        let mut rng = Rng::new(self.config.seed, &app.id, attempt);
        let outcome = forced.map_or_else(|| self.config.outcomes.draw(&mut rng), |f| f.outcome);
        let now = self.clock.now();
        let failure = |reason, detail: String, seconds| {
            CallResults::Failed(InterviewFailure {
                reason,
                detail,
                call: simulate::failed_call(&task.outcomes, outcome, now, seconds),
            })
        };
        let results = match outcome {
            CallOutcome::Completed => {
                if step(InterviewStep::Answered).await?.is_none() {
                    return Ok(());
                }
                let job = ats.get_job_by_job_id(&app.job_id).await?;
                let candidate = ats.get_candidate_by_id(&app.candidate_id).await?;
                let resume = ats.get_resume_for_candidate_id(&app.candidate_id).await?;
                let inputs = Inputs {
                    application: &app,
                    job: &job,
                    candidate: &candidate,
                    resume: resume.as_ref(),
                    previous_outcomes: &task.outcomes,
                    ended_at: now,
                    public_url: &self.config.public_url,
                    seed: self.config.seed,
                };
                CallResults::Completed(Box::new(simulate::completed(&inputs, forced.and_then(|f| f.score))))
            }
            CallOutcome::NoAnswer | CallOutcome::Voicemail if attempt < self.config.max_attempts => {
                let retry_at = now.checked_add(self.config.retry_delay).unwrap_or(now);
                step(InterviewStep::Unanswered { outcome, retry_at }).await?;
                return Ok(());
            }
            CallOutcome::NoAnswer | CallOutcome::Voicemail => failure(
                FailureReason::MaxAttempts,
                format!("No answer after {attempt} attempts (last: {}).", outcome.as_str()),
                30,
            ),
            CallOutcome::InvalidNumber => {
                failure(FailureReason::InvalidNumber, "The phone number cannot be called.".into(), 0)
            }
            CallOutcome::HungUp | CallOutcome::NotInterested => {
                if step(InterviewStep::Answered).await?.is_none() {
                    return Ok(());
                }
                let (reason, detail) = if outcome == CallOutcome::HungUp {
                    (FailureReason::HungUp, "The candidate hung up before the interview finished.")
                } else {
                    (FailureReason::NotInterested, "The candidate declined the interview.")
                };
                failure(reason, detail.into(), 45)
            }
        };
        match ats.post_call_results(&app.id, results).await {
            Ok(_) => Ok(()),
            // Cancelled between the last step and the results: nothing to send.
            Err(AtsError::Store(StoreError::Rejected(Rejection::ApplicationFinal { .. }))) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
