//! API keys this replica has read, by secret hash, so that authenticating a request costs no
//! statement of its own. Another replica may revoke a key at any time, so a cached key is only
//! ever *presumed* valid, and the request confirms it against the database in its first store
//! call (see [`crate::store::key_check`]); this cache holds no job or endpoint.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use crate::domain::ApiKey;

/// The most keys cached; a key is looked up by its secret, so this bounds what a client guessing
/// secrets could make the server keep (misses are not cached at all).
const KEY_CACHE_ENTRIES: usize = 10_000;

#[derive(Default)]
pub(super) struct KeyCache {
    by_hash: Mutex<HashMap<String, ApiKey>>,
}

impl KeyCache {
    pub(super) fn get(&self, secret_hash: &str) -> Option<ApiKey> {
        lock(&self.by_hash).get(secret_hash).cloned()
    }

    /// Keeps a key just read; a revoked one is not kept, since it can never be used again.
    pub(super) fn fill(&self, secret_hash: &str, key: &ApiKey) {
        if key.revoked_at.is_some() {
            return;
        }
        let mut keys = lock(&self.by_hash);
        if keys.len() >= KEY_CACHE_ENTRIES {
            keys.clear();
        }
        keys.insert(secret_hash.to_owned(), key.clone());
    }

    /// Forgets a key found revoked, by this replica or another.
    pub(super) fn forget(&self, key_id: &str) {
        lock(&self.by_hash).retain(|_, key| key.id != key_id);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
