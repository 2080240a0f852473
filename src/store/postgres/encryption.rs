//! SQL for the encryption of webhook signing secrets at rest: the store's current key (as a
//! check value only that key opens), sealing the plain-text secrets of a store from before
//! encryption, and moving every secret to a new key. Both writes lock the check value's row,
//! so replicas starting together seal once, and a rotation waits for secret writes under way.

use deadpool_postgres::{Client, GenericClient};

use super::sql::{execute, pg_error, query, query_opt};
use crate::store::StoreError;
use crate::store::sealing::{self, Keyring, Preparation};

/// The current key's id and check value, if the store has one.
pub(super) async fn current_key(c: &impl GenericClient) -> Result<Option<(String, String)>, StoreError> {
    let row = query_opt(c, "SELECT key_id, check_value FROM encryption", &[]).await?;
    Ok(row.map(|r| (r.get(0), r.get(1))))
}

/// The id of the key new secrets are sealed with.
pub(super) async fn current_key_id(c: &impl GenericClient, keyring: &Keyring) -> Result<String, StoreError> {
    match current_key(c).await? {
        Some((key_id, _)) => Ok(key_id),
        None => Ok(keyring.first()?.id().to_owned()),
    }
}

/// Checks the keyring against the store before anything is written, then, for a store without
/// sealed secrets yet, seals every secret in one transaction.
pub(super) async fn prepare(client: &mut Client, keyring: &mut Keyring) -> Result<(), StoreError> {
    if let Preparation::Ready | Preparation::Keyless = sealing::prepare(keyring, current_key(&*client).await?)? {
        return Ok(());
    }
    let tx = client.transaction().await.map_err(pg_error)?;
    // Replicas starting together on a store from before encryption seal it once.
    execute(&tx, "LOCK TABLE encryption IN EXCLUSIVE MODE", &[]).await?;
    if let Preparation::Initialize { key_id } = sealing::prepare(keyring, current_key(&tx).await?)? {
        reseal_all(&tx, keyring, &key_id, true).await?;
    }
    tx.commit().await.map_err(pg_error)?;
    Ok(())
}

/// Seals every endpoint's secrets with `new_key_id` and makes it the current key, in one
/// transaction; returns how many endpoints were re-sealed.
pub(super) async fn rotate_key(
    c: &impl GenericClient,
    keyring: &Keyring,
    new_key_id: &str,
) -> Result<usize, StoreError> {
    execute(c, "LOCK TABLE encryption IN EXCLUSIVE MODE", &[]).await?;
    if let Some((id, check)) = current_key(c).await? {
        keyring.verify(&id, &check)?;
    }
    reseal_all(c, keyring, new_key_id, false).await
}

async fn reseal_all(
    c: &impl GenericClient,
    keyring: &Keyring,
    key_id: &str,
    plain_only: bool,
) -> Result<usize, StoreError> {
    let rows = query(c, "SELECT id, secrets FROM webhook_endpoints ORDER BY seq FOR UPDATE", &[]).await?;
    let mut resealed = 0;
    for row in rows {
        let (id, column): (String, &str) = (row.get(0), row.get(1));
        if plain_only && !sealing::has_plain_text(column)? {
            continue;
        }
        let secrets = sealing::decode_secrets(keyring, &id, column)?;
        let column = sealing::encode_secrets(keyring, key_id, &id, secrets)?;
        execute(c, "UPDATE webhook_endpoints SET secrets = $2 WHERE id = $1", &[&id, &column]).await?;
        resealed += 1;
    }
    execute(c, "DELETE FROM encryption", &[]).await?;
    execute(
        c,
        "INSERT INTO encryption (id, key_id, check_value) VALUES (1, $1, $2)",
        &[&key_id, &keyring.check_value(key_id)?],
    )
    .await?;
    Ok(resealed)
}
