//! What an operation is, typed: the request ([`OperationRequest`]), what it learned from the
//! provider ([`OperationResult`]) and why it failed ([`OperationError`]), parsed once where rows
//! are read.
//!
//! The database keeps these as JSON (`operations.kind`, `request`, `result`, `error`). The
//! stored shapes are the ones this code has always written, so rows written before the types
//! existed load unchanged; error codes of those rows are mapped to today's vocabulary
//! ([`OperationError::from_stored`]). A row that does not parse is kept as it is and marked
//! [`Unreadable`]: the worker fails it with `operation_unreadable` and never sends anything to a
//! provider from a guessed or defaulted value.

use nephele_core::error::UpstreamDetail;
use nephele_core::{
    ActionId, AssociatedResources, CreateInstances, CreateResource, ErrorCode, InstanceId, OperationId,
    PowerAction, ProviderError, ResourceAction, ResourceId, ResourceKind,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What an operation does, without its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperationKind {
    Create,
    Delete,
    Power(PowerAction),
    /// Creates one resource (a volume, a snapshot...).
    CreateResource,
    DeleteResource,
    /// Changes one resource (attach a volume, set a firewall's rules...).
    ResourceAction,
}

impl OperationKind {
    /// The stored name: `create`, `delete`, or the power action's (`power_off`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Delete => "delete",
            Self::Power(action) => action.as_str(),
            Self::CreateResource => "create_resource",
            Self::DeleteResource => "delete_resource",
            Self::ResourceAction => "resource_action",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "create" => Some(Self::Create),
            "delete" => Some(Self::Delete),
            "create_resource" => Some(Self::CreateResource),
            "delete_resource" => Some(Self::DeleteResource),
            "resource_action" => Some(Self::ResourceAction),
            other => other.parse().ok().map(Self::Power),
        }
    }
}

/// An operation's request, with its typed parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum OperationRequest {
    Create(CreateInstances),
    /// Deletes an instance, and with it the `associated` resources (none by default).
    Delete {
        instance_id: InstanceId,
        associated: AssociatedResources,
    },
    Power {
        instance_id: InstanceId,
        action: PowerAction,
    },
    CreateResource(CreateResource),
    DeleteResource {
        kind: ResourceKind,
        id: ResourceId,
    },
    ResourceAction(ResourceAction),
}

/// How delete and power requests are stored (the shape every version has written; a delete's
/// associated resources only when there are some).
#[derive(Serialize, Deserialize)]
struct StoredInstanceRequest {
    instance_id: String,
    #[serde(default)]
    action: Option<PowerAction>,
    #[serde(default, skip_serializing_if = "AssociatedResources::is_empty")]
    associated: AssociatedResources,
}

/// How a resource delete is stored.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredResourceDelete {
    kind: ResourceKind,
    id: String,
}

impl OperationRequest {
    pub fn kind(&self) -> OperationKind {
        match self {
            Self::Create(_) => OperationKind::Create,
            Self::Delete { .. } => OperationKind::Delete,
            Self::Power { action, .. } => OperationKind::Power(*action),
            Self::CreateResource(_) => OperationKind::CreateResource,
            Self::DeleteResource { .. } => OperationKind::DeleteResource,
            Self::ResourceAction(_) => OperationKind::ResourceAction,
        }
    }

    /// The instance a delete or power action is about.
    pub fn instance_id(&self) -> Option<&InstanceId> {
        match self {
            Self::Delete { instance_id, .. } | Self::Power { instance_id, .. } => Some(instance_id),
            _ => None,
        }
    }

    /// The request as stored in `operations.request`.
    pub fn to_stored(&self) -> Value {
        let stored = match self {
            Self::Create(create) => serde_json::to_value(create),
            Self::Delete { instance_id, associated } => serde_json::to_value(StoredInstanceRequest {
                instance_id: instance_id.0.clone(),
                action: None,
                associated: associated.clone(),
            }),
            Self::Power { instance_id, action } => serde_json::to_value(StoredInstanceRequest {
                instance_id: instance_id.0.clone(),
                action: Some(*action),
                associated: AssociatedResources::default(),
            }),
            Self::CreateResource(create) => serde_json::to_value(create),
            Self::DeleteResource { kind, id } => {
                serde_json::to_value(StoredResourceDelete { kind: *kind, id: id.0.clone() })
            }
            Self::ResourceAction(action) => serde_json::to_value(action),
        };
        // Every field is a string, number, bool or list of them: serialising cannot fail.
        stored.unwrap_or(Value::Null)
    }

    /// Reads a stored request of operation `id` and kind `kind`, checking every value it will
    /// send to a provider.
    pub fn from_stored(id: OperationId, kind: &str, request: &Value) -> Result<Self, String> {
        let kind = OperationKind::parse(kind).ok_or_else(|| format!("unknown kind {kind:?}"))?;
        match kind {
            OperationKind::Create => {
                let create: CreateInstances =
                    serde_json::from_value(request.clone()).map_err(|e| format!("request: {e}"))?;
                if create.operation_id != id {
                    return Err("request: its operation id is not the operation's".to_owned());
                }
                // (Names are parsed by their type as they are read.)
                if create.names.is_empty() {
                    return Err("request: no instance names".to_owned());
                }
                Ok(Self::Create(create))
            }
            OperationKind::Delete | OperationKind::Power(_) => {
                let stored: StoredInstanceRequest =
                    serde_json::from_value(request.clone()).map_err(|e| format!("request: {e}"))?;
                let instance_id = InstanceId::parse(&stored.instance_id)
                    .map_err(|e| format!("request.instance_id: {e}"))?;
                for (kind, id) in stored.associated.all() {
                    ResourceId::parse(&id.0).map_err(|e| format!("request.associated ({kind}): {e}"))?;
                }
                match (kind, stored.action) {
                    (OperationKind::Delete, None) => {
                        Ok(Self::Delete { instance_id, associated: stored.associated })
                    }
                    (OperationKind::Power(action), Some(stored_action))
                        if stored_action == action && stored.associated.is_empty() =>
                    {
                        Ok(Self::Power { instance_id, action })
                    }
                    _ => Err("request.action does not match the operation's kind".to_owned()),
                }
            }
            OperationKind::CreateResource => {
                let create: CreateResource =
                    serde_json::from_value(request.clone()).map_err(|e| format!("request: {e}"))?;
                if create.operation_id() != id {
                    return Err("request: its operation id is not the operation's".to_owned());
                }
                Ok(Self::CreateResource(create))
            }
            OperationKind::DeleteResource => {
                let stored: StoredResourceDelete =
                    serde_json::from_value(request.clone()).map_err(|e| format!("request: {e}"))?;
                let id = ResourceId::parse(&stored.id).map_err(|e| format!("request.id: {e}"))?;
                Ok(Self::DeleteResource { kind: stored.kind, id })
            }
            OperationKind::ResourceAction => {
                let action: ResourceAction =
                    serde_json::from_value(request.clone()).map_err(|e| format!("request: {e}"))?;
                let (_, target) = action.target();
                ResourceId::parse(&target.0).map_err(|e| format!("request: the resource's id {e}"))?;
                Ok(Self::ResourceAction(action))
            }
        }
    }
}

/// What an operation has learned from the provider, as stored in its `result`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OperationResult {
    Created {
        instance_ids: Vec<InstanceId>,
    },
    ActionStarted {
        action_id: ActionId,
    },
    Deleted {
        deleted: bool,
    },
    /// The resource a resource operation made or changed.
    Resource {
        resource_kind: ResourceKind,
        resource_id: ResourceId,
    },
}

impl OperationResult {
    pub fn to_stored(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// A stored result, with every id checked.
    pub fn from_stored(stored: &Value) -> Result<Self, String> {
        let result: Self = serde_json::from_value(stored.clone()).map_err(|e| format!("result: {e}"))?;
        if let Self::Created { instance_ids } = &result {
            for id in instance_ids {
                InstanceId::parse(&id.0).map_err(|e| format!("result.instance_ids: {e}"))?;
            }
        }
        if let Self::Resource { resource_id, .. } = &result {
            ResourceId::parse(&resource_id.0).map_err(|e| format!("result.resource_id: {e}"))?;
        }
        Ok(result)
    }
}

/// Why an operation failed, or why its last attempt did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OperationError {
    pub code: ErrorCode,
    /// For the caller: the provider's words only where they are about the request itself.
    pub message: String,
    /// The provider's status, code and request id, when a provider failure caused this.
    #[serde(rename = "detail", skip_serializing_if = "Option::is_none")]
    pub upstream: Option<UpstreamDetail>,
    /// For `attempts_exhausted`: the failure of the last attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<Box<OperationError>>,
}

/// An error as any version has stored it: codes were once the provider's own kinds
/// (`unauthorized`, `unavailable`, ...), and the provider's detail was called `detail`.
#[derive(Deserialize)]
struct StoredError {
    code: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    detail: Option<UpstreamDetail>,
    #[serde(default)]
    last_error: Option<Box<StoredError>>,
}

impl OperationError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), upstream: None, last_error: None }
    }

    /// A provider's failure, in the words a caller is shown.
    pub fn from_provider(error: &ProviderError) -> Self {
        let detail = error.detail();
        let has_detail = detail.status.is_some() || detail.code.is_some() || detail.request_id.is_some();
        Self {
            code: error.code(),
            message: error.caller_message(),
            upstream: has_detail.then(|| detail.clone()),
            last_error: None,
        }
    }

    pub fn to_stored(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// A stored error, from any version. A code no version wrote is kept as
    /// `operation_unreadable`, saying what it was.
    pub fn from_stored(stored: &Value) -> Self {
        match serde_json::from_value::<StoredError>(stored.clone()) {
            Ok(stored) => Self::from_stored_error(stored),
            Err(e) => {
                Self::new(ErrorCode::OperationUnreadable, format!("the stored error cannot be read: {e}"))
            }
        }
    }

    fn from_stored_error(stored: StoredError) -> Self {
        // Before one vocabulary, operation errors carried the provider's kinds.
        let code = match stored.code.as_str() {
            "unauthorized" => Some(ErrorCode::ProviderUnauthorized),
            "rate_limited" => Some(ErrorCode::ProviderRateLimited),
            "unavailable" => Some(ErrorCode::ProviderUnavailable),
            "invalid_response" => Some(ErrorCode::ProviderBadResponse),
            other => ErrorCode::parse(other),
        };
        let (code, message) = match code {
            Some(code) => (code, stored.message),
            None => (
                ErrorCode::OperationUnreadable,
                format!("unknown stored code {:?}: {}", stored.code, stored.message),
            ),
        };
        Self {
            code,
            message,
            upstream: stored.detail,
            last_error: stored.last_error.map(|last| Box::new(Self::from_stored_error(*last))),
        }
    }
}

/// A stored operation that could not be read, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable(pub String);

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn id() -> OperationId {
        OperationId(uuid::Uuid::parse_str("0190f5c2-1111-7000-8000-000000000001").expect("uuid"))
    }

    #[test]
    fn requests_written_before_the_types_load_and_round_trip() {
        let delete = json!({ "instance_id": "500000007", "action": null });
        let read = OperationRequest::from_stored(id(), "delete", &delete).expect("delete");
        assert_eq!(
            read,
            OperationRequest::Delete {
                instance_id: InstanceId("500000007".into()),
                associated: AssociatedResources::default()
            }
        );
        assert_eq!(read.to_stored(), delete);
        let power = json!({ "instance_id": "i-0abc", "action": "power_off" });
        let read = OperationRequest::from_stored(id(), "power_off", &power).expect("power");
        assert_eq!(read.kind(), OperationKind::Power(PowerAction::PowerOff));
        assert_eq!(read.to_stored(), power);
        let create = json!({
            "operation_id": id().to_string(), "names": ["web-1"], "instance_type": "s-1vcpu-1gb",
            "region": "nyc1", "image": "ubuntu-24-04-x64", "ssh_keys": [], "tags": [],
            "user_data": null, "backups": false, "ipv6": false, "monitoring": false, "vpc_uuid": null
        });
        let read = OperationRequest::from_stored(id(), "create", &create).expect("create");
        assert_eq!(read.to_stored(), create);
    }

    #[test]
    fn a_request_that_does_not_parse_is_refused_never_defaulted() {
        let cases = [
            ("delete", json!({ "instance_id": "" })),
            ("delete", json!({ "instance_id": 42 })),
            ("delete", json!({})),
            ("delete", json!({ "instance_id": "a/b" })),
            ("power_off", json!({ "instance_id": "1", "action": "reboot" })),
            ("power_off", json!({ "instance_id": "1" })),
            ("resize", json!({ "instance_id": "1" })),
            (
                "create",
                json!({ "operation_id": OperationId::new().to_string(), "names": ["a"],
                "instance_type": "t", "region": "r", "image": "i", "user_data": null, "vpc_uuid": null }),
            ),
        ];
        for (kind, request) in cases {
            assert!(OperationRequest::from_stored(id(), kind, &request).is_err(), "{kind} {request}");
        }
    }

    #[test]
    fn errors_of_earlier_versions_read_in_todays_codes() {
        let old = json!({
            "code": "attempts_exhausted", "message": "gave up",
            "last_error": { "code": "unauthorized", "message": "revoked",
                "detail": { "status": 401, "code": "unauthorized", "request_id": "r-1" } }
        });
        let read = OperationError::from_stored(&old);
        assert_eq!(read.code, ErrorCode::AttemptsExhausted);
        let last = read.last_error.as_deref().expect("last error");
        assert_eq!(last.code, ErrorCode::ProviderUnauthorized);
        assert_eq!(last.upstream.as_ref().and_then(|d| d.request_id.as_deref()), Some("r-1"));
        assert_eq!(OperationError::from_stored(&read.to_stored()), read, "today's shape round-trips");
        let strange = OperationError::from_stored(&json!({ "code": "gremlins", "message": "?" }));
        assert_eq!(strange.code, ErrorCode::OperationUnreadable);
    }

    #[test]
    fn results_keep_their_stored_form_and_check_their_ids() {
        let created = OperationResult::from_stored(&json!({ "instance_ids": ["1", "2"] })).expect("created");
        assert_eq!(
            created,
            OperationResult::Created { instance_ids: vec![InstanceId("1".into()), InstanceId("2".into())] }
        );
        let started = OperationResult::from_stored(&json!({ "action_id": "9" })).expect("started");
        assert_eq!(started.to_stored(), json!({ "action_id": "9" }));
        assert!(OperationResult::from_stored(&json!({ "instance_ids": [""] })).is_err());
    }
}
