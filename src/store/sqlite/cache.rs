//! In-memory caches in front of the two reads every `GET /v1/jobs/{id}` makes: the API key of
//! the request and the job. Each SQLite read transaction costs file-lock system calls and a
//! process-wide lock inside SQLite, which the bench measured as costing as much as a whole
//! trivial request; a hit costs neither.
//!
//! Both caches only ever return what was committed, and never an older version of a record
//! once its writer's caller has heard that the write is done:
//!
//! - **Jobs** are written only by the server that holds the data directory (the admin commands
//!   never write them), always on the store's writer thread. Once such a transaction has
//!   committed, the writer puts the job as written in the cache and moves the cache's epoch on
//!   (write-through: a job just created or changed is read from memory). A read that missed
//!   fills the cache only if the epoch did not move while it read, so a read that began before
//!   a commit cannot put the older record back.
//! - **API keys** are also written by the admin commands (`keys create`, `keys revoke`), from
//!   another process. Every key write, by either process, stores a new random number in the
//!   file [`GENERATION_FILE`] after its commit; a cached key is used only while that number is
//!   the one read before the key was loaded. Reading it is one `pread` of 8 bytes.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::domain::{ApiKey, Job};
use crate::store::StoreError;

/// The file in the data directory that says when API keys last changed.
pub const GENERATION_FILE: &str = "keys.generation";

/// The most record text (the JSON the store keeps) the job cache holds; the memory it takes is
/// about twice this. Past it the cache drops arbitrary jobs down to three quarters of it: no
/// bookkeeping on a hit, and with reads spread over more jobs than fit, most still hit.
const JOB_CACHE_BYTES: usize = 64 << 20;

/// The most keys cached; a key is looked up by its secret, so this bounds what a client guessing
/// secrets could make the server keep (misses are not cached at all).
const KEY_CACHE_ENTRIES: usize = 10_000;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Recently read jobs, by id.
#[derive(Default)]
pub(super) struct JobCache {
    inner: Mutex<Jobs>,
}

#[derive(Default)]
struct Jobs {
    /// Moves on with every job write; see the module comment.
    epoch: u64,
    bytes: usize,
    by_id: HashMap<String, CachedJob>,
}

struct CachedJob {
    org_id: String,
    /// Shared so that a hit copies the job after letting go of the lock, not while holding it.
    job: Arc<Job>,
    bytes: usize,
}

impl JobCache {
    /// The epoch to pass to [`JobCache::fill`], read before the store is.
    pub(super) fn epoch(&self) -> u64 {
        lock(&self.inner).epoch
    }

    pub(super) fn get(&self, org_id: &str, job_id: &str) -> Option<Job> {
        let job = {
            let jobs = lock(&self.inner);
            let cached = jobs.by_id.get(job_id).filter(|c| c.org_id == org_id)?;
            Arc::clone(&cached.job)
        };
        Some(Job::clone(&job))
    }

    /// Keeps a job read from the store, unless a job write ended since `epoch` was taken.
    pub(super) fn fill(&self, epoch: u64, org_id: &str, job: &Job, bytes: usize) {
        let mut jobs = lock(&self.inner);
        if jobs.epoch == epoch {
            jobs.insert(org_id, job, bytes);
        }
    }

    /// Called on the writer thread once a transaction that wrote `job` has committed, before
    /// its caller hears so: the cache holds the job as written from then on.
    pub(super) fn committed(&self, org_id: &str, job: &Job, bytes: usize) {
        let mut jobs = lock(&self.inner);
        jobs.epoch += 1;
        jobs.insert(org_id, job, bytes);
    }
}

impl Jobs {
    fn insert(&mut self, org_id: &str, job: &Job, bytes: usize) {
        if self.bytes + bytes > JOB_CACHE_BYTES {
            // The map's iteration order is seeded per process, so which jobs go is arbitrary.
            let mut excess = (self.bytes + bytes).saturating_sub(JOB_CACHE_BYTES / 4 * 3);
            self.by_id.retain(|_, cached| {
                if excess == 0 {
                    return true;
                }
                excess = excess.saturating_sub(cached.bytes);
                false
            });
            self.bytes = self.by_id.values().map(|c| c.bytes).sum();
        }
        let entry = CachedJob { org_id: org_id.to_owned(), job: Arc::new(job.clone()), bytes };
        self.bytes += bytes;
        if let Some(old) = self.by_id.insert(job.id.clone(), entry) {
            self.bytes -= old.bytes;
        }
    }
}

/// Recently used API keys, by secret hash, valid while the key generation stays the same.
pub(super) struct KeyCache {
    /// `None` when the file cannot be opened (a read-only data directory): then nothing is
    /// cached and every lookup reads the store.
    generation: Option<File>,
    by_hash: Mutex<HashMap<String, (u64, ApiKey)>>,
}

impl KeyCache {
    /// Opens (creating if needed) the generation file. Called only after the store opened, so a
    /// data directory the store refuses is left untouched.
    pub(super) fn open(data_dir: &Path) -> KeyCache {
        let path = data_dir.join(GENERATION_FILE);
        let generation = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).ok();
        let cache = KeyCache { generation, by_hash: Mutex::default() };
        if cache.current().is_none() {
            // New (or cut short): give it a first value so that lookups can be cached.
            let _ = cache.advance();
        }
        cache
    }

    /// The key generation now; `None` if it cannot be read, which turns caching off.
    pub(super) fn current(&self) -> Option<u64> {
        let mut bytes = [0u8; 8];
        self.generation.as_ref()?.read_exact_at(&mut bytes, 0).ok()?;
        Some(u64::from_le_bytes(bytes))
    }

    pub(super) fn get(&self, secret_hash: &str, generation: u64) -> Option<ApiKey> {
        lock(&self.by_hash).get(secret_hash).filter(|(g, _)| *g == generation).map(|(_, key)| key.clone())
    }

    /// Keeps a key read from the store after `generation` was read.
    pub(super) fn fill(&self, secret_hash: &str, generation: u64, key: &ApiKey) {
        let mut keys = lock(&self.by_hash);
        if keys.len() >= KEY_CACHE_ENTRIES {
            keys.clear();
        }
        keys.insert(secret_hash.to_owned(), (generation, key.clone()));
    }

    /// Called once a transaction that wrote API keys has ended: every process using this data
    /// directory stops trusting the keys it cached.
    pub(super) fn advance(&self) -> Result<(), StoreError> {
        lock(&self.by_hash).clear();
        let io = |source| StoreError::Io {
            context: format!(
                "the API key change is saved, but a running server may go on accepting the old key until it restarts: \
                 cannot write {GENERATION_FILE}"
            ),
            source,
        };
        let file = self.generation.as_ref().ok_or_else(|| {
            io(std::io::Error::new(std::io::ErrorKind::PermissionDenied, "the file could not be opened"))
        })?;
        let mut next = [0u8; 8];
        getrandom::fill(&mut next).map_err(|e| io(std::io::Error::other(e.to_string())))?;
        file.write_all_at(&next, 0).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::task::{Context, Waker};

    use jiff::Timestamp;

    use super::*;
    use crate::domain::{JobFields, JobPatch};
    use crate::store::Store;
    use crate::store::sealing::Keyring;
    use crate::store::sqlite::{Access, SqliteStore};

    fn job(id: &str, title: &str) -> Job {
        let fields = JobFields { external_id: None, title: title.to_owned(), ..JobFields::default() };
        fields.into_job(id.to_owned(), jiff::Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn a_read_that_began_before_a_write_does_not_fill_the_cache() {
        let cache = JobCache::default();
        let before = cache.epoch();
        cache.committed("org_1", &job("job_1", "new"), 10);
        cache.fill(before, "org_1", &job("job_1", "old"), 10);
        assert_eq!(
            cache.get("org_1", "job_1").map(|j| j.title),
            Some("new".to_owned()),
            "the older record must not come back"
        );
        assert!(cache.get("org_2", "job_1").is_none(), "a job is only found for its organisation");

        let after = cache.epoch();
        cache.fill(after, "org_1", &job("job_2", "read"), 10);
        assert_eq!(cache.get("org_1", "job_2").map(|j| j.title), Some("read".to_owned()));
        assert_eq!(lock(&cache.inner).bytes, 20);
    }

    #[test]
    fn a_full_job_cache_drops_a_quarter_of_itself() {
        let cache = JobCache::default();
        let epoch = cache.epoch();
        let each = JOB_CACHE_BYTES / 100;
        for n in 0..100 {
            cache.fill(epoch, "org_1", &job(&format!("job_{n}"), "a"), each);
        }
        assert_eq!(lock(&cache.inner).by_id.len(), 100);
        cache.committed("org_1", &job("job_new", "b"), each);
        let jobs = lock(&cache.inner);
        assert!(jobs.by_id.contains_key("job_new"), "the job being added stays");
        assert_eq!(jobs.by_id.len(), 75, "room made down to three quarters, then the new job");
        assert_eq!(jobs.bytes, 75 * each);
    }

    #[test]
    fn a_key_change_in_one_process_is_seen_by_another() {
        let dir = tempfile::tempdir().expect("temp dir");
        let server = KeyCache::open(dir.path());
        let admin = KeyCache::open(dir.path());
        let generation = server.current().expect("generation readable");
        assert_eq!(admin.current(), Some(generation), "the second opener keeps the value");
        let key = ApiKey {
            id: "key_1".into(),
            org_id: "org_1".into(),
            name: "CI".into(),
            prefix: "tenzo_pk_abcd".into(),
            scopes: crate::domain::Scope::ALL.to_vec(),
            created_at: jiff::Timestamp::UNIX_EPOCH,
            expires_at: None,
            revoked_at: None,
            last_used_at: None,
            usage_count: 0,
        };
        server.fill("hash", generation, &key);
        assert!(server.get("hash", generation).is_some());

        admin.advance().expect("generation written");
        let now = server.current().expect("generation readable");
        assert_ne!(now, generation);
        assert!(server.get("hash", now).is_none(), "the key is loaded again after the change");
    }

    /// The job cache is updated by the writer thread, so a write whose caller went away (a
    /// client that hung up mid-request) still stops the older record from being served.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_job_write_whose_caller_went_away_still_reaches_the_job_cache() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path(), Access::Server, Keyring::default()).unwrap();
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        store.create_organization("org_1".into(), "Org".into(), now).await.unwrap();
        let fields = |title: &str, external_id: &str| JobFields {
            external_id: Some(external_id.into()),
            title: title.into(),
            ..JobFields::default()
        };
        let (job, _) = store.upsert_job("org_1", fields("Old title", "REQ-1"), now).await.unwrap();
        let read = store.get_job("org_1", &job.id).await.unwrap().unwrap();
        assert_eq!(store.jobs.get("org_1", &job.id), Some(read), "the read filled the cache");

        let patch = JobPatch { title: Some("New title".into()), ..JobPatch::default() };
        // Polled once, so the write is queued; then dropped, as axum drops a hung-up request.
        let mut abandoned = Box::pin(store.update_job("org_1", &job.id, patch, now));
        let polled = abandoned.as_mut().poll(&mut Context::from_waker(Waker::noop()));
        assert!(polled.is_pending(), "the update was still waiting for its commit");
        drop(abandoned);
        // Writes commit in order: once a later one is done, the abandoned one has committed too.
        store.upsert_job("org_1", fields("Other", "REQ-2"), now).await.unwrap();

        let served = store.get_job("org_1", &job.id).await.unwrap().unwrap();
        assert_eq!(served.title, "New title");
    }
}
