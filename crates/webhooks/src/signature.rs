//! Standard Webhooks 1.0 signatures: HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{body}`,
//! written `v1,<base64>`, one per key, separated by spaces while a secret is being rotated.
//!
//! The body is signed exactly as it is sent: callers hand over the bytes and never a value to be
//! serialised again. The HMAC is `ring`'s; nothing here is cryptography of our own.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::hmac;

use crate::secret::SigningSecret;

/// The header naming the message; the same on every attempt, so receivers can drop duplicates.
pub const HEADER_ID: &str = "webhook-id";
/// The header with the attempt's Unix time in seconds (signed, so a replay can be dated).
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
/// The header with the space-separated `v1,<base64>` signatures.
pub const HEADER_SIGNATURE: &str = "webhook-signature";

/// The longest message id accepted; event ids are far shorter.
pub const MAX_MESSAGE_ID_LEN: usize = 256;

/// Why a text cannot be a `webhook-id`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageIdError {
    #[error("a webhook id is not empty")]
    Empty,
    #[error("a webhook id is at most {MAX_MESSAGE_ID_LEN} characters; this one has {0}")]
    TooLong(usize),
    #[error("a webhook id holds only visible ASCII characters (no spaces or control characters)")]
    NotVisibleAscii,
}

/// The `webhook-id` of a message: 1 to 256 visible ASCII characters, so it is always a valid
/// header value and signs the same way everywhere.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MessageId(String);

impl MessageId {
    pub fn parse(id: impl Into<String>) -> Result<Self, MessageIdError> {
        let id = id.into();
        if id.is_empty() {
            return Err(MessageIdError::Empty);
        }
        if id.len() > MAX_MESSAGE_ID_LEN {
            return Err(MessageIdError::TooLong(id.len()));
        }
        if !id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(MessageIdError::NotVisibleAscii);
        }
        Ok(Self(id))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The keys an endpoint's messages are signed with: the current one, and during a rotation the
/// ones it replaces (a receiver that knows any of them accepts the message).
///
/// Never empty, so a message can never leave unsigned.
#[derive(Debug, Clone)]
pub struct SigningKeys {
    current: SigningSecret,
    previous: Vec<SigningSecret>,
}

impl SigningKeys {
    pub fn new(current: SigningSecret) -> Self {
        Self { current, previous: Vec::new() }
    }

    /// Also signs with `previous` (an older secret still within its rotation window).
    pub fn and_previous(mut self, previous: SigningSecret) -> Self {
        self.previous.push(previous);
        self
    }

    /// Every key, the current one first.
    pub fn iter(&self) -> impl Iterator<Item = &SigningSecret> {
        std::iter::once(&self.current).chain(&self.previous)
    }
}

/// The `webhook-signature` value for `body` sent as message `id` at `timestamp` (Unix seconds):
/// one `v1,<base64 HMAC-SHA256>` per key, separated by single spaces, current key first.
pub fn sign(id: &MessageId, timestamp: u64, body: &[u8], keys: &SigningKeys) -> String {
    let timestamp = timestamp.to_string();
    let signatures: Vec<String> = keys
        .iter()
        .map(|secret| {
            let key = hmac::Key::new(hmac::HMAC_SHA256, secret.key_bytes());
            let mut context = hmac::Context::with_key(&key);
            context.update(id.as_str().as_bytes());
            context.update(b".");
            context.update(timestamp.as_bytes());
            context.update(b".");
            context.update(body);
            format!("v1,{}", STANDARD.encode(context.sign().as_ref()))
        })
        .collect();
    signatures.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector in facts-resources.md section 4, computed with `standardwebhooks` 1.1.0.
    const VECTOR_SECRET: &str = "whsec_bmVwaGVsZS10ZXN0LXNlY3JldC0yNGJ5dGVzIQ==";
    const VECTOR_ID: &str = "msg_1";
    const VECTOR_TIMESTAMP: u64 = 1_674_087_231;
    const VECTOR_BODY: &[u8] = br#"{"type":"budget.exceeded","data":{"id":"b1"}}"#;
    const VECTOR_SIGNATURE: &str = "v1,XopjJ/9e8oeHF4niP5KcM7COSnzgxHWDcC6AlM+a2q4=";

    fn vector_keys() -> SigningKeys {
        SigningKeys::new(SigningSecret::parse(VECTOR_SECRET).expect("vector secret"))
    }

    #[test]
    fn signing_the_test_vector_gives_its_signature_exactly() {
        let id = MessageId::parse(VECTOR_ID).expect("vector id");
        assert_eq!(sign(&id, VECTOR_TIMESTAMP, VECTOR_BODY, &vector_keys()), VECTOR_SIGNATURE);
    }

    #[test]
    fn any_change_to_id_timestamp_or_body_changes_the_signature() {
        let keys = vector_keys();
        let id = MessageId::parse(VECTOR_ID).expect("vector id");
        let other_id = MessageId::parse("msg_2").expect("id");
        assert_ne!(sign(&other_id, VECTOR_TIMESTAMP, VECTOR_BODY, &keys), VECTOR_SIGNATURE);
        assert_ne!(sign(&id, VECTOR_TIMESTAMP + 1, VECTOR_BODY, &keys), VECTOR_SIGNATURE);
        // One space more: the JSON means the same, the bytes do not.
        let respaced = br#"{"type": "budget.exceeded","data":{"id":"b1"}}"#;
        assert_ne!(sign(&id, VECTOR_TIMESTAMP, respaced, &keys), VECTOR_SIGNATURE);
    }

    #[test]
    fn a_rotation_signs_with_every_key_current_first_separated_by_one_space() {
        let id = MessageId::parse(VECTOR_ID).expect("vector id");
        let current = SigningSecret::generate().expect("random source");
        let keys = SigningKeys::new(current.clone())
            .and_previous(SigningSecret::parse(VECTOR_SECRET).expect("vector secret"));
        let header = sign(&id, VECTOR_TIMESTAMP, VECTOR_BODY, &keys);
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts.len(), 2, "{header}");
        assert_eq!(parts[0], sign(&id, VECTOR_TIMESTAMP, VECTOR_BODY, &SigningKeys::new(current)));
        assert_eq!(parts[1], VECTOR_SIGNATURE);
    }

    #[test]
    fn message_ids_are_visible_ascii_of_bounded_length() {
        assert!(MessageId::parse("evt_01JD8X4T9W3Q6Z").is_ok());
        assert_eq!(MessageId::parse(""), Err(MessageIdError::Empty));
        assert_eq!(MessageId::parse("a b"), Err(MessageIdError::NotVisibleAscii));
        assert_eq!(MessageId::parse("a\r\nx-injected: 1"), Err(MessageIdError::NotVisibleAscii));
        assert_eq!(MessageId::parse("é"), Err(MessageIdError::NotVisibleAscii));
        assert_eq!(MessageId::parse("x".repeat(257)), Err(MessageIdError::TooLong(257)));
        assert!(MessageId::parse("x".repeat(256)).is_ok());
    }
}
