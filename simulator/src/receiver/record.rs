//! What the receiver records about each request: one [`Delivery`] per request, written as one JSON
//! line to the record file, and the [`Summary`] of them all.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::script::Fault;

/// One request as received, with the receiver's verdicts and its answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// Arrival order, from 1.
    pub seq: u64,
    /// Arrival time, RFC 3339 in UTC with microseconds.
    pub received_at: String,
    pub method: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Every header as `[name, value]`, in arrival order (names lower-cased by HTTP/1 parsing).
    pub headers: Vec<(String, String)>,
    /// The exact body when it is UTF-8 (a JSON string keeps every byte) ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// ... or its standard base64 otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_base64: Option<String>,
    pub webhook_id: Option<String>,
    /// The payload's `type`, when the body is a JSON object with one.
    pub event_type: Option<String>,
    /// The payload's `timestamp`, when present.
    pub event_timestamp: Option<String>,
    /// 1 for the first request with this `webhook-id`, 2 for the first retry, and so on.
    pub attempt: u32,
    pub signature: SignatureCheck,
    pub schema: SchemaCheck,
    /// An earlier request with this `webhook-id` was already answered 2xx: the sender delivered an
    /// accepted message again (allowed by at-least-once delivery, but worth knowing).
    pub duplicate: bool,
    /// The first delivery of a message whose event `timestamp` is earlier than that of a message
    /// received before it.
    pub out_of_order: bool,
    pub answer: Answer,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureCheck {
    pub valid: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaCheck {
    pub valid: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

/// How the receiver answered (or did not).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    /// The status sent; absent when a fault replaced the answer.
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<Fault>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub delay_ms: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Delivery {
    /// The exact body bytes.
    pub fn body_bytes(&self) -> Vec<u8> {
        match (&self.body, &self.body_base64) {
            (Some(text), _) => text.as_bytes().to_vec(),
            (None, Some(b64)) => base64::engine::general_purpose::STANDARD.decode(b64).unwrap_or_default(),
            (None, None) => Vec::new(),
        }
    }

    /// The body as JSON, if it is.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body_bytes()).ok()
    }

    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Signed by a configured secret and valid against the schema of its type.
    pub fn verified(&self) -> bool {
        self.signature.valid && self.schema.valid
    }

    /// Answered with a 2xx status.
    pub fn accepted(&self) -> bool {
        self.answer.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Which deliveries to list or wait for; every field that is set must match.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_id: Option<String>,
    /// Signature and schema both valid (`true`) or not (`false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
    /// Answered 2xx (`true`) or not (`false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted: Option<bool>,
    /// A repeat of a message already answered 2xx (`true`) or not (`false`). With
    /// `accepted: true`, `duplicate: false` matches each accepted message once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate: Option<bool>,
    /// Only deliveries after this sequence number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_seq: Option<u64>,
}

impl Filter {
    pub fn event_type(event_type: &str) -> Filter {
        Filter { event_type: Some(event_type.to_owned()), ..Filter::default() }
    }

    pub fn matches(&self, d: &Delivery) -> bool {
        self.event_type.as_ref().is_none_or(|t| d.event_type.as_ref() == Some(t))
            && self.path.as_ref().is_none_or(|p| &d.path == p)
            && self.webhook_id.as_ref().is_none_or(|id| d.webhook_id.as_ref() == Some(id))
            && self.verified.is_none_or(|v| d.verified() == v)
            && self.accepted.is_none_or(|a| d.accepted() == a)
            && self.duplicate.is_none_or(|x| d.duplicate == x)
            && self.after_seq.is_none_or(|s| d.seq > s)
    }
}

/// Counts over everything received since the start (or the last reset).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub requests: u64,
    /// Distinct `webhook-id` values.
    pub messages: u64,
    /// Messages answered 2xx at least once.
    pub accepted_messages: u64,
    /// Requests after the first for their `webhook-id`.
    pub retries: u64,
    /// Requests for a message that had already been answered 2xx.
    pub duplicates: u64,
    pub bad_signatures: u64,
    pub schema_failures: u64,
    pub out_of_order: u64,
    /// Requests per event type (`(none)` for bodies without one).
    pub by_type: BTreeMap<String, u64>,
}

impl Summary {
    pub(crate) fn add(&mut self, d: &Delivery, first_acceptance: bool) {
        self.requests += 1;
        if d.attempt == 1 {
            self.messages += u64::from(d.webhook_id.is_some());
        } else {
            self.retries += 1;
        }
        self.accepted_messages += u64::from(first_acceptance);
        self.duplicates += u64::from(d.duplicate);
        self.bad_signatures += u64::from(!d.signature.valid);
        self.schema_failures += u64::from(!d.schema.valid);
        self.out_of_order += u64::from(d.out_of_order);
        *self.by_type.entry(d.event_type.clone().unwrap_or_else(|| "(none)".into())).or_default() += 1;
    }

    /// Lines for a terminal.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = vec![
            format!(
                "{} requests, {} messages, {} accepted, {} retries, {} duplicates after acceptance",
                self.requests, self.messages, self.accepted_messages, self.retries, self.duplicates
            ),
            format!(
                "{} bad signatures, {} schema failures, {} out of order",
                self.bad_signatures, self.schema_failures, self.out_of_order
            ),
        ];
        lines.extend(self.by_type.iter().map(|(t, n)| format!("  {t}: {n}")));
        lines
    }
}
