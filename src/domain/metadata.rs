//! Free-form key/value pairs a caller attaches to its objects and gets back in webhooks.

use std::collections::BTreeMap;

use super::validate::Violations;

/// String keys to string values, echoed back unchanged.
pub type Metadata = BTreeMap<String, String>;

pub const MAX_KEYS: usize = 50;
pub const MAX_KEY_CHARS: usize = 40;
pub const MAX_VALUE_CHARS: usize = 500;

/// Checks the limits: at most 50 keys; keys of 1 to 40 characters from `[A-Za-z0-9_.-]`;
/// values of at most 500 characters.
pub fn validate(v: &mut Violations, field: &str, metadata: &Metadata) {
    if metadata.len() > MAX_KEYS {
        v.push(field, "too_many", format!("must have at most {MAX_KEYS} keys (got {})", metadata.len()));
    }
    for (key, value) in metadata {
        let key_ok = !key.is_empty()
            && key.len() <= MAX_KEY_CHARS
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if !key_ok {
            v.push(
                format!("{field}.{key}"),
                "invalid_format",
                format!("keys must be 1 to {MAX_KEY_CHARS} characters from A-Z, a-z, 0-9, '_', '.', '-'"),
            );
        }
        if value.chars().count() > MAX_VALUE_CHARS {
            v.push(
                format!("{field}.{key}"),
                "too_long",
                format!("values must be at most {MAX_VALUE_CHARS} characters"),
            );
        }
    }
}
