//! SQL for the encryption of webhook signing secrets at rest: the store's current key (as a
//! check value only that key opens), sealing the plain-text secrets of a store from before
//! encryption, and moving every secret to a new key.

use rusqlite::{Connection, OptionalExtension, params};

use crate::store::StoreError;
use crate::store::sealing::{self, Keyring, Preparation};

/// The current key's id and check value, if the store has one.
pub(super) fn current_key(conn: &Connection) -> Result<Option<(String, String)>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT key_id, check_value FROM encryption")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

/// The id of the key new secrets are sealed with.
pub(super) fn current_key_id(conn: &Connection, keyring: &Keyring) -> Result<String, StoreError> {
    match current_key(conn)? {
        Some((key_id, _)) => Ok(key_id),
        None => Ok(keyring.first()?.id().to_owned()),
    }
}

/// Checks the keyring against the store before anything is written, then, for a store without
/// sealed secrets yet, saves a generated key's file and seals every secret, in one transaction.
pub(super) fn prepare(conn: &mut Connection, keyring: &mut Keyring) -> Result<(), StoreError> {
    let Preparation::Initialize { key_id } = sealing::prepare(keyring, current_key(conn)?)? else {
        return Ok(());
    };
    keyring.save_generated()?;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    reseal_all(&tx, keyring, &key_id, true)?;
    tx.commit()?;
    // Copy the sealed pages over the plain-text ones in the database file now, rather than at
    // some later checkpoint.
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    Ok(())
}

/// Seals every endpoint's secrets with `new_key_id` and makes it the current key, in one
/// transaction; returns how many endpoints were re-sealed.
pub(super) fn rotate_key(conn: &Connection, keyring: &Keyring, new_key_id: &str) -> Result<usize, StoreError> {
    current_key(conn)?.map(|(id, check)| keyring.verify(&id, &check)).transpose()?;
    reseal_all(conn, keyring, new_key_id, false)
}

/// Re-seals the secrets of every endpoint (only those with plain text when `plain_only`) with
/// `key_id`, and writes that key's check value.
fn reseal_all(conn: &Connection, keyring: &Keyring, key_id: &str, plain_only: bool) -> Result<usize, StoreError> {
    let rows: Vec<(String, String)> = conn
        .prepare("SELECT id, secrets FROM webhook_endpoints ORDER BY seq")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut resealed = 0;
    for (id, column) in rows {
        if plain_only && !sealing::has_plain_text(&column)? {
            continue;
        }
        let secrets = sealing::decode_secrets(keyring, &id, &column)?;
        let column = sealing::encode_secrets(keyring, key_id, &id, secrets)?;
        conn.execute("UPDATE webhook_endpoints SET secrets = ?2 WHERE id = ?1", params![id, column])?;
        resealed += 1;
    }
    conn.execute("DELETE FROM encryption", [])?;
    conn.execute(
        "INSERT INTO encryption (id, key_id, check_value) VALUES (1, ?1, ?2)",
        params![key_id, keyring.check_value(key_id)?],
    )?;
    Ok(resealed)
}
