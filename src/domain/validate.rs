//! Field rules shared by every input, and the error list they produce.
//!
//! Validation collects every problem instead of stopping at the first, so a client sees all
//! of its mistakes in one response.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One problem with one field of the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FieldError {
    /// Where the problem is, as a dotted path into the request body (`candidate.phone`,
    /// `requirements[2].text`) or the name of a query parameter.
    #[schema(example = "candidate.phone")]
    pub field: String,
    /// A stable machine-readable reason: `required`, `too_short`, `too_long`, `invalid_format`,
    /// `invalid_value`, `too_many`, `conflict` or `unknown_field`.
    #[schema(example = "invalid_format")]
    pub code: String,
    /// A human-readable explanation.
    #[schema(example = "must be an E.164 phone number such as +14155550123")]
    pub message: String,
}

/// The problems found so far.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Violations(pub Vec<FieldError>);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, field: impl Into<String>, code: &str, message: impl Into<String>) {
        self.0.push(FieldError { field: field.into(), code: code.to_owned(), message: message.into() });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(value)` when nothing was found, otherwise every problem.
    pub fn finish<T>(self, value: T) -> Result<T, Violations> {
        if self.0.is_empty() { Ok(value) } else { Err(self) }
    }

    /// Checks a required piece of text ([`FieldRule::text`]): at most `max` characters as sent,
    /// not blank, and free of control characters (line breaks and tabs are allowed where
    /// `multiline`). Returns the text without surrounding white space.
    ///
    /// [`FieldRule::text`]: super::rules::FieldRule::text
    pub fn text(&mut self, field: &str, value: &str, max: usize, multiline: bool) -> String {
        let trimmed = value.trim();
        if trimmed.is_empty() {
            self.push(field, "required", "must not be empty or blank");
        }
        self.check_length_and_chars(field, value, max, multiline);
        trimmed.to_owned()
    }

    /// Like [`Violations::text`] for optional text ([`FieldRule::optional_text`]); blank text
    /// becomes `None`.
    ///
    /// [`FieldRule::optional_text`]: super::rules::FieldRule::optional_text
    pub fn optional_text(&mut self, field: &str, value: Option<&str>, max: usize, multiline: bool) -> Option<String> {
        let value = value?;
        self.check_length_and_chars(field, value, max, multiline);
        let trimmed = value.trim();
        (!trimmed.is_empty()).then(|| trimmed.to_owned())
    }

    fn check_length_and_chars(&mut self, field: &str, value: &str, max: usize, multiline: bool) {
        let chars = value.chars().count();
        if chars > max {
            self.push(field, "too_long", format!("must be at most {max} characters (got {chars})"));
        }
        let allowed = |c: char| !c.is_control() || (multiline && matches!(c, '\n' | '\r' | '\t'));
        if !value.chars().all(allowed) {
            self.push(field, "invalid_format", "must not contain control characters");
        }
    }

    /// A caller's identifier: 1 to 255 characters, no whitespace or control characters.
    pub fn external_id(&mut self, field: &str, value: Option<&str>) -> Option<String> {
        let value = value?;
        if value.is_empty() {
            self.push(field, "required", "must not be empty when given");
        } else if value.chars().count() > 255 {
            self.push(field, "too_long", "must be at most 255 characters");
        } else if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            self.push(field, "invalid_format", "must not contain whitespace or control characters");
        }
        Some(value.to_owned())
    }

    /// An email address of the ordinary `local@domain.tld` shape; empty means none.
    pub fn email(&mut self, field: &str, value: Option<&str>) -> Option<String> {
        let value = value?;
        if value.is_empty() {
            return None;
        }
        if !is_plausible_email(value) {
            self.push(field, "invalid_format", "must be an email address such as ada@example.com");
        }
        Some(value.to_owned())
    }

    /// A phone number in E.164 form: `+`, a country code and 7 to 14 more digits; empty means
    /// none.
    pub fn phone(&mut self, field: &str, value: Option<&str>) -> Option<String> {
        let value = value?;
        if value.is_empty() {
            return None;
        }
        if !is_e164(value) {
            self.push(field, "invalid_format", "must be an E.164 phone number such as +14155550123");
        }
        Some(value.to_owned())
    }

    /// An IANA time zone name such as `America/New_York`, spelled as in the bundled database;
    /// empty means none.
    pub fn timezone(&mut self, field: &str, value: Option<&str>) -> Option<String> {
        let value = value?;
        if value.is_empty() {
            return None;
        }
        if !super::rules::is_time_zone_name(value) {
            self.push(field, "invalid_value", "must be an IANA time zone name such as America/New_York");
        }
        Some(value.to_owned())
    }
}

/// `+` followed by 8 to 15 digits, the first of which is not zero (ITU-T E.164).
pub fn is_e164(value: &str) -> bool {
    let Some(digits) = value.strip_prefix('+') else {
        return false;
    };
    (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0')
}

/// A deliberately simple address check: one `@`, a non-empty local part, a dotted domain, no
/// whitespace, at most 254 characters. Deliverability is the caller's business.
pub fn is_plausible_email(value: &str) -> bool {
    if value.chars().count() > 254 || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let Some((local, domain)) = value.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.split('.').count() >= 2
        && domain.split('.').all(|label| !label.is_empty())
}

/// Deserializers for integer fields that take any JSON number with no fractional part, as JSON
/// Schema's `integer` does (`4.0` is the integer 4); serde alone refuses `4.0` for a `u8`.
pub mod whole_number {
    use serde::{Deserialize, Deserializer};

    fn from_number<T: TryFrom<u64>, E: serde::de::Error>(n: serde_json::Number) -> Result<T, E> {
        let whole = n.as_u64().or_else(|| {
            n.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= u64::MAX as f64).map(|f| f as u64)
        });
        let out_of_range = || E::custom(format!("invalid value: {n}, expected a whole number in range"));
        whole.ok_or_else(out_of_range).and_then(|w| T::try_from(w).map_err(|_| out_of_range()))
    }

    pub fn required<'de, D: Deserializer<'de>, T: TryFrom<u64>>(d: D) -> Result<T, D::Error> {
        from_number(serde_json::Number::deserialize(d)?)
    }

    pub fn optional<'de, D: Deserializer<'de>, T: TryFrom<u64>>(d: D) -> Result<Option<T>, D::Error> {
        Option::<serde_json::Number>::deserialize(d)?.map(from_number).transpose()
    }

    /// For a PATCH field: absent is `None` (with `#[serde(default)]`), `null` is `Some(None)`.
    pub fn present<'de, D: Deserializer<'de>, T: TryFrom<u64>>(d: D) -> Result<Option<Option<T>>, D::Error> {
        optional(d).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164() {
        assert!(is_e164("+14155550123"));
        assert!(is_e164("+447911123456"));
        assert!(!is_e164("14155550123"));
        assert!(!is_e164("+0123456789"));
        assert!(!is_e164("+1415555"));
        assert!(!is_e164("+1 415 555 0123"));
        assert!(!is_e164("+1234567890123456"));
    }

    #[test]
    fn email() {
        assert!(is_plausible_email("ada@example.com"));
        assert!(!is_plausible_email("ada@example"));
        assert!(!is_plausible_email("@example.com"));
        assert!(!is_plausible_email("ada@@example.com"));
        assert!(!is_plausible_email("ada lovelace@example.com"));
    }

    #[test]
    fn timezone_names_come_from_the_bundled_database() {
        let mut v = Violations::new();
        v.timezone("tz", Some("Europe/London"));
        assert!(v.is_empty());
        v.timezone("tz", Some("Europe/Lndon"));
        assert_eq!(v.0.len(), 1);
    }
}
