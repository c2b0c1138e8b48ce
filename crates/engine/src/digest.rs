//! SHA-256 as lower-case hex: how API keys are stored, requests fingerprinted for idempotency,
//! secrets summarised where they would be shown, and list answers tagged (`ETag`).

use sha2::{Digest, Sha256};

/// The SHA-256 of `data`, as 64 lower-case hex digits.
pub fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_is_the_standard_digest_in_hex() {
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
