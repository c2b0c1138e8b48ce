//! `/api/v1/operations`: every mutating request and where it stands.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::{Extension, Json};
use nephele_core::ErrorCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::{ApiError, ErrorCodeSchema, UpstreamView};
use super::query::ApiQuery;
use super::views::Links;
use crate::app::AppState;
use crate::auth::Principal;
use nephele_engine::operations::record::{OperationError, OperationRequest, OperationResult, Unreadable};
use nephele_engine::store::{Operation, OperationState};

/// A secret as it is shown: that it is there, and its size. Not a digest: an unsalted hash of
/// a short secret can be guessed, and a viewer has no use for it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RedactedSecret {
    pub redacted: bool,
    pub bytes: usize,
}

/// A create's request as shown: every field but `user_data`, which shows only its size. The type
/// holds no secret, so no way of writing it out can show one.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreateRequestView {
    pub operation_id: String,
    pub names: Vec<String>,
    pub instance_type: String,
    pub region: String,
    pub image: String,
    pub ssh_keys: Vec<String>,
    pub tags: Vec<String>,
    pub user_data: Option<RedactedSecret>,
    pub backups: bool,
    pub ipv6: bool,
    pub monitoring: bool,
    pub vpc_uuid: Option<String>,
}

/// A delete's or power action's request as shown.
#[derive(Serialize, utoipa::ToSchema)]
pub struct InstanceRequestView {
    pub instance_id: String,
    /// The power action, for power operations.
    pub action: Option<String>,
    /// For a delete: the resources deleted with the instance, when any were named.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub associated: Option<nephele_core::AssociatedResources>,
}

/// A resource operation's request as shown: a create (`kind` and the resource's fields), a
/// delete (`kind`, `id`) or an action (`action` and its fields). None holds a secret.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ResourceRequestView {
    #[schema(value_type = Object)]
    pub resource: Value,
}

/// A stored request that cannot be read.
#[derive(Serialize, utoipa::ToSchema)]
pub struct UnreadableRequestView {
    /// Why it cannot be read.
    pub unreadable: String,
}

/// What an operation was asked to do.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum RequestView {
    Create(Box<CreateRequestView>),
    Instance(InstanceRequestView),
    Resource(ResourceRequestView),
    Unreadable(UnreadableRequestView),
}

impl RequestView {
    fn new(request: &Result<(nephele_core::OperationId, OperationRequest), Unreadable>) -> Self {
        match request {
            Ok((_, OperationRequest::Create(create))) => Self::Create(Box::new(CreateRequestView {
                operation_id: create.operation_id.to_string(),
                names: create.names.iter().map(|n| n.as_str().to_owned()).collect(),
                instance_type: create.instance_type.clone(),
                region: create.region.clone(),
                image: create.image.clone(),
                ssh_keys: create.ssh_keys.clone(),
                tags: create.tags.clone(),
                user_data: create
                    .user_data
                    .as_ref()
                    .map(|data| RedactedSecret { redacted: true, bytes: data.len() }),
                backups: create.backups,
                ipv6: create.ipv6,
                monitoring: create.monitoring,
                vpc_uuid: create.vpc_uuid.clone(),
            })),
            Ok((_, OperationRequest::Delete { instance_id, associated })) => {
                Self::Instance(InstanceRequestView {
                    instance_id: instance_id.0.clone(),
                    action: None,
                    associated: (!associated.is_empty()).then(|| associated.clone()),
                })
            }
            Ok((_, OperationRequest::Power { instance_id, action })) => Self::Instance(InstanceRequestView {
                instance_id: instance_id.0.clone(),
                action: Some(action.as_str().to_owned()),
                associated: None,
            }),
            Ok((
                _,
                request @ (OperationRequest::CreateResource(_)
                | OperationRequest::DeleteResource { .. }
                | OperationRequest::ResourceAction(_)),
            )) => Self::Resource(ResourceRequestView { resource: request.to_stored() }),
            Err(unreadable) => Self::Unreadable(UnreadableRequestView { unreadable: unreadable.0.clone() }),
        }
    }
}

/// What an operation made or started.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum ResultView {
    Created {
        instance_ids: Vec<String>,
    },
    ActionStarted {
        action_id: String,
    },
    Deleted {
        deleted: bool,
    },
    /// The resource a resource operation made or changed.
    Resource {
        resource_kind: String,
        resource_id: String,
    },
}

impl From<&OperationResult> for ResultView {
    fn from(result: &OperationResult) -> Self {
        match result {
            OperationResult::Created { instance_ids } => {
                Self::Created { instance_ids: instance_ids.iter().map(|i| i.0.clone()).collect() }
            }
            OperationResult::ActionStarted { action_id } => {
                Self::ActionStarted { action_id: action_id.0.clone() }
            }
            OperationResult::Deleted { deleted } => Self::Deleted { deleted: *deleted },
            OperationResult::Resource { resource_kind, resource_id } => Self::Resource {
                resource_kind: resource_kind.as_str().to_owned(),
                resource_id: resource_id.0.clone(),
            },
        }
    }
}

/// Why an operation failed, or why its last attempt did.
#[derive(Serialize, utoipa::ToSchema)]
pub struct OperationErrorView {
    #[schema(value_type = ErrorCodeSchema)]
    pub code: ErrorCode,
    pub message: String,
    /// The provider's status, code and request id, when a provider failure caused this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<UpstreamView>,
    /// For `attempts_exhausted`: the last attempt's failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(no_recursion)]
    pub last_error: Option<Box<OperationErrorView>>,
}

impl From<&OperationError> for OperationErrorView {
    fn from(error: &OperationError) -> Self {
        Self {
            code: error.code,
            message: error.message.clone(),
            detail: error.upstream.as_ref().map(UpstreamView::from),
            last_error: error.last_error.as_deref().map(|last| Box::new(Self::from(last))),
        }
    }
}

/// A mutating request (create, delete, power action) and where it stands.
#[derive(Serialize, utoipa::ToSchema)]
pub struct OperationView {
    pub id: String,
    pub provider: String,
    /// `create`, `delete` or a power action (`power_off`, `reboot`, ...).
    pub kind: String,
    /// What it was asked to do; `user_data` shows only `{redacted, bytes}`.
    pub request: RequestView,
    pub state: super::views::OperationStateName,
    /// What it made or started (`instance_ids`, `action_id`), once it has.
    pub result: Option<ResultView>,
    /// Why it failed (`code`, `message`), when it did.
    pub error: Option<OperationErrorView>,
    /// The API key that asked.
    pub principal: String,
    pub attempts: i64,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: time::OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: time::OffsetDateTime,
    pub links: Links,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct OperationList {
    pub operations: Vec<OperationView>,
}

/// An operation as shown: secrets redacted, with a link to itself.
pub fn view(op: &Operation) -> OperationView {
    OperationView {
        id: op.id.clone(),
        provider: op.provider.clone(),
        kind: op.kind.clone(),
        request: RequestView::new(&op.request),
        state: op.state.into(),
        result: op.result.as_ref().map(ResultView::from),
        error: op.error.as_ref().map(OperationErrorView::from),
        principal: op.principal.clone(),
        attempts: op.attempts,
        created_at: op.created_at,
        updated_at: op.updated_at,
        links: Links { this: format!("/api/v1/operations/{}", op.id) },
    }
}

/// `?state=&limit=` on the operations list.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OperationQuery {
    /// Only operations in this state.
    state: Option<super::views::OperationStateName>,
    /// At most this many (1-5000, default 500).
    #[param(minimum = 1, maximum = 5000)]
    limit: Option<i64>,
}

/// Operations on the providers this key may use.
#[utoipa::path(get, path = "/api/v1/operations", tag = "operations", params(OperationQuery),
    responses((status = 200, description = "Operations, newest first", body = OperationList)))]
#[tracing::instrument(skip_all)]
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    ApiQuery(query): ApiQuery<OperationQuery>,
) -> Result<Json<OperationList>, ApiError> {
    let limit = query.limit.unwrap_or(500);
    if !(1..=5000).contains(&limit) {
        return Err(ApiError::invalid_field("limit", "must be a number from 1 to 5000"));
    }
    let wanted = query.state.map(OperationState::from);
    let ops = state.store.list_operations(wanted, principal.scope(), limit).await?;
    Ok(Json(OperationList { operations: ops.iter().map(view).collect() }))
}

/// One operation; one on a provider outside the key's scope does not exist for it (404).
#[utoipa::path(get, path = "/api/v1/operations/{id}", tag = "operations",
    params(("id" = String, Path, description = "The operation's id")),
    responses((status = 200, description = "The operation", body = OperationView)))]
#[tracing::instrument(skip_all)]
pub async fn get(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<OperationView>, ApiError> {
    let op = state
        .store
        .get_operation(&id)
        .await?
        .filter(|op| principal.may_use(&op.provider))
        .ok_or_else(|| ApiError::not_found(format!("no operation {id}")))?;
    Ok(Json(view(&op)))
}

#[cfg(test)]
mod tests {
    use nephele_core::{CreateInstances, InstanceName, OperationId};

    use super::*;

    #[test]
    fn user_data_is_shown_only_as_its_size() {
        let id = OperationId::new();
        let create = CreateInstances {
            operation_id: id,
            names: vec![InstanceName::parse("web").expect("name")],
            instance_type: "s-1vcpu-1gb".into(),
            region: "nyc1".into(),
            image: "ubuntu-24-04-x64".into(),
            ssh_keys: vec![],
            tags: vec![],
            user_data: Some("#cloud-config\npassword: hunter2hunter2".into()),
            backups: false,
            ipv6: false,
            monitoring: false,
            vpc_uuid: None,
        };
        let shown = serde_json::to_value(RequestView::new(&Ok((id, OperationRequest::Create(create)))))
            .expect("serialises");
        assert!(!shown.to_string().contains("hunter2"), "{shown}");
        assert_eq!(shown["user_data"], serde_json::json!({ "redacted": true, "bytes": 38 }));
        assert_eq!(shown["names"], serde_json::json!(["web"]));
    }
}
