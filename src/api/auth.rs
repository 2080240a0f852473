//! Bearer-key authentication, the per-key rate limit, and key usage tracking.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;

use super::AppState;
use super::extract::Principal;
use super::problem::ApiError;
use crate::domain::ApiKey;
use crate::keys;
use crate::store::key_check::{self, KeyCheck};
use crate::store::{KeyUsage, StoreError};

/// Checks `Authorization: Bearer tenzo_pk_…`, applies the key's rate limit, records the use,
/// and hands the caller's organisation to the handler, through the `Idempotency-Key` check.
///
/// The request runs in a [`key_check::scope`]: a store shared with other replicas answers the
/// lookup from its cache and has the request's first store call confirm the key. Whatever the
/// handler answered, a key that was not confirmed by then is confirmed before the answer leaves,
/// and a revoked one gets 401.
pub async fn authenticate(State(state): State<AppState>, request: Request, next: Next) -> Result<Response, ApiError> {
    key_check::scope(async {
        let now = state.clock.now();
        let secret = bearer_secret(request.headers())?;
        let key = state
            .store
            .find_api_key(&keys::hash_secret(secret))
            .await?
            .ok_or_else(|| ApiError::unauthorized("api_key_invalid", "The API key is not valid."))?;
        if key.revoked_at.is_some() {
            return Err(ApiError::key_revoked());
        }
        if key.is_expired(now) {
            return Err(ApiError::unauthorized("api_key_expired", "The API key has expired; create a new one."));
        }
        let answer = match state.limiter.check(&key.id, now) {
            Ok(remaining) => {
                // Counted before the handler runs, so that a listing of keys includes the request
                // making it. A request refused below, because another replica had just revoked
                // the key this one presumed valid, stays counted.
                state.usage.record(&key.id, now);
                run(&state, key, remaining, request, next).await
            }
            Err(retry_after) => Err(rate_limited(retry_after)),
        };
        // Only a key presumed from a cache and still unconfirmed costs the store a visit here.
        match key_check::current() {
            KeyCheck::Read | KeyCheck::Confirmed => answer,
            KeyCheck::Refused => Err(ApiError::key_revoked()),
            KeyCheck::Presumed(_) => match state.store.confirm_presumed_key().await {
                Ok(()) => answer,
                Err(StoreError::KeyRefused) => Err(ApiError::key_revoked()),
                Err(e) => Err(e.into()),
            },
        }
    })
    .await
}

/// The rest of an admitted request: the scope its route needs, then the handler.
async fn run(
    state: &AppState,
    key: ApiKey,
    remaining: u32,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    // A route the document gives no scope is refused to every key, so that an operation added
    // without a declared scope fails closed.
    let route = request.extensions().get::<MatchedPath>().map_or("", MatchedPath::as_str);
    match state.scopes.required(request.method(), route) {
        Some(scope) if key.has(scope) => {}
        Some(scope) => return Err(ApiError::insufficient_scope(&[scope])),
        None => return Err(ApiError::internal(format!("The route {route} declares no scope."))),
    }
    request.extensions_mut().insert(Principal { org_id: key.org_id, key_id: key.id, scopes: key.scopes });
    let mut response = match super::idempotency::idempotency(state, request, next).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    };
    if let Some(limit) = state.limiter.limit {
        let headers = response.headers_mut();
        headers.insert("ratelimit-limit", HeaderValue::from(limit.burst));
        headers.insert("ratelimit-remaining", HeaderValue::from(remaining));
    }
    Ok(response)
}

fn rate_limited(retry_after: u64) -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        "Too many requests",
        format!("This API key sent too many requests; retry after {retry_after} s."),
    )
    .with_header(header::RETRY_AFTER, HeaderValue::from(retry_after))
}

fn bearer_secret(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers.get(header::AUTHORIZATION).ok_or_else(|| {
        ApiError::unauthorized("api_key_missing", "Send your API key in the header Authorization: Bearer tenzo_pk_…")
    })?;
    let malformed = || {
        ApiError::unauthorized(
            "api_key_malformed",
            "The Authorization header must be `Bearer ` followed by an API key starting with tenzo_pk_.",
        )
    };
    let value = value.to_str().map_err(|_| malformed())?;
    let (scheme, secret) = value.trim().split_once(' ').ok_or_else(malformed)?;
    let secret = secret.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || !keys::is_well_formed(secret) {
        return Err(malformed());
    }
    Ok(secret)
}

/// Requests per second allowed per key, with bursts up to `burst`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: u32,
}

/// A token bucket per key. Limits are per server process: with several replicas behind one
/// address, a key can make up to `replicas × limit` requests.
#[derive(Debug, Default)]
pub struct RateLimiter {
    pub limit: Option<RateLimit>,
    buckets: Mutex<HashMap<String, (f64, Timestamp)>>,
}

impl RateLimiter {
    pub fn new(limit: Option<RateLimit>) -> Self {
        RateLimiter { limit, buckets: Mutex::default() }
    }

    /// Takes one token: `Ok(tokens left)` or `Err(seconds until one is available)`.
    pub fn check(&self, key_id: &str, now: Timestamp) -> Result<u32, u64> {
        let Some(limit) = self.limit else {
            return Ok(u32::MAX);
        };
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let capacity = f64::from(limit.burst.max(1));
        let (tokens, updated) = buckets.entry(key_id.to_owned()).or_insert((capacity, now));
        let elapsed = now.duration_since(*updated).as_secs_f64().max(0.0);
        *tokens = (*tokens + elapsed * limit.per_second).min(capacity);
        *updated = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(*tokens as u32)
        } else {
            let wait = (1.0 - *tokens) / limit.per_second.max(f64::MIN_POSITIVE);
            Err(wait.ceil().max(1.0) as u64)
        }
    }
}

/// Key uses counted in memory and written to the store in batches, so that authenticating a
/// request costs no disk write. Counts reach the store within one flush interval.
#[derive(Debug, Default)]
pub struct UsageTracker {
    pending: Mutex<HashMap<String, (u64, Timestamp)>>,
    /// Held by a flush from taking the uses until the store has them, and by readers of the
    /// counts: otherwise a reader could see the uses in neither place.
    flushing: tokio::sync::Mutex<()>,
}

impl UsageTracker {
    /// Waits for a flush in progress and keeps the next one off while the guard lives, so that
    /// the store's counts plus [`UsageTracker::pending`] are every use.
    pub async fn settled(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.flushing.lock().await
    }

    pub fn record(&self, key_id: &str, now: Timestamp) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let entry = pending.entry(key_id.to_owned()).or_insert((0, now));
        entry.0 += 1;
        entry.1 = entry.1.max(now);
    }

    /// Uses not yet in the store, for one key.
    pub fn pending(&self, key_id: &str) -> Option<(u64, Timestamp)> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).get(key_id).copied()
    }

    /// Takes everything pending, for a flush.
    pub fn take(&self) -> Vec<KeyUsage> {
        let drained = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        drained.into_iter().map(|(key_id, (uses, last_used_at))| KeyUsage { key_id, uses, last_used_at }).collect()
    }

    /// Puts back uses whose flush failed.
    pub fn restore(&self, usage: Vec<KeyUsage>) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        for u in usage {
            let entry = pending.entry(u.key_id).or_insert((0, u.last_used_at));
            entry.0 += u.uses;
            entry.1 = entry.1.max(u.last_used_at);
        }
    }
}

#[cfg(test)]
mod tests {
    use jiff::SignedDuration;

    use super::*;

    #[test]
    fn bucket_allows_burst_then_refills() {
        let limiter = RateLimiter::new(Some(RateLimit { per_second: 2.0, burst: 3 }));
        let t0 = Timestamp::UNIX_EPOCH;
        assert_eq!(limiter.check("k", t0), Ok(2));
        assert_eq!(limiter.check("k", t0), Ok(1));
        assert_eq!(limiter.check("k", t0), Ok(0));
        assert_eq!(limiter.check("k", t0), Err(1));
        assert!(limiter.check("other", t0).is_ok(), "keys have separate buckets");
        let later = t0.checked_add(SignedDuration::from_millis(500)).unwrap();
        assert_eq!(limiter.check("k", later), Ok(0));
    }
}
