//! Accounts: what `/api/v1/providers/{name}` names. An account is one set of credentials at one
//! cloud (a DigitalOcean team's token, an AWS account's keys); everything Nephele keeps about
//! a cloud hangs on an account and carries its name.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An account's name, as it appears in URLs: 1 to 32 of `a-z`, `0-9` and `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct AccountName(String);

/// Whether `name` may name an account (and so a provider, in URLs).
pub fn is_valid_account_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

impl AccountName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if is_valid_account_name(raw) {
            Ok(Self(raw.to_owned()))
        } else {
            Err("must be 1 to 32 of a-z, 0-9 and -".to_owned())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for AccountName {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_names_are_url_segments() {
        for good in ["digitalocean", "do-staging", "a", "aws-2", &"a".repeat(32)] {
            assert!(AccountName::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "Prod", "do_staging", "do staging", "é", &"a".repeat(33), "a/b"] {
            assert!(AccountName::parse(bad).is_err(), "{bad}");
        }
    }
}
