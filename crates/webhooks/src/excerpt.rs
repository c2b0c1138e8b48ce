//! What is kept of a receiver's answer: at most 4 KiB of its body, as text that is safe to store,
//! log and show in a terminal or a dashboard.
//!
//! The answer is untrusted: it is read only up to the limit (however large or endless it is),
//! decoded leniently (invalid UTF-8 becomes U+FFFD), and every control or invisible formatting
//! character is written as an escape, so nothing it holds can rewrite a terminal line or reorder
//! text in a page.

use std::fmt::Write as _;

/// The most answer bytes read and kept.
pub const RESPONSE_EXCERPT_LIMIT: usize = 4096;

/// The start of a receiver's answer body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseExcerpt {
    /// The bytes read, decoded and escaped.
    pub text: String,
    /// How many body bytes were read (at most [`RESPONSE_EXCERPT_LIMIT`]).
    pub bytes_read: usize,
    /// True when the body went on past what was read (or may have: a body that reaches the limit
    /// without a declared length is not read further to find out).
    pub truncated: bool,
}

impl ResponseExcerpt {
    /// The excerpt of `bytes`, already cut to the limit by the reader.
    pub(crate) fn from_bytes(bytes: &[u8], truncated: bool) -> Self {
        let mut text = String::with_capacity(bytes.len());
        for c in String::from_utf8_lossy(bytes).chars() {
            if needs_escape(c) {
                escape(c, &mut text);
            } else {
                text.push(c);
            }
        }
        Self { text, bytes_read: bytes.len(), truncated }
    }
}

/// Control characters (C0, DEL, C1) and the invisible characters that change how text around
/// them is shown: bidirectional overrides and isolates, zero-width characters, line and
/// paragraph separators, the byte order mark.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

fn escape(c: char, out: &mut String) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        // Writing to a String cannot fail.
        other => {
            let _ = write!(out, "\\u{{{:04x}}}", u32::from(other));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_invisible_characters_are_escaped_and_the_rest_kept() {
        let excerpt = ResponseExcerpt::from_bytes("ok\r\n\x1b[2Jé\u{202E}txt\u{7f}".as_bytes(), false);
        assert_eq!(excerpt.text, "ok\\r\\n\\u{001b}[2Jé\\u{202e}txt\\u{007f}");
        assert_eq!(excerpt.bytes_read, 17);
        assert!(!excerpt.truncated);
    }

    #[test]
    fn invalid_utf8_becomes_replacement_characters() {
        let excerpt = ResponseExcerpt::from_bytes(b"a\xff\xfeb", true);
        assert_eq!(excerpt.text, "a\u{FFFD}\u{FFFD}b");
        assert!(excerpt.truncated);
    }
}
