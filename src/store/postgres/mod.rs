//! The PostgreSQL store, for several `public-api serve` replicas sharing one database.
//!
//! Each operation is one transaction on a pooled connection (tokio-postgres + deadpool), at READ
//! COMMITTED, committed durably (PostgreSQL's default `synchronous_commit = on`). Where the
//! SQLite store relies on its single writer, this one takes row locks (`SELECT … FOR UPDATE`) or
//! transaction-scoped advisory locks on the natural key (an upsert's `external_id`), so
//! concurrent replicas make the same decisions one at a time. Background work is claimed with
//! `FOR UPDATE SKIP LOCKED` and a lease; an expired lease is claimed again by any replica.
//! The decisions themselves come from [`super::rules`], shared with the SQLite store.
//!
//! The SQL is split by resource, with the same files as the SQLite store (`keys`, `jobs`,
//! `applications`, `interviews`, `outbox`, `idempotency`, `webhooks`, `audit`, `export`); each [`Store`]
//! method here only takes a connection or a transaction for it.

mod applications;
mod audit;
mod cache;
mod encryption;
mod export;
mod idempotency;
mod interviews;
mod jobs;
mod keys;
pub mod migrations;
mod outbox;
mod schemas;
mod shared;
mod sql;
mod webhooks;

use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use jiff::{SignedDuration, Timestamp};
use tokio_postgres::NoTls;

use self::cache::KeyCache;
pub use self::schemas::{create_schema, drop_schema, drop_schema_blocking, url_with_schema};
use self::shared::Shared;
use self::sql::{pg_error, query_opt};
use super::key_check::{self, KeyCheck};
use super::sealing::{Keyring, SealingError};
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

/// Connections per process: enough for the request handlers and the background loops to
/// overlap; several replicas together must stay under the server's `max_connections`.
const POOL_SIZE: usize = 16;

/// Of those, the connections that statements standing alone share (see [`shared`]).
const SHARED: usize = 4;

/// The PostgreSQL store.
pub struct PostgresStore {
    pool: Pool,
    /// The keys that seal webhook signing secrets.
    keyring: Keyring,
    /// API keys read by this replica, presumed valid until a request confirms them.
    keys: KeyCache,
    /// Connections that statements standing alone share, pipelined.
    shared: Shared,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user@host:port/db?options=…`), checks the schema version
    /// and applies missing migrations. The keyring must open the store's sealed secrets; a
    /// wrong key, or none when `require_key` (a server), is refused before anything is written.
    pub async fn connect(url: &str, mut keyring: Keyring, require_key: bool) -> Result<PostgresStore, StoreError> {
        let config: tokio_postgres::Config =
            url.parse().map_err(|e| StoreError::BadDatabaseUrl(format!("{}: {e}", redact_url(url))))?;
        let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .wait_timeout(Some(Duration::from_secs(10)))
            .create_timeout(Some(Duration::from_secs(10)))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Internal(format!("connection pool: {e}")))?;
        let mut store =
            PostgresStore { pool, keyring: Keyring::default(), keys: KeyCache::default(), shared: Shared::new(SHARED) };
        let mut client = store.client().await.map_err(|e| match e {
            StoreError::Database(reason) | StoreError::Unavailable(reason) => {
                StoreError::Unreachable { url: redact_url(url), reason }
            }
            other => other,
        })?;
        if require_key && keyring.is_empty() {
            return Err(SealingError::BadKey(
                "a shared PostgreSQL store needs an encryption key for webhook signing secrets, the same on every replica"
                    .into(),
            )
            .into());
        }
        migrations::apply(&mut client).await?;
        encryption::prepare(&mut client, &mut keyring).await?;
        store.keyring = keyring;
        Ok(store)
    }

    /// A pooled connection, after confirming the key the current request presumed valid, if any:
    /// nothing is read or written for a request whose key was revoked.
    async fn client(&self) -> Result<Object, StoreError> {
        let presumed = presumed_key()?;
        let client = self.pooled().await?;
        if let Some(key_id) = presumed {
            self.confirm(&client, &key_id).await?;
        }
        Ok(client)
    }

    /// A shared connection with no confirmation, for a statement that stands alone and carries
    /// the presumed key's check itself (see [`PostgresStore::settle_presumed`]).
    async fn shared(&self) -> Result<std::sync::Arc<Object>, StoreError> {
        self.shared.get(async || self.pooled().await).await
    }

    /// A connection of its own from the pool, with no confirmation.
    async fn pooled(&self) -> Result<Object, StoreError> {
        self.pool.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(e) => pg_error(e),
            deadpool_postgres::PoolError::Closed => StoreError::Closed,
            // Every connection busy past the wait timeout, or a new one not made in time.
            deadpool_postgres::PoolError::Timeout(_) => StoreError::Unavailable(format!("no database connection: {e}")),
            other => StoreError::Database(format!("no database connection: {other}")),
        })
    }

    /// Reads whether the presumed key is still valid, and records it for the request.
    async fn confirm(&self, client: &Object, key_id: &str) -> Result<(), StoreError> {
        let valid = keys::key_is_valid(client, key_id).await?;
        key_check::settle(valid);
        if key_check::current() == KeyCheck::Refused {
            self.keys.forget(key_id);
            return Err(StoreError::KeyRefused);
        }
        Ok(())
    }

    /// After a statement that carried the check of `presumed` (a key id): a row it found or wrote
    /// confirms the key; none leaves open whether the key or the row was missing, so the key is
    /// confirmed on its own.
    async fn settle_presumed(&self, client: &Object, presumed: Option<&str>, found: bool) -> Result<(), StoreError> {
        match presumed {
            None => Ok(()),
            Some(_) if found => {
                key_check::settle(true);
                Ok(())
            }
            Some(key_id) => self.confirm(client, key_id).await,
        }
    }
}

/// The key whose check a statement must carry: `Some` while the request presumes its key valid.
fn presumed_key() -> Result<Option<String>, StoreError> {
    match key_check::current() {
        KeyCheck::Presumed(key_id) => Ok(Some(key_id)),
        KeyCheck::Refused => Err(StoreError::KeyRefused),
        KeyCheck::Read | KeyCheck::Confirmed => Ok(None),
    }
}

/// The URL without its password, for messages.
pub(crate) fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// Runs `$body` in a transaction on a pooled connection and commits it; the transaction is
/// rolled back when the body fails (or the task is cancelled) before the commit.
macro_rules! in_transaction {
    ($store:expr, |$tx:ident| $body:expr) => {{
        let mut client = $store.client().await?;
        let $tx = client.transaction().await.map_err(pg_error)?;
        let value = $body;
        $tx.commit().await.map_err(pg_error)?;
        Ok(value)
    }};
}

#[async_trait]
impl Store for PostgresStore {
    fn is_exclusive(&self) -> bool {
        false
    }

    fn close(&self) {
        self.shared.clear();
        self.pool.close();
    }

    fn pool_stats(&self) -> PoolStats {
        let status = self.pool.status();
        PoolStats {
            busy: status.size.saturating_sub(status.available) as u64,
            idle: status.available as u64,
            max: Some(status.max_size as u64),
            waiting: status.waiting as u64,
            writer: None,
        }
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let client = self.client().await?;
        query_opt(&client, "SELECT 1 FROM organizations LIMIT 1", &[]).await.map(|_| ())
    }

    async fn create_organization(&self, id: String, name: String, now: Timestamp) -> Result<Organization, StoreError> {
        keys::create_organization(&self.client().await?, id, name, now).await
    }

    async fn create_first_organization(
        &self,
        id: String,
        name: String,
        now: Timestamp,
    ) -> Result<Option<Organization>, StoreError> {
        in_transaction!(self, |tx| keys::create_first_organization(&tx, id, name, now).await?)
    }

    async fn list_organizations(&self) -> Result<Vec<Organization>, StoreError> {
        keys::list_organizations(&self.client().await?).await
    }

    async fn get_organization(&self, id: &str) -> Result<Option<Organization>, StoreError> {
        keys::get_organization(&self.client().await?, id).await
    }

    async fn create_api_key(&self, key: NewApiKey, audit: AuditContext) -> Result<ApiKey, StoreError> {
        in_transaction!(self, |tx| keys::create_api_key(&tx, key, &audit).await?)
    }

    async fn list_api_keys(&self, org_id: &str) -> Result<Vec<ApiKey>, StoreError> {
        keys::list_api_keys(&self.client().await?, org_id).await
    }

    async fn find_api_key(&self, secret_hash: &str) -> Result<Option<ApiKey>, StoreError> {
        if let Some(key) = self.keys.get(secret_hash)
            && key_check::presume(&key.id)
        {
            return Ok(Some(key));
        }
        let found = keys::find_api_key(&self.client().await?, secret_hash).await?;
        if let Some(key) = &found {
            self.keys.fill(secret_hash, key);
        }
        Ok(found)
    }

    async fn confirm_presumed_key(&self) -> Result<(), StoreError> {
        self.client().await.map(drop)
    }

    async fn revoke_api_key(
        &self,
        org_id: &str,
        key_id: &str,
        now: Timestamp,
        audit: AuditContext,
    ) -> Result<Option<ApiKey>, StoreError> {
        let revoked: Result<_, StoreError> =
            in_transaction!(self, |tx| keys::revoke_api_key(&tx, org_id, key_id, now, &audit).await?);
        self.keys.forget(key_id);
        revoked
    }

    async fn record_key_usage(&self, usage: Vec<KeyUsage>) -> Result<(), StoreError> {
        if usage.is_empty() {
            return Ok(());
        }
        in_transaction!(self, |tx| keys::record_key_usage(&tx, usage).await?)
    }

    async fn upsert_job(&self, org_id: &str, fields: JobFields, now: Timestamp) -> Result<(Job, Upserted), StoreError> {
        // Most upserts create: one statement, without the round trips of BEGIN, a lock and
        // COMMIT, and carrying the check of a presumed key. Only an external id already taken
        // needs the locked read and replace.
        {
            let client = self.pooled().await?;
            let presumed = presumed_key()?;
            let created = jobs::insert_if_new(&client, org_id, &fields, now, presumed.as_deref()).await?;
            self.settle_presumed(&client, presumed.as_deref(), created.is_some()).await?;
            if let Some(job) = created {
                return Ok((job, Upserted::Created));
            }
        }
        in_transaction!(self, |tx| jobs::upsert_job(&tx, org_id, fields, now).await?)
    }

    async fn get_job(&self, org_id: &str, job_id: &str) -> Result<Option<Job>, StoreError> {
        let client = self.shared().await?;
        let presumed = presumed_key()?;
        let job = jobs::get_job(&*client, org_id, job_id, presumed.as_deref()).await?;
        self.settle_presumed(&client, presumed.as_deref(), job.is_some()).await?;
        Ok(job)
    }

    async fn find_job_by_external_id(&self, org_id: &str, external_id: &str) -> Result<Option<Job>, StoreError> {
        jobs::find_job_by_external_id(&self.client().await?, org_id, external_id).await
    }

    async fn update_job(
        &self,
        org_id: &str,
        job_id: &str,
        patch: JobPatch,
        now: Timestamp,
    ) -> Result<Option<Job>, StoreError> {
        in_transaction!(self, |tx| jobs::update_job(&tx, org_id, job_id, patch, now).await?)
    }

    async fn list_jobs(&self, org_id: &str, query: JobQuery) -> Result<Page<Job>, StoreError> {
        jobs::list_jobs(&self.client().await?, org_id, query).await
    }

    async fn create_application(
        &self,
        org_id: &str,
        new: NewApplication,
        now: Timestamp,
    ) -> Result<(Application, Upserted), StoreError> {
        in_transaction!(self, |tx| applications::create_application(&tx, org_id, new, now).await?)
    }

    async fn get_application(&self, org_id: &str, application_id: &str) -> Result<Option<Application>, StoreError> {
        applications::get_application(&self.client().await?, org_id, application_id).await
    }

    async fn list_applications(&self, org_id: &str, query: ApplicationQuery) -> Result<Page<Application>, StoreError> {
        applications::list_applications(&self.client().await?, org_id, query).await
    }

    async fn cancel_application(
        &self,
        org_id: &str,
        application_id: &str,
        reason: String,
        now: Timestamp,
    ) -> Result<Option<Application>, StoreError> {
        in_transaction!(self, |tx| applications::cancel_application(&tx, org_id, application_id, reason, now).await?)
    }

    async fn record_call_results(
        &self,
        org_id: &str,
        application_id: &str,
        results: CallResults,
        now: Timestamp,
    ) -> Result<Option<Application>, StoreError> {
        in_transaction!(self, |tx| interviews::record_call_results(&tx, org_id, application_id, results, now).await?)
    }

    async fn claim_interviews(
        &self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<InterviewTask>, StoreError> {
        interviews::claim_interviews(&self.client().await?, owner, now, lease_until, limit).await
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
        in_transaction!(self, |tx| {
            interviews::claim_interview(&tx, org_id, application_id, owner, now, lease_until, &audit).await?
        })
    }

    async fn release_leases(&self, owners: Option<Vec<String>>, now: Timestamp) -> Result<u64, StoreError> {
        in_transaction!(self, |tx| {
            let mut released = 0;
            for owner in super::rules::lease_holders(&owners) {
                released += interviews::release_leases(&tx, owner).await?;
                released += webhooks::release_leases(&tx, owner, now).await?;
            }
            released
        })
    }

    async fn advance_interview(
        &self,
        org_id: &str,
        application_id: &str,
        owner: &str,
        step: InterviewStep,
        now: Timestamp,
    ) -> Result<Option<Application>, StoreError> {
        in_transaction!(self, |tx| interviews::advance_interview(&tx, org_id, application_id, owner, step, now).await?)
    }

    async fn get_call_results(&self, org_id: &str, application_id: &str) -> Result<Option<CallResults>, StoreError> {
        interviews::get_call_results(&self.client().await?, org_id, application_id).await
    }

    async fn list_outbox(
        &self,
        org_id: &str,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<(i64, OutboxEvent)>, StoreError> {
        outbox::list_outbox(&self.client().await?, org_id, after_seq, limit).await
    }

    async fn get_candidate(&self, org_id: &str, candidate_id: &str) -> Result<Option<Candidate>, StoreError> {
        applications::get_candidate(&self.client().await?, org_id, candidate_id).await
    }

    async fn get_resume(&self, org_id: &str, candidate_id: &str) -> Result<Option<Resume>, StoreError> {
        applications::get_resume(&self.client().await?, org_id, candidate_id).await
    }

    async fn idempotency_begin(&self, claim: IdempotencyClaim) -> Result<IdempotencyBegin, StoreError> {
        in_transaction!(self, |tx| idempotency::idempotency_begin(&tx, &self.keyring, &claim).await?)
    }

    async fn idempotency_finish(&self, org_id: &str, key: &str, response: StoredResponse) -> Result<(), StoreError> {
        idempotency::idempotency_finish(&self.client().await?, &self.keyring, org_id, key, response).await
    }

    async fn idempotency_release(&self, org_id: &str, key: &str) -> Result<(), StoreError> {
        idempotency::idempotency_release(&self.client().await?, org_id, key).await
    }

    async fn create_endpoint(
        &self,
        org_id: &str,
        new: NewEndpoint,
        now: Timestamp,
        audit: AuditContext,
    ) -> Result<WebhookEndpoint, StoreError> {
        in_transaction!(self, |tx| webhooks::create_endpoint(&tx, &self.keyring, org_id, new, now, &audit).await?)
    }

    async fn list_endpoints(&self, org_id: &str) -> Result<Vec<WebhookEndpoint>, StoreError> {
        let client = self.client().await?;
        webhooks::list_endpoints(&client, org_id).await
    }

    async fn get_endpoint(&self, org_id: &str, endpoint_id: &str) -> Result<Option<WebhookEndpoint>, StoreError> {
        let client = self.client().await?;
        webhooks::get_endpoint(&client, org_id, endpoint_id, false).await
    }

    async fn update_endpoint(
        &self,
        org_id: &str,
        endpoint_id: &str,
        patch: EndpointPatch,
        now: Timestamp,
        audit: AuditContext,
    ) -> Result<Option<WebhookEndpoint>, StoreError> {
        in_transaction!(self, |tx| webhooks::update_endpoint(&tx, org_id, endpoint_id, patch, now, &audit).await?)
    }

    async fn delete_endpoint(
        &self,
        org_id: &str,
        endpoint_id: &str,
        now: Timestamp,
        audit: AuditContext,
    ) -> Result<bool, StoreError> {
        in_transaction!(self, |tx| webhooks::delete_endpoint(&tx, org_id, endpoint_id, now, &audit).await?)
    }

    async fn rotate_endpoint_secret(
        &self,
        org_id: &str,
        endpoint_id: &str,
        rotation: SecretRotation,
        now: Timestamp,
        audit: AuditContext,
    ) -> Result<Option<WebhookEndpoint>, StoreError> {
        in_transaction!(self, |tx| {
            webhooks::rotate_secret(&tx, &self.keyring, org_id, endpoint_id, rotation, now, &audit).await?
        })
    }

    async fn delivery_target(&self, endpoint_id: &str, now: Timestamp) -> Result<Option<DeliveryTarget>, StoreError> {
        let client = self.client().await?;
        webhooks::delivery_target(&client, &self.keyring, endpoint_id, now).await
    }

    async fn disable_endpoint(&self, endpoint_id: &str, reason: String, now: Timestamp) -> Result<(), StoreError> {
        in_transaction!(self, |tx| webhooks::disable_endpoint(&tx, endpoint_id, reason, now).await?)
    }

    async fn endpoint_failed(
        &self,
        endpoint_id: &str,
        now: Timestamp,
        disable_after: SignedDuration,
    ) -> Result<bool, StoreError> {
        in_transaction!(self, |tx| webhooks::endpoint_failed(&tx, endpoint_id, now, disable_after).await?)
    }

    async fn claim_deliveries(
        &self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
        skip_endpoints: &[String],
    ) -> Result<Vec<DeliveryTask>, StoreError> {
        let client = self.client().await?;
        webhooks::claim_deliveries(&client, owner, now, lease_until, limit, skip_endpoints).await
    }

    async fn claim_delivery(
        &self,
        org_id: &str,
        delivery_id: &str,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Option<DeliveryTask>, StoreError> {
        let client = self.client().await?;
        webhooks::claim_delivery(&client, org_id, delivery_id, owner, now, lease_until).await
    }

    async fn finish_attempt(
        &self,
        delivery_id: &str,
        owner: &str,
        attempt: DeliveryAttempt,
        outcome: AttemptOutcome,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        in_transaction!(self, |tx| webhooks::finish_attempt(&tx, delivery_id, owner, attempt, outcome, now).await?)
    }

    async fn postpone_delivery(&self, delivery_id: &str, owner: &str, at: Timestamp) -> Result<(), StoreError> {
        let client = self.client().await?;
        webhooks::postpone(&client, delivery_id, owner, at).await
    }

    async fn list_deliveries(&self, org_id: &str, query: DeliveryQuery) -> Result<Page<WebhookDelivery>, StoreError> {
        let client = self.client().await?;
        webhooks::list_deliveries(&client, org_id, query).await
    }

    async fn get_delivery(
        &self,
        org_id: &str,
        delivery_id: &str,
    ) -> Result<Option<(WebhookDelivery, Vec<DeliveryAttempt>)>, StoreError> {
        let client = self.client().await?;
        webhooks::get_delivery(&client, org_id, delivery_id).await
    }

    async fn event_payload(&self, org_id: &str, event_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        webhooks::event_payload(&self.client().await?, org_id, event_id).await
    }

    async fn queue_test_event(
        &self,
        org_id: &str,
        endpoint_id: &str,
        event: OutboxEvent,
    ) -> Result<Option<String>, StoreError> {
        in_transaction!(self, |tx| webhooks::queue_test_event(&tx, org_id, endpoint_id, event).await?)
    }

    async fn webhook_stats(&self) -> Result<WebhookStats, StoreError> {
        let client = self.client().await?;
        webhooks::stats(&client).await
    }

    async fn export(&self) -> Result<Export, StoreError> {
        export::export(&mut self.client().await?).await
    }

    async fn list_audit_events(&self, org_id: &str, query: AuditQuery) -> Result<Page<AuditEvent>, StoreError> {
        audit::list(&self.client().await?, org_id, query).await
    }

    async fn rotate_encryption_key(&self, new_key_id: &str) -> Result<usize, StoreError> {
        in_transaction!(self, |tx| encryption::rotate_key(&tx, &self.keyring, new_key_id).await?)
    }
}
