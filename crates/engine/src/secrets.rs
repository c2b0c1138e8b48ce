//! Credentials at rest: envelope encryption of each account's credentials, and of the other
//! secrets the server keeps (webhooks' signing secrets, bound to their row by [`RowBinding`]).
//!
//! Each account's credentials are sealed with AES-256-GCM under a random data key of their own,
//! with the account's id, provider type and credential version as associated data, so a
//! ciphertext copied to another row (or to another version of the same row) does not open. The
//! data key is itself sealed ("wrapped") with AES-256-GCM under a master key, named by its key
//! id, with the same associated data. A master key comes from `secrets.master_key` (32 bytes,
//! base64) or `secrets.master_key_file`; rotation re-wraps every data key under a new master key
//! (the credentials' ciphertext is not touched), and while it runs a [`Keyring`] holding both
//! keys opens either.
//!
//! The primitives are ring's (AES-256-GCM, the system's random numbers); this module only puts
//! them together. Keys in memory are zeroized when dropped. Nothing here logs, and no error
//! carries a key, a plaintext or a ciphertext.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

/// Bytes of a master or data key (AES-256).
pub const KEY_LEN: usize = 32;

/// Why a key or a sealed value cannot be used. Never carries key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretsError {
    #[error("the master key must be {KEY_LEN} bytes, base64-encoded ({0})")]
    BadMasterKey(String),
    #[error("cannot read the master key file {path}: {reason}")]
    MasterKeyFile { path: String, reason: String },
    #[error("sealed with master key {0}, which this server does not hold")]
    UnknownKey(String),
    #[error("the sealed credentials do not open: tampered, moved from another account, or a wrong key")]
    DoesNotOpen,
    #[error("the system's random number generator failed")]
    Random,
}

/// A master key and its id (a copy is zeroized when dropped, as the original is). The id is derived from the key (a digest prefix), so two servers
/// holding the same key agree on its name without configuring one, and a wrong key is told
/// apart from a tampered row.
#[derive(Clone)]
pub struct MasterKey {
    id: String,
    bytes: Zeroizing<[u8; KEY_LEN]>,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKey").field("id", &self.id).field("bytes", &"[redacted]").finish()
    }
}

impl MasterKey {
    /// A key from 32 bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        let bytes = Zeroizing::new(bytes);
        let mut digest = Sha256::new();
        digest.update(b"nephele master key id\0");
        digest.update(bytes.as_ref());
        let id = digest.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect();
        Self { id, bytes }
    }

    /// A key written as base64 (standard alphabet, padded or not), surrounding blanks ignored.
    pub fn from_base64(text: &str) -> Result<Self, SecretsError> {
        let mut decoded = Zeroizing::new(
            BASE64
                .decode(text.trim().trim_end_matches('='))
                .or_else(|_| {
                    base64::engine::general_purpose::STANDARD_NO_PAD.decode(text.trim().trim_end_matches('='))
                })
                .map_err(|_| SecretsError::BadMasterKey("not base64".to_owned()))?,
        );
        let bytes: [u8; KEY_LEN] = decoded
            .as_slice()
            .try_into()
            .map_err(|_| SecretsError::BadMasterKey(format!("got {} bytes", decoded.len())))?;
        decoded.zeroize();
        Ok(Self::from_bytes(bytes))
    }

    /// A key from a file holding it in base64 (as `nephele secrets generate` writes it). At most
    /// 4 KiB is read: a key is 44 characters, and a path to something endless is no key.
    pub fn from_file(path: &std::path::Path) -> Result<Self, SecretsError> {
        use std::io::Read;
        let failed = |e: std::io::Error| SecretsError::MasterKeyFile {
            path: path.display().to_string(),
            reason: e.kind().to_string(),
        };
        let mut text = Zeroizing::new(String::new());
        std::fs::File::open(path).map_err(failed)?.take(4096).read_to_string(&mut text).map_err(failed)?;
        Self::from_base64(&text)
    }

    /// A new random key.
    pub fn generate() -> Result<Self, SecretsError> {
        let mut bytes = [0u8; KEY_LEN];
        SystemRandom::new().fill(&mut bytes).map_err(|_| SecretsError::Random)?;
        let key = Self::from_bytes(bytes);
        bytes.zeroize();
        Ok(key)
    }

    /// The key in base64, to be written to a key file. The caller keeps it out of every log.
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(BASE64.encode(self.bytes.as_ref()))
    }

    pub fn id(&self) -> &str {
        &self.id
    }
}

/// The master keys a server holds: the current one, which seals, and older ones, which only
/// open (during a rotation).
#[derive(Debug, Clone)]
pub struct Keyring {
    current: MasterKey,
    older: Vec<MasterKey>,
}

impl Keyring {
    pub fn new(current: MasterKey) -> Self {
        Self { current, older: Vec::new() }
    }

    /// This keyring, also opening what `older` sealed.
    pub fn with_older(mut self, older: MasterKey) -> Self {
        if older.id != self.current.id {
            self.older.push(older);
        }
        self
    }

    pub fn current_id(&self) -> &str {
        &self.current.id
    }

    /// This keyring with `new` as its current key, still opening what every key it held
    /// sealed: the keyring of a rotation under way.
    pub fn rotated_to(&self, new: MasterKey) -> Self {
        let mut older: Vec<MasterKey> = std::iter::once(self.current.clone())
            .chain(self.older.iter().cloned())
            .filter(|k| k.id != new.id)
            .collect();
        older.dedup_by(|a, b| a.id == b.id);
        Self { current: new, older }
    }

    /// The ids of the keys this keyring opens with, the current one first.
    pub fn key_ids(&self) -> Vec<String> {
        std::iter::once(&self.current).chain(&self.older).map(|k| k.id.clone()).collect()
    }

    fn key(&self, id: &str) -> Option<&MasterKey> {
        std::iter::once(&self.current).chain(&self.older).find(|k| k.id == id)
    }
}

/// What sealed credentials are bound to: a ciphertext opens only for the same account id,
/// provider type and credential version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding<'a> {
    pub account_id: &'a str,
    pub provider_type: &'a str,
    /// Goes up with every change of credentials.
    pub version: u32,
}

impl Binds for Binding<'_> {
    fn bytes(&self, part: &str, key_id: &str) -> Vec<u8> {
        // Lengths first, so no two different bindings write the same bytes.
        let fields = [part, self.account_id, self.provider_type, key_id];
        let mut out = b"nephele-credentials-v1".to_vec();
        for field in fields {
            out.extend_from_slice(&(field.len() as u64).to_be_bytes());
            out.extend_from_slice(field.as_bytes());
        }
        out.extend_from_slice(&self.version.to_be_bytes());
        out
    }
}

/// What a sealed value's associated data is made of: a ciphertext opens only under the same
/// binding. Each kind writes its own domain tag first, so no binding of one kind equals one of
/// another.
pub trait Binds {
    /// The associated data of `part` (the value, or its data key wrapped by master key `key_id`).
    fn bytes(&self, part: &str, key_id: &str) -> Vec<u8>;
}

/// What a secret kept in some other row is bound to (a webhook's signing secret): the table,
/// the row's id, the secret's purpose and its version, so a ciphertext copied to another row,
/// to another column or back to an older version of the same row does not open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowBinding<'a> {
    pub table: &'a str,
    pub row_id: &'a str,
    pub purpose: &'a str,
    /// Goes up with every new secret in the row.
    pub version: i64,
}

impl Binds for RowBinding<'_> {
    fn bytes(&self, part: &str, key_id: &str) -> Vec<u8> {
        let fields = [part, self.table, self.row_id, self.purpose, key_id];
        let mut out = b"nephele-row-secret-v1".to_vec();
        for field in fields {
            out.extend_from_slice(&(field.len() as u64).to_be_bytes());
            out.extend_from_slice(field.as_bytes());
        }
        out.extend_from_slice(&self.version.to_be_bytes());
        out
    }
}

/// Sealed credentials, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The master key that wrapped the data key.
    pub key_id: String,
    /// The data key, sealed under the master key: nonce, ciphertext and tag.
    pub wrapped_key: Vec<u8>,
    /// The credentials, sealed under the data key: nonce, ciphertext and tag.
    pub ciphertext: Vec<u8>,
}

/// How [`Sealed::to_text`] begins.
pub const SEALED_TEXT_PREFIX: &str = "sealed:v1:";

impl Sealed {
    /// One line of text holding all three parts, for a text column:
    /// `sealed:v1:<key id>:<base64 wrapped key>:<base64 ciphertext>`.
    pub fn to_text(&self) -> String {
        format!(
            "{SEALED_TEXT_PREFIX}{}:{}:{}",
            self.key_id,
            BASE64.encode(&self.wrapped_key),
            BASE64.encode(&self.ciphertext)
        )
    }

    /// Reads [`Sealed::to_text`] back; `None` for anything else.
    pub fn from_text(text: &str) -> Option<Self> {
        let mut parts = text.strip_prefix(SEALED_TEXT_PREFIX)?.split(':');
        let key_id = parts.next()?;
        let wrapped_key = BASE64.decode(parts.next()?).ok()?;
        let ciphertext = BASE64.decode(parts.next()?).ok()?;
        if parts.next().is_some() || key_id.is_empty() || !key_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Some(Self { key_id: key_id.to_owned(), wrapped_key, ciphertext })
    }
}

/// The keyring `secrets:` configures: the master key (`master_key` or `master_key_file`), with
/// `previous_key_file` while a rotation is unfinished; `None` when no master key is configured.
pub fn keyring_from_config(config: &crate::config::SecretsConfig) -> Result<Option<Keyring>, SecretsError> {
    let current = match (&config.master_key, &config.master_key_file) {
        (Some(text), _) => Some(MasterKey::from_base64(text.expose())?),
        (None, Some(path)) => Some(MasterKey::from_file(path)?),
        (None, None) => None,
    };
    match (current, &config.previous_key_file) {
        (Some(current), Some(previous)) => {
            Ok(Some(Keyring::new(current).with_older(MasterKey::from_file(previous)?)))
        }
        (Some(current), None) => Ok(Some(Keyring::new(current))),
        (None, Some(_)) => Err(SecretsError::BadMasterKey(
            "secrets.previous_key_file needs secrets.master_key or master_key_file".to_owned(),
        )),
        (None, None) => Ok(None),
    }
}

fn seal_with(key: &[u8; KEY_LEN], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, SecretsError> {
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).map_err(|_| SecretsError::Random)?);
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new().fill(&mut nonce).map_err(|_| SecretsError::Random)?;
    let mut sealed = plaintext.to_vec();
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut sealed)
        .map_err(|_| SecretsError::Random)?;
    let mut out = nonce.to_vec();
    out.append(&mut sealed);
    Ok(out)
}

fn open_with(key: &[u8; KEY_LEN], aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SecretsError> {
    if sealed.len() < NONCE_LEN {
        return Err(SecretsError::DoesNotOpen);
    }
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).map_err(|_| SecretsError::DoesNotOpen)?);
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SecretsError::DoesNotOpen)?;
    let mut buffer = Zeroizing::new(body.to_vec());
    let plain_len = key
        .open_in_place(nonce, Aad::from(aad), buffer.as_mut_slice())
        .map_err(|_| SecretsError::DoesNotOpen)?
        .len();
    buffer.truncate(plain_len);
    Ok(buffer)
}

impl Keyring {
    /// Seals `plaintext` for `binding` under a fresh data key, wrapped by the current master key.
    pub fn seal(&self, binding: &impl Binds, plaintext: &[u8]) -> Result<Sealed, SecretsError> {
        let mut data_key = Zeroizing::new([0u8; KEY_LEN]);
        SystemRandom::new().fill(data_key.as_mut()).map_err(|_| SecretsError::Random)?;
        let key_id = self.current.id.clone();
        let ciphertext = seal_with(&data_key, &binding.bytes("credentials", ""), plaintext)?;
        let wrapped_key =
            seal_with(&self.current.bytes, &binding.bytes("data-key", &key_id), data_key.as_ref())?;
        Ok(Sealed { key_id, wrapped_key, ciphertext })
    }

    /// Opens `sealed` for `binding`: the plaintext, zeroized when dropped.
    pub fn open(&self, binding: &impl Binds, sealed: &Sealed) -> Result<Zeroizing<Vec<u8>>, SecretsError> {
        let data_key = self.unwrap_key(binding, sealed)?;
        open_with(&data_key, &binding.bytes("credentials", ""), &sealed.ciphertext)
    }

    /// The same credentials with their data key wrapped by the current master key: what a
    /// rotation writes. The credentials' ciphertext is unchanged.
    pub fn rewrap(&self, binding: &impl Binds, sealed: &Sealed) -> Result<Sealed, SecretsError> {
        let data_key = self.unwrap_key(binding, sealed)?;
        // Only what opens is re-wrapped: a damaged row stays damaged, and says so.
        open_with(&data_key, &binding.bytes("credentials", ""), &sealed.ciphertext)?;
        if sealed.key_id == self.current.id {
            return Ok(sealed.clone());
        }
        let key_id = self.current.id.clone();
        let wrapped_key =
            seal_with(&self.current.bytes, &binding.bytes("data-key", &key_id), data_key.as_ref())?;
        Ok(Sealed { key_id, wrapped_key, ciphertext: sealed.ciphertext.clone() })
    }

    fn unwrap_key(
        &self,
        binding: &impl Binds,
        sealed: &Sealed,
    ) -> Result<Zeroizing<[u8; KEY_LEN]>, SecretsError> {
        let master =
            self.key(&sealed.key_id).ok_or_else(|| SecretsError::UnknownKey(sealed.key_id.clone()))?;
        let opened =
            open_with(&master.bytes, &binding.bytes("data-key", &sealed.key_id), &sealed.wrapped_key)?;
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        if opened.len() != KEY_LEN {
            return Err(SecretsError::DoesNotOpen);
        }
        key.copy_from_slice(&opened);
        Ok(key)
    }
}

/// What may be shown of a credential: its last four characters and a digest prefix, enough to
/// tell two apart and to recognise one's own, never enough to use.
pub fn fingerprint(credential: &str) -> String {
    let digest = Sha256::digest(credential.as_bytes());
    let prefix: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    let chars: Vec<char> = credential.chars().collect();
    // Short credentials show no characters at all.
    let tail: String =
        if chars.len() >= 16 { chars[chars.len() - 4..].iter().collect() } else { String::new() };
    format!("…{tail} sha256:{prefix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(account: &str) -> Binding<'_> {
        Binding { account_id: account, provider_type: "digitalocean", version: 1 }
    }

    #[test]
    fn sealed_credentials_open_only_for_their_own_account_type_and_version() {
        let keyring = Keyring::new(MasterKey::generate().expect("key"));
        let token = b"dop_v1_0123456789abcdef";
        let sealed = keyring.seal(&binding("a-1"), token).expect("seal");
        assert_eq!(keyring.open(&binding("a-1"), &sealed).expect("open").as_slice(), token);
        assert!(
            !sealed.ciphertext.windows(token.len()).any(|w| w == token),
            "no plaintext in the ciphertext"
        );
        assert_eq!(
            keyring.open(&binding("a-2"), &sealed),
            Err(SecretsError::DoesNotOpen),
            "moved to another row"
        );
        let other_type = Binding { provider_type: "aws", ..binding("a-1") };
        assert_eq!(keyring.open(&other_type, &sealed), Err(SecretsError::DoesNotOpen));
        let old_version = Binding { version: 2, ..binding("a-1") };
        assert_eq!(keyring.open(&old_version, &sealed), Err(SecretsError::DoesNotOpen));
    }

    #[test]
    fn one_flipped_bit_anywhere_makes_it_not_open() {
        let keyring = Keyring::new(MasterKey::generate().expect("key"));
        let sealed = keyring.seal(&binding("a"), b"secret-token-value").expect("seal");
        for at in 0..sealed.ciphertext.len() {
            let mut flipped = sealed.clone();
            flipped.ciphertext[at] ^= 1;
            assert!(keyring.open(&binding("a"), &flipped).is_err(), "ciphertext byte {at}");
        }
        for at in 0..sealed.wrapped_key.len() {
            let mut flipped = sealed.clone();
            flipped.wrapped_key[at] ^= 0x80;
            assert!(keyring.open(&binding("a"), &flipped).is_err(), "wrapped key byte {at}");
        }
    }

    #[test]
    fn a_rotation_rewraps_under_the_new_key_and_both_open_until_it_ends() {
        let old = MasterKey::generate().expect("old");
        let old_text = old.to_base64();
        let new = MasterKey::generate().expect("new");
        let new_text = new.to_base64();
        let before = Keyring::new(old);
        let sealed = before.seal(&binding("a"), b"token-before-rotation").expect("seal");
        let during = Keyring::new(MasterKey::from_base64(&new_text).expect("new"))
            .with_older(MasterKey::from_base64(&old_text).expect("old"));
        assert!(during.open(&binding("a"), &sealed).is_ok(), "the old key still opens");
        let rewrapped = during.rewrap(&binding("a"), &sealed).expect("rewrap");
        assert_eq!(rewrapped.key_id, during.current_id());
        assert_eq!(rewrapped.ciphertext, sealed.ciphertext, "only the data key is re-wrapped");
        let after = Keyring::new(MasterKey::from_base64(&new_text).expect("new"));
        assert_eq!(
            after.open(&binding("a"), &rewrapped).expect("opens").as_slice(),
            b"token-before-rotation"
        );
        assert!(matches!(after.open(&binding("a"), &sealed), Err(SecretsError::UnknownKey(_))));
    }

    fn row(id: &str, version: i64) -> RowBinding<'_> {
        RowBinding { table: "webhooks", row_id: id, purpose: "signing-secret", version }
    }

    #[test]
    fn a_row_secret_opens_only_for_its_own_table_row_purpose_and_version() {
        let keyring = Keyring::new(MasterKey::generate().expect("key"));
        let secret = b"whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0";
        let sealed = keyring.seal(&row("wh_1", 2), secret).expect("seal");
        assert_eq!(keyring.open(&row("wh_1", 2), &sealed).expect("open").as_slice(), secret);
        assert_eq!(keyring.open(&row("wh_2", 2), &sealed), Err(SecretsError::DoesNotOpen), "another row");
        assert_eq!(keyring.open(&row("wh_1", 1), &sealed), Err(SecretsError::DoesNotOpen), "another version");
        let other_purpose = RowBinding { purpose: "other", ..row("wh_1", 2) };
        assert_eq!(keyring.open(&other_purpose, &sealed), Err(SecretsError::DoesNotOpen));
        let other_table = RowBinding { table: "accounts", ..row("wh_1", 2) };
        assert_eq!(keyring.open(&other_table, &sealed), Err(SecretsError::DoesNotOpen));
        // An account binding with the same strings opens nothing sealed for a row, and back.
        let account = Binding { account_id: "wh_1", provider_type: "webhooks", version: 2 };
        assert_eq!(keyring.open(&account, &sealed), Err(SecretsError::DoesNotOpen));
    }

    #[test]
    fn the_text_form_round_trips_and_refuses_anything_else() {
        let keyring = Keyring::new(MasterKey::generate().expect("key"));
        let sealed = keyring.seal(&row("wh_1", 1), b"whsec_AAAA").expect("seal");
        let text = sealed.to_text();
        assert!(text.starts_with(SEALED_TEXT_PREFIX));
        assert_eq!(Sealed::from_text(&text), Some(sealed));
        for bad in [
            "whsec_AAAA",
            "sealed:v1:",
            "sealed:v1:zz:AA==:AA==",
            "sealed:v1:ab:AA==",
            "sealed:v1:ab:AA==:AA==:AA==",
        ] {
            assert_eq!(Sealed::from_text(bad), None, "{bad}");
        }
    }

    #[test]
    fn master_keys_are_32_bytes_of_base64_and_never_print() {
        assert!(MasterKey::from_base64("c2hvcnQ=").is_err());
        assert!(MasterKey::from_base64("not base64 at all!").is_err());
        let key = MasterKey::generate().expect("key");
        let text = key.to_base64();
        assert_eq!(MasterKey::from_base64(&text).expect("round trip").id(), key.id());
        assert!(!format!("{key:?}").contains(text.as_str()));
    }

    #[test]
    fn a_fingerprint_shows_the_last_four_characters_and_a_digest_prefix() {
        let shown = fingerprint("dop_v1_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaabcd");
        assert!(shown.starts_with("…abcd sha256:"), "{shown}");
        assert!(!fingerprint("short").contains("short"));
    }
}
