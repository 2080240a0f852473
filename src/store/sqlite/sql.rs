//! The statement helpers every SQLite resource file uses: one record, a page of records.

use rusqlite::{Connection, OptionalExtension};
use serde::de::DeserializeOwned;

use crate::domain::Page;
use crate::store::StoreError;
use crate::store::encoding::{self, from_json};

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode::*;
        match e.sqlite_error_code() {
            // The file is locked past the busy timeout, or the disk is full, read-only or
            // failing: a retry later may succeed, and nothing about the request was wrong.
            Some(DatabaseBusy | DatabaseLocked | DiskFull | ReadOnly | SystemIoFailure | CannotOpen) => {
                StoreError::Unavailable(e.to_string())
            }
            _ => StoreError::Database(e.to_string()),
        }
    }
}

/// One record by a query that yields a single `record` column.
pub(super) fn one<T: DeserializeOwned>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Option<T>, StoreError> {
    Ok(one_sized(conn, sql, params)?.map(|(record, _)| record))
}

/// Like [`one`], with the length of the stored record text (the job cache's budget counts it).
pub(super) fn one_sized<T: DeserializeOwned>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Option<(T, usize)>, StoreError> {
    let text: Option<String> = conn.prepare_cached(sql)?.query_row(params, |row| row.get(0)).optional()?;
    text.map(|t| Ok((from_json(&t)?, t.len()))).transpose()
}

/// A page of records from a query yielding `seq, record`, fetched with `limit + 1` rows.
pub(super) fn page<T: DeserializeOwned>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    limit: u32,
) -> Result<Page<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, |row| Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?)))?;
    let rows = rows.map(|row| {
        let (seq, text) = row?;
        Ok((seq, from_json(&text)?))
    });
    Ok(encoding::page_of(rows.collect::<Result<Vec<_>, StoreError>>()?, limit))
}
