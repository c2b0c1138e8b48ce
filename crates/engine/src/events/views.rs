//! What events carry as `data`: the resource as the API shows it, written as JSON here because
//! the engine does not know the HTTP layer's view types. The field names are the API's (the
//! server's tests compare an event's `data` with the same resource read through the API), and
//! secrets are redacted the same way: a create's `user_data` shows only its size.

use nephele_core::{Instance, Resource};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::operations::record::{OperationError, OperationRequest, OperationResult};
use crate::store::{ApiKeyRecord, Operation};

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

/// A resource of `account`, as `GET .../{kind}/{id}` shows it.
pub fn resource(account: &str, resource: &Resource) -> Value {
    let mut view =
        serde_json::to_value(resource).unwrap_or_else(|_| json!({ "id": resource.id().to_string() }));
    if let Some(fields) = view.as_object_mut() {
        fields.insert("provider".to_owned(), json!(account));
        let this = format!("/api/v1/providers/{account}/{}/{}", resource.kind().plural(), resource.id());
        fields.insert("links".to_owned(), json!({ "self": this }));
    }
    view
}

/// An instance of `account`, as `GET .../instances/{id}` shows it.
pub fn instance(account: &str, instance: &Instance) -> Value {
    json!({
        "id": instance.id.0,
        "name": instance.name,
        "status": instance.status.as_str(),
        "type": instance.instance_type,
        "region": instance.region,
        "created_at": rfc3339(instance.created_at),
        "tags": instance.tags,
        "public_ip": instance.public_ipv4,
        "private_ip": instance.private_ipv4,
        "provider": account,
        "provider_status": instance.provider_status,
        "image": instance.image,
        "vcpus": instance.vcpus,
        "memory_mib": instance.memory_mib,
        "disk_gib": instance.disk_gib,
        "public_ipv6": instance.public_ipv6,
        "features": instance.features,
        "locked": instance.locked,
        "links": { "self": format!("/api/v1/providers/{account}/instances/{}", instance.id) },
    })
}

fn request(op: &Operation) -> Value {
    match &op.request {
        Ok((_, OperationRequest::Create(create))) => json!({
            "operation_id": create.operation_id.to_string(),
            "names": create.names.iter().map(|n| n.as_str()).collect::<Vec<_>>(),
            "instance_type": create.instance_type,
            "region": create.region,
            "image": create.image,
            "ssh_keys": create.ssh_keys,
            "tags": create.tags,
            "user_data": create.user_data.as_ref().map(|data| json!({ "redacted": true, "bytes": data.len() })),
            "backups": create.backups,
            "ipv6": create.ipv6,
            "monitoring": create.monitoring,
            "vpc_uuid": create.vpc_uuid,
        }),
        Ok((_, OperationRequest::Delete { instance_id, associated })) if associated.is_empty() => {
            json!({ "instance_id": instance_id.0, "action": null })
        }
        Ok((_, OperationRequest::Delete { instance_id, associated })) => {
            json!({ "instance_id": instance_id.0, "action": null, "associated": associated })
        }
        Ok((
            _,
            request @ (OperationRequest::CreateResource(_)
            | OperationRequest::DeleteResource { .. }
            | OperationRequest::ResourceAction(_)),
        )) => json!({ "resource": request.to_stored() }),
        Ok((_, OperationRequest::Power { instance_id, action })) => {
            json!({ "instance_id": instance_id.0, "action": action.as_str() })
        }
        Err(unreadable) => json!({ "unreadable": unreadable.0 }),
    }
}

fn result(result: &OperationResult) -> Value {
    match result {
        OperationResult::Created { instance_ids } => {
            json!({ "instance_ids": instance_ids.iter().map(|i| i.0.as_str()).collect::<Vec<_>>() })
        }
        OperationResult::ActionStarted { action_id } => json!({ "action_id": action_id.0 }),
        OperationResult::Deleted { deleted } => json!({ "deleted": deleted }),
        OperationResult::Resource { resource_kind, resource_id } => {
            json!({ "resource_kind": resource_kind.as_str(), "resource_id": resource_id.0 })
        }
    }
}

fn error(error: &OperationError) -> Value {
    let mut shown = json!({ "code": error.code.as_str(), "message": error.message });
    if let Some(upstream) = &error.upstream {
        shown["detail"] =
            json!({ "status": upstream.status, "code": upstream.code, "request_id": upstream.request_id });
    }
    if let Some(last) = &error.last_error {
        shown["last_error"] = self::error(last);
    }
    shown
}

/// An operation, as `GET /api/v1/operations/{id}` shows it.
pub fn operation(op: &Operation) -> Value {
    json!({
        "id": op.id,
        "provider": op.provider,
        "kind": op.kind,
        "request": request(op),
        "state": op.state.as_str(),
        "result": op.result.as_ref().map(result),
        "error": op.error.as_ref().map(error),
        "principal": op.principal,
        "attempts": op.attempts,
        "created_at": rfc3339(op.created_at),
        "updated_at": rfc3339(op.updated_at),
        "links": { "self": format!("/api/v1/operations/{}", op.id) },
    })
}

/// An API key, as `GET /api/v1/keys` shows it (never its secret, which is not stored).
pub fn api_key(key: &ApiKeyRecord) -> Value {
    json!({
        "id": key.id,
        "role": key.role,
        "providers": key.providers,
        "description": key.description,
        "created_at": key.created_at,
        "revoked_at": key.revoked_at,
    })
}
