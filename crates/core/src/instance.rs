//! Instances (virtual servers) as every provider sees them, and the requests that change them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::operation::OperationId;

/// A provider's own identifier for an instance (DigitalOcean's droplet id, as a string).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct InstanceId(pub String);

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The longest instance id Nephele accepts from a caller or reads back from its own records.
pub const MAX_INSTANCE_ID_LEN: usize = 128;

impl InstanceId {
    /// An id as a caller (or a stored record) gives it: 1 to [`MAX_INSTANCE_ID_LEN`] visible
    /// ASCII characters, none of them `/`. Whether the provider knows it is the provider's to say.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.is_empty() || raw.len() > MAX_INSTANCE_ID_LEN {
            return Err(format!("must be 1 to {MAX_INSTANCE_ID_LEN} characters, got {}", raw.len()));
        }
        if !raw.bytes().all(|b| b.is_ascii_graphic() && b != b'/') {
            return Err("must be visible ASCII characters other than `/`".to_owned());
        }
        Ok(Self(raw.to_owned()))
    }
}

impl From<u64> for InstanceId {
    fn from(id: u64) -> Self {
        Self(id.to_string())
    }
}

/// The lifecycle state of an instance, normalised across providers.
///
/// The provider's own word for the state is kept beside it in [`Instance::provider_status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstanceStatus {
    /// Accepted by the provider, not yet running.
    Provisioning,
    /// Powered on.
    Running,
    /// Powered off (and, on most clouds, still billed).
    Stopped,
    /// Kept by the provider but not runnable.
    Archived,
    /// A state Nephele does not know; see `provider_status`.
    Unknown,
}

impl InstanceStatus {
    /// The stable lower-case name used in the API and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provisioning => "provisioning",
            Self::Running => "running",
            Self::Stopped => "stopped",
            Self::Archived => "archived",
            Self::Unknown => "unknown",
        }
    }
}

impl fmt::Display for InstanceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for InstanceStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "provisioning" => Ok(Self::Provisioning),
            "running" => Ok(Self::Running),
            "stopped" => Ok(Self::Stopped),
            "archived" => Ok(Self::Archived),
            "unknown" => Ok(Self::Unknown),
            other => Err(format!(
                "unknown status `{other}`; expected one of provisioning, running, stopped, archived, unknown"
            )),
        }
    }
}

/// A virtual server as Nephele reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    pub id: InstanceId,
    pub name: String,
    pub status: InstanceStatus,
    /// The provider's own status word (`new`, `active`, `off`, `archive` on DigitalOcean).
    pub provider_status: String,
    /// The instance type (DigitalOcean's size slug).
    pub instance_type: String,
    pub region: String,
    /// The image slug when there is one, else its numeric id as a string.
    pub image: String,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub disk_gib: u64,
    pub public_ipv4: Option<String>,
    pub private_ipv4: Option<String>,
    pub public_ipv6: Option<String>,
    pub tags: Vec<String>,
    pub features: Vec<String>,
    /// True while the provider is working on an action and refuses new ones.
    pub locked: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Why a string is not a valid instance name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstanceNameError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most 255 characters, got {0}")]
    TooLong(usize),
    #[error("may contain only letters, digits, `.` and `-`; found {0:?}")]
    InvalidCharacter(char),
    #[error("must start and end with a letter or digit")]
    BadEnds,
}

/// A host name as clouds accept it: 1..=255 characters of `A-Z a-z 0-9 . -`, starting and
/// ending with a letter or digit (DigitalOcean's rule, which is also the strictest common one).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct InstanceName(String);

impl InstanceName {
    /// Parses a raw string, saying exactly what is wrong with it.
    pub fn parse(raw: &str) -> Result<Self, InstanceNameError> {
        if raw.is_empty() {
            return Err(InstanceNameError::Empty);
        }
        let length = raw.chars().count();
        if length > 255 {
            return Err(InstanceNameError::TooLong(length));
        }
        if let Some(bad) = raw.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '.' || *c == '-')) {
            return Err(InstanceNameError::InvalidCharacter(bad));
        }
        let first_and_last_alphanumeric = raw.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && raw.chars().last().is_some_and(|c| c.is_ascii_alphanumeric());
        if !first_and_last_alphanumeric {
            return Err(InstanceNameError::BadEnds);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for InstanceName {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for InstanceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The most user data (cloud-init) an instance may carry: DigitalOcean's 64 KiB, the strictest
/// common limit, like the name rule above.
pub const MAX_USER_DATA_BYTES: usize = 64 * 1024;

/// Whether `tag` is a tag clouds accept: 1..=255 letters, digits, `:`, `-` and `_`
/// (DigitalOcean's rule, again the strictest common one).
pub fn is_valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 255
        && tag.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '-' | '_'))
}

/// A request to create one or more identical instances.
///
/// `operation_id` travels to the provider so that an ambiguous failure (a timeout, a dropped
/// connection) can be resolved by looking the operation up instead of creating again.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateInstances {
    pub operation_id: OperationId,
    /// One name per instance to create.
    pub names: Vec<InstanceName>,
    pub instance_type: String,
    pub region: String,
    /// Image slug (`ubuntu-24-04-x64`) or numeric id.
    pub image: String,
    #[serde(default)]
    pub ssh_keys: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub user_data: Option<String>,
    #[serde(default)]
    pub backups: bool,
    #[serde(default)]
    pub ipv6: bool,
    #[serde(default)]
    pub monitoring: bool,
    pub vpc_uuid: Option<String>,
}

/// `user_data` often holds passwords and keys: Debug shows only its size.
impl fmt::Debug for CreateInstances {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreateInstances")
            .field("operation_id", &self.operation_id)
            .field("names", &self.names)
            .field("instance_type", &self.instance_type)
            .field("region", &self.region)
            .field("image", &self.image)
            .field("ssh_keys", &self.ssh_keys)
            .field("tags", &self.tags)
            .field("user_data_bytes", &self.user_data.as_ref().map(String::len))
            .field("backups", &self.backups)
            .field("ipv6", &self.ipv6)
            .field("monitoring", &self.monitoring)
            .field("vpc_uuid", &self.vpc_uuid)
            .finish()
    }
}

/// Filters for listing instances; `None` means "any".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InstanceFilter {
    pub region: Option<String>,
    pub status: Option<InstanceStatus>,
    pub tag: Option<String>,
    pub name: Option<String>,
}

impl InstanceFilter {
    /// Whether an instance passes every filter that is set.
    pub fn matches(&self, instance: &Instance) -> bool {
        self.region.as_ref().is_none_or(|r| &instance.region == r)
            && self.status.is_none_or(|s| instance.status == s)
            && self.tag.as_ref().is_none_or(|t| instance.tags.contains(t))
            && self.name.as_ref().is_none_or(|n| &instance.name == n)
    }
}

/// Power actions every provider is expected to support.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PowerAction {
    PowerOn,
    /// Hard power off.
    PowerOff,
    /// Graceful shutdown.
    Shutdown,
    Reboot,
    PowerCycle,
}

impl PowerAction {
    pub const ALL: [PowerAction; 5] =
        [Self::PowerOn, Self::PowerOff, Self::Shutdown, Self::Reboot, Self::PowerCycle];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PowerOn => "power_on",
            Self::PowerOff => "power_off",
            Self::Shutdown => "shutdown",
            Self::Reboot => "reboot",
            Self::PowerCycle => "power_cycle",
        }
    }

    /// The status an instance should reach once the action completes.
    pub fn resulting_status(self) -> InstanceStatus {
        match self {
            Self::PowerOff | Self::Shutdown => InstanceStatus::Stopped,
            Self::PowerOn | Self::Reboot | Self::PowerCycle => InstanceStatus::Running,
        }
    }
}

impl FromStr for PowerAction {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|a| a.as_str() == s).ok_or_else(|| {
            format!(
                "unknown action `{s}`; expected one of power_on, power_off, shutdown, reboot, power_cycle"
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_names_follow_the_hostname_rule() {
        assert!(InstanceName::parse("web-01.example.com").is_ok());
        assert!(InstanceName::parse("a").is_ok());
        assert_eq!(InstanceName::parse(""), Err(InstanceNameError::Empty));
        assert_eq!(InstanceName::parse("-web"), Err(InstanceNameError::BadEnds));
        assert_eq!(InstanceName::parse("web."), Err(InstanceNameError::BadEnds));
        assert_eq!(InstanceName::parse("web_01"), Err(InstanceNameError::InvalidCharacter('_')));
        assert_eq!(InstanceName::parse(&"a".repeat(256)), Err(InstanceNameError::TooLong(256)));
        assert!(InstanceName::parse(&"a".repeat(255)).is_ok());
    }

    #[test]
    fn tags_follow_the_strictest_common_rule() {
        assert!(is_valid_tag("env:prod") && is_valid_tag("nephele-req-1_a"));
        assert!(!is_valid_tag("") && !is_valid_tag("has space") && !is_valid_tag(&"t".repeat(256)));
    }

    #[test]
    fn power_actions_round_trip_through_their_names() {
        for action in PowerAction::ALL {
            assert_eq!(action.as_str().parse::<PowerAction>(), Ok(action));
        }
        assert!("explode".parse::<PowerAction>().is_err());
    }
}
