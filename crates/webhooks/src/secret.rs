//! Signing secrets in the Standard Webhooks form `whsec_<base64 of 24-64 bytes>`: made from the
//! operating system's random source, parsed back from storage, wiped from memory when dropped.
//!
//! A secret must never reach a log, an error or a panic: `Debug` prints `[redacted]`, there is no
//! `Display`, errors describe the input's shape and never its bytes, and the only way to read a
//! secret out is [`SigningSecret::to_whsec`] (to show it once and to store it).

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

/// The prefix Standard Webhooks puts before a symmetric secret's base64.
pub const SECRET_PREFIX: &str = "whsec_";

/// The fewest key bytes the specification allows.
pub const MIN_SECRET_BYTES: usize = 24;

/// The most key bytes the specification allows.
pub const MAX_SECRET_BYTES: usize = 64;

/// How many random bytes [`SigningSecret::generate`] draws: SHA-256's block-sized key strength
/// (256 bits) is all HMAC-SHA256 can use, and it sits in the middle of the allowed range.
pub const GENERATED_SECRET_BYTES: usize = 32;

/// Why a text is not a signing secret. Never carries the text itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("a signing secret starts with `{SECRET_PREFIX}`")]
    MissingPrefix,
    #[error("a signing secret is `{SECRET_PREFIX}` followed by standard padded base64")]
    NotBase64,
    #[error("a signing secret holds {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes; this one holds {bytes}")]
    WrongLength { bytes: usize },
    #[error("the operating system's random source failed")]
    RandomSourceFailed,
}

/// One HMAC-SHA256 key of an endpoint. The bytes are zeroed when the value is dropped.
#[derive(Clone)]
pub struct SigningSecret {
    key: Zeroizing<Vec<u8>>,
}

impl SigningSecret {
    /// A new secret of [`GENERATED_SECRET_BYTES`] bytes from the operating system's random source.
    pub fn generate() -> Result<Self, SecretError> {
        let mut key = Zeroizing::new(vec![0u8; GENERATED_SECRET_BYTES]);
        SystemRandom::new().fill(&mut key).map_err(|_| SecretError::RandomSourceFailed)?;
        Ok(Self { key })
    }

    /// Reads a secret back from its `whsec_<base64>` form.
    ///
    /// Stricter than the stock verifiers (which also take unpadded or unprefixed base64): the
    /// server made every secret it stores, so anything else is a damaged record.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let encoded = text.strip_prefix(SECRET_PREFIX).ok_or(SecretError::MissingPrefix)?;
        let key = Zeroizing::new(STANDARD.decode(encoded).map_err(|_| SecretError::NotBase64)?);
        if !(MIN_SECRET_BYTES..=MAX_SECRET_BYTES).contains(&key.len()) {
            return Err(SecretError::WrongLength { bytes: key.len() });
        }
        Ok(Self { key })
    }

    /// The `whsec_<base64>` form, to show the endpoint's owner once and to store. The returned
    /// string is zeroed when dropped too.
    pub fn to_whsec(&self) -> Zeroizing<String> {
        // Sized up front, so the buffer never reallocates and leaves a copy behind.
        let encoded_len = self.key.len().div_ceil(3) * 4;
        let mut text = Zeroizing::new(String::with_capacity(SECRET_PREFIX.len() + encoded_len));
        text.push_str(SECRET_PREFIX);
        STANDARD.encode_string(self.key.as_slice(), &mut text);
        text
    }

    /// The raw key, for the signer only.
    pub(crate) fn key_bytes(&self) -> &[u8] {
        &self.key
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FACTS_SECRET: &str = "whsec_bmVwaGVsZS10ZXN0LXNlY3JldC0yNGJ5dGVzIQ==";

    #[test]
    fn a_generated_secret_has_32_random_bytes_and_reads_back_from_its_whsec_form() {
        let first = SigningSecret::generate().expect("random source");
        let second = SigningSecret::generate().expect("random source");
        assert_eq!(first.key_bytes().len(), GENERATED_SECRET_BYTES);
        assert_ne!(first.key_bytes(), second.key_bytes(), "two draws gave the same key");

        let text = first.to_whsec();
        assert!(text.starts_with(SECRET_PREFIX));
        let again = SigningSecret::parse(&text).expect("its own form parses");
        assert_eq!(again.key_bytes(), first.key_bytes());
    }

    #[test]
    fn the_facts_file_secret_parses_to_its_28_key_bytes() {
        let secret = SigningSecret::parse(FACTS_SECRET).expect("valid secret");
        assert_eq!(secret.key_bytes(), b"nephele-test-secret-24bytes!");
        assert_eq!(secret.to_whsec().as_str(), FACTS_SECRET);
    }

    #[test]
    fn malformed_secrets_are_refused_without_echoing_them() {
        let cases = [
            ("bmVwaGVsZS10ZXN0LXNlY3JldC0yNGJ5dGVzIQ==", SecretError::MissingPrefix),
            ("whsec_not base64!", SecretError::NotBase64),
            // Unpadded: the stock verifiers would take it, we store only what we wrote.
            ("whsec_bmVwaGVsZS10ZXN0LXNlY3JldC0yNGJ5dGVzIQ", SecretError::NotBase64),
            ("whsec_c2hvcnQ=", SecretError::WrongLength { bytes: 5 }),
            ("whsec_", SecretError::WrongLength { bytes: 0 }),
        ];
        for (text, expected) in cases {
            let error = SigningSecret::parse(text).expect_err(text);
            assert_eq!(error, expected, "{text}");
            let encoded = text.trim_start_matches(SECRET_PREFIX);
            if !encoded.is_empty() {
                assert!(!error.to_string().contains(encoded), "{error} echoes the input");
            }
        }
        let too_long = format!("{SECRET_PREFIX}{}", STANDARD.encode([7u8; 65]));
        assert_eq!(
            SigningSecret::parse(&too_long).expect_err("65 bytes"),
            SecretError::WrongLength { bytes: 65 }
        );
        let longest = format!("{SECRET_PREFIX}{}", STANDARD.encode([7u8; 64]));
        assert!(SigningSecret::parse(&longest).is_ok());
    }

    #[test]
    fn debug_output_never_shows_the_key() {
        let secret = SigningSecret::parse(FACTS_SECRET).expect("valid secret");
        let shown = format!("{secret:?} {:?}", vec![secret.clone()]);
        assert_eq!(shown, "[redacted] [[redacted]]");
    }
}
