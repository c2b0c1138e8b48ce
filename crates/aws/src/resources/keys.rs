//! EC2 key pairs as SSH keys.
//!
//! A key pair lives in one region, and an instance can only be made with a key of its own
//! region; DigitalOcean's keys are global. So an imported key goes into every configured region
//! under the same name, and the name is its id: `ssh_keys: [name]` works in a create in any of
//! them (EC2's `KeyName`). A fingerprint works as well: it is looked up in the create's region.
//!
//! Exactly once by name and tag: EC2 holds names unique per region. An import first looks in
//! every region; a pair of that name that carries this operation's tag was made by an earlier
//! attempt and is kept; one without it is someone else's, and the import is refused (409)
//! before anything is sent, so no region is left half done by a clash. A lost answer, or a
//! `Duplicate` from a race, is settled by looking again.

use base64::Engine;
use nephele_core::{OperationId, ProviderError, ResourceId, ResourceKind, SshKey};
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::{conflict, invalid, not_found, operation_tag, tag_specification, unclear};
use crate::client::Params;
use crate::provider::{Aws, Query, push_filter};
use crate::wire::{Page, Set, Tag};

/// `DescribeKeyPairs` is not paged.
const QUERY: Query = Query { action: "DescribeKeyPairs", page_size: None, what: "key pair list" };
/// The longest public key Nephele imports (a 16,384-bit RSA key is about 2.8 KiB).
const MAX_PUBLIC_KEY: usize = 16 * 1024;
/// The key types EC2 imports.
const KEY_TYPES: [&str; 2] = ["ssh-ed25519", "ssh-rsa"];

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeKeyPairs {
    #[serde(default)]
    key_set: Set<KeyPair>,
}

impl Page for DescribeKeyPairs {
    type Item = KeyPair;
    fn split(self) -> (Vec<KeyPair>, Option<String>) {
        (self.key_set.items, None)
    }
}

/// A key pair as `DescribeKeyPairs` and `ImportKeyPair` answer it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyPair {
    key_name: String,
    key_fingerprint: Option<String>,
    #[serde(default)]
    tag_set: Set<Tag>,
}

fn key(raw: &KeyPair, public_key: Option<&str>) -> SshKey {
    SshKey {
        id: ResourceId(raw.key_name.clone()),
        name: raw.key_name.clone(),
        fingerprint: raw.key_fingerprint.clone().unwrap_or_default(),
        public_key: public_key.map(str::to_owned),
    }
}

/// A key pair's name, which is also its id: 1 to 128 visible ASCII characters other than `/`
/// (EC2 allows 255 ASCII characters; Nephele's ids are narrower).
pub(crate) fn check_name(field: &str, name: &str) -> Result<(), ProviderError> {
    ResourceId::parse(name).map(|_| ()).map_err(|e| invalid(field, e))
}

/// An OpenSSH public key line EC2 imports: `ssh-ed25519` or `ssh-rsa`, its base64 body (which
/// must name the same type), and an optional comment. Answers the line, trimmed.
fn check_public_key(text: &str) -> Result<&str, ProviderError> {
    let line = text.trim();
    if line.len() > MAX_PUBLIC_KEY {
        return Err(invalid("public_key", format!("at most {MAX_PUBLIC_KEY} bytes, got {}", line.len())));
    }
    if line.contains(['\n', '\r']) {
        return Err(invalid("public_key", "one key on one line"));
    }
    let mut parts = line.split_ascii_whitespace();
    let (kind, body) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    if !KEY_TYPES.contains(&kind) {
        return Err(invalid(
            "public_key",
            "must be an OpenSSH public key of type ssh-ed25519 or ssh-rsa (the types EC2 imports)",
        ));
    }
    let blob = base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|_| invalid("public_key", "the key's body is not base64"))?;
    // The body starts with the type again, as a length-prefixed string.
    let named = blob
        .get(..4)
        .and_then(|len| usize::try_from(u32::from_be_bytes([len[0], len[1], len[2], len[3]])).ok())
        .and_then(|len| blob.get(4..4 + len));
    if named != Some(kind.as_bytes()) {
        return Err(invalid("public_key", format!("the key's body is not a {kind} key")));
    }
    Ok(line)
}

/// Whether a create's `ssh_keys` entry is a fingerprint (colon-separated hex bytes, as EC2 and
/// DigitalOcean show them) rather than a key pair's name.
fn is_fingerprint(text: &str) -> bool {
    let bytes: Vec<&str> = text.split(':').collect();
    matches!(bytes.len(), 16 | 20 | 32)
        && bytes.iter().all(|b| b.len() == 2 && b.bytes().all(|c| c.is_ascii_hexdigit()))
}

impl Aws {
    /// Every key pair, once per name (the default region's when several regions hold one).
    pub(crate) async fn list_keys(&self) -> Result<Vec<SshKey>, ProviderError> {
        let found = self.describe_everywhere::<DescribeKeyPairs>(QUERY, &Params::new()).await?;
        let mut seen = std::collections::BTreeMap::new();
        for (_, raw) in &found {
            seen.entry(raw.key_name.clone()).or_insert_with(|| key(raw, None));
        }
        Ok(seen.into_values().collect())
    }

    /// The pairs named `name`, in each region that holds one.
    async fn key_pairs_named(&self, name: &str) -> Result<Vec<(String, KeyPair)>, ProviderError> {
        let mut params = Params::new();
        push_filter(&mut params, "key-name", &[name]);
        let found = self.describe_everywhere::<DescribeKeyPairs>(QUERY, &params).await?;
        Ok(found.into_iter().filter(|(_, k)| k.key_name == name).collect())
    }

    pub(crate) async fn get_key(&self, id: &ResourceId) -> Result<SshKey, ProviderError> {
        let found = self.key_pairs_named(&id.0).await?;
        found.first().map(|(_, raw)| key(raw, None)).ok_or_else(|| not_found(ResourceKind::SshKey, id))
    }

    pub(crate) async fn import_key(
        &self,
        operation_id: OperationId,
        name: &str,
        public_key: &str,
    ) -> Result<SshKey, ProviderError> {
        check_name("name", name)?;
        let public_key = check_public_key(public_key)?;
        let tag = operation_tag(operation_id);
        let found = self.key_pairs_named(name).await?;
        if let Some((region, _)) = found.iter().find(|(_, k)| !k.tag_set.has_key(&tag)) {
            return Err(conflict(format!("a key pair named {name:?} already exists in {region}")));
        }
        let mut made: Vec<(String, KeyPair)> = found;
        for region in self.regions_default_first() {
            if made.iter().any(|(r, _)| *r == region) {
                continue;
            }
            let mut params: Params = vec![
                ("KeyName".into(), name.to_owned()),
                // A blob in the Query API: base64 of the key line.
                (
                    "PublicKeyMaterial".into(),
                    base64::engine::general_purpose::STANDARD.encode(public_key.as_bytes()),
                ),
            ];
            tag_specification(&mut params, "key-pair", &[(tag.clone(), String::new())]);
            let imported =
                self.client.call::<KeyPair>(&region, "ImportKeyPair", &params, self.client.deadline()).await;
            match imported {
                Ok(pair) => made.push((region, pair)),
                Err(e) if unclear(&e) || matches!(e, ProviderError::Conflict { .. }) => {
                    // Made by this call after all (a lost answer), or by a racing attempt of the
                    // same operation; anything else is the error.
                    let again = self.key_pairs_named(name).await?;
                    match again.into_iter().find(|(r, k)| *r == region && k.tag_set.has_key(&tag)) {
                        Some(pair) => made.push(pair),
                        None => return Err(e),
                    }
                }
                Err(ProviderError::InvalidInput { message, detail, .. }) => {
                    return Err(ProviderError::InvalidInput {
                        field: Some("public_key".into()),
                        message,
                        detail,
                    });
                }
                Err(e) => return Err(e),
            }
        }
        let home = &self.settings().default_region;
        let shown = made.iter().find(|(r, _)| r == home).or(made.first()).map(|(_, k)| k);
        shown
            .map(|raw| key(raw, Some(public_key)))
            .ok_or_else(|| ProviderError::invalid_response("no region answered the imported key pair"))
    }

    pub(crate) async fn delete_key(&self, id: &ResourceId) -> Result<(), ProviderError> {
        let found = self.key_pairs_named(&id.0).await?;
        if found.is_empty() {
            return Err(not_found(ResourceKind::SshKey, id));
        }
        for (region, _) in found {
            let params: Params = vec![("KeyName".into(), id.0.clone())];
            self.client.call::<IgnoredAny>(&region, "DeleteKeyPair", &params, self.client.deadline()).await?;
        }
        Ok(())
    }

    /// A create's `ssh_keys` as key pair names: a fingerprint becomes the name of the pair that
    /// has it in `region`.
    pub(crate) async fn key_names(
        &self,
        region: &str,
        keys: &[String],
    ) -> Result<Vec<String>, ProviderError> {
        let mut names = Vec::with_capacity(keys.len());
        for (n, entry) in keys.iter().enumerate() {
            if !is_fingerprint(entry) {
                names.push(entry.clone());
                continue;
            }
            let mut params = Params::new();
            push_filter(&mut params, "fingerprint", &[entry]);
            let found =
                self.describe::<DescribeKeyPairs>(region, QUERY, &params, self.client.deadline()).await?;
            let pair = found.into_iter().find(|k| k.key_fingerprint.as_deref() == Some(entry.as_str()));
            match pair {
                Some(pair) => names.push(pair.key_name),
                None => {
                    return Err(invalid(
                        &format!("ssh_keys[{n}]"),
                        format!("no key pair in {region} has the fingerprint {entry}"),
                    ));
                }
            }
        }
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED25519: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHJlYWxseS1ub3QtYS1yZWFsLWtleS1mb3ItdGVzdHM= me@host";

    #[test]
    fn public_keys_are_checked_before_any_call() {
        assert_eq!(check_public_key(&format!("  {ED25519}\n")).expect("valid"), ED25519);
        for bad in [
            "",
            "ssh-dss AAAAB3NzaC1kc3MAAACBAP==",
            "ssh-ed25519 not-base64!!",
            // The body names another type.
            "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIHJlYWxseS1ub3QtYS1yZWFsLWtleS1mb3ItdGVzdHM=",
            "ssh-ed25519 AAAA\nssh-ed25519 AAAA",
        ] {
            let refused = check_public_key(bad).expect_err(bad);
            assert!(refused.to_string().contains("`public_key`"), "{refused}");
        }
        assert!(check_public_key(&format!("ssh-rsa {}", "A".repeat(MAX_PUBLIC_KEY))).is_err());
    }

    #[test]
    fn fingerprints_are_told_from_names() {
        assert!(is_fingerprint("36:b4:7c:69:f0:c4:4c:ff:f2:00:19:cb:1c:db:97:e0"));
        assert!(!is_fingerprint("deploy-key"));
        assert!(!is_fingerprint("36:b4:7c"));
        assert!(!is_fingerprint("zz:b4:7c:69:f0:c4:4c:ff:f2:00:19:cb:1c:db:97:e0"));
    }

    #[test]
    fn key_names_are_ids() {
        assert!(check_name("name", "deploy key").is_err(), "spaces would not make an id");
        assert!(check_name("name", "a/b").is_err());
        assert!(check_name("name", "deploy-key_2").is_ok());
    }
}
