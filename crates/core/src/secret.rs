//! A wrapper for credentials that never shows its contents by accident.

use std::fmt;

use serde::{Deserialize, Deserializer};

/// A secret value (an API token, a key). `Debug` and `Display` print `[redacted]`; the only way
/// to read it is [`Secret::expose`], which makes every use easy to find.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The secret itself. Call it only where the value leaves the process on purpose.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Secret<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Self)
    }
}

impl From<String> for Secret<String> {
    fn from(value: String) -> Self {
        Self(value)
    }
}

/// What replaces a secret in text shown or logged.
pub const REDACTED: &str = "[redacted]";

/// `text` with every occurrence of each secret replaced by `[redacted]`.
///
/// Secrets shorter than 8 characters are not searched for: they would blank out ordinary words,
/// and no real credential is that short.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for secret in secrets.iter().filter(|s| s.len() >= 8) {
        if out.contains(secret) {
            out = out.replace(secret, REDACTED);
        }
    }
    out
}

/// `body` with every copy of each secret replaced by `[redacted]`, before anything else reads
/// it: an answer that echoes a credential (an error quoting the `Authorization` header, a
/// session token sent back) cannot carry it further, into a message, a log or a caller's answer.
///
/// Secrets shorter than 8 bytes are not searched for, as in [`redact`].
pub fn scrub_bytes(body: Vec<u8>, secrets: &[&[u8]]) -> Vec<u8> {
    let mut body = body;
    for secret in secrets.iter().filter(|s| s.len() >= 8) {
        if memchr::memmem::find(&body, secret).is_none() {
            continue;
        }
        let mut out = Vec::with_capacity(body.len());
        let mut rest = body.as_slice();
        while let Some(at) = memchr::memmem::find(rest, secret) {
            out.extend_from_slice(&rest[..at]);
            out.extend_from_slice(REDACTED.as_bytes());
            rest = &rest[at + secret.len()..];
        }
        out.extend_from_slice(rest);
        body = out;
    }
    body
}

/// Longest piece of a provider's free text that is shown to a caller or logged.
pub const MAX_UPSTREAM_TEXT: usize = 300;

/// A provider's free text made fit to show: secrets redacted, control characters dropped, cut
/// to [`MAX_UPSTREAM_TEXT`] characters. Anything a cloud says is untrusted input.
pub fn upstream_text(text: &str, secrets: &[&str]) -> String {
    let cleaned: String = redact(text, secrets).chars().filter(|c| !c.is_control()).collect();
    if cleaned.chars().count() <= MAX_UPSTREAM_TEXT {
        return cleaned;
    }
    let mut cut: String = cleaned.chars().take(MAX_UPSTREAM_TEXT).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_replaces_every_copy_of_each_secret() {
        let text = "token dop_v1_abcdef12 was refused; dop_v1_abcdef12 again";
        assert_eq!(redact(text, &["dop_v1_abcdef12"]), "token [redacted] was refused; [redacted] again");
        assert_eq!(redact("short abc stays", &["abc"]), "short abc stays");
    }

    #[test]
    fn scrubbed_bytes_hold_no_copy_of_any_secret() {
        let body = br#"{"message":"bad token dop_v1_secret99 (dop_v1_secret99), session IQoJb3JpZ2luX2Vj"}"#
            .to_vec();
        let scrubbed = scrub_bytes(body, &[b"dop_v1_secret99", b"IQoJb3JpZ2luX2Vj", b"short"]);
        assert_eq!(
            String::from_utf8(scrubbed).expect("utf8"),
            r#"{"message":"bad token [redacted] ([redacted]), session [redacted]"}"#
        );
        assert_eq!(scrub_bytes(b"nothing here".to_vec(), &[b"dop_v1_secret99"]), b"nothing here");
    }

    #[test]
    fn upstream_text_is_redacted_cleaned_and_bounded() {
        let long = format!("bad\nline\u{7}{}", "x".repeat(1000));
        let shown = upstream_text(&long, &[]);
        assert_eq!(shown.chars().count(), MAX_UPSTREAM_TEXT + 1, "cut, with an ellipsis");
        assert!(shown.starts_with("badline"), "{shown}");
        assert!(!shown.chars().any(char::is_control));
        assert_eq!(upstream_text("key=dop_v1_abcdef12", &["dop_v1_abcdef12"]), "key=[redacted]");
    }

    #[test]
    fn secrets_never_print_their_value() {
        let token = Secret::new("dop_v1_abcdef".to_owned());
        assert_eq!(format!("{token:?}"), "[redacted]");
        assert_eq!(format!("{token}"), "[redacted]");
        assert_eq!(format!("{:?}", Some(&token)), "Some([redacted])");
        assert_eq!(token.expose(), "dop_v1_abcdef");
    }
}
