//! A few connections that many requests use at once, for reads that stand alone (no
//! transaction): a job read by id. tokio-postgres pipelines the statements of concurrent callers
//! on one connection, so a busy server sends and receives many of them per system call, and their
//! PostgreSQL backend runs them back to back instead of waking for each. The bench measured
//! `GET /v1/jobs/{id}` at 29,000 to 36,000 req/s this way, against 22,600 to 26,000 without.
//!
//! No statement of a transaction goes here (a transaction needs its connection to itself), and
//! no write either: the backend runs a connection's statements one at a time, so a commit waiting
//! for its flush would hold up every statement queued behind it. Measured, new jobs written this
//! way were slower: 8,700 and 10,300 req/s against 13,400 and 10,200.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use deadpool_postgres::Object;

use crate::store::StoreError;

/// The shared connections, taken from the pool on first use and held; a connection found
/// closed (the database restarted, say) is replaced by a fresh one on its next use.
pub(super) struct Shared {
    slots: Vec<Mutex<Option<Arc<Object>>>>,
    next: AtomicUsize,
}

impl Shared {
    pub(super) fn new(connections: usize) -> Shared {
        Shared { slots: (0..connections.max(1)).map(|_| Mutex::new(None)).collect(), next: AtomicUsize::new(0) }
    }

    /// A shared connection, in turn, with `take` making a new one when its slot has none open.
    pub(super) async fn get<F>(&self, take: F) -> Result<Arc<Object>, StoreError>
    where
        F: AsyncFnOnce() -> Result<Object, StoreError>,
    {
        let slot = &self.slots[self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len()];
        if let Some(open) = lock(slot).as_ref().filter(|c| !c.is_closed()) {
            return Ok(Arc::clone(open));
        }
        let fresh = Arc::new(take().await?);
        *lock(slot) = Some(Arc::clone(&fresh));
        Ok(fresh)
    }

    /// Lets go of every shared connection, for a store closing down.
    pub(super) fn clear(&self) {
        for slot in &self.slots {
            lock(slot).take();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
