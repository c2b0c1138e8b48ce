//! Create, get, power actions and delete, and exactly-once creation by operation tag.

use std::time::Duration;

use nephele_core::operation::ActionStatus;
use nephele_core::{InstanceStatus, OperationId, PowerAction, Provider, ProviderError};
use nephele_digitalocean::operation_tag;

use crate::helpers::{create_request, requests, spawn};

async fn wait_until(
    cloud: &crate::helpers::TestCloud,
    id: &nephele_core::InstanceId,
    wanted: InstanceStatus,
) {
    for _ in 0..100 {
        if cloud.client.get_instance(id).await.expect("get").status == wanted {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{id} never became {wanted}");
}

#[tokio::test]
async fn a_created_instance_can_be_powered_off_and_on_and_deleted() {
    let cloud = spawn(0).await;
    let request = create_request(&["app-1"]);
    let created = cloud.client.create_instances(&request).await.expect("create");
    assert_eq!(created.len(), 1);
    let instance = &created[0];
    assert_eq!(instance.status, InstanceStatus::Provisioning);
    assert!(instance.tags.contains(&operation_tag(request.operation_id)), "tagged with its operation");
    assert!(instance.tags.contains(&"team:web".to_owned()));
    assert!(instance.public_ipv6.is_some(), "ipv6 was asked for");

    // Busy booting: DigitalOcean refuses actions, which is a conflict, not bad input.
    let busy = cloud.client.power_action(&instance.id, PowerAction::PowerOff, OperationId::new()).await;
    assert!(matches!(busy, Err(ProviderError::Conflict { .. })), "{busy:?}");

    wait_until(&cloud, &instance.id, InstanceStatus::Running).await;
    let action = cloud
        .client
        .power_action(&instance.id, PowerAction::PowerOff, OperationId::new())
        .await
        .expect("power off");
    assert_eq!(action.kind, "power_off");
    assert_eq!(action.instance_id.as_ref(), Some(&instance.id));
    wait_until(&cloud, &instance.id, InstanceStatus::Stopped).await;
    let followed = cloud.client.get_action(&action.id).await.expect("action");
    assert_eq!(followed.status, ActionStatus::Completed);

    cloud
        .client
        .power_action(&instance.id, PowerAction::PowerOn, OperationId::new())
        .await
        .expect("power on");
    wait_until(&cloud, &instance.id, InstanceStatus::Running).await;

    cloud.client.delete_instance(&instance.id, OperationId::new()).await.expect("delete");
    let gone = cloud.client.get_instance(&instance.id).await;
    assert!(matches!(gone, Err(ProviderError::NotFound { .. })), "{gone:?}");
    let again = cloud.client.delete_instance(&instance.id, OperationId::new()).await;
    assert!(matches!(again, Err(ProviderError::NotFound { .. })), "deleting twice is a 404: {again:?}");
}

#[tokio::test]
async fn multi_create_returns_instances_in_the_order_named() {
    let cloud = spawn(0).await;
    let created = cloud
        .client
        .create_instances(&create_request(&["b-1", "b-2", "b-3", "b-4", "b-5"]))
        .await
        .expect("create");
    let names: Vec<_> = created.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["b-1", "b-2", "b-3", "b-4", "b-5"]);
    assert_eq!(requests(&cloud, "droplets_create"), 1, "one multi-create request");
}

#[tokio::test]
async fn calling_create_again_with_the_same_operation_adopts_instead_of_duplicating() {
    let cloud = spawn(0).await;
    let request = create_request(&["once-1", "once-2"]);
    let first = cloud.client.create_instances(&request).await.expect("create");
    let second = cloud.client.create_instances(&request).await.expect("create again");
    assert_eq!(
        first.iter().map(|i| &i.id).collect::<Vec<_>>(),
        second.iter().map(|i| &i.id).collect::<Vec<_>>()
    );
    assert_eq!(requests(&cloud, "droplets_create"), 1, "the second call made nothing");
    let found = cloud.client.find_instances_by_operation(request.operation_id).await.expect("find");
    assert_eq!(found.len(), 2);
    assert_eq!(cloud.client.metrics().snapshot().adopted_instances, 2);
}

#[tokio::test]
async fn ids_that_cannot_be_droplet_ids_are_not_found_without_a_call() {
    let cloud = spawn(0).await;
    let result = cloud.client.get_instance(&nephele_core::InstanceId("abc".into())).await;
    assert!(matches!(result, Err(ProviderError::NotFound { .. })));
    assert_eq!(requests(&cloud, "droplets_get"), 0);
}
