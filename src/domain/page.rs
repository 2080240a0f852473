//! Pages of a list, and the opaque cursor that continues one.
//!
//! Lists are ordered by creation (the store's insertion sequence), which never changes, so a
//! client walking pages while objects are being updated sees every object exactly once.

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

const CURSOR_PREFIX: &str = "cur_";

impl Cursor {
    /// The text form handed to clients: `cur_` and the sequence number in lowercase hex (see
    /// [`CURSOR_PATTERN`](super::rules::CURSOR_PATTERN)).
    pub fn encode(self) -> String {
        format!("{CURSOR_PREFIX}{:x}", self.after_seq.max(0))
    }

    /// Parses any string of the documented cursor shape. Every such string is a position: one
    /// past the end of a list gives an empty page.
    pub fn decode(text: &str) -> Option<Cursor> {
        let hex = text.strip_prefix(CURSOR_PREFIX)?;
        if hex.is_empty() || hex.len() > 15 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        // At most 15 hex digits: always below 2^60, so it fits an i64.
        i64::from_str_radix(hex, 16).ok().map(|after_seq| Cursor { after_seq })
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
