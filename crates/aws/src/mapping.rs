//! EC2's shapes as Nephele's.

use std::collections::BTreeMap;

use nephele_core::{Instance, InstanceId, InstanceStatus};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::wire;

/// The tag whose key marks the instances of one create operation.
pub const OPERATION_TAG_PREFIX: &str = "nephele-req-";

/// EC2's instance states, as Nephele's statuses.
pub fn status(state: &str) -> InstanceStatus {
    match state {
        "pending" => InstanceStatus::Provisioning,
        "running" => InstanceStatus::Running,
        "stopping" | "stopped" => InstanceStatus::Stopped,
        "shutting-down" | "terminated" => InstanceStatus::Archived,
        _ => InstanceStatus::Unknown,
    }
}

/// The EC2 states a Nephele status filter stands for.
pub fn states(status: InstanceStatus) -> &'static [&'static str] {
    match status {
        InstanceStatus::Provisioning => &["pending"],
        InstanceStatus::Running => &["running"],
        InstanceStatus::Stopped => &["stopping", "stopped"],
        InstanceStatus::Archived => &["shutting-down", "terminated"],
        InstanceStatus::Unknown => &[],
    }
}

/// Nephele's tags are words (`web`, `env:prod`); EC2's are key/value pairs. `key:value` is the
/// pair, a word alone is a key with an empty value.
pub fn tag_pair(tag: &str) -> (&str, &str) {
    tag.split_once(':').unwrap_or((tag, ""))
}

pub(crate) fn tag_word(tag: &wire::Tag) -> String {
    match tag.value.as_deref() {
        Some(value) if !value.is_empty() => format!("{}:{value}", tag.key),
        _ => tag.key.clone(),
    }
}

/// What the instance-type catalogue says of a type, for the instance's own fields.
#[derive(Debug, Clone, Copy, Default)]
pub struct Shape {
    pub vcpus: u32,
    pub memory_mib: u64,
    pub disk_gib: u64,
}

/// One EC2 instance seen in `region`.
pub fn instance(raw: &wire::Instance, region: &str, shapes: &BTreeMap<String, Shape>) -> Instance {
    let name = raw.tag_set.items.iter().find(|t| t.key == "Name").and_then(|t| t.value.clone());
    let shape = shapes.get(&raw.instance_type).copied().unwrap_or_default();
    let vcpus = raw
        .cpu_options
        .as_ref()
        .and_then(|c| c.core_count?.checked_mul(c.threads_per_core.unwrap_or(1)))
        .filter(|n| *n > 0)
        .unwrap_or(shape.vcpus);
    Instance {
        id: InstanceId(raw.instance_id.clone()),
        name: name.unwrap_or_else(|| raw.instance_id.clone()),
        status: status(&raw.instance_state.name),
        provider_status: raw.instance_state.name.clone(),
        instance_type: raw.instance_type.clone(),
        region: region.to_owned(),
        image: raw.image_id.clone().unwrap_or_default(),
        vcpus,
        memory_mib: shape.memory_mib,
        disk_gib: shape.disk_gib,
        public_ipv4: raw.ip_address.clone().filter(|a| !a.is_empty()),
        private_ipv4: raw.private_ip_address.clone().filter(|a| !a.is_empty()),
        public_ipv6: None,
        tags: raw.tag_set.items.iter().filter(|t| t.key != "Name").map(tag_word).collect(),
        features: Vec::new(),
        locked: false,
        created_at: raw
            .launch_time
            .as_deref()
            .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
            .unwrap_or(OffsetDateTime::UNIX_EPOCH),
    }
}

/// A region's name for people, where Nephele knows it.
pub fn region_name(id: &str) -> String {
    let known = match id {
        "us-east-1" => "US East (N. Virginia)",
        "us-east-2" => "US East (Ohio)",
        "us-west-1" => "US West (N. California)",
        "us-west-2" => "US West (Oregon)",
        "ca-central-1" => "Canada (Central)",
        "eu-west-1" => "Europe (Ireland)",
        "eu-west-2" => "Europe (London)",
        "eu-west-3" => "Europe (Paris)",
        "eu-central-1" => "Europe (Frankfurt)",
        "eu-north-1" => "Europe (Stockholm)",
        "eu-south-1" => "Europe (Milan)",
        "ap-south-1" => "Asia Pacific (Mumbai)",
        "ap-northeast-1" => "Asia Pacific (Tokyo)",
        "ap-northeast-2" => "Asia Pacific (Seoul)",
        "ap-northeast-3" => "Asia Pacific (Osaka)",
        "ap-southeast-1" => "Asia Pacific (Singapore)",
        "ap-southeast-2" => "Asia Pacific (Sydney)",
        "ap-east-1" => "Asia Pacific (Hong Kong)",
        "sa-east-1" => "South America (Sao Paulo)",
        "me-south-1" => "Middle East (Bahrain)",
        "af-south-1" => "Africa (Cape Town)",
        _ => return id.to_owned(),
    };
    known.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_and_statuses_agree() {
        for state in ["pending", "running", "stopping", "stopped", "shutting-down", "terminated"] {
            assert!(states(status(state)).contains(&state), "{state}");
        }
    }

    #[test]
    fn tags_round_trip_between_words_and_pairs() {
        assert_eq!(tag_pair("env:prod"), ("env", "prod"));
        assert_eq!(tag_pair("web"), ("web", ""));
        let pair = wire::Tag { key: "env".into(), value: Some("prod".into()) };
        assert_eq!(tag_word(&pair), "env:prod");
        assert_eq!(tag_word(&wire::Tag { key: "web".into(), value: None }), "web");
    }
}
