//! The embedded default store: one SQLite database in WAL mode inside the data directory.
//!
//! `engine` owns connections, the group-committing writer thread and the server lock, and
//! `cache` the job and API key caches in front of reads. The SQL is split by resource, with the
//! same files as the PostgreSQL store (`keys`, `jobs`, `applications`, `interviews`, `outbox`,
//! `idempotency`, `webhooks`, `audit`, `export`); each [`Store`] method here only picks the reader or
//! the writer thread for it, and keeps the caches in step.

mod applications;
mod audit;
pub mod backup;
mod cache;
mod encryption;
mod engine;
mod export;
mod idempotency;
mod interviews;
mod jobs;
mod keys;
pub mod migrations;
mod outbox;
mod sql;
mod webhooks;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};

use self::cache::{JobCache, KeyCache};
use self::engine::Engine;
use super::sealing::Keyring;
use super::webhooks::{
    AttemptOutcome, DeliveryQuery, DeliveryTarget, DeliveryTask, EndpointPatch, NewEndpoint, SecretRotation,
    WebhookStats,
};
use super::{
    ApplicationQuery, AuditQuery, Export, IdempotencyBegin, IdempotencyClaim, InterviewStep, InterviewTask, JobQuery,
    KeyUsage, NewApiKey, NewApplication, PoolStats, Store, StoreError, StoredResponse, Upserted,
};
use crate::domain::audit::{AuditContext, AuditEvent};
use crate::domain::events::OutboxEvent;
use crate::domain::results::CallResults;
use crate::domain::webhooks::{DeliveryAttempt, WebhookDelivery, WebhookEndpoint};
use crate::domain::{ApiKey, Application, Candidate, Job, JobFields, JobPatch, Organization, Page, Resume};

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

/// The embedded store.
pub struct SqliteStore {
    engine: Engine,
    jobs: Arc<JobCache>,
    keys: Arc<KeyCache>,
    /// The keys that seal webhook signing secrets.
    keyring: Arc<Keyring>,
    /// Opened by `serve`, holding the data directory's lock.
    exclusive: bool,
}

impl SqliteStore {
    /// Opens the store in `data_dir`, creating and migrating it as needed. The keyring must
    /// open the store's sealed secrets; a wrong key is refused before anything is written.
    pub fn open(data_dir: &Path, access: Access, mut keyring: Keyring) -> Result<SqliteStore, StoreError> {
        let readers = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 8);
        let exclusive = matches!(access, Access::Server);
        let engine = Engine::open(data_dir, exclusive, readers, |conn| encryption::prepare(conn, &mut keyring))?;
        let keys = Arc::new(KeyCache::open(data_dir));
        Ok(SqliteStore { engine, jobs: Arc::default(), keys, keyring: Arc::new(keyring), exclusive })
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

    fn pool_stats(&self) -> PoolStats {
        self.engine.pool_stats()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.engine
            .read(|conn| Ok(conn.prepare_cached("SELECT count(*) FROM organizations")?.query_row([], |_| Ok(()))?))
            .await
    }

    async fn create_organization(&self, id: String, name: String, now: Timestamp) -> Result<Organization, StoreError> {
        self.engine.write(move |conn| keys::create_organization(conn, id, name, now)).await
    }

    async fn create_first_organization(
        &self,
        id: String,
        name: String,
        now: Timestamp,
    ) -> Result<Option<Organization>, StoreError> {
        self.engine.write(move |conn| keys::create_first_organization(conn, id, name, now)).await
    }

    async fn list_organizations(&self) -> Result<Vec<Organization>, StoreError> {
        self.engine.read(keys::list_organizations).await
    }

    async fn get_organization(&self, id: &str) -> Result<Option<Organization>, StoreError> {
        let id = id.to_owned();
        self.engine.read(move |conn| keys::get_organization(conn, &id)).await
    }

    async fn create_api_key(&self, key: NewApiKey, audit: AuditContext) -> Result<ApiKey, StoreError> {
        let keys = Arc::clone(&self.keys);
        self.engine.write_then(move |conn| keys::create_api_key(conn, key, &audit), move |_| keys.advance()).await
    }

    async fn list_api_keys(&self, org_id: &str) -> Result<Vec<ApiKey>, StoreError> {
        let org_id = org_id.to_owned();
        self.engine.read(move |conn| keys::list_api_keys(conn, &org_id)).await
    }

    async fn find_api_key(&self, secret_hash: &str) -> Result<Option<ApiKey>, StoreError> {
        let generation = self.keys.current();
        if let Some(key) = generation.and_then(|g| self.keys.get(secret_hash, g)) {
            return Ok(Some(key));
        }
        let hash = secret_hash.to_owned();
        let found = self.engine.read(move |conn| keys::find_api_key(conn, &hash)).await?;
        if let (Some(generation), Some(key)) = (generation, &found) {
            self.keys.fill(secret_hash, generation, key);
        }
        Ok(found)
    }

    async fn revoke_api_key(
        &self,
        org_id: &str,
        key_id: &str,
        now: Timestamp,
        audit: AuditContext,
    ) -> Result<Option<ApiKey>, StoreError> {
        let (org_id, key_id) = (org_id.to_owned(), key_id.to_owned());
        let keys = Arc::clone(&self.keys);
        self.engine
            .write_then(move |conn| keys::revoke_api_key(conn, &org_id, &key_id, now, &audit), move |_| keys.advance())
            .await
    }

    async fn record_key_usage(&self, usage: Vec<KeyUsage>) -> Result<(), StoreError> {
        if usage.is_empty() {
            return Ok(());
        }
        self.engine.write(move |conn| keys::record_key_usage(conn, usage)).await
    }

    async fn upsert_job(&self, org_id: &str, fields: JobFields, now: Timestamp) -> Result<(Job, Upserted), StoreError> {
        let org_id = org_id.to_owned();
        let cache = self.job_cache_writer(&org_id);
        let (upserted, _) = self
            .engine
            .write_then(
                move |conn| jobs::upsert_job(conn, &org_id, fields, now),
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
        let found = self.engine.read(move |conn| jobs::get_job(conn, &org, &id)).await?;
        Ok(found.map(|(job, bytes)| {
            self.jobs.fill(epoch, org_id, &job, bytes);
            job
        }))
    }

    async fn find_job_by_external_id(&self, org_id: &str, external_id: &str) -> Result<Option<Job>, StoreError> {
        let (org_id, external_id) = (org_id.to_owned(), external_id.to_owned());
        self.engine.read(move |conn| jobs::find_job_by_external_id(conn, &org_id, &external_id)).await
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
                move |conn| jobs::update_job(conn, &org_id, &job_id, patch, now),
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
        self.engine.read(move |conn| jobs::list_jobs(conn, &org_id, query)).await
    }

    async fn create_application(
        &self,
        org_id: &str,
        new: NewApplication,
        now: Timestamp,
    ) -> Result<(Application, Upserted), StoreError> {
        let org_id = org_id.to_owned();
        self.engine.write(move |conn| applications::create_application(conn, &org_id, new, now)).await
    }

    async fn get_application(&self, org_id: &str, application_id: &str) -> Result<Option<Application>, StoreError> {
        let (org_id, id) = (org_id.to_owned(), application_id.to_owned());
        self.engine.read(move |conn| applications::get_application(conn, &org_id, &id)).await
    }

    async fn list_applications(&self, org_id: &str, query: ApplicationQuery) -> Result<Page<Application>, StoreError> {
        let org_id = org_id.to_owned();
        self.engine.read(move |conn| applications::list_applications(conn, &org_id, query)).await
    }

    async fn cancel_application(
        &self,
        org_id: &str,
        application_id: &str,
        reason: String,
        now: Timestamp,
    ) -> Result<Option<Application>, StoreError> {
        let (org_id, id) = (org_id.to_owned(), application_id.to_owned());
        self.engine.write(move |conn| applications::cancel_application(conn, &org_id, &id, reason, now)).await
    }

    async fn record_call_results(
        &self,
        org_id: &str,
        application_id: &str,
        results: CallResults,
        now: Timestamp,
    ) -> Result<Option<Application>, StoreError> {
        let (org_id, id) = (org_id.to_owned(), application_id.to_owned());
        self.engine.write(move |conn| interviews::record_call_results(conn, &org_id, &id, results, now)).await
    }

    async fn claim_interviews(
        &self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<InterviewTask>, StoreError> {
        let owner = owner.to_owned();
        self.engine.write(move |conn| interviews::claim_interviews(conn, &owner, now, lease_until, limit)).await
    }

    async fn claim_interview(
        &self,
        org_id: &str,
        application_id: &str,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        audit: AuditContext,
    ) -> Result<Option<InterviewTask>, StoreError> {
        let (org_id, id, owner) = (org_id.to_owned(), application_id.to_owned(), owner.to_owned());
        self.engine
            .write(move |conn| interviews::claim_interview(conn, &org_id, &id, &owner, now, lease_until, &audit))
            .await
    }

    async fn release_leases(&self, owners: Option<Vec<String>>, now: Timestamp) -> Result<u64, StoreError> {
        self.engine
            .write(move |conn| {
                let mut released = 0;
                for owner in super::rules::lease_holders(&owners) {
                    released += interviews::release_leases(conn, owner)?;
                    released += webhooks::release_leases(conn, owner, now)?;
                }
                Ok(released)
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
        self.engine.write(move |conn| interviews::advance_interview(conn, &org_id, &id, &owner, step, now)).await
    }

    async fn get_call_results(&self, org_id: &str, application_id: &str) -> Result<Option<CallResults>, StoreError> {
        let (org_id, id) = (org_id.to_owned(), application_id.to_owned());
        self.engine.read(move |conn| interviews::get_call_results(conn, &org_id, &id)).await
    }

    async fn list_outbox(
        &self,
        org_id: &str,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<(i64, OutboxEvent)>, StoreError> {
        let org_id = org_id.to_owned();
        self.engine.read(move |conn| outbox::list_outbox(conn, &org_id, after_seq, limit)).await
    }

    async fn get_candidate(&self, org_id: &str, candidate_id: &str) -> Result<Option<Candidate>, StoreError> {
        let (org_id, id) = (org_id.to_owned(), candidate_id.to_owned());
        self.engine.read(move |conn| applications::get_candidate(conn, &org_id, &id)).await
    }

    async fn get_resume(&self, org_id: &str, candidate_id: &str) -> Result<Option<Resume>, StoreError> {
        let (org_id, id) = (org_id.to_owned(), candidate_id.to_owned());
        self.engine.read(move |conn| applications::get_resume(conn, &org_id, &id)).await
    }

    async fn idempotency_begin(&self, claim: IdempotencyClaim) -> Result<IdempotencyBegin, StoreError> {
        let keyring = Arc::clone(&self.keyring);
        self.engine.write(move |conn| idempotency::idempotency_begin(conn, &keyring, claim)).await
    }

    async fn idempotency_finish(&self, org_id: &str, key: &str, response: StoredResponse) -> Result<(), StoreError> {
        let (org_id, key, keyring) = (org_id.to_owned(), key.to_owned(), Arc::clone(&self.keyring));
        self.engine.write(move |conn| idempotency::idempotency_finish(conn, &keyring, &org_id, &key, response)).await
    }

    async fn idempotency_release(&self, org_id: &str, key: &str) -> Result<(), StoreError> {
        let (org_id, key) = (org_id.to_owned(), key.to_owned());
        self.engine.write(move |conn| idempotency::idempotency_release(conn, &org_id, &key)).await
    }

    async fn create_endpoint(
        &self,
        org_id: &str,
        new: NewEndpoint,
        now: Timestamp,
        audit: AuditContext,
    ) -> Result<WebhookEndpoint, StoreError> {
        let (org_id, keyring) = (org_id.to_owned(), Arc::clone(&self.keyring));
        self.engine.write(move |conn| webhooks::create_endpoint(conn, &keyring, &org_id, new, now, &audit)).await
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
        audit: AuditContext,
    ) -> Result<Option<WebhookEndpoint>, StoreError> {
        let (org_id, id) = (org_id.to_owned(), endpoint_id.to_owned());
        self.engine.write(move |conn| webhooks::update_endpoint(conn, &org_id, &id, patch, now, &audit)).await
    }

    async fn delete_endpoint(
        &self,
        org_id: &str,
        endpoint_id: &str,
        now: Timestamp,
        audit: AuditContext,
    ) -> Result<bool, StoreError> {
        let (org_id, id) = (org_id.to_owned(), endpoint_id.to_owned());
        self.engine.write(move |conn| webhooks::delete_endpoint(conn, &org_id, &id, now, &audit)).await
    }

    async fn rotate_endpoint_secret(
        &self,
        org_id: &str,
        endpoint_id: &str,
        rotation: SecretRotation,
        now: Timestamp,
        audit: AuditContext,
    ) -> Result<Option<WebhookEndpoint>, StoreError> {
        let (org_id, id, keyring) = (org_id.to_owned(), endpoint_id.to_owned(), Arc::clone(&self.keyring));
        self.engine
            .write(move |conn| webhooks::rotate_secret(conn, &keyring, &org_id, &id, rotation, now, &audit))
            .await
    }

    async fn delivery_target(&self, endpoint_id: &str, now: Timestamp) -> Result<Option<DeliveryTarget>, StoreError> {
        let (id, keyring) = (endpoint_id.to_owned(), Arc::clone(&self.keyring));
        self.engine.read(move |conn| webhooks::delivery_target(conn, &keyring, &id, now)).await
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

    async fn event_payload(&self, org_id: &str, event_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let (org_id, id) = (org_id.to_owned(), event_id.to_owned());
        self.engine.read(move |conn| webhooks::event_payload(conn, &org_id, &id)).await
    }

    async fn queue_test_event(
        &self,
        org_id: &str,
        endpoint_id: &str,
        event: OutboxEvent,
    ) -> Result<Option<String>, StoreError> {
        let (org_id, id) = (org_id.to_owned(), endpoint_id.to_owned());
        self.engine.write(move |conn| webhooks::queue_test_event(conn, &org_id, &id, event)).await
    }

    async fn webhook_stats(&self) -> Result<WebhookStats, StoreError> {
        self.engine.scan(webhooks::stats).await
    }

    async fn export(&self) -> Result<Export, StoreError> {
        self.engine.scan(export::export).await
    }

    async fn list_audit_events(&self, org_id: &str, query: AuditQuery) -> Result<Page<AuditEvent>, StoreError> {
        let org_id = org_id.to_owned();
        self.engine.read(move |conn| audit::list(conn, &org_id, query)).await
    }

    async fn rotate_encryption_key(&self, new_key_id: &str) -> Result<usize, StoreError> {
        let (keyring, new_key_id) = (Arc::clone(&self.keyring), new_key_id.to_owned());
        self.engine.write(move |conn| encryption::rotate_key(conn, &keyring, &new_key_id)).await
    }
}
