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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print_their_value() {
        let token = Secret::new("dop_v1_abcdef".to_owned());
        assert_eq!(format!("{token:?}"), "[redacted]");
        assert_eq!(format!("{token}"), "[redacted]");
        assert_eq!(format!("{:?}", Some(&token)), "Some([redacted])");
        assert_eq!(token.expose(), "dop_v1_abcdef");
    }
}
