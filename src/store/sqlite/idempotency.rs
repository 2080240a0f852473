//! SQL for idempotency keys: claim, record the response, release. A recorded response may carry
//! a secret (a new API key's, an endpoint's signing secret), so it is stored sealed.

use rusqlite::{Connection, OptionalExtension, params};

use super::encryption;
use crate::store::encoding::{from_micros, micros};
use crate::store::sealing::{Keyring, idempotency_context};
use crate::store::{IdempotencyBegin, IdempotencyClaim, StoreError, StoredResponse, rules};

pub(super) fn idempotency_begin(
    conn: &Connection,
    keyring: &Keyring,
    claim: IdempotencyClaim,
) -> Result<IdempotencyBegin, StoreError> {
    // Forget expired keys a few at a time, so the table stays small without a sweeper task.
    conn.prepare_cached(
        "DELETE FROM idempotency_keys WHERE rowid IN
         (SELECT rowid FROM idempotency_keys WHERE started_at <= ?1 ORDER BY started_at LIMIT 16)",
    )?
    .execute([micros(rules::idempotency_expiry(&claim))])?;

    type Row = (String, String, i64, Option<u16>, Option<String>, Option<Vec<u8>>);
    let row: Option<Row> = conn
        .query_row(
            "SELECT fingerprint, state, started_at, status, content_type, body
             FROM idempotency_keys WHERE org_id = ?1 AND key = ?2",
            params![claim.org_id, claim.key],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
        )
        .optional()?;
    let Some((fingerprint, state, started_at, status, content_type, body)) = row else {
        conn.execute(
            "INSERT INTO idempotency_keys (org_id, key, fingerprint, state, started_at) VALUES (?1, ?2, ?3, 'running', ?4)",
            params![claim.org_id, claim.key, claim.fingerprint, micros(claim.now)],
        )?;
        return Ok(IdempotencyBegin::Proceed);
    };
    let stored = rules::StoredKey {
        fingerprint,
        done: state == "done",
        started_at: from_micros(started_at)?,
        response: StoredResponse {
            status: status.unwrap_or(200),
            content_type,
            body: keyring.open_bytes(&idempotency_context(&claim.org_id, &claim.key), &body.unwrap_or_default())?,
        },
    };
    let (decision, take_over) = rules::idempotency_decision(stored, &claim);
    if take_over {
        conn.execute(
            "UPDATE idempotency_keys SET started_at = ?3 WHERE org_id = ?1 AND key = ?2",
            params![claim.org_id, claim.key, micros(claim.now)],
        )?;
    }
    Ok(decision)
}

pub(super) fn idempotency_finish(
    conn: &Connection,
    keyring: &Keyring,
    org_id: &str,
    key: &str,
    response: StoredResponse,
) -> Result<(), StoreError> {
    let key_id = encryption::current_key_id(conn, keyring)?;
    let body = keyring.seal_bytes(&key_id, &idempotency_context(org_id, key), &response.body)?;
    conn.execute(
        "UPDATE idempotency_keys SET state = 'done', status = ?3, content_type = ?4, body = ?5
         WHERE org_id = ?1 AND key = ?2",
        params![org_id, key, response.status, response.content_type, body.into_bytes()],
    )?;
    Ok(())
}

pub(super) fn idempotency_release(conn: &Connection, org_id: &str, key: &str) -> Result<(), StoreError> {
    conn.execute(
        "DELETE FROM idempotency_keys WHERE org_id = ?1 AND key = ?2 AND state = 'running'",
        params![org_id, key],
    )?;
    Ok(())
}
