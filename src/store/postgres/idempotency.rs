//! SQL for idempotency keys: claim, record the response, release. A recorded response may carry
//! a secret (a new API key's, an endpoint's signing secret), so it is stored sealed. A first use of a key on one
//! replica makes a concurrent one on another wait for it, then find its row.

use deadpool_postgres::GenericClient;

use super::encryption;
use super::sql::{execute, query_opt};
use crate::store::encoding::{from_micros, micros};
use crate::store::sealing::{Keyring, idempotency_context};
use crate::store::{IdempotencyBegin, IdempotencyClaim, StoreError, StoredResponse, rules};

pub(super) async fn idempotency_begin(
    c: &impl GenericClient,
    keyring: &Keyring,
    claim: &IdempotencyClaim,
) -> Result<IdempotencyBegin, StoreError> {
    // Forget expired keys a few at a time, so the table stays small without a sweeper task.
    execute(
        c,
        "DELETE FROM idempotency_keys WHERE ctid IN
         (SELECT ctid FROM idempotency_keys WHERE started_at <= $1 ORDER BY started_at LIMIT 16 FOR UPDATE SKIP LOCKED)",
        &[&micros(rules::idempotency_expiry(claim))],
    )
    .await?;
    // A concurrent first use of the same key (on any replica) waits here for the other to
    // commit, then finds its row.
    let inserted = execute(
        c,
        "INSERT INTO idempotency_keys (org_id, key, fingerprint, state, started_at) VALUES ($1, $2, $3, 'running', $4)
         ON CONFLICT (org_id, key) DO NOTHING",
        &[&claim.org_id, &claim.key, &claim.fingerprint, &micros(claim.now)],
    )
    .await?;
    if inserted == 1 {
        return Ok(IdempotencyBegin::Proceed);
    }
    let row = query_opt(
        c,
        "SELECT fingerprint, state, started_at, status, content_type, body
         FROM idempotency_keys WHERE org_id = $1 AND key = $2 FOR UPDATE",
        &[&claim.org_id, &claim.key],
    )
    .await?
    .ok_or_else(|| StoreError::Database("the idempotency key was released while it was claimed; retry".into()))?;
    let stored = rules::StoredKey {
        fingerprint: row.get(0),
        done: row.get::<_, &str>(1) == "done",
        started_at: from_micros(row.get(2))?,
        response: StoredResponse {
            status: row.get::<_, Option<i32>>(3).and_then(|s| u16::try_from(s).ok()).unwrap_or(200),
            content_type: row.get(4),
            body: keyring.open_bytes(
                &idempotency_context(&claim.org_id, &claim.key),
                &row.get::<_, Option<Vec<u8>>>(5).unwrap_or_default(),
            )?,
        },
    };
    let (decision, take_over) = rules::idempotency_decision(stored, claim);
    if take_over {
        execute(
            c,
            "UPDATE idempotency_keys SET started_at = $3 WHERE org_id = $1 AND key = $2",
            &[&claim.org_id, &claim.key, &micros(claim.now)],
        )
        .await?;
    }
    Ok(decision)
}

pub(super) async fn idempotency_finish(
    c: &impl GenericClient,
    keyring: &Keyring,
    org_id: &str,
    key: &str,
    response: StoredResponse,
) -> Result<(), StoreError> {
    let key_id = encryption::current_key_id(c, keyring).await?;
    let body = keyring.seal_bytes(&key_id, &idempotency_context(org_id, key), &response.body)?.into_bytes();
    execute(
        c,
        "UPDATE idempotency_keys SET state = 'done', status = $3, content_type = $4, body = $5
         WHERE org_id = $1 AND key = $2",
        &[&org_id, &key, &i32::from(response.status), &response.content_type, &body],
    )
    .await
    .map(|_| ())
}

pub(super) async fn idempotency_release(c: &impl GenericClient, org_id: &str, key: &str) -> Result<(), StoreError> {
    execute(c, "DELETE FROM idempotency_keys WHERE org_id = $1 AND key = $2 AND state = 'running'", &[&org_id, &key])
        .await
        .map(|_| ())
}
