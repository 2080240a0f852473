//! Confirming a cached API key inside the request that uses it.
//!
//! A server sharing its store with other replicas cannot trust a key it cached: another replica
//! may have revoked it a moment ago. Reading the key again before every request costs a round
//! trip of its own, so instead a request runs in a [`scope`], the store answers the
//! authentication from its cache and *presumes* the key valid, and the request's first visit to
//! the store confirms it:
//!
//! - a read by id carries the check in its own statement (`… AND <key not revoked>`), so the
//!   common request costs no extra round trip;
//! - anything else confirms the key first, before its first statement, so nothing is written
//!   and nothing is read for a key that is no longer valid;
//! - a request that never reached the store confirms it when the handler is done, before its
//!   answer leaves.
//!
//! Once any of those sees the key revoked, every later store call of the request fails with
//! [`StoreError::KeyRefused`](super::StoreError::KeyRefused), and the authentication
//! middleware answers 401 whatever the handler made of it. A revocation committed before the
//! request began is therefore always seen, on every replica.
//!
//! Outside a scope (background work, the CLI, tests calling the store directly) nothing is
//! presumed: the store reads the key.

use std::future::Future;
use std::sync::Mutex;

tokio::task_local! {
    static CHECK: Mutex<KeyCheck>;
}

/// Where a request stands with its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyCheck {
    /// The key was read from the store (or none is in use): nothing to confirm.
    Read,
    /// The key with this id came from a cache and is not yet confirmed.
    Presumed(String),
    /// The store confirmed the presumed key.
    Confirmed,
    /// The store found the presumed key revoked (or gone).
    Refused,
}

/// Runs `request` with a key check of its own, starting at [`KeyCheck::Read`].
pub async fn scope<F: Future>(request: F) -> F::Output {
    CHECK.scope(Mutex::new(KeyCheck::Read), request).await
}

/// The request's key check now; [`KeyCheck::Read`] outside a scope.
pub fn current() -> KeyCheck {
    CHECK.try_with(|c| lock(c).clone()).unwrap_or(KeyCheck::Read)
}

/// Presumes the cached key `key_id` valid until the store confirms it. `false` outside a scope,
/// where nothing may be presumed and the caller must read the key.
pub fn presume(key_id: &str) -> bool {
    CHECK.try_with(|c| *lock(c) = KeyCheck::Presumed(key_id.to_owned())).is_ok()
}

/// Records what the store found for the presumed key. The first finding stands for the rest of
/// the request, as a key read at its start would.
pub fn settle(valid: bool) {
    let _ = CHECK.try_with(|c| {
        let mut check = lock(c);
        if matches!(*check, KeyCheck::Presumed(_)) {
            *check = if valid { KeyCheck::Confirmed } else { KeyCheck::Refused };
        }
    });
}

fn lock(c: &Mutex<KeyCheck>) -> std::sync::MutexGuard<'_, KeyCheck> {
    c.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn nothing_is_presumed_outside_a_scope() {
        assert!(!presume("key_1"));
        assert_eq!(current(), KeyCheck::Read);
        settle(false);
        assert_eq!(current(), KeyCheck::Read);
    }

    #[tokio::test]
    async fn the_first_finding_stands() {
        let end = scope(async {
            assert!(presume("key_1"));
            assert_eq!(current(), KeyCheck::Presumed("key_1".into()));
            settle(false);
            settle(true);
            current()
        })
        .await;
        assert_eq!(end, KeyCheck::Refused);
    }

    #[tokio::test]
    async fn a_confirmed_key_stays_confirmed_and_scopes_do_not_share() {
        let first = scope(async {
            presume("key_1");
            settle(true);
            current()
        });
        let second = scope(async { current() });
        assert_eq!(first.await, KeyCheck::Confirmed);
        assert_eq!(second.await, KeyCheck::Read);
    }
}
