//! The shape of every string the API accepts, written once as JSON Schema keywords.
//!
//! The spec (`api/contract.rs`) puts these keywords on the fields they govern, and the server's
//! checks either run the same regular expression (the webhook URL and header checks do) or are
//! proven to accept exactly the same strings by the property tests at the bottom of this file.
//! A client that validates against the spec therefore never sends what the server refuses, and
//! the server never accepts what the spec rules out.
//!
//! Patterns are written in the subset that ECMA-262, Python's `re` and Rust's `regex` read alike:
//! character classes with `\uXXXX` escapes, anchored with `^` and `$`, no look-around.

use std::sync::OnceLock;

use serde_json::{Value, json};

use super::ids::IdKind;

/// White space as Rust's `char::is_whitespace` (Unicode `White_Space`) knows it, as the body of
/// a character class. Written out rather than `\s`, which every regex engine reads differently.
pub const WHITE_SPACE: &str = r"\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";
/// Control characters (Unicode `Cc`, Rust's `char::is_control`), as the body of a character class.
pub const CONTROL: &str = r"\u0000-\u001f\u007f-\u009f";
/// Control characters but tab, line feed and carriage return: what multi-line text may not hold.
pub const CONTROL_BUT_LINE_BREAKS: &str = r"\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f";

/// The rule of one kind of string field, as spec keywords.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRule {
    pub min_length: Option<usize>,
    pub max_length: Option<usize>,
    pub pattern: Option<String>,
    /// Other keywords (`format`, `enum`, `not`).
    pub extra: Vec<(&'static str, Value)>,
}

impl FieldRule {
    fn pattern(pattern: String) -> FieldRule {
        FieldRule { min_length: None, max_length: None, pattern: Some(pattern), extra: Vec::new() }
    }

    fn lengths(mut self, min: usize, max: usize) -> FieldRule {
        self.min_length = (min > 0).then_some(min);
        self.max_length = Some(max);
        self
    }

    /// Required text of 1 to `max` characters: at least one that is not white space, and no
    /// control characters (tab and line breaks are allowed where `multiline`).
    pub fn text(max: usize, multiline: bool) -> FieldRule {
        let control = if multiline { CONTROL_BUT_LINE_BREAKS } else { CONTROL };
        FieldRule::pattern(format!("^[^{control}]*[^{control}{WHITE_SPACE}][^{control}]*$")).lengths(1, max)
    }

    /// Optional text of up to `max` characters with no control characters (tab and line breaks
    /// are allowed where `multiline`); empty or blank text counts as absent.
    pub fn optional_text(max: usize, multiline: bool) -> FieldRule {
        let control = if multiline { CONTROL_BUT_LINE_BREAKS } else { CONTROL };
        FieldRule::pattern(format!("^[^{control}]*$")).lengths(0, max)
    }

    /// A file name of 1 to `max` characters: [`FieldRule::text`] without path separators.
    pub fn file_name(max: usize) -> FieldRule {
        let separators = r"/\\";
        FieldRule::pattern(format!(
            "^[^{CONTROL}{separators}]*[^{CONTROL}{WHITE_SPACE}{separators}][^{CONTROL}{separators}]*$"
        ))
        .lengths(1, max)
    }

    /// A caller's identifier: 1 to 255 characters, none of them white space or control.
    pub fn external_id() -> FieldRule {
        FieldRule::pattern(format!("^[^{CONTROL}{WHITE_SPACE}]+$")).lengths(1, 255)
    }

    /// An email address of the ordinary `local@domain.tld` shape, or empty for none.
    pub fn email() -> FieldRule {
        let atom = format!("[^@{CONTROL}{WHITE_SPACE}]");
        let label = format!("[^@.{CONTROL}{WHITE_SPACE}]");
        FieldRule::pattern(format!("^(?:{atom}+@{label}+(?:\\.{label}+)+)?$")).lengths(0, 254)
    }

    /// An E.164 phone number (`+`, then 8 to 15 digits, the first not zero), or empty for none.
    pub fn phone() -> FieldRule {
        FieldRule::pattern(r"^(?:\+[1-9][0-9]{7,14})?$".into())
    }

    /// An identifier we issued, such as `job_0192d5e7c1b27a3f8e6b8c2f4d1a9e70`.
    pub fn id(kind: IdKind) -> FieldRule {
        FieldRule::pattern(format!("^{}_[0-9a-f]{{32}}$", kind.prefix()))
    }

    /// An IANA time zone name from the server's bundled database (exact spelling), or empty;
    /// with `x-enum-varnames`, so that generators can name all of them (`GMT+0` and `GMT-0`
    /// would otherwise both become `GMT0`).
    pub fn time_zone() -> FieldRule {
        let mut names = vec![Value::from("")];
        let mut var_names = vec![Value::from("EMPTY")];
        for name in time_zone_names() {
            names.push(Value::from(name.as_str()));
            var_names.push(Value::from(time_zone_var_name(name)));
        }
        FieldRule {
            min_length: None,
            max_length: None,
            pattern: None,
            extra: vec![("enum", Value::Array(names)), ("x-enum-varnames", Value::Array(var_names))],
        }
    }

    /// The keywords to merge into a string schema.
    pub fn keywords(&self) -> Vec<(&'static str, Value)> {
        let mut out = Vec::new();
        if let Some(min) = self.min_length {
            out.push(("minLength", json!(min)));
        }
        if let Some(max) = self.max_length {
            out.push(("maxLength", json!(max)));
        }
        if let Some(pattern) = &self.pattern {
            out.push(("pattern", json!(pattern)));
        }
        out.extend(self.extra.iter().cloned());
        out
    }
}

/// Every time zone name the server accepts, sorted: the bundled IANA database, so the list is
/// the same on every machine and in the spec.
pub fn time_zone_names() -> &'static [String] {
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    NAMES.get_or_init(|| {
        let mut names: Vec<String> = jiff::tz::db().available().map(|n| n.as_str().to_owned()).collect();
        names.sort();
        names.dedup();
        names
    })
}

/// A time zone's name as a constant: `America/Port-au-Prince` is `AMERICA_PORT_AU_PRINCE`, and
/// `Etc/GMT+1` is `ETC_GMT_PLUS_1`.
pub fn time_zone_var_name(name: &str) -> String {
    let mut out = String::new();
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '+' => out.push_str("_PLUS_"),
            '-' if chars.peek().is_some_and(char::is_ascii_digit) => out.push_str("_MINUS_"),
            '-' | '/' => out.push('_'),
            c => out.push(c.to_ascii_uppercase()),
        }
    }
    out.replace("__", "_")
}

/// Whether `name` is one of [`time_zone_names`], spelled exactly so.
pub fn is_time_zone_name(name: &str) -> bool {
    time_zone_names().binary_search_by(|n| n.as_str().cmp(name)).is_ok()
}

/// A list cursor: `cur_` and 1 to 15 lowercase hexadecimal digits. Every string of this shape is
/// a position in a list, so a client cannot write a cursor the server refuses.
pub const CURSOR_PATTERN: &str = "^cur_[0-9a-f]{1,15}$";

/// A webhook URL: `http` or `https`, a host name whose last label starts with a letter or a
/// dotted IPv4 address, an optional port, then a path, query and fragment of RFC 3986
/// characters (others percent-encoded). User names, passwords and IPv6 literals are not accepted.
pub const WEBHOOK_URL_PATTERN: &str = concat!(
    r"^https?://",
    r"(?:(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?",
    r"|(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9]))",
    r"(?::(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?",
    r"(?:/(?:[A-Za-z0-9._~!$&'()*+,;=:@/-]|%[0-9A-Fa-f]{2})*)?",
    r"(?:\?(?:[A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})*)?",
    r"(?:#(?:[A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})*)?$",
);

/// Webhook URLs whose host is never public: `localhost` and its subdomains, and dotted IPv4
/// addresses in the ranges the URL guard refuses (unspecified, private, loopback, link-local,
/// carrier-grade NAT, IETF, documentation, benchmarking, multicast, reserved, broadcast).
pub const NON_PUBLIC_WEBHOOK_HOST_PATTERN: &str = concat!(
    r"^https?://(?:",
    r"(?:[A-Za-z0-9-]+\.)*[Ll][Oo][Cc][Aa][Ll][Hh][Oo][Ss][Tt]\.?",
    r"|(?:0|10|127|22[4-9]|2[3-5][0-9])\.[0-9]+\.[0-9]+\.[0-9]+",
    r"|100\.(?:6[4-9]|[7-9][0-9]|1[01][0-9]|12[0-7])\.[0-9]+\.[0-9]+",
    r"|169\.254\.[0-9]+\.[0-9]+",
    r"|172\.(?:1[6-9]|2[0-9]|3[01])\.[0-9]+\.[0-9]+",
    r"|192\.(?:168\.[0-9]+|0\.0|0\.2)\.[0-9]+",
    r"|198\.(?:1[89]\.[0-9]+|51\.100)\.[0-9]+",
    r"|203\.0\.113\.[0-9]+",
    r")(?:[:/?#]|$)",
);

/// An HTTP header name (an RFC 9110 token).
pub const HEADER_NAME_PATTERN: &str = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$";

/// Header names a webhook endpoint may not set, in any letter case: the ones the signature and
/// HTTP itself own, and every `webhook-*`.
pub const RESERVED_HEADER_PATTERN: &str = concat!(
    "^(?:",
    "[Cc][Oo][Nn][Tt][Ee][Nn][Tt]-(?:[Tt][Yy][Pp][Ee]|[Ll][Ee][Nn][Gg][Tt][Hh])",
    "|[Hh][Oo][Ss][Tt]",
    "|[Uu][Ss][Ee][Rr]-[Aa][Gg][Ee][Nn][Tt]",
    "|[Cc][Oo][Nn][Nn][Ee][Cc][Tt][Ii][Oo][Nn]",
    "|[Tt][Rr][Aa][Nn][Ss][Ff][Ee][Rr]-[Ee][Nn][Cc][Oo][Dd][Ii][Nn][Gg]",
    "|[Ww][Ee][Bb][Hh][Oo][Oo][Kk]-[!#$%&'*+.^_`|~0-9A-Za-z-]*",
    ")$",
);

/// A header value: tab and visible ASCII with spaces.
pub const HEADER_VALUE_PATTERN: &str = r"^[\u0009\u0020-\u007e]*$";

/// Standard base64 with padding, not empty, with the unused bits of the last character zero (what
/// a strict decoder accepts).
pub const BASE64_PATTERN: &str =
    r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=|[A-Za-z0-9+/][AQgw]==)$";

/// The compiled form of a pattern above, built once.
pub struct Pattern {
    source: &'static str,
    compiled: OnceLock<regex::Regex>,
}

impl Pattern {
    pub const fn new(source: &'static str) -> Pattern {
        Pattern { source, compiled: OnceLock::new() }
    }

    pub fn is_match(&self, value: &str) -> bool {
        // The sources are constants covered by tests, so compiling cannot fail at run time.
        self.compiled.get_or_init(|| regex::Regex::new(self.source).expect("a valid pattern")).is_match(value)
    }

    pub fn source(&self) -> &'static str {
        self.source
    }
}

pub static WEBHOOK_URL: Pattern = Pattern::new(WEBHOOK_URL_PATTERN);
pub static NON_PUBLIC_WEBHOOK_HOST: Pattern = Pattern::new(NON_PUBLIC_WEBHOOK_HOST_PATTERN);
pub static HEADER_NAME: Pattern = Pattern::new(HEADER_NAME_PATTERN);
pub static RESERVED_HEADER: Pattern = Pattern::new(RESERVED_HEADER_PATTERN);
pub static HEADER_VALUE: Pattern = Pattern::new(HEADER_VALUE_PATTERN);
pub static BASE64: Pattern = Pattern::new(BASE64_PATTERN);

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::domain::Violations;

    fn schema_accepts(rule: &FieldRule, value: &str) -> bool {
        let mut schema = serde_json::Map::new();
        schema.insert("type".into(), "string".into());
        for (k, v) in rule.keywords() {
            schema.insert(k.into(), v);
        }
        let validator = jsonschema::validator_for(&Value::Object(schema)).expect("a valid schema");
        validator.is_valid(&Value::from(value))
    }

    /// Strings made of the characters these rules care about: white space of every kind,
    /// control characters, line breaks, `@` and dots, digits, letters and a little else.
    fn awkward_text() -> impl Strategy<Value = String> {
        let chars = prop::sample::select(vec![
            ' ', '\t', '\n', '\r', '\u{0b}', '\u{0}', '\u{1f}', '\u{7f}', '\u{85}', '\u{a0}', '\u{2028}', '\u{3000}',
            '\u{feff}', '\u{200b}', 'a', 'Z', '0', '9', '+', '@', '.', '-', '_', '/', '\\', 'é', '漢', '😀',
        ]);
        prop::collection::vec(chars, 0..12).prop_map(|v| v.into_iter().collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(if std::env::var_os("CI").is_some() { 2000 } else { 500 }))]

        #[test]
        fn text_checks_match_their_schema(value in awkward_text(), multiline in any::<bool>()) {
            let mut v = Violations::new();
            v.text("f", &value, 8, multiline);
            prop_assert_eq!(v.is_empty(), schema_accepts(&FieldRule::text(8, multiline), &value), "{:?}", value);
            let mut v = Violations::new();
            v.optional_text("f", Some(&value), 8, multiline);
            prop_assert_eq!(
                v.is_empty(),
                schema_accepts(&FieldRule::optional_text(8, multiline), &value),
                "{:?}", value
            );
        }

        #[test]
        fn external_id_email_and_phone_checks_match_their_schema(value in awkward_text()) {
            let mut v = Violations::new();
            v.external_id("f", Some(&value));
            prop_assert_eq!(v.is_empty(), schema_accepts(&FieldRule::external_id(), &value), "{:?}", value);
            let mut v = Violations::new();
            v.email("f", Some(&value));
            prop_assert_eq!(v.is_empty(), schema_accepts(&FieldRule::email(), &value), "{:?}", value);
            let mut v = Violations::new();
            v.phone("f", Some(&value));
            prop_assert_eq!(v.is_empty(), schema_accepts(&FieldRule::phone(), &value), "{:?}", value);
        }

        #[test]
        fn every_cursor_shape_is_a_position(n in 0u64..(1 << 60)) {
            let text = crate::domain::Cursor { after_seq: n as i64 }.encode();
            prop_assert!(schema_accepts(&FieldRule::pattern(CURSOR_PATTERN.into()), &text));
            prop_assert_eq!(crate::domain::Cursor::decode(&text), Some(crate::domain::Cursor { after_seq: n as i64 }));
        }

        #[test]
        fn base64_pattern_is_what_the_decoder_takes(bytes in prop::collection::vec(any::<u8>(), 0..10), junk in 0usize..4) {
            use base64::Engine as _;
            let mut text = base64::engine::general_purpose::STANDARD.encode(&bytes);
            // Flip the last data character now and then, to try non-canonical endings.
            if junk == 0 && !text.is_empty() {
                let i = text.trim_end_matches('=').len() - 1;
                let c = if &text[i..=i] == "B" { "C" } else { "B" };
                text.replace_range(i..=i, c);
            }
            let decodes = base64::engine::general_purpose::STANDARD.decode(&text).is_ok_and(|b| !b.is_empty());
            prop_assert_eq!(BASE64.is_match(&text), decodes, "{:?}", text);
        }
    }

    #[test]
    fn every_pattern_compiles_in_rust_and_in_the_schema_validator() {
        for pattern in [&WEBHOOK_URL, &NON_PUBLIC_WEBHOOK_HOST, &HEADER_NAME, &RESERVED_HEADER, &HEADER_VALUE, &BASE64]
        {
            assert!(!pattern.is_match("\u{0}"), "{}", pattern.source());
            assert!(jsonschema::validator_for(&json!({"pattern": pattern.source()})).is_ok(), "{}", pattern.source());
        }
        assert!(regex::Regex::new(CURSOR_PATTERN).is_ok());
    }

    #[test]
    fn cursor_pattern_matches_any_position() {
        let cursor = FieldRule::pattern(CURSOR_PATTERN.into());
        for good in ["cur_0", "cur_2a", "cur_fffffffffffffff"] {
            assert!(schema_accepts(&cursor, good), "{good}");
            assert!(crate::domain::Cursor::decode(good).is_some(), "{good}");
        }
        for bad in ["", "cur_", "cur_G", "cur_ffffffffffffffff", "djE6NDI", "CUR_1"] {
            assert!(!schema_accepts(&cursor, bad), "{bad}");
            assert!(crate::domain::Cursor::decode(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn webhook_urls_take_public_names_and_addresses() {
        for good in [
            "https://hooks.example.com/tenzo",
            "http://example.com",
            "https://a.b.co:8443/x?y=1#z",
            "https://8.8.8.8/hook",
            "https://xn--bcher-kva.example/",
        ] {
            assert!(WEBHOOK_URL.is_match(good), "{good}");
            assert!(!NON_PUBLIC_WEBHOOK_HOST.is_match(good), "{good}");
        }
        for not_a_url in [
            "ftp://example.com",
            "https://user:pw@example.com/",
            "https://[::1]/",
            "https://2130706433/",
            "https://0x7f000001/",
            "https://127.1/",
            "https://example.com:99999/",
            "https://example.com/a b",
            "http://e.vy15ck#}&",
            "https://example.com/%zz",
            "https://256.1.1.1/",
        ] {
            assert!(!WEBHOOK_URL.is_match(not_a_url), "{not_a_url}");
        }
        for blocked in [
            "http://localhost:8080/",
            "https://a.LocalHost/",
            "http://127.0.0.1/",
            "http://10.0.0.1/hook",
            "http://169.254.169.254/latest",
            "http://100.64.0.1/",
            "http://172.31.255.255/",
            "http://192.168.0.1/",
            "http://0.0.0.0/",
            "http://224.0.0.1/",
            "http://255.255.255.255/",
            "http://198.51.100.7/",
        ] {
            assert!(WEBHOOK_URL.is_match(blocked), "{blocked}");
            assert!(NON_PUBLIC_WEBHOOK_HOST.is_match(blocked), "{blocked}");
        }
    }

    #[test]
    fn reserved_headers_in_any_case() {
        for name in ["content-type", "Content-Length", "HOST", "webhook-id", "Webhook-Anything", "connection"] {
            assert!(RESERVED_HEADER.is_match(name), "{name}");
        }
        for name in ["x-api-key", "authorization", "webhooks-x"] {
            assert!(!RESERVED_HEADER.is_match(name), "{name}");
        }
    }

    #[test]
    fn time_zone_names_are_exact() {
        assert!(is_time_zone_name("Europe/London"));
        assert!(!is_time_zone_name("europe/london"));
        assert!(!is_time_zone_name(""));
        assert!(time_zone_names().len() > 300);
        let var_names: std::collections::BTreeSet<String> =
            time_zone_names().iter().map(|n| time_zone_var_name(n)).collect();
        assert_eq!(var_names.len(), time_zone_names().len(), "every time zone has a constant of its own");
        assert!(var_names.iter().all(|v| v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')));
    }
}
