//! Durable storage behind one trait.
//!
//! The rest of the server sees only [`Store`]; [`sqlite::SqliteStore`] is the embedded
//! default (one SQLite file in WAL mode in the data directory, durable commits, writes
//! committed in groups), and [`postgres::PostgresStore`] lets several server replicas share
//! one PostgreSQL database. Both make their decisions with [`rules`]. Every method that reads
//! or writes tenant data takes the organisation id and never crosses it.

pub mod encoding;
pub mod key_check;
mod location;
pub mod postgres;
pub mod rules;
pub mod sealing;
pub mod sqlite;
pub mod webhooks;

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

pub use self::location::{Location, keyring_for, open};
use self::webhooks::{
    AttemptOutcome, DeliveryQuery, DeliveryTarget, DeliveryTask, EndpointPatch, NewEndpoint, SecretRotation,
    WebhookStats,
};
use crate::domain::audit::{AuditAction, AuditContext, AuditEvent};
use crate::domain::events::OutboxEvent;
use crate::domain::results::{CallOutcome, CallResults};
use crate::domain::webhooks::{DeliveryAttempt, WebhookDelivery, WebhookEndpoint};
use crate::domain::{
    ApiKey, Application, ApplicationStatus, Candidate, CandidateFields, Cursor, Job, JobFields, JobPatch, JobStatus,
    Metadata, Organization, Page, Resume, ResumeContent, Scope,
};

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the data directory {path} is in use by another `public-api serve` process ({holder})")]
    Locked { path: String, holder: String },
    #[error(
        "the store was written by a newer public-api (schema version {found}; this build knows up to {supported}); upgrade public-api"
    )]
    NewerSchema { found: i64, supported: i64 },
    #[error("{path} is not a public-api database: {reason}")]
    NotADatabase { path: String, reason: String },
    #[error(transparent)]
    Rejected(#[from] Rejection),
    #[error("database error: {0}")]
    Database(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the store is shut down")]
    Closed,
    /// The store cannot be reached or cannot write for now: the database is down or refusing
    /// connections, the pool timed out, the file is locked past the busy timeout, or the disk is
    /// full or read-only. The request may succeed when retried; the text is for the log.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    #[error("the database URL is not a PostgreSQL connection URL: {0}")]
    BadDatabaseUrl(String),
    #[error("cannot connect to the database at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error(transparent)]
    Sealing(#[from] sealing::SealingError),
    #[error("{0}")]
    Internal(String),
    /// The API key this request presumed valid (see [`key_check`]) was revoked, or is gone.
    #[error("the request's API key is no longer valid")]
    KeyRefused,
}

/// A write the domain rules refuse. These become 4xx answers at the HTTP edge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("no job {0} in this organisation")]
    JobNotFound(String),
    #[error("job {0} is closed and accepts no new applications")]
    JobClosed(String),
    #[error("external_id {external_id} already names application {application_id}, which is for another job")]
    ApplicationExternalIdTaken { external_id: String, application_id: String },
    #[error("the application is {} and can no longer be cancelled", status.as_str())]
    NotCancellable { status: ApplicationStatus },
    #[error("the application is already {} and takes no more results", status.as_str())]
    ApplicationFinal { status: ApplicationStatus },
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Internal(format!("stored record does not decode: {e}"))
    }
}

/// Whether an upsert made a new object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upserted {
    Created,
    Existing,
}

#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub prefix: String,
    pub secret_hash: String,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub scopes: Vec<Scope>,
}

impl NewApiKey {
    /// The key as stored: never revoked or used yet.
    pub fn issued(self) -> ApiKey {
        ApiKey {
            id: self.id,
            org_id: self.org_id,
            name: self.name,
            prefix: self.prefix,
            scopes: self.scopes,
            created_at: self.created_at,
            expires_at: self.expires_at,
            revoked_at: None,
            last_used_at: None,
            usage_count: 0,
        }
    }
}

/// Uses of one key since the last flush.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyUsage {
    pub key_id: String,
    pub uses: u64,
    pub last_used_at: Timestamp,
}

#[derive(Debug, Clone, Default)]
pub struct JobQuery {
    pub limit: u32,
    pub after: Option<Cursor>,
    pub updated_after: Option<Timestamp>,
    pub status: Option<JobStatus>,
}

/// Which audit entries to list.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub limit: u32,
    pub after: Option<Cursor>,
    pub object_id: Option<String>,
    pub action: Option<AuditAction>,
}

#[derive(Debug, Clone, Default)]
pub struct ApplicationQuery {
    pub limit: u32,
    pub after: Option<Cursor>,
    pub updated_after: Option<Timestamp>,
    pub job_id: Option<String>,
    pub status: Option<ApplicationStatus>,
}

/// A validated application request, with the job already resolved to our id.
#[derive(Debug, Clone)]
pub struct NewApplication {
    pub job_id: String,
    /// When the first interview attempt of a new application is due.
    pub interview_due_at: Timestamp,
    pub external_id: Option<String>,
    pub candidate: CandidateFields,
    pub resume: Option<ResumeContent>,
    pub metadata: Metadata,
}

/// A scheduled interview, as claimed by an engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterviewTask {
    pub org_id: String,
    pub application_id: String,
    /// Attempts made so far.
    pub attempts: u32,
    /// Outcomes of the attempts made so far.
    pub outcomes: Vec<CallOutcome>,
    pub due_at: Timestamp,
}

/// A step of a running interview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterviewStep {
    /// A new attempt starts: the application becomes `calling`.
    Dial,
    /// The candidate picked up: `in_progress`.
    Answered,
    /// Nobody (or voicemail) answered: `no_answer` or `voicemail`, next attempt at `retry_at`.
    Unanswered { outcome: CallOutcome, retry_at: Timestamp },
}

/// A response kept for `Idempotency-Key` replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// What to do with a request that carries an `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyBegin {
    /// First use (or a takeover of an abandoned attempt): run the request.
    Proceed,
    /// The same request already succeeded: send this response again.
    Replay(StoredResponse),
    /// The key was used with a different request.
    Mismatch,
    /// The same request is running right now.
    InProgress,
}

#[derive(Debug, Clone)]
pub struct IdempotencyClaim {
    pub org_id: String,
    pub key: String,
    /// A hash of method, path and body.
    pub fingerprint: String,
    pub now: Timestamp,
    /// How long a finished response is replayed.
    pub retention: SignedDuration,
    /// After this long an unfinished attempt is treated as abandoned (its process died).
    pub abandon_after: SignedDuration,
}

/// Everything in the store, for `public-api export`. Key hashes are left out.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Export {
    pub schema_version: i64,
    pub organizations: Vec<Organization>,
    pub api_keys: Vec<ExportedKey>,
    pub jobs: Vec<ExportedRecord<Job>>,
    pub candidates: Vec<ExportedRecord<Candidate>>,
    pub resumes: Vec<ExportedRecord<Resume>>,
    pub applications: Vec<ExportedRecord<Application>>,
    pub call_results: Vec<ExportedResult>,
    /// Every event ever queued, as sent.
    pub events: Vec<ExportedRecord<serde_json::Value>>,
    /// Endpoints (without their secrets).
    pub webhook_endpoints: Vec<ExportedRecord<WebhookEndpoint>>,
    pub webhook_deliveries: Vec<ExportedDelivery>,
    /// The audit log, oldest first.
    pub audit_events: Vec<ExportedRecord<AuditEvent>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportedResult {
    pub organization_id: String,
    pub application_id: String,
    pub result: CallResults,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportedDelivery {
    pub organization_id: String,
    #[serde(flatten)]
    pub delivery: WebhookDelivery,
    pub attempts: Vec<DeliveryAttempt>,
}

/// A record with the organisation it belongs to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportedRecord<T> {
    pub organization_id: String,
    #[serde(flatten)]
    pub record: T,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportedKey {
    pub organization_id: String,
    #[serde(flatten)]
    pub key: ApiKey,
}

/// A store's connections and write queue at one moment (see [`Store::pool_stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections open and serving a request.
    pub busy: u64,
    /// Connections open and idle.
    pub idle: u64,
    /// The most connections the pool opens; `None` where there is no limit (SQLite opens a
    /// reader per concurrent read, and keeps them).
    pub max: Option<u64>,
    /// Requests waiting for a connection.
    pub waiting: u64,
    /// The SQLite writer thread; `None` on PostgreSQL, where each write is its own transaction.
    pub writer: Option<WriterStats>,
}

/// The SQLite writer thread's queue and what it has committed since the process started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Writes handed to the thread and not yet taken into a transaction.
    pub queued: u64,
    /// Transactions committed (each one disk flush).
    pub transactions: u64,
    /// Writes committed in them.
    pub writes: u64,
}

/// The server's storage. Implementations must make every acknowledged write durable.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Whether this process is the store's only server (the SQLite data directory is locked).
    /// Leases found at start-up are then stale; on a shared store they may be another
    /// replica's live ones, and only expire.
    fn is_exclusive(&self) -> bool;

    /// Finishes queued writes and lets go of connections; later calls fail.
    fn close(&self);

    /// The connections and the write queue at this moment, for `/metrics`. Reads counters the
    /// store keeps, with no I/O, so it answers while the database is down.
    fn pool_stats(&self) -> PoolStats;

    /// Succeeds when the store can serve reads and writes.
    async fn ping(&self) -> Result<(), StoreError>;

    async fn create_organization(&self, id: String, name: String, now: Timestamp) -> Result<Organization, StoreError>;
    /// Creates an organisation only if there is none yet, atomically: of several servers
    /// starting together on an empty store, one makes it. `None` if one existed.
    async fn create_first_organization(
        &self,
        id: String,
        name: String,
        now: Timestamp,
    ) -> Result<Option<Organization>, StoreError>;
    async fn list_organizations(&self) -> Result<Vec<Organization>, StoreError>;
    async fn get_organization(&self, id: &str) -> Result<Option<Organization>, StoreError>;

    /// Creates a key and its `api_key.created` audit entry.
    async fn create_api_key(&self, key: NewApiKey, audit: AuditContext) -> Result<ApiKey, StoreError>;
    async fn list_api_keys(&self, org_id: &str) -> Result<Vec<ApiKey>, StoreError>;
    /// Looks a key up by the hash of its secret, in any organisation. Inside a
    /// [`key_check::scope`], a store shared with other replicas may answer from its cache and
    /// presume the key valid; the request's first store call then confirms it.
    async fn find_api_key(&self, secret_hash: &str) -> Result<Option<ApiKey>, StoreError>;
    /// Confirms the key the current request presumed valid, if it is still unconfirmed: for a
    /// request that has not reached the store, before its answer leaves. `KeyRefused` if it
    /// was revoked.
    async fn confirm_presumed_key(&self) -> Result<(), StoreError> {
        Ok(())
    }
    /// Revokes a key, with its `api_key.revoked` audit entry; revoking twice keeps the first
    /// time (and the first entry). `None` if there is no such key.
    async fn revoke_api_key(
        &self,
        org_id: &str,
        key_id: &str,
        now: Timestamp,
        audit: AuditContext,
    ) -> Result<Option<ApiKey>, StoreError>;
    async fn record_key_usage(&self, usage: Vec<KeyUsage>) -> Result<(), StoreError>;

    /// Creates a job, or replaces the job with the same `external_id`.
    async fn upsert_job(&self, org_id: &str, fields: JobFields, now: Timestamp) -> Result<(Job, Upserted), StoreError>;
    async fn get_job(&self, org_id: &str, job_id: &str) -> Result<Option<Job>, StoreError>;
    async fn find_job_by_external_id(&self, org_id: &str, external_id: &str) -> Result<Option<Job>, StoreError>;
    async fn update_job(
        &self,
        org_id: &str,
        job_id: &str,
        patch: JobPatch,
        now: Timestamp,
    ) -> Result<Option<Job>, StoreError>;
    async fn list_jobs(&self, org_id: &str, query: JobQuery) -> Result<Page<Job>, StoreError>;

    /// Creates or reuses the candidate and the application (by their `external_id`s) in one
    /// transaction. Fails with [`Rejection::JobClosed`] if the job closed meanwhile.
    async fn create_application(
        &self,
        org_id: &str,
        new: NewApplication,
        now: Timestamp,
    ) -> Result<(Application, Upserted), StoreError>;
    async fn get_application(&self, org_id: &str, application_id: &str) -> Result<Option<Application>, StoreError>;
    async fn list_applications(&self, org_id: &str, query: ApplicationQuery) -> Result<Page<Application>, StoreError>;
    /// Cancels a non-final application and queues `application.status_changed`; cancelling a
    /// cancelled one returns it unchanged.
    async fn cancel_application(
        &self,
        org_id: &str,
        application_id: &str,
        reason: String,
        now: Timestamp,
    ) -> Result<Option<Application>, StoreError>;

    /// Records an interview's outcome in one transaction: the results, the application's move to
    /// `completed` or `failed`, and the `application.status_changed` and `interview.completed` /
    /// `interview.failed` events in the outbox. `None` if there is no such application.
    async fn record_call_results(
        &self,
        org_id: &str,
        application_id: &str,
        results: CallResults,
        now: Timestamp,
    ) -> Result<Option<Application>, StoreError>;
    /// Claims up to `limit` interviews that are due and not leased by a live engine.
    async fn claim_interviews(
        &self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<InterviewTask>, StoreError>;
    /// Claims one scheduled interview now, whatever its due time, unless another owner's lease
    /// on it is live, for a sandbox completion: the claim writes its
    /// `application.sandbox_completed` audit entry. `None` when there is nothing to claim.
    async fn claim_interview(
        &self,
        org_id: &str,
        application_id: &str,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        audit: AuditContext,
    ) -> Result<Option<InterviewTask>, StoreError>;
    /// Drops interview and delivery leases: those `owners` hold, for a server shutting down, so
    /// that its unfinished work is claimable by another replica at once rather than after the
    /// lease; or, with `None`, every lease, for a process that owns the store alone, at start-up,
    /// so that work a killed process held resumes at once. Returns how many were dropped.
    async fn release_leases(&self, owners: Option<Vec<String>>, now: Timestamp) -> Result<u64, StoreError>;
    /// Applies one step of `owner`'s interview: moves the application (queuing
    /// `application.status_changed`) and updates the schedule, in one transaction. `None` when
    /// the application is gone or already final (for example cancelled; the interview is then
    /// marked done), or when another owner holds the interview's lease now (`owner`'s expired
    /// and the interview was taken over): the caller stops, and no event is queued for it.
    async fn advance_interview(
        &self,
        org_id: &str,
        application_id: &str,
        owner: &str,
        step: InterviewStep,
        now: Timestamp,
    ) -> Result<Option<Application>, StoreError>;
    async fn get_call_results(&self, org_id: &str, application_id: &str) -> Result<Option<CallResults>, StoreError>;
    /// Outbox events of an organisation with a sequence number above `after_seq`, oldest first.
    async fn list_outbox(
        &self,
        org_id: &str,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<(i64, OutboxEvent)>, StoreError>;

    async fn get_candidate(&self, org_id: &str, candidate_id: &str) -> Result<Option<Candidate>, StoreError>;
    async fn get_resume(&self, org_id: &str, candidate_id: &str) -> Result<Option<Resume>, StoreError>;

    async fn idempotency_begin(&self, claim: IdempotencyClaim) -> Result<IdempotencyBegin, StoreError>;
    async fn idempotency_finish(&self, org_id: &str, key: &str, response: StoredResponse) -> Result<(), StoreError>;
    /// Forgets an unfinished attempt, so that the request can be retried with the same key.
    async fn idempotency_release(&self, org_id: &str, key: &str) -> Result<(), StoreError>;

    async fn export(&self) -> Result<Export, StoreError>;

    /// The organisation's audit log, oldest first.
    async fn list_audit_events(&self, org_id: &str, query: AuditQuery) -> Result<Page<AuditEvent>, StoreError>;

    // Webhook endpoints. Every change writes its audit entry in its own transaction; the
    // server's own (`disable_endpoint`, `endpoint_failed`) are recorded with the actor `system`.
    async fn create_endpoint(
        &self,
        org_id: &str,
        new: NewEndpoint,
        now: Timestamp,
        audit: AuditContext,
    ) -> Result<WebhookEndpoint, StoreError>;
    async fn list_endpoints(&self, org_id: &str) -> Result<Vec<WebhookEndpoint>, StoreError>;
    async fn get_endpoint(&self, org_id: &str, endpoint_id: &str) -> Result<Option<WebhookEndpoint>, StoreError>;
    async fn update_endpoint(
        &self,
        org_id: &str,
        endpoint_id: &str,
        patch: EndpointPatch,
        now: Timestamp,
        audit: AuditContext,
    ) -> Result<Option<WebhookEndpoint>, StoreError>;
    /// Deletes an endpoint and fails its pending deliveries; `false` if there was none.
    async fn delete_endpoint(
        &self,
        org_id: &str,
        endpoint_id: &str,
        now: Timestamp,
        audit: AuditContext,
    ) -> Result<bool, StoreError>;
    /// Makes the rotation's secret current; the replaced one keeps signing until the rotation's
    /// `previous_expires_at`.
    async fn rotate_endpoint_secret(
        &self,
        org_id: &str,
        endpoint_id: &str,
        rotation: SecretRotation,
        now: Timestamp,
        audit: AuditContext,
    ) -> Result<Option<WebhookEndpoint>, StoreError>;
    /// The endpoint and its signing secrets, for a delivery.
    async fn delivery_target(&self, endpoint_id: &str, now: Timestamp) -> Result<Option<DeliveryTarget>, StoreError>;
    async fn disable_endpoint(&self, endpoint_id: &str, reason: String, now: Timestamp) -> Result<(), StoreError>;
    /// Notes a failed delivery; disables the endpoint once it has failed for `disable_after`
    /// without a success. Returns whether it was disabled now.
    async fn endpoint_failed(
        &self,
        endpoint_id: &str,
        now: Timestamp,
        disable_after: SignedDuration,
    ) -> Result<bool, StoreError>;

    // Webhook deliveries.
    /// Claims up to `limit` pending deliveries that are due and not leased. A claimed delivery
    /// is next due when its lease ends (its attempt is made again then if its outcome was never
    /// recorded), so the search for due work passes over deliveries in flight instead of
    /// reading through all of them on every claim.
    ///
    /// Deliveries to `skip_endpoints` (endpoints the caller has no room for) stay where they
    /// are, for a later claim or another replica.
    async fn claim_deliveries(
        &self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
        skip_endpoints: &[String],
    ) -> Result<Vec<DeliveryTask>, StoreError>;
    /// Claims one delivery, whatever its status, for a manual attempt; `None` if it does not
    /// exist or another owner's lease on it is live.
    async fn claim_delivery(
        &self,
        org_id: &str,
        delivery_id: &str,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Option<DeliveryTask>, StoreError>;
    /// Logs an attempt by `owner` and moves its delivery on (`rules::after_attempt`): the lease
    /// is released if `owner` still holds it, and a succeeded delivery stays succeeded. A
    /// successful attempt also ends its endpoint's failing streak, in the same write.
    async fn finish_attempt(
        &self,
        delivery_id: &str,
        owner: &str,
        attempt: DeliveryAttempt,
        outcome: AttemptOutcome,
        now: Timestamp,
    ) -> Result<(), StoreError>;
    /// Puts a delivery that `owner` claimed back, due at `at`, without counting an attempt;
    /// nothing happens if its lease has passed to another owner meanwhile.
    async fn postpone_delivery(&self, delivery_id: &str, owner: &str, at: Timestamp) -> Result<(), StoreError>;
    async fn list_deliveries(&self, org_id: &str, query: DeliveryQuery) -> Result<Page<WebhookDelivery>, StoreError>;
    async fn get_delivery(
        &self,
        org_id: &str,
        delivery_id: &str,
    ) -> Result<Option<(WebhookDelivery, Vec<DeliveryAttempt>)>, StoreError>;
    /// The exact bytes every delivery of the event `event_id` sends, or `None` when the
    /// organisation has no such event.
    async fn event_payload(&self, org_id: &str, event_id: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Queues a `webhook.test` event for one endpoint; the delivery's id, or `None` without
    /// such an endpoint.
    async fn queue_test_event(
        &self,
        org_id: &str,
        endpoint_id: &str,
        event: OutboxEvent,
    ) -> Result<Option<String>, StoreError>;
    async fn webhook_stats(&self) -> Result<WebhookStats, StoreError>;

    /// Seals every webhook signing secret with the key `new_key_id` (which the store's keyring
    /// must hold, with the current key) and makes it the current key, in one transaction.
    /// Returns how many endpoints were re-sealed.
    async fn rotate_encryption_key(&self, new_key_id: &str) -> Result<usize, StoreError>;
}
