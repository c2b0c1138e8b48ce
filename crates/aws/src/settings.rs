//! `providers.aws` as a user writes it in `config.yaml`; the plugin receives it as JSON over its
//! socket (everything but `plugin` and `sha256`).

use std::time::Duration;

use nephele_core::{ProviderError, Secret};
use serde::Deserialize;
use serde_json::Value;

/// `providers.aws:`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The default region: creates and estimates that name none go here.
    pub region: Option<String>,
    /// Every region this provider spans (default: `region` alone). A fleet list asks them all
    /// at once.
    #[serde(default)]
    pub regions: Vec<String>,
    /// `AWS_ACCESS_KEY_ID` in the plugin's environment is used when this is not set.
    pub access_key_id: Option<String>,
    /// `AWS_SECRET_ACCESS_KEY` in the plugin's environment is used when this is not set.
    pub secret_access_key: Option<Secret<String>>,
    pub session_token: Option<Secret<String>>,
    /// One endpoint for every region (an emulator such as moto); by default
    /// `https://ec2.<region>.amazonaws.com`.
    pub endpoint_url: Option<String>,
    /// Owners whose public images `images` lists, besides the account's own (default `amazon`).
    pub image_owners: Option<Vec<String>>,
    pub connect_timeout_secs: Option<u64>,
    /// Time allowed for one HTTP attempt.
    pub request_timeout_secs: Option<u64>,
    /// Time allowed for a whole call, retries and throttling waits included.
    pub call_deadline_secs: Option<u64>,
    /// Largest answer read from the API (default 8 MiB).
    pub max_response_bytes: Option<usize>,
    /// Most pages one list of one region may take (default 1,000).
    pub max_list_pages: Option<usize>,
    /// Requests per second the client allows itself for reads and for changes (EC2's own
    /// buckets refill at about 20 and 5 per second for most accounts).
    pub describe_per_second: Option<u32>,
    pub mutate_per_second: Option<u32>,
    /// The longest wait a throttling answer's `Retry-After` may impose (default 60, at most
    /// 3,600); a longer one is cut to it.
    pub max_retry_after_secs: Option<u64>,
    /// Allows a plain `http://` `endpoint_url` that is not loopback (the signature, access key id
    /// and session token would cross the network in clear). Off by default; loopback (moto)
    /// never needs it.
    pub allow_insecure_http: Option<bool>,
}

/// The longest any of the `*_secs` timeouts may be: a day.
const MAX_TIMEOUT_SECS: u64 = 86_400;
/// The most `max_retry_after_secs` may be: an hour.
const MAX_RETRY_AFTER_SECS: u64 = 3_600;
/// Default of `max_retry_after_secs`.
const DEFAULT_MAX_RETRY_AFTER_SECS: u64 = 60;

/// What the client is built from, with every default filled in.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    pub default_region: String,
    pub regions: Vec<String>,
    pub access_key_id: String,
    pub secret_access_key: Secret<String>,
    pub session_token: Option<Secret<String>>,
    pub endpoint_url: Option<String>,
    pub image_owners: Vec<String>,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub call_deadline: Duration,
    pub max_response_bytes: usize,
    pub max_list_pages: usize,
    pub describe_per_second: u32,
    pub mutate_per_second: u32,
    pub max_retry_after: Duration,
}

/// A setting that cannot be used. The message names the key too: the host shows an operator
/// the message alone ("refused its configuration: ...").
fn invalid(field: &str, message: impl Into<String>) -> ProviderError {
    ProviderError::InvalidInput {
        field: Some(field.to_owned()),
        message: format!("{field} {}", message.into()),
        detail: Default::default(),
    }
}

/// A region name as AWS spells them (`us-east-1`, `ap-southeast-2`, `us-gov-west-1`).
pub fn is_region_name(name: &str) -> bool {
    let parts: Vec<&str> = name.split('-').collect();
    parts.len() >= 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()))
        && parts.last().is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()))
}

impl Settings {
    /// Reads the JSON the host sends; `environment` looks up `AWS_ACCESS_KEY_ID` and
    /// `AWS_SECRET_ACCESS_KEY` for keys the section leaves out.
    pub fn from_json(
        value: Value,
        environment: impl Fn(&str) -> Option<String>,
    ) -> Result<ClientSettings, ProviderError> {
        let settings: Settings =
            serde_json::from_value(value).map_err(|e| invalid("settings", e.to_string()))?;
        settings.resolve(environment)
    }

    fn resolve(self, environment: impl Fn(&str) -> Option<String>) -> Result<ClientSettings, ProviderError> {
        let present = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
        let access_key_id = present(self.access_key_id)
            .or_else(|| present(environment("AWS_ACCESS_KEY_ID")))
            .ok_or_else(|| invalid("access_key_id", "is required (or AWS_ACCESS_KEY_ID)"))?;
        let secret_access_key = present(self.secret_access_key.map(|s| s.expose().clone()))
            .or_else(|| present(environment("AWS_SECRET_ACCESS_KEY")))
            .map(Secret::new)
            .ok_or_else(|| invalid("secret_access_key", "is required (or AWS_SECRET_ACCESS_KEY)"))?;
        let default_region = match (self.region, self.regions.first()) {
            (Some(region), _) => region,
            (None, Some(first)) => first.clone(),
            (None, None) => return Err(invalid("region", "is required (for example us-east-1)")),
        };
        let mut regions = self.regions;
        if !regions.contains(&default_region) {
            regions.insert(0, default_region.clone());
        }
        if let Some(bad) = regions.iter().find(|r| !is_region_name(r)) {
            return Err(invalid("regions", format!("{bad:?} is not a region name like us-east-1")));
        }
        if regions.len() > 32 {
            return Err(invalid("regions", "at most 32 regions"));
        }
        if let Some(url) = &self.endpoint_url {
            let parsed = reqwest::Url::parse(url)
                .map_err(|_| invalid("endpoint_url", format!("must be an http(s) URL, got {url:?}")))?;
            nephele_core::endpoint::check(
                parsed.scheme(),
                parsed.host_str(),
                self.allow_insecure_http.unwrap_or(false),
            )
            .map_err(|e| invalid("endpoint_url", e.to_string()))?;
        }
        for (key, value) in [
            ("connect_timeout_secs", self.connect_timeout_secs),
            ("request_timeout_secs", self.request_timeout_secs),
            ("call_deadline_secs", self.call_deadline_secs),
        ] {
            if value.is_some_and(|secs| secs > MAX_TIMEOUT_SECS) {
                return Err(invalid(key, format!("must be at most {MAX_TIMEOUT_SECS} (a day)")));
            }
        }
        if self.max_retry_after_secs.is_some_and(|secs| !(1..=MAX_RETRY_AFTER_SECS).contains(&secs)) {
            return Err(invalid(
                "max_retry_after_secs",
                format!("must be between 1 and {MAX_RETRY_AFTER_SECS}"),
            ));
        }
        for (key, value) in [
            ("describe_per_second", self.describe_per_second),
            ("mutate_per_second", self.mutate_per_second),
            ("max_list_pages", self.max_list_pages.map(|n| n.min(u32::MAX as usize) as u32)),
        ] {
            if value == Some(0) {
                return Err(invalid(key, "must be at least 1"));
            }
        }
        if self.max_response_bytes.is_some_and(|n| n < 64 * 1024) {
            return Err(invalid("max_response_bytes", "must be at least 65536"));
        }
        Ok(ClientSettings {
            default_region,
            regions,
            access_key_id,
            secret_access_key,
            session_token: self.session_token.filter(|t| !t.expose().is_empty()),
            endpoint_url: self.endpoint_url.map(|u| u.trim_end_matches('/').to_owned()),
            image_owners: self.image_owners.unwrap_or_else(|| vec!["amazon".to_owned()]),
            connect_timeout: Duration::from_secs(self.connect_timeout_secs.unwrap_or(5)),
            request_timeout: Duration::from_secs(self.request_timeout_secs.unwrap_or(30)),
            call_deadline: Duration::from_secs(self.call_deadline_secs.unwrap_or(90)),
            max_response_bytes: self.max_response_bytes.unwrap_or(8 * 1024 * 1024),
            max_list_pages: self.max_list_pages.unwrap_or(1000),
            describe_per_second: self.describe_per_second.unwrap_or(20),
            mutate_per_second: self.mutate_per_second.unwrap_or(5),
            max_retry_after: Duration::from_secs(
                self.max_retry_after_secs.unwrap_or(DEFAULT_MAX_RETRY_AFTER_SECS),
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn none(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn credentials_come_from_the_section_or_the_environment() {
        let section = json!({"region": "us-east-1"});
        let missing = Settings::from_json(section.clone(), none).map_err(|e| e.to_string());
        assert!(missing.is_err_and(|e| e.contains("access_key_id")));
        let env = |key: &str| Some(format!("from-env-{key}"));
        let resolved = Settings::from_json(section, env).expect("settings");
        assert_eq!(resolved.access_key_id, "from-env-AWS_ACCESS_KEY_ID");
        assert_eq!(resolved.secret_access_key.expose(), "from-env-AWS_SECRET_ACCESS_KEY");
        assert_eq!(resolved.regions, ["us-east-1"]);
    }

    #[test]
    fn the_default_region_is_one_of_the_regions() {
        let section =
            json!({"regions": ["eu-west-1", "us-east-1"], "access_key_id": "a", "secret_access_key": "s"});
        let resolved = Settings::from_json(section, none).expect("settings");
        assert_eq!(resolved.default_region, "eu-west-1");
        assert_eq!(resolved.regions, ["eu-west-1", "us-east-1"]);
        let bad = json!({"regions": ["us-east-1", "Mars"], "access_key_id": "a", "secret_access_key": "s"});
        let error = Settings::from_json(bad, none).map_err(|e| e.to_string());
        assert!(error.is_err_and(|e| e.contains("Mars")));
    }

    #[test]
    fn the_secret_key_never_shows_in_debug() {
        let section =
            json!({"region": "us-east-1", "access_key_id": "a", "secret_access_key": "wJalrXUtnFEMI"});
        let resolved = Settings::from_json(section, none).expect("settings");
        assert!(!format!("{resolved:?}").contains("wJalrXUtnFEMI"));
    }

    fn refused_field(section: Value) -> Option<String> {
        match Settings::from_json(section, none) {
            Err(ProviderError::InvalidInput { field, message, .. }) => {
                Some(format!("{} {message}", field.unwrap_or_default()))
            }
            _ => None,
        }
    }

    fn with(extra: Value) -> Value {
        let mut section = json!({"region": "us-east-1", "access_key_id": "a", "secret_access_key": "s"});
        if let (Some(section), Some(extra)) = (section.as_object_mut(), extra.as_object()) {
            section.extend(extra.clone());
        }
        section
    }

    #[test]
    fn plain_http_off_this_machine_is_refused_unless_allowed() {
        let refused = refused_field(with(json!({"endpoint_url": "http://ec2.internal.example:5000"})));
        let refused = refused.expect("refused");
        assert!(refused.starts_with("endpoint_url ") && refused.contains("allow_insecure_http"), "{refused}");
        for fine in [
            json!({"endpoint_url": "https://ec2.us-east-1.amazonaws.com"}),
            json!({"endpoint_url": "http://127.0.0.1:5000"}),
            json!({"endpoint_url": "http://localhost:5000"}),
            json!({"endpoint_url": "http://[::1]:5000"}),
            json!({"endpoint_url": "http://10.1.1.1:5000", "allow_insecure_http": true}),
        ] {
            assert_eq!(refused_field(with(fine.clone())), None, "{fine}");
        }
    }

    #[test]
    fn the_retry_after_ceiling_defaults_to_a_minute_and_is_bounded() {
        let resolved = Settings::from_json(with(json!({})), none).expect("settings");
        assert_eq!(resolved.max_retry_after, Duration::from_secs(60));
        let resolved = Settings::from_json(with(json!({"max_retry_after_secs": 5})), none).expect("settings");
        assert_eq!(resolved.max_retry_after, Duration::from_secs(5));
        for bad in [json!({"max_retry_after_secs": 0}), json!({"max_retry_after_secs": 3601})] {
            assert!(refused_field(with(bad)).is_some_and(|e| e.starts_with("max_retry_after_secs")));
        }
        let refused = refused_field(with(json!({"request_timeout_secs": 18446744073709551615u64})));
        assert!(refused.is_some_and(|e| e.starts_with("request_timeout_secs")));
    }
}
