//! Query parameters shared by lists: `limit` and `cursor` for every list, and `updated_after`
//! for lists of objects that change.
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
use crate::domain::ids::IdKind;
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
    /// Where to continue: the `next_cursor` of the previous page (`cur_` and 1 to 15 lowercase
    /// hex digits). Any cursor of that shape is a valid position; past the end, the page is empty.
    #[param(value_type = Option<String>, pattern = "^cur_[0-9a-f]{1,15}$")]
    pub cursor: Option<String>,
}

/// Parsed paging parameters.
#[derive(Debug, Clone, Copy)]
pub struct Paging {
    pub limit: u32,
    pub after: Option<Cursor>,
}

impl PageParams {
    pub fn parse(&self, v: &mut Violations) -> Paging {
        let (limit, after) = limit_and_cursor(v, &self.limit, &self.cursor);
        Paging { limit, after }
    }
}

/// The filter of lists whose objects change (jobs, applications, deliveries).
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChangedAfter {
    /// Only objects changed after this time (RFC 3339, e.g. `2026-01-31T09:00:00Z`; encode `+`
    /// in an offset as `%2B`).
    #[param(value_type = Option<String>, format = DateTime)]
    pub updated_after: Option<String>,
}

impl ChangedAfter {
    pub fn parse(&self, v: &mut Violations) -> Option<Timestamp> {
        given(v, "updated_after", &self.updated_after).and_then(|text| {
            let parsed = parse_rfc3339(text);
            if parsed.is_none() {
                v.push("updated_after", "invalid_format", "must be an RFC 3339 time such as 2026-01-31T09:00:00Z");
            }
            parsed
        })
    }
}

fn limit_and_cursor(v: &mut Violations, limit: &Option<String>, cursor: &Option<String>) -> (u32, Option<Cursor>) {
    let limit = match given(v, "limit", limit) {
        None => DEFAULT_LIMIT,
        Some(text) => match text.parse::<u32>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                v.push("limit", "invalid_value", format!("must be a whole number from 1 to {MAX_LIMIT}"));
                DEFAULT_LIMIT
            }
        },
    };
    let after = given(v, "cursor", cursor).and_then(|text| {
        let cursor = Cursor::decode(text);
        if cursor.is_none() {
            v.push("cursor", "invalid_format", "must be a next_cursor this API returned, such as cur_2a");
        }
        cursor
    });
    (limit, after)
}

/// A query parameter's value when it is given. An empty value (`?cursor=`) is a mistake the
/// spec rules out (every parameter has a shape that is not empty), so it is reported.
pub fn given<'a>(v: &mut Violations, name: &str, value: &'a Option<String>) -> Option<&'a str> {
    let value = value.as_deref()?;
    if value.is_empty() {
        v.push(name, "required", "must not be empty; leave the parameter out instead");
        return None;
    }
    Some(value)
}

/// A query filter that names one of our ids: `None` when absent, reported when malformed.
pub fn given_id(v: &mut Violations, name: &str, value: &Option<String>, kind: IdKind) -> Option<String> {
    let value = given(v, name, value)?;
    if !kind.matches(value) {
        v.push(
            name,
            "invalid_format",
            format!("must be an id such as {}_0192d5e7c1b27a3f8e6b8c2f4d1a9e70", kind.prefix()),
        );
        return None;
    }
    Some(value.to_owned())
}

/// A query filter that names an object of one of `kinds`: `None` when absent, reported when
/// malformed.
pub fn given_object_id(v: &mut Violations, name: &str, value: &Option<String>, kinds: &[IdKind]) -> Option<String> {
    let value = given(v, name, value)?;
    if !kinds.iter().any(|kind| kind.matches(value)) {
        let examples: Vec<String> = kinds.iter().map(|k| format!("{}_…", k.prefix())).collect();
        v.push(name, "invalid_format", format!("must be an id such as {}", examples.join(", ")));
        return None;
    }
    Some(value.to_owned())
}

/// An RFC 3339 `date-time` as JSON Schema's `format` means it: `T` (or `t`), seconds, an
/// optional fraction and `Z` or an offset. jiff alone would also take a space or a missing
/// `:SS`, which the spec does not allow.
pub fn parse_rfc3339(text: &str) -> Option<Timestamp> {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| b.get(range).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    let shape = b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && matches!(b[10], b'T' | b't')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !shape {
        return None;
    }
    let mut rest = &b[19..];
    if let [b'.', tail @ ..] = rest {
        let n = tail.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 || n > 9 {
            return None;
        }
        rest = &tail[n..];
    }
    let offset_ok = match rest {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => {
            [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit())
                && (h1 - b'0') * 10 + (h2 - b'0') <= 23
                && (m1 - b'0') * 10 + (m2 - b'0') <= 59
        }
        _ => false,
    };
    if !offset_ok {
        return None;
    }
    text.parse::<Timestamp>().ok()
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
