//! Pages of a list, and the opaque cursor that continues one.
//!
//! Lists are ordered by creation (the store's insertion sequence), which never changes, so a
//! client walking pages while objects are being updated sees every object exactly once.

use base64::Engine as _;

/// One page of results.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Where the next page starts, if there is one.
    pub next: Option<Cursor>,
}

/// A position in a list: "after the object with this sequence number".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub after_seq: i64,
}

const CURSOR_VERSION: &str = "v1:";

impl Cursor {
    /// The opaque text form handed to clients.
    pub fn encode(self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{CURSOR_VERSION}{}", self.after_seq))
    }

    /// Parses a cursor previously returned by [`Cursor::encode`].
    pub fn decode(text: &str) -> Option<Cursor> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text).ok()?;
        let text = std::str::from_utf8(&bytes).ok()?;
        let after_seq = text.strip_prefix(CURSOR_VERSION)?.parse::<i64>().ok()?;
        (after_seq >= 0).then_some(Cursor { after_seq })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let c = Cursor { after_seq: 42 };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        assert_eq!(Cursor::decode("garbage"), None);
        assert_eq!(Cursor::decode(""), None);
    }
}
