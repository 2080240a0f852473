//! Schemas as independent stores in one database: each test, and each store of a bench run,
//! gets a schema of its own, made before and dropped after.

use tokio_postgres::NoTls;

use super::redact_url;
use super::sql::pg_error;
use crate::store::StoreError;

/// `url` with `search_path` set to `schema`, so the store's tables live in that schema: one
/// database can hold several independent stores (one per test, say).
pub fn url_with_schema(url: &str, schema: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options=-csearch_path%3D{schema}")
}

/// Creates an empty schema for [`url_with_schema`]. Names are plain identifiers (letters,
/// digits, `_`).
pub async fn create_schema(url: &str, schema: &str) -> Result<(), StoreError> {
    admin(url, &format!("CREATE SCHEMA {}", identifier(schema)?)).await
}

/// Drops a schema made by [`create_schema`] and everything in it.
pub async fn drop_schema(url: &str, schema: &str) -> Result<(), StoreError> {
    admin(url, &format!("DROP SCHEMA IF EXISTS {} CASCADE", identifier(schema)?)).await
}

/// [`drop_schema`] from synchronous code, such as a `Drop` that may run inside an async runtime
/// (which cannot be blocked on): on a thread of its own with a small runtime.
pub fn drop_schema_blocking(url: String, schema: String) -> Result<(), StoreError> {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Internal(format!("a runtime to drop a schema: {e}")))?;
        runtime.block_on(drop_schema(&url, &schema))
    })
    .join()
    .unwrap_or_else(|_| Err(StoreError::Internal("the thread dropping a schema panicked".into())))
}

fn identifier(name: &str) -> Result<&str, StoreError> {
    let plain = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain { Ok(name) } else { Err(StoreError::Internal(format!("not a plain schema name: {name}"))) }
}

async fn admin(url: &str, sql: &str) -> Result<(), StoreError> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .map_err(|e| StoreError::Unreachable { url: redact_url(url), reason: pg_error(e).to_string() })?;
    let connection = tokio::spawn(connection);
    let result = client.batch_execute(sql).await.map_err(pg_error);
    drop(client);
    let _ = connection.await;
    result
}
