//! How both stores encode what they keep, and map rows back: times as microseconds since the
//! Unix epoch, records as JSON text, delivery rows to the API's deliveries, and pages of rows
//! fetched with one extra to tell whether there is more. Nothing here decides anything; that is
//! [`super::rules`].

use jiff::Timestamp;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::StoreError;
use crate::domain::webhooks::{DeliveryStatus, WebhookDelivery};
use crate::domain::{Cursor, Page, Scope};

pub(crate) fn micros(t: Timestamp) -> i64 {
    t.as_microsecond()
}

pub(crate) fn from_micros(us: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_microsecond(us).map_err(|e| StoreError::Internal(format!("stored time out of range: {e}")))
}

pub(crate) fn opt_from_micros(us: Option<i64>) -> Result<Option<Timestamp>, StoreError> {
    us.map(from_micros).transpose()
}

pub(crate) fn to_json<T: Serialize>(record: &T) -> Result<String, StoreError> {
    serde_json::to_string(record).map_err(|e| StoreError::Internal(format!("record does not encode: {e}")))
}

pub(crate) fn from_json<T: DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    Ok(serde_json::from_str(text)?)
}

/// The columns of a delivery row, as both stores keep them.
pub(crate) struct DeliveryRow {
    pub seq: i64,
    pub id: String,
    pub endpoint_id: String,
    pub event_id: String,
    pub event_type: String,
    pub status: String,
    pub attempts: u32,
    pub next_attempt_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A delivery as the API shows it; the next attempt only while it is pending.
pub(crate) fn delivery_record(row: DeliveryRow) -> Result<(i64, WebhookDelivery), StoreError> {
    let status = DeliveryStatus::parse(&row.status)
        .ok_or_else(|| StoreError::Internal(format!("bad delivery status {}", row.status)))?;
    let next_attempt_at = if status == DeliveryStatus::Pending { opt_from_micros(row.next_attempt_at)? } else { None };
    Ok((
        row.seq,
        WebhookDelivery {
            id: row.id,
            endpoint_id: row.endpoint_id,
            event_id: row.event_id,
            event_type: row.event_type,
            status,
            attempt_count: row.attempts,
            next_attempt_at,
            created_at: from_micros(row.created_at)?,
            updated_at: from_micros(row.updated_at)?,
        },
    ))
}

/// A page from rows fetched with `limit + 1`: the extra row only says there is more.
pub(crate) fn page_of<T>(rows: Vec<(i64, T)>, limit: u32) -> Page<T> {
    let more = rows.len() > limit as usize;
    let mut items = Vec::with_capacity(rows.len().min(limit as usize));
    let mut last_seq = None;
    for (seq, item) in rows.into_iter().take(limit as usize) {
        items.push(item);
        last_seq = Some(seq);
    }
    let next = if more { last_seq.map(|after_seq| Cursor { after_seq }) } else { None };
    Page { items, next }
}

/// A key's scopes as stored: their names, space-separated.
pub(crate) fn scopes_column(scopes: &[Scope]) -> String {
    scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")
}

/// A key's scopes from their column; `NULL` (a key from before scopes) is every scope.
pub(crate) fn scopes_from_column(column: Option<&str>) -> Result<Vec<Scope>, StoreError> {
    let Some(column) = column else { return Ok(Scope::ALL.to_vec()) };
    column
        .split_whitespace()
        .map(|name| Scope::parse(name).ok_or_else(|| StoreError::Internal(format!("unknown stored scope {name}"))))
        .collect()
}
