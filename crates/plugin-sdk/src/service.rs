//! The provider service: each call read from its message, given to the `Provider`, answered.

use std::pin::Pin;
use std::sync::Arc;

use futures_util::Stream;
use nephele_core::{
    ActionId, AssociatedResources, CreateResource, InstanceId, OperationId, Provider, ProviderError,
    ResourceAction, ResourceId, ResourceKind,
};
use nephele_plugin_protocol::convert::{self, Malformed};
use nephele_plugin_protocol::failure::to_status;
use nephele_plugin_protocol::wire;
use nephele_plugin_protocol::{documents, limits};
use tokio::sync::RwLock;
use tonic::{Request, Response, Status};

use crate::Factory;

/// Why a provider could not be built from its settings; the host shows the message.
#[derive(Debug, Clone)]
pub struct BuildError(pub ProviderError);

impl From<ProviderError> for BuildError {
    fn from(e: ProviderError) -> Self {
        Self(e)
    }
}

impl BuildError {
    /// Settings that cannot be used: `field` says which.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self(ProviderError::InvalidInput {
            field: Some(field.into()),
            message: message.into(),
            detail: Default::default(),
        })
    }
}

pub struct ProviderService {
    factory: Arc<dyn Factory>,
    provider: RwLock<Option<Arc<dyn Provider>>>,
}

impl ProviderService {
    pub fn new(factory: Arc<dyn Factory>) -> Self {
        Self { factory, provider: RwLock::new(None) }
    }

    async fn provider(&self) -> Result<Arc<dyn Provider>, Status> {
        self.provider.read().await.clone().ok_or_else(|| {
            to_status(&ProviderError::Unavailable {
                message: "the plugin is not configured yet: the host must call Configure first".to_owned(),
                detail: Default::default(),
            })
        })
    }
}

fn fail(e: ProviderError) -> Status {
    to_status(&e)
}

fn bad(e: Malformed) -> Status {
    to_status(&e.into_invalid_input())
}

fn instance_id(id: String) -> Result<InstanceId, Status> {
    if id.trim().is_empty() {
        return Err(bad(Malformed { field: "id", message: "must not be empty".to_owned() }));
    }
    Ok(InstanceId(id))
}

type PageStream = Pin<Box<dyn Stream<Item = Result<wire::InstancePage, Status>> + Send>>;

#[tonic::async_trait]
impl wire::provider_server::Provider for ProviderService {
    async fn configure(
        &self,
        request: Request<wire::ConfigureRequest>,
    ) -> Result<Response<wire::ProviderInfo>, Status> {
        let settings: serde_json::Value = serde_json::from_slice(&request.into_inner().settings_json)
            .map_err(|e| bad(Malformed { field: "settings_json", message: e.to_string() }))?;
        let provider = self.factory.build(settings).await.map_err(|e| fail(e.0))?;
        let info = convert::info(&provider.info(), provider.rate_limit_per_minute());
        *self.provider.write().await = Some(provider);
        Ok(Response::new(info))
    }

    async fn ping(&self, _: Request<wire::PingRequest>) -> Result<Response<wire::PingResponse>, Status> {
        self.provider().await?.ping().await.map_err(fail)?;
        Ok(Response::new(wire::PingResponse {}))
    }

    async fn get_counters(
        &self,
        _: Request<wire::GetCountersRequest>,
    ) -> Result<Response<wire::Counters>, Status> {
        let provider = self.provider().await?;
        Ok(Response::new(wire::Counters {
            values: provider.counters().into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            gauges: provider.gauges().into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        }))
    }

    async fn share_rate_limit(
        &self,
        request: Request<wire::ShareRateLimitRequest>,
    ) -> Result<Response<wire::ShareRateLimitResponse>, Status> {
        let provider = self.provider().await?;
        provider.share_rate_limit(request.into_inner().replicas.max(1));
        Ok(Response::new(wire::ShareRateLimitResponse {
            rate_limit_per_minute: provider.rate_limit_per_minute(),
        }))
    }

    async fn get_billing_policy(
        &self,
        request: Request<wire::GetBillingPolicyRequest>,
    ) -> Result<Response<wire::BillingPolicy>, Status> {
        let request = request.into_inner();
        let instance_type = convert::read_instance_type(
            request
                .instance_type
                .ok_or_else(|| bad(Malformed { field: "instance_type", message: "missing".into() }))?,
        )
        .map_err(bad)?;
        let at = convert::read_timestamp(
            &request.at.ok_or_else(|| bad(Malformed { field: "at", message: "missing".into() }))?,
            "at",
        )
        .map_err(bad)?;
        let policy = self.provider().await?.billing_policy(&instance_type, at).await.map_err(fail)?;
        Ok(Response::new(convert::billing_policy(&policy)))
    }

    type ListInstancesStream = PageStream;

    async fn list_instances(
        &self,
        request: Request<wire::ListInstancesRequest>,
    ) -> Result<Response<Self::ListInstancesStream>, Status> {
        let filter = convert::read_filter(request.into_inner().filter);
        // Dropped, with the cloud calls under it, when the host cancels the call.
        let instances = self.provider().await?.list_instances(&filter).await.map_err(fail)?;
        let pages: Vec<Result<wire::InstancePage, Status>> = instances
            .chunks(nephele_plugin_protocol::MAX_INSTANCES_PER_PAGE)
            .map(|chunk| Ok(wire::InstancePage { instances: chunk.iter().map(convert::instance).collect() }))
            .collect();
        Ok(Response::new(Box::pin(futures_util::stream::iter(pages))))
    }

    async fn get_instance(
        &self,
        request: Request<wire::GetInstanceRequest>,
    ) -> Result<Response<wire::Instance>, Status> {
        let id = instance_id(request.into_inner().id)?;
        let instance = self.provider().await?.get_instance(&id).await.map_err(fail)?;
        Ok(Response::new(convert::instance(&instance)))
    }

    async fn create_instances(
        &self,
        request: Request<wire::CreateInstancesRequest>,
    ) -> Result<Response<wire::InstanceList>, Status> {
        let request = convert::read_create(request.into_inner()).map_err(bad)?;
        let made = self.provider().await?.create_instances(&request).await.map_err(fail)?;
        Ok(Response::new(wire::InstanceList { instances: made.iter().map(convert::instance).collect() }))
    }

    async fn find_instances_by_operation(
        &self,
        request: Request<wire::FindInstancesByOperationRequest>,
    ) -> Result<Response<wire::InstanceList>, Status> {
        let id = convert::operation_id(&request.into_inner().operation_id, "operation_id").map_err(bad)?;
        let found = self.provider().await?.find_instances_by_operation(id).await.map_err(fail)?;
        Ok(Response::new(wire::InstanceList { instances: found.iter().map(convert::instance).collect() }))
    }

    async fn delete_instance(
        &self,
        request: Request<wire::DeleteInstanceRequest>,
    ) -> Result<Response<wire::DeleteInstanceResponse>, Status> {
        let request = request.into_inner();
        let operation = convert::operation_id(&request.operation_id, "operation_id").map_err(bad)?;
        let id = instance_id(request.id)?;
        self.provider().await?.delete_instance(&id, operation).await.map_err(fail)?;
        Ok(Response::new(wire::DeleteInstanceResponse {}))
    }

    async fn power_action(
        &self,
        request: Request<wire::PowerActionRequest>,
    ) -> Result<Response<wire::Action>, Status> {
        let request = request.into_inner();
        let action = convert::read_power_action(request.action).map_err(bad)?;
        let operation = convert::operation_id(&request.operation_id, "operation_id").map_err(bad)?;
        let id = instance_id(request.instance_id)?;
        let started = self.provider().await?.power_action(&id, action, operation).await.map_err(fail)?;
        Ok(Response::new(convert::action(&started)))
    }

    async fn find_power_action(
        &self,
        request: Request<wire::FindPowerActionRequest>,
    ) -> Result<Response<wire::FindPowerActionResponse>, Status> {
        let request = request.into_inner();
        let action = convert::read_power_action(request.action).map_err(bad)?;
        let since = convert::read_timestamp(
            &request.since.ok_or_else(|| bad(Malformed { field: "since", message: "missing".into() }))?,
            "since",
        )
        .map_err(bad)?;
        let id = instance_id(request.instance_id)?;
        let found = self.provider().await?.find_power_action(&id, action, since).await.map_err(fail)?;
        Ok(Response::new(wire::FindPowerActionResponse { action: found.as_ref().map(convert::action) }))
    }

    async fn get_action(
        &self,
        request: Request<wire::GetActionRequest>,
    ) -> Result<Response<wire::Action>, Status> {
        let id = request.into_inner().id;
        if id.trim().is_empty() {
            return Err(bad(Malformed { field: "id", message: "must not be empty".into() }));
        }
        let action = self.provider().await?.get_action(&ActionId(id)).await.map_err(fail)?;
        Ok(Response::new(convert::action(&action)))
    }

    async fn list_regions(
        &self,
        _: Request<wire::ListRegionsRequest>,
    ) -> Result<Response<wire::RegionList>, Status> {
        let regions = self.provider().await?.list_regions().await.map_err(fail)?;
        Ok(Response::new(wire::RegionList { regions: regions.iter().map(convert::region).collect() }))
    }

    async fn list_instance_types(
        &self,
        _: Request<wire::ListInstanceTypesRequest>,
    ) -> Result<Response<wire::InstanceTypeList>, Status> {
        let types = self.provider().await?.list_instance_types().await.map_err(fail)?;
        Ok(Response::new(wire::InstanceTypeList {
            instance_types: types.iter().map(convert::instance_type).collect(),
        }))
    }

    async fn list_images(
        &self,
        _: Request<wire::ListImagesRequest>,
    ) -> Result<Response<wire::ImageList>, Status> {
        let images = self.provider().await?.list_images().await.map_err(fail)?;
        Ok(Response::new(wire::ImageList { images: images.iter().map(convert::image).collect() }))
    }

    type ListResourcesStream = ResourcePageStream;

    async fn list_resources(
        &self,
        request: Request<wire::ListResourcesRequest>,
    ) -> Result<Response<Self::ListResourcesStream>, Status> {
        let kind = kind(&request.into_inner().kind)?;
        let resources = self.provider().await?.list_resources(kind).await.map_err(fail)?;
        let pages: Vec<Result<wire::ResourcePage, Status>> = resources
            .chunks(limits::MAX_RESOURCES_PER_PAGE)
            .map(|chunk| {
                Ok(wire::ResourcePage { resources: chunk.iter().map(documents::document).collect() })
            })
            .collect();
        Ok(Response::new(Box::pin(futures_util::stream::iter(pages))))
    }

    async fn get_resource(
        &self,
        request: Request<wire::ResourceRef>,
    ) -> Result<Response<wire::Document>, Status> {
        let request = request.into_inner();
        let (kind, id) = (kind(&request.kind)?, resource_id(&request.id)?);
        let resource = self.provider().await?.get_resource(kind, &id).await.map_err(fail)?;
        Ok(Response::new(documents::document(&resource)))
    }

    async fn create_resource(
        &self,
        request: Request<wire::Document>,
    ) -> Result<Response<wire::Document>, Status> {
        let create: CreateResource = documents::read(Some(request.into_inner()), "create").map_err(bad)?;
        let made = self.provider().await?.create_resource(&create).await.map_err(fail)?;
        Ok(Response::new(documents::document(&made)))
    }

    async fn delete_resource(
        &self,
        request: Request<wire::DeleteResourceRequest>,
    ) -> Result<Response<wire::DeleteResourceResponse>, Status> {
        let request = request.into_inner();
        let (kind, id) = (kind(&request.kind)?, resource_id(&request.id)?);
        let operation_id = operation_id(&request.operation_id)?;
        self.provider().await?.delete_resource(kind, &id, operation_id).await.map_err(fail)?;
        Ok(Response::new(wire::DeleteResourceResponse {}))
    }

    async fn resource_action(
        &self,
        request: Request<wire::ResourceActionRequest>,
    ) -> Result<Response<wire::Document>, Status> {
        let request = request.into_inner();
        let action: ResourceAction = documents::read(request.action, "action").map_err(bad)?;
        let operation_id = operation_id(&request.operation_id)?;
        let started = self.provider().await?.resource_action(&action, operation_id).await.map_err(fail)?;
        Ok(Response::new(documents::document(&started)))
    }

    async fn vpc_members(
        &self,
        request: Request<wire::ResourceRef>,
    ) -> Result<Response<wire::DocumentList>, Status> {
        let id = resource_id(&request.into_inner().id)?;
        let members = self.provider().await?.vpc_members(&id).await.map_err(fail)?;
        Ok(Response::new(wire::DocumentList { documents: members.iter().map(documents::document).collect() }))
    }

    async fn delete_instance_with(
        &self,
        request: Request<wire::DeleteInstanceWithRequest>,
    ) -> Result<Response<wire::DeleteInstanceResponse>, Status> {
        let request = request.into_inner();
        let id = instance_id(request.id)?;
        let associated: AssociatedResources =
            documents::read(request.associated, "associated").map_err(bad)?;
        let operation_id = operation_id(&request.operation_id)?;
        self.provider().await?.delete_instance_with(&id, &associated, operation_id).await.map_err(fail)?;
        Ok(Response::new(wire::DeleteInstanceResponse {}))
    }

    async fn get_resource_prices(
        &self,
        _: Request<wire::GetResourcePricesRequest>,
    ) -> Result<Response<wire::DocumentList>, Status> {
        let prices = self.provider().await?.resource_prices().await.map_err(fail)?;
        Ok(Response::new(wire::DocumentList { documents: prices.iter().map(documents::document).collect() }))
    }
}

type ResourcePageStream = Pin<Box<dyn Stream<Item = Result<wire::ResourcePage, Status>> + Send>>;

fn kind(raw: &str) -> Result<ResourceKind, Status> {
    raw.parse().map_err(|message| bad(Malformed { field: "kind", message }))
}

fn resource_id(raw: &str) -> Result<ResourceId, Status> {
    ResourceId::parse(raw).map_err(|message| bad(Malformed { field: "id", message }))
}

fn operation_id(raw: &str) -> Result<OperationId, Status> {
    convert::operation_id(raw, "operation_id").map_err(bad)
}
