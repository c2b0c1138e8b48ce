//! Exactly-once creation of every resource kind: a create whose answer is lost is found by the
//! record DigitalOcean keeps and adopted, never made twice; a create retried with its operation
//! id adopts what the first made; and where no record can tell, the provider refuses to guess.

use nephele_core::{
    CreateResource, OperationId, Provider, ProviderError, Resource, ResourceKind, SnapshotSourceKind,
};

use crate::helpers::{TestCloud, droplet_in, requests, spawn, spawn_lossy};
use crate::resources::{PUBLIC_KEY, firewall_request, name, volume_request};

/// Creates `request` while the answer to `lose` is lost; checks one was made, and adopted.
async fn survives_a_lost_answer(
    cloud: &TestCloud,
    losses: &crate::lossy::Losses,
    request: &CreateResource,
    lose: &str,
    create_operation: &str,
) -> Resource {
    let kind = request.kind();
    let before = cloud.client.list_resources(kind).await.expect("list").len();
    let sent_before = requests(cloud, create_operation);
    losses.lose(lose, 1);
    let made = cloud.client.create_resource(request).await.expect("create despite the lost answer");
    assert_eq!(losses.pending(), 0, "the answer to {lose} was lost");
    assert_eq!(requests(cloud, create_operation) - sent_before, 1, "{kind}: sent once, not again");
    let after = cloud.client.list_resources(kind).await.expect("list");
    assert_eq!(after.len(), before + 1, "{kind}: exactly one made");
    assert!(after.iter().any(|r| r.id() == made.id()), "{kind}: the adopted one is the one made");
    let metrics = cloud.client.metrics().snapshot();
    assert!(metrics.ambiguous_creates >= 1 && metrics.adopted_resources >= 1, "{kind}: {metrics:?}");

    // The operations engine retrying after a crash adopts it too.
    let again = cloud.client.create_resource(request).await.expect("retried");
    assert_eq!(again.id(), made.id(), "{kind}: the retry adopts");
    assert_eq!(requests(cloud, create_operation) - sent_before, 1, "{kind}: the retry sent nothing");
    made
}

#[tokio::test]
async fn a_volume_whose_create_answer_is_lost_is_adopted_by_name_and_tag() {
    let (cloud, losses) = spawn_lossy(0).await;
    survives_a_lost_answer(
        &cloud,
        &losses,
        &volume_request("lost-1", 10),
        "POST /v2/volumes ",
        "volumes_create",
    )
    .await;
}

#[tokio::test]
async fn a_volume_snapshot_whose_answer_is_lost_is_adopted_by_name_and_tag() {
    let (cloud, losses) = spawn_lossy(0).await;
    let volume = cloud.client.create_resource(&volume_request("source", 10)).await.expect("volume");
    let request = CreateResource::Snapshot {
        operation_id: OperationId::new(),
        name: name("source-snap"),
        source_kind: SnapshotSourceKind::Volume,
        source_id: volume.id().0.clone(),
        tags: vec![],
    };
    let lose = format!("POST /v2/volumes/{}/snapshots", volume.id());
    survives_a_lost_answer(&cloud, &losses, &request, &lose, "volumeSnapshots_create").await;
}

#[tokio::test]
async fn a_droplet_snapshot_whose_answer_is_lost_is_adopted_by_name() {
    let (cloud, losses) = spawn_lossy(20).await;
    let droplet = droplet_in(&cloud, "nyc1").await;
    let request = CreateResource::Snapshot {
        operation_id: OperationId::new(),
        name: name("nightly"),
        source_kind: SnapshotSourceKind::Instance,
        source_id: droplet.id.0.clone(),
        tags: vec![],
    };
    let lose = format!("POST /v2/droplets/{}/actions", droplet.id);
    survives_a_lost_answer(&cloud, &losses, &request, &lose, "dropletActions_post").await;
}

#[tokio::test]
async fn an_ssh_key_whose_import_answer_is_lost_is_adopted_by_its_key() {
    let (cloud, losses) = spawn_lossy(0).await;
    let request = CreateResource::SshKey {
        operation_id: OperationId::new(),
        name: "ci".into(),
        public_key: PUBLIC_KEY.into(),
    };
    survives_a_lost_answer(&cloud, &losses, &request, "POST /v2/account/keys ", "sshKeys_create").await;
}

#[tokio::test]
async fn a_firewall_whose_create_answer_is_lost_is_adopted_by_name() {
    let (cloud, losses) = spawn_lossy(0).await;
    survives_a_lost_answer(
        &cloud,
        &losses,
        &firewall_request("lost-fw"),
        "POST /v2/firewalls ",
        "firewalls_create",
    )
    .await;
}

#[tokio::test]
async fn a_vpc_whose_create_answer_is_lost_is_adopted_by_name() {
    let (cloud, losses) = spawn_lossy(0).await;
    let request = CreateResource::Vpc {
        operation_id: OperationId::new(),
        name: name("lost-net"),
        region: "nyc1".into(),
        ip_range: None,
        description: None,
    };
    survives_a_lost_answer(&cloud, &losses, &request, "POST /v2/vpcs ", "vpcs_create").await;
}

#[tokio::test]
async fn a_reserved_ip_for_a_droplet_whose_answer_is_lost_is_found_on_the_droplet() {
    let (cloud, losses) = spawn_lossy(20).await;
    let droplet = droplet_in(&cloud, "nyc1").await;
    let request = CreateResource::ReservedIp {
        operation_id: OperationId::new(),
        region: "nyc1".into(),
        instance_id: Some(droplet.id.clone()),
    };
    let made =
        survives_a_lost_answer(&cloud, &losses, &request, "POST /v2/reserved_ips ", "reservedIPs_create")
            .await;
    let Resource::ReservedIp(ip) = made else { panic!("{made:?}") };
    assert_eq!(ip.assigned_to.as_ref(), Some(&droplet.id));
}

/// DigitalOcean keeps no record of which request reserved an address to a region: after a lost
/// answer the provider does not send again (which could reserve a second address) but says so.
#[tokio::test]
async fn a_reserved_ip_for_a_region_is_not_sent_again_after_a_lost_answer() {
    let (cloud, losses) = spawn_lossy(0).await;
    losses.lose("POST /v2/reserved_ips ", 1);
    let request = CreateResource::ReservedIp {
        operation_id: OperationId::new(),
        region: "nyc1".into(),
        instance_id: None,
    };
    let outcome = cloud.client.create_resource(&request).await;
    assert!(matches!(outcome, Err(ProviderError::Unavailable { .. })), "{outcome:?}");
    assert_eq!(requests(&cloud, "reservedIPs_create"), 1, "sent once, never blindly again");
    let held = cloud.client.list_resources(ResourceKind::ReservedIp).await.expect("list");
    assert_eq!(held.len(), 1, "the one reserved stays, unassigned, for the waste report to show");
}

#[tokio::test]
async fn a_volume_of_the_same_name_made_by_another_operation_is_a_conflict_not_adopted() {
    let cloud = spawn(0).await;
    cloud.client.create_resource(&volume_request("taken-name", 10)).await.expect("first");
    let second = cloud.client.create_resource(&volume_request("taken-name", 10)).await;
    assert!(matches!(second, Err(ProviderError::Conflict { .. })), "{second:?}");
    assert_eq!(requests(&cloud, "volumes_create"), 1, "the second was refused before sending");
}

#[tokio::test]
async fn two_firewalls_of_one_name_make_the_create_refuse_rather_than_guess() {
    let cloud = spawn(0).await;
    // Two firewalls of one name, made outside Nephele (DigitalOcean allows it).
    for _ in 0..2 {
        let body = serde_json::json!({
            "name": "twin",
            "inbound_rules": [{"protocol": "tcp", "ports": "22", "sources": {"addresses": ["0.0.0.0/0"]}}]
        });
        let answer = reqwest::Client::new()
            .post(format!("{}/v2/firewalls", cloud.sim.base_url()))
            .bearer_auth(crate::helpers::TOKEN)
            .json(&body)
            .send()
            .await
            .expect("made outside");
        assert!(answer.status().is_success(), "{}", answer.status());
    }
    let refused = cloud.client.create_resource(&firewall_request("twin")).await;
    let Err(ProviderError::Conflict { message, .. }) = refused else { panic!("{refused:?}") };
    assert!(message.contains("2 firewalls"), "{message}");
    assert_eq!(requests(&cloud, "firewalls_create"), 2, "nothing more was made");
}
