//! The statement helpers every PostgreSQL resource file uses: prepared (and cached) statements,
//! one record, a page of records, advisory locks, and driver errors as the store's.

use deadpool_postgres::GenericClient;
use serde::de::DeserializeOwned;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::domain::Page;
use crate::store::StoreError;
use crate::store::encoding::{self, from_json};

/// Statement parameters.
pub(super) type Params<'a> = [&'a (dyn ToSql + Sync)];

/// A driver error, with PostgreSQL's own message and code when the server sent one. Losing the
/// connection, and the server refusing work it may take later, make the store unavailable.
pub(crate) fn pg_error(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) => {
            let text = format!("{} (SQLSTATE {})", db.message(), db.code().code());
            if unavailable_state(db.code().code()) { StoreError::Unavailable(text) } else { StoreError::Database(text) }
        }
        None => {
            // The driver's own text is terse ("error connecting to server"); the cause says why.
            let text = match std::error::Error::source(&e) {
                Some(cause) => format!("{e}: {cause}"),
                None => e.to_string(),
            };
            if connection_lost(&e) { StoreError::Unavailable(text) } else { StoreError::Database(text) }
        }
    }
}

/// SQLSTATEs that say the server cannot do the work now rather than that the statement is wrong:
/// connection exceptions (class 08), insufficient resources such as a full disk (class 53), the
/// server shutting down or starting (57P01, 57P02, 57P03), and a read-only standby (25006).
fn unavailable_state(code: &str) -> bool {
    code.starts_with("08") || code.starts_with("53") || matches!(code, "57P01" | "57P02" | "57P03" | "25006")
}

/// Whether the driver lost (or never had) its connection: closed, an I/O error, a failed
/// connect, or a timeout. Other driver errors (a type that does not convert) are bugs, not
/// outages.
fn connection_lost(e: &tokio_postgres::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        if cause.is::<std::io::Error>() {
            return true;
        }
        source = cause.source();
    }
    let text = e.to_string();
    e.is_closed()
        || ["error connecting to server", "error communicating with the server", "timeout waiting for server"]
            .iter()
            .any(|known| text.starts_with(known))
}

pub(super) async fn query(c: &impl GenericClient, sql: &str, params: &Params<'_>) -> Result<Vec<Row>, StoreError> {
    let stmt = c.prepare_cached(sql).await.map_err(pg_error)?;
    c.query(&stmt, params).await.map_err(pg_error)
}

pub(super) async fn query_opt(
    c: &impl GenericClient,
    sql: &str,
    params: &Params<'_>,
) -> Result<Option<Row>, StoreError> {
    let stmt = c.prepare_cached(sql).await.map_err(pg_error)?;
    c.query_opt(&stmt, params).await.map_err(pg_error)
}

pub(super) async fn execute(c: &impl GenericClient, sql: &str, params: &Params<'_>) -> Result<u64, StoreError> {
    let stmt = c.prepare_cached(sql).await.map_err(pg_error)?;
    c.execute(&stmt, params).await.map_err(pg_error)
}

/// One record by a query that yields a single `record` column.
pub(super) async fn record<T: DeserializeOwned>(
    c: &impl GenericClient,
    sql: &str,
    params: &Params<'_>,
) -> Result<Option<T>, StoreError> {
    query_opt(c, sql, params).await?.map(|r| from_json(r.get::<_, &str>(0))).transpose()
}

/// A page of records from a query yielding `seq, record`, fetched with `limit + 1` rows.
pub(super) async fn page<T: DeserializeOwned>(
    c: &impl GenericClient,
    sql: &str,
    params: &Params<'_>,
    limit: u32,
) -> Result<Page<T>, StoreError> {
    let rows = query(c, sql, params).await?;
    let rows = rows
        .iter()
        .map(|r| Ok((r.get::<_, i64>(0), from_json(r.get::<_, &str>(1))?)))
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(encoding::page_of(rows, limit))
}

/// Holds a transaction-scoped lock on a natural key (an `external_id`, say), so that two
/// replicas upserting the same key take turns.
pub(super) async fn lock_key(c: &impl GenericClient, key: &str) -> Result<(), StoreError> {
    execute(c, LOCK_KEY, &[&key]).await.map(|_| ())
}

pub(super) const LOCK_KEY: &str = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))";

/// Prepares (or finds in the connection's cache) every statement of a pipeline before any is
/// sent. Statements polled together go out in the order they are first polled only when none
/// still has to be prepared: one waiting for its prepare would be overtaken by the next, and a
/// row could arrive before the row it refers to. After this, each helper above finds its
/// statement cached and sends it on its first poll.
pub(super) async fn prepare_all(c: &impl GenericClient, statements: &[&str]) -> Result<(), StoreError> {
    for sql in statements {
        c.prepare_cached(sql).await.map_err(pg_error)?;
    }
    Ok(())
}
