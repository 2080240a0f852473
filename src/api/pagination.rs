//! Query parameters shared by every list: `limit`, `cursor`, `updated_after`.
//!
//! Parameters arrive as text and are parsed here, so that a bad value gets a 400 naming the
//! parameter rather than a generic parse failure.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use jiff::Timestamp;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use utoipa::IntoParams;

use super::problem::ApiError;
use crate::domain::{Cursor, Violations};

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;

/// Query parameters, parsed with failures reported as 400 `invalid_query`.
#[derive(Debug, Clone)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|q| ApiQuery(q.0))
            .map_err(|e| ApiError::bad_request("invalid_query", format!("The query string is invalid: {e}")))
    }
}

/// Paging through a list.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// How many objects to return, 1 to 100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100, example = 20)]
    pub limit: Option<String>,
    /// Where to continue: the `next_cursor` of the previous page. Cursors are opaque.
    #[param(value_type = Option<String>)]
    pub cursor: Option<String>,
    /// Only objects changed after this time (RFC 3339, e.g. `2026-01-31T09:00:00Z`; encode `+`
    /// in an offset as `%2B`).
    #[param(value_type = Option<String>, format = DateTime)]
    pub updated_after: Option<String>,
}

/// Parsed paging parameters.
#[derive(Debug, Clone, Copy)]
pub struct Paging {
    pub limit: u32,
    pub after: Option<Cursor>,
    pub updated_after: Option<Timestamp>,
}

impl PageParams {
    pub fn parse(&self, v: &mut Violations) -> Paging {
        let limit = match present(&self.limit) {
            None => DEFAULT_LIMIT,
            Some(text) => match text.parse::<u32>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    v.push("limit", "invalid_value", format!("must be a whole number from 1 to {MAX_LIMIT}"));
                    DEFAULT_LIMIT
                }
            },
        };
        let after = present(&self.cursor).and_then(|text| {
            let cursor = Cursor::decode(text);
            if cursor.is_none() {
                v.push("cursor", "invalid_value", "is not a cursor this API returned");
            }
            cursor
        });
        let updated_after = present(&self.updated_after).and_then(|text| match text.parse::<Timestamp>() {
            Ok(t) => Some(t),
            Err(_) => {
                v.push("updated_after", "invalid_format", "must be an RFC 3339 time such as 2026-01-31T09:00:00Z");
                None
            }
        });
        Paging { limit, after, updated_after }
    }
}

/// A query parameter's value; an empty one (`?cursor=`) counts as not given.
pub fn present(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}

/// Turns query problems into a 400.
pub fn query_result<T>(v: Violations, value: T) -> Result<T, ApiError> {
    v.finish(value).map_err(|v| {
        let mut e = ApiError::validation(v);
        e.status = axum::http::StatusCode::BAD_REQUEST;
        e.code = "invalid_query";
        e.title = "Invalid query";
        e.detail = "Some query parameters are invalid.".into();
        e
    })
}
